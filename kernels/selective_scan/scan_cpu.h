// Fused CPU selective scan: raw-pointer parameters shared by the per-ISA kernel builds
// (scan_cpu_kernel.h, compiled once for AVX2+FMA and once for the baseline ISA).
#pragma once

#include <cstdint>

namespace mabert::kernels::cpu {

// All tensors of the kernel's scalar type S (float, or double for gradient checks) and contiguous. Shapes: u, delta, z, y: {batch, C, L}; A: {C, N};
// B, C: {batch, L, N} (time-major, so the state loop reads contiguous memory); D, bias: {C};
// mask: {batch, L}.
template <typename S>
struct ScanParams {
  int64_t batch = 0, channels = 0, length = 0, dstate = 0;
  bool reverse = false, softplus = true;
  const S *u = nullptr, *delta = nullptr, *A = nullptr, *B = nullptr, *C = nullptr;
  const S *D = nullptr, *z = nullptr, *bias = nullptr, *mask = nullptr;  // optional
  S* y = nullptr;
  S* states = nullptr;     // optional {batch, C, L, N}
  S* delta_out = nullptr;  // optional {batch, C, L}: effective Δ
};

// Gradient outputs. Channel-reduced quantities are written per (part, batch) and summed by the
// caller, so no two threads ever write the same address.
template <typename S>
struct ScanGrads {
  const S* dout = nullptr;  // {batch, C, L}
  S *du = nullptr, *ddelta = nullptr, *dz = nullptr;  // {batch, C, L}
  S* dA = nullptr;          // {batch, C, N}  (summed over batch by the caller)
  S* dD = nullptr;          // {batch, C}
  S* dbias = nullptr;       // {batch, C}
  S *dB = nullptr, *dC = nullptr;  // {parts, batch, L, N} (summed over parts by the caller)
  int64_t parts = 1;            // channel chunks
};

// Per-ISA entry points (same code, different compiler flags). Double precision exists for
// gradient checks against finite differences and is built for the baseline ISA only.
void scan_fwd_avx2(const ScanParams<float>& p);
void scan_bwd_avx2(const ScanParams<float>& p, const ScanGrads<float>& g);
void scan_fwd_base(const ScanParams<float>& p);
void scan_bwd_base(const ScanParams<float>& p, const ScanGrads<float>& g);
void scan_fwd_base(const ScanParams<double>& p);
void scan_bwd_base(const ScanParams<double>& p, const ScanGrads<double>& g);

// Roofline floor for the benchmark: `count` exp + 2 fused multiply-adds over in-cache data,
// with the same vectorised exp as the kernel. Returns a checksum so nothing is optimised away.
float roofline_loop_avx2(int64_t count, int threads);
float roofline_loop_base(int64_t count, int threads);

bool cpu_has_avx2();

}  // namespace mabert::kernels::cpu

// Fused CPU selective scan: raw-pointer parameters shared by the per-ISA builds of
// scan_cpu_kernel.h (baseline, AVX2+FMA, AVX-512), chosen at run time.
//
// The kernel vectorises over channels: a task owns one batch row and a block of W channels
// (W = 64 bytes of scalars in the backward, four times that in the forward), keeps their N×W states in cache, and walks time. With a time-major
// layout every load is W contiguous scalars and no step needs a horizontal reduction.
#pragma once

#include "bf16.h"

#include <cstdint>

namespace mabert::kernels::cpu {

// Time-major, channel-padded layout. u, delta, z: {batch, L, Cp} with channel stride 1 and a
// row (time) stride of ld_* scalars, so transposed views of the model's {B, L, ·} tensors are
// read in place; y and every gradient of that shape are contiguous {batch, L, Cp}.
// A: {N, Cp}; D, bias: {Cp}; B, C: {batch, L, N}; mask: {batch, L}. Cp is a multiple of W.
// S is the compute type (of the state, the parameters and every accumulation); T the storage
// type of the activations {batch, L, Cp} — u, Δ, z, y and their gradients: S, or Bf16 with S =
// float (bf16 activations, fp32 state).
template <typename S, typename T = S>
struct ScanParams {
  int64_t batch = 0, channels = 0, length = 0, dstate = 0;  // channels = Cp
  int64_t ld_u = 0, ld_delta = 0, ld_z = 0;
  bool reverse = false, softplus = true;
  const T *u = nullptr, *delta = nullptr, *z = nullptr;  // z optional
  const S *A = nullptr, *B = nullptr, *C = nullptr;
  const S *D = nullptr, *bias = nullptr, *mask = nullptr;  // optional
  T* y = nullptr;
  S* states = nullptr;     // optional {batch, Cp, L, N} (analysis views)
  S* delta_out = nullptr;  // optional {batch, L, Cp}: effective Δ
};

// Gradients. dB/dC are reduced over each block's block_width() channels into that block's
// slice ({Cp / block_width, batch, L, N}, every element written); dA ({batch, N, Cp}), dD and
// dbias ({batch, Cp}) are per batch row. The caller sums both: no sum depends on how the
// blocks were shared among threads, so results are the same on any thread count.
template <typename S, typename T = S>
struct ScanGrads {
  const T* dy = nullptr;                                  // {batch, L, Cp}
  T *du = nullptr, *ddelta = nullptr, *dz = nullptr;      // {batch, L, Cp}
  S *dA = nullptr, *dD = nullptr, *dbias = nullptr;
  S *dB = nullptr, *dC = nullptr;
};

// Per-ISA entry points. Double precision (gradient checks) is built for the baseline only; bf16
// activations for every ISA, and for AVX-512 once more with the AVX512-BF16 conversions.
#define MABERT_SCAN_DECLARE(isa, S)                                   \
  void scan_fwd_##isa(const ScanParams<S>& p);                        \
  void scan_bwd_##isa(const ScanParams<S>& p, const ScanGrads<S>& g); \
  S roofline_loop_##isa(int64_t count, int threads, S tag);
MABERT_SCAN_DECLARE(base, float)
MABERT_SCAN_DECLARE(base, double)
MABERT_SCAN_DECLARE(avx2, float)
MABERT_SCAN_DECLARE(avx512, float)
#undef MABERT_SCAN_DECLARE
#define MABERT_SCAN_DECLARE_BF16(isa)                                                    \
  void scan_fwd_bf16_##isa(const ScanParams<float, Bf16>& p);                            \
  void scan_bwd_bf16_##isa(const ScanParams<float, Bf16>& p, const ScanGrads<float, Bf16>& g);
MABERT_SCAN_DECLARE_BF16(base)
MABERT_SCAN_DECLARE_BF16(avx2)
MABERT_SCAN_DECLARE_BF16(avx512)
MABERT_SCAN_DECLARE_BF16(avx512bf16)
#undef MABERT_SCAN_DECLARE_BF16

// Channel block width for scalar type S: 64 bytes.
template <typename S>
constexpr int64_t block_width() {
  return 64 / static_cast<int64_t>(sizeof(S));
}

// Channels are padded to a multiple of this. The forward takes four blocks per task (measured:
// ~1.4x faster, as each walk down the time-major rows reads 256 contiguous bytes per row instead
// of 64); the backward takes one, so its per-thread scratch of 2·L·N·W scalars stays small.
template <typename S>
constexpr int64_t channel_multiple() {
  return 4 * block_width<S>();
}

// Avx512Bf16: AVX-512 with the AVX512-BF16 conversions (Intel since Cooper Lake, AMD Zen 4);
// the fp32 kernels are the same as for Avx512, the bf16-activation ones round through the CPU's
// instruction.
enum class Isa { Base, Avx2, Avx512, Avx512Bf16 };
Isa best_isa();  // what this CPU runs, capped by MABERT_SCAN_ISA=base|avx2|avx512 when set
const char* isa_name(Isa isa);

// One of a kernel's per-ISA variants, by best_isa(): one choice for every fused CPU kernel.
template <class Fn>
Fn by_isa(Fn avx512, Fn avx2, Fn base) {
  switch (best_isa()) {
    case Isa::Avx512Bf16:
    case Isa::Avx512: return avx512;
    case Isa::Avx2: return avx2;
    default: return base;
  }
}
template <class Fn>
Fn by_isa(Fn avx512bf16, Fn avx512, Fn avx2, Fn base) {
  return best_isa() == Isa::Avx512Bf16 ? avx512bf16 : by_isa(avx512, avx2, base);
}

}  // namespace mabert::kernels::cpu

// The variant of kernel NAME (NAME_avx512, NAME_avx2, NAME_base) this CPU runs; only NAME_base where
// the x86 variants are not compiled (MABERT_HAVE_X86_KERNELS=0, set for the kernels library).
#if MABERT_HAVE_X86_KERNELS
#define MABERT_BY_ISA(NAME) ::mabert::kernels::cpu::by_isa(&NAME##_avx512, &NAME##_avx2, &NAME##_base)
#define MABERT_BY_ISA_BF16(NAME) \
  ::mabert::kernels::cpu::by_isa(&NAME##_avx512bf16, &NAME##_avx512, &NAME##_avx2, &NAME##_base)
#else
#define MABERT_BY_ISA(NAME) (&NAME##_base)
#define MABERT_BY_ISA_BF16(NAME) (&NAME##_base)
#endif

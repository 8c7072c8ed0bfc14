// The fused CPU conv + SiLU: raw-pointer parameters shared by the per-ISA builds of
// conv_cpu_kernel.h (baseline, AVX2+FMA, AVX-512; the scan's ISA choice, scan_cpu.h).
// Work is split over (batch, time) rows; the loops over channels are the vectorised ones.
#pragma once

#include "bf16.h"

#include <cstdint>

namespace mabert::kernels::conv_cpu {

// S: the compute type (weights, bias, accumulation); T: the activations' storage (x, y, dy, dx):
// S, or Bf16 with S = float.
template <typename S, typename T = S>
struct ConvParams {
  int64_t batch = 0, length = 0, channels = 0, width = 0, back = 0;  // width = K
  int step = 1;                     // +1 forward, −1 reverse
  int64_t stride_b = 0, stride_t = 0;  // x's batch and row strides (channel stride 1)
  const T* x = nullptr;
  const S* wt = nullptr;    // {K, C}: the weight transposed, so a tap's weights are contiguous
  const S* bias = nullptr;  // {C}
};

// Rows per dw/db partial in the backward: row chunk q (rows q·kRowsPerPartial …) accumulates
// into partial q, whichever thread runs it, so the sums do not depend on the thread count.
constexpr int64_t kRowsPerPartial = 64;
inline int64_t partials(int64_t rows) { return (rows + kRowsPerPartial - 1) / kRowsPerPartial; }

// y: {batch, L, C} contiguous.
// Backward: dacc (scratch) and dx {batch, L, C} contiguous; dw {partials(batch·L), K, C} and db
// {partials(batch·L), C} zeroed partials the caller sums.
#define MABERT_CONV_DECLARE(isa, S)                                               \
  void conv_fwd_##isa(const ConvParams<S>& p, S* y);                              \
  void conv_bwd_##isa(const ConvParams<S>& p, const S* dy, S* dacc, S* dx, S* dw, S* db);
MABERT_CONV_DECLARE(base, float)
MABERT_CONV_DECLARE(base, double)
MABERT_CONV_DECLARE(avx2, float)
MABERT_CONV_DECLARE(avx512, float)
#undef MABERT_CONV_DECLARE
#define MABERT_CONV_DECLARE_BF16(isa)                                        \
  void conv_fwd_bf16_##isa(const ConvParams<float, Bf16>& p, Bf16* y);       \
  void conv_bwd_bf16_##isa(const ConvParams<float, Bf16>& p, const Bf16* dy, float* dacc, Bf16* dx, float* dw, float* db);
MABERT_CONV_DECLARE_BF16(base)
MABERT_CONV_DECLARE_BF16(avx2)
MABERT_CONV_DECLARE_BF16(avx512)
MABERT_CONV_DECLARE_BF16(avx512bf16)
#undef MABERT_CONV_DECLARE_BF16

}  // namespace mabert::kernels::conv_cpu

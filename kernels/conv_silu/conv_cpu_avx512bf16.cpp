// The fused CPU conv + SiLU with bf16 activations, compiled for AVX-512 with AVX512-BF16: the same
// kernel as conv_cpu_avx512.cpp, its bf16 stores rounded by the CPU's conversion (vmath.h store_row).
#define CONV_ISA isa_avx512bf16
#include "conv_cpu_kernel.h"

namespace mabert::kernels::conv_cpu {

void conv_fwd_bf16_avx512bf16(const ConvParams<float, Bf16>& p, Bf16* y) { isa_avx512bf16::fwd(p, y); }
void conv_bwd_bf16_avx512bf16(const ConvParams<float, Bf16>& p, const Bf16* dy, float* dacc, Bf16* dx, float* dw,
                              float* db) {
  isa_avx512bf16::bwd(p, dy, dacc, dx, dw, db);
}

}  // namespace mabert::kernels::conv_cpu

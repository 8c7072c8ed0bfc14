// The fused CPU conv + SiLU compiled for the avx512 ISA (see conv_cpu_kernel.h; flags in kernels/CMakeLists.txt).
#define CONV_ISA isa_avx512
#include "conv_cpu_kernel.h"

namespace mabert::kernels::conv_cpu {

void conv_fwd_avx512(const ConvParams<float>& p, float* y) { isa_avx512::fwd(p, y); }
void conv_bwd_avx512(const ConvParams<float>& p, const float* dy, float* dacc, float* dx, float* dw, float* db) {
  isa_avx512::bwd(p, dy, dacc, dx, dw, db);
}

void conv_fwd_bf16_avx512(const ConvParams<float, Bf16>& p, Bf16* y) { isa_avx512::fwd(p, y); }
void conv_bwd_bf16_avx512(const ConvParams<float, Bf16>& p, const Bf16* dy, float* dacc, Bf16* dx, float* dw, float* db) {
  isa_avx512::bwd(p, dy, dacc, dx, dw, db);
}

}  // namespace mabert::kernels::conv_cpu

// The fused CPU conv + SiLU compiled for the base ISA (see conv_cpu_kernel.h; flags in kernels/CMakeLists.txt).
#define CONV_ISA isa_base
#include "conv_cpu_kernel.h"

namespace mabert::kernels::conv_cpu {

void conv_fwd_base(const ConvParams<float>& p, float* y) { isa_base::fwd(p, y); }
void conv_bwd_base(const ConvParams<float>& p, const float* dy, float* dacc, float* dx, float* dw, float* db) {
  isa_base::bwd(p, dy, dacc, dx, dw, db);
}
void conv_fwd_base(const ConvParams<double>& p, double* y) { isa_base::fwd(p, y); }
void conv_bwd_base(const ConvParams<double>& p, const double* dy, double* dacc, double* dx, double* dw, double* db) {
  isa_base::bwd(p, dy, dacc, dx, dw, db);
}
void conv_fwd_bf16_base(const ConvParams<float, Bf16>& p, Bf16* y) { isa_base::fwd(p, y); }
void conv_bwd_bf16_base(const ConvParams<float, Bf16>& p, const Bf16* dy, float* dacc, Bf16* dx, float* dw, float* db) {
  isa_base::bwd(p, dy, dacc, dx, dw, db);
}

}  // namespace mabert::kernels::conv_cpu

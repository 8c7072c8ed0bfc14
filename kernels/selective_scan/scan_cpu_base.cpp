// The fused CPU scan compiled for the base ISA (see scan_cpu_kernel.h; flags in kernels/CMakeLists.txt).
#define SCAN_ISA isa_base
#include "scan_cpu_kernel.h"

namespace mabert::kernels::cpu {

void scan_fwd_base(const ScanParams<float>& p) { isa_base::fwd(p); }
void scan_bwd_base(const ScanParams<float>& p, const ScanGrads<float>& g) { isa_base::bwd(p, g); }
float roofline_loop_base(int64_t count, int threads, float) { return isa_base::roofline<float>(count, threads); }
void scan_fwd_base(const ScanParams<double>& p) { isa_base::fwd(p); }
void scan_bwd_base(const ScanParams<double>& p, const ScanGrads<double>& g) { isa_base::bwd(p, g); }
double roofline_loop_base(int64_t count, int threads, double) { return isa_base::roofline<double>(count, threads); }
void scan_fwd_bf16_base(const ScanParams<float, Bf16>& p) { isa_base::fwd(p); }
void scan_bwd_bf16_base(const ScanParams<float, Bf16>& p, const ScanGrads<float, Bf16>& g) { isa_base::bwd(p, g); }

}  // namespace mabert::kernels::cpu

// The fused CPU scan compiled for the avx512 ISA (see scan_cpu_kernel.h; flags in kernels/CMakeLists.txt).
#define SCAN_ISA isa_avx512
#include "scan_cpu_kernel.h"

namespace mabert::kernels::cpu {

void scan_fwd_avx512(const ScanParams<float>& p) { isa_avx512::fwd(p); }
void scan_bwd_avx512(const ScanParams<float>& p, const ScanGrads<float>& g) { isa_avx512::bwd(p, g); }
float roofline_loop_avx512(int64_t count, int threads, float) { return isa_avx512::roofline<float>(count, threads); }
void scan_fwd_bf16_avx512(const ScanParams<float, Bf16>& p) { isa_avx512::fwd(p); }
void scan_bwd_bf16_avx512(const ScanParams<float, Bf16>& p, const ScanGrads<float, Bf16>& g) { isa_avx512::bwd(p, g); }

}  // namespace mabert::kernels::cpu

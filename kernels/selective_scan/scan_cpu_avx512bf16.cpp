// The fused CPU scan with bf16 activations, compiled for AVX-512 with AVX512-BF16: the same kernel
// as scan_cpu_avx512.cpp, its bf16 stores rounded by the CPU's conversion (vmath.h store_row).
#define SCAN_ISA isa_avx512bf16
#include "scan_cpu_kernel.h"

namespace mabert::kernels::cpu {

void scan_fwd_bf16_avx512bf16(const ScanParams<float, Bf16>& p) { isa_avx512bf16::fwd(p); }
void scan_bwd_bf16_avx512bf16(const ScanParams<float, Bf16>& p, const ScanGrads<float, Bf16>& g) {
  isa_avx512bf16::bwd(p, g);
}

}  // namespace mabert::kernels::cpu

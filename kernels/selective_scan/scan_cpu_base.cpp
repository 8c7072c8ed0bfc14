// The fused CPU scan compiled for the baseline x86-64 (or any other) ISA: the fall-back.
#include <cstdint>
#define SCAN_ISA_NAME(name) name##_base
#define SCAN_WITH_DOUBLE 1
#include "scan_cpu_kernel.h"

namespace mabert::kernels::cpu {
bool cpu_has_avx2() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}
}  // namespace mabert::kernels::cpu

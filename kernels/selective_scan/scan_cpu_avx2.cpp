// The fused CPU scan compiled for AVX2 + FMA (chosen at run time when the CPU has them).
#define SCAN_ISA_NAME(name) name##_avx2
#define SCAN_WITH_DOUBLE 0
#include "scan_cpu_kernel.h"

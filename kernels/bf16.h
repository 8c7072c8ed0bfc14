// bf16 activations in the fused CPU kernels: the storage type the kernels' parameter structs name
// (bit-compatible with c10::BFloat16, without pulling c10 into the kernel headers). Conversions
// live in vmath.h, compiled per ISA.
#pragma once

#include <cstdint>

namespace mabert::kernels {

struct Bf16 {
  uint16_t bits;
};
static_assert(sizeof(Bf16) == 2, "Bf16 is two bytes, as c10::BFloat16");

}  // namespace mabert::kernels

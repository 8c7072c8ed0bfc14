// SplitMix64's finaliser: a well-mixed 64-bit value from any 64-bit input, the same on every
// platform (seeds derived from seeds: data streams, dropout keys).
#pragma once

#include <cstdint>

namespace mabert {

constexpr uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace mabert

#include "util/allocator.h"

#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mabert {
namespace {
bool kept = false;
}

void keep_freed_memory() {
#if defined(__GLIBC__)
  if (const char* v = std::getenv("MABERT_MALLOC"); v && std::strcmp(v, "system") == 0) return;
  constexpr int kTrimAbove = 1 << 30;  // mallopt takes an int; 4 × 1 GiB would overflow it
  kept = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimAbove) == 1;
#endif
}

std::string allocator_setting() { return kept ? "malloc: heap only, trim above 1 GiB" : "malloc: glibc's default"; }

}  // namespace mabert

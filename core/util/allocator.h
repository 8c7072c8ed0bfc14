// How freed tensor memory goes back to the system. LibTorch's CPU tensors come from glibc's malloc,
// which serves a large block (≥ 128 KiB, growing with use up to 32 MiB) with its own mmap and
// unmaps it on free: every forward pass then faults in and zeroes its activations and weight
// casts page by page. On the 2-core machine that was 10–18 % of a small-preset forward at 1,024
// tokens in bf16 (perf: exc_page_fault, clear_page, memcg charging), and 100 → 96 ms, 156 →
// 96 ms for all-T bf16 inference when kept (docs/KERNELS.md, "Memory"). Keeping freed memory in
// the heap makes a process's resident size stay at its peak; PyTorch users get the same from
// jemalloc or tcmalloc, which Intel's tuning guide recommends for the same reason.
#pragma once

#include <string>

namespace mabert {

// Unless MABERT_MALLOC=system: serve every block from the heap (no per-block mmap) and return
// freed memory to the system only above 4 GiB free at the heap's top. Call early in main().
void keep_freed_memory();

// The setting in force, for reports: "malloc: heap only, trim above 1 GiB" or "glibc's default".
std::string allocator_setting();

}  // namespace mabert

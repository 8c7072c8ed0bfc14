// Measured (not estimated) peak memory of tensors: on the CPU through a counting wrapper around
// LibTorch's CPU allocator (installed by the first reset; tensors allocated before it are not
// counted), on CUDA from the caching allocator's statistics.
#pragma once

#include <cstdint>

namespace mabert {

// Starts a peak-memory window on `device_index` (−1 = CPU). Returns the baseline in bytes.
int64_t peak_memory_reset(int device_index);
// Bytes above the baseline at the window's peak.
int64_t peak_memory_since(int device_index, int64_t baseline);

// Resident-set peak of this process (Linux): the reset writes 5 to /proc/self/clear_refs, which
// sets VmHWM back to the current RSS. Returns the RSS in bytes at the reset; −1 when unsupported.
int64_t rss_peak_reset();
// VmHWM − baseline in bytes, or −1 when unsupported.
int64_t rss_peak_since(int64_t baseline);

}  // namespace mabert

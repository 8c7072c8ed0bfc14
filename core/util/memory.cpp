// Peak memory: on the CPU, a counting wrapper around LibTorch's CPU allocator (installed on
// first use), so every tensor byte is seen, freed heap memory included; on CUDA, the caching
// allocator's own statistics.
#include "util/memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#if MABERT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <mutex>

namespace mabert {
namespace {

std::atomic<int64_t> g_current{0}, g_peak{0};
std::atomic<bool> g_installed{false};
c10::DeleterFnPtr g_base_delete = nullptr;
c10::Allocator* g_base = nullptr;

// Each block carries its size in a header in front of the data, so the data pointer doubles as
// the context (LibTorch's raw_allocate/raw_deallocate require that) and no lookup table is needed.
constexpr size_t kHeader = 64;  // keeps the CPU allocator's 64-byte alignment

void counting_delete(void* data) {
  if (!data) return;
  char* block = static_cast<char*>(data) - kHeader;
  size_t bytes = 0;
  std::memcpy(&bytes, block, sizeof bytes);
  g_current -= static_cast<int64_t>(bytes);
  g_base_delete(block);
}

struct CountingCpuAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) override {
    c10::DataPtr inner = g_base->allocate(n + kHeader);
    char* block = static_cast<char*>(inner.release_context());
    std::memcpy(block, &n, sizeof n);
    const int64_t now = g_current += static_cast<int64_t>(n);
    int64_t peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
    void* data = block + kHeader;
    return {data, data, &counting_delete, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &counting_delete; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

// Installs the counter when the default allocator hands out simple blocks (data == context with
// a raw deleter), which is what the wrapper builds on; otherwise CPU peaks are reported as −1.
void install_counting_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    c10::Allocator* base = c10::GetDefaultCPUAllocator();
    if (!base->raw_deleter()) return;
    g_base = base;
    g_base_delete = base->raw_deleter();
    static CountingCpuAllocator counting;
    c10::SetCPUAllocator(&counting, /*priority=*/100);
    g_installed = true;
  });
}

}  // namespace

int64_t peak_memory_reset(int device_index) {
#if MABERT_WITH_CUDA
  if (device_index >= 0) {
    c10::cuda::CUDACachingAllocator::emptyCache();
    c10::cuda::CUDACachingAllocator::resetPeakStats(device_index);
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_index);
    return stats.allocated_bytes[0].current;
  }
#endif
  install_counting_allocator();
  if (!g_installed) return -1;
  g_peak = g_current.load();
  return g_current.load();
}

int64_t peak_memory_since(int device_index, int64_t baseline) {
#if MABERT_WITH_CUDA
  if (device_index >= 0) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_index);
    return stats.allocated_bytes[0].peak - baseline;
  }
#endif
  if (!g_installed || baseline < 0) return -1;
  return g_peak.load() - baseline;
}

namespace {
// A "Vm...:  1234 kB" field of /proc/self/status in bytes, −1 when absent.
int64_t proc_status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::stoll(line.substr(n + 1)) * 1024;
  return -1;
}
}  // namespace

int64_t rss_peak_reset() {
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
  return proc_status_bytes("VmRSS");
}

int64_t rss_peak_since(int64_t baseline) {
  const int64_t hwm = proc_status_bytes("VmHWM");
  return hwm < 0 || baseline < 0 ? -1 : hwm - baseline;
}

}  // namespace mabert

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

struct Tracked {
  c10::DataPtr inner;
  size_t bytes;
};

void tracked_delete(void* ctx) {
  auto* t = static_cast<Tracked*>(ctx);
  g_current -= static_cast<int64_t>(t->bytes);
  delete t;  // frees through the wrapped allocator's own deleter
}

struct CountingCpuAllocator final : c10::Allocator {
  c10::Allocator* base = nullptr;
  c10::DataPtr allocate(size_t n) override {
    c10::DataPtr inner = base->allocate(n);
    void* data = inner.get();
    auto* t = new Tracked{std::move(inner), n};
    const int64_t now = g_current += static_cast<int64_t>(n);
    int64_t peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
    return {data, t, &tracked_delete, c10::Device(c10::kCPU)};
  }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

void install_counting_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    static CountingCpuAllocator counting;
    counting.base = c10::GetDefaultCPUAllocator();
    c10::SetCPUAllocator(&counting, /*priority=*/100);
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

#include "util/errors.h"

#include <c10/util/Exception.h>

#include <new>
#include <string_view>

namespace mabert {
namespace {

constexpr const char* kHint = " (try a shorter input, a smaller batch or a smaller model)";

bool cpu_allocation_failed(std::string_view m) {
  return m.find("can't allocate memory") != std::string_view::npos ||
         m.find("not enough memory") != std::string_view::npos;
}

// LibTorch's messages can run to several lines (CUDA's lists the allocator's statistics).
std::string first_line(const std::string& m, size_t max = 240) {
  std::string s = m.substr(0, m.find('\n'));
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

}  // namespace

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) || dynamic_cast<const std::bad_alloc*>(&e)) return true;
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return cpu_allocation_failed(c->what_without_backtrace());
  return false;
}

std::string describe_error(const std::exception& e) {
  if (const auto* oom = dynamic_cast<const c10::OutOfMemoryError*>(&e))
    return "out of GPU memory: " + first_line(oom->what_without_backtrace()) + kHint;
  if (dynamic_cast<const std::bad_alloc*>(&e)) return std::string("out of memory") + kHint;
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) {
    const std::string m = c->what_without_backtrace();
    if (cpu_allocation_failed(m)) return "out of memory: " + first_line(m) + kHint;
    return m;
  }
  return e.what();
}

}  // namespace mabert

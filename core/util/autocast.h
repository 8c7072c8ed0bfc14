// bf16 autocast on CUDA for one scope: switched on when constructed (if asked for and the device
// is CUDA), off again — with its cast cache cleared — when the scope ends, also by an exception
// such as an out-of-memory error. Autocast state is per thread in ATen; this guard is the only
// place the project switches it.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>

namespace mabert {

class AutocastBf16 {
 public:
  AutocastBf16(bool on, const c10::Device& device) : on_(on && device.is_cuda()) {
    if (!on_) return;
    prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~AutocastBf16() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
    if (!prev_enabled_) at::autocast::clear_cache();
  }
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool on_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace mabert

// bf16 autocast for one scope, on the device the job runs on (CUDA, or the CPU: oneDNN's bf16
// GEMMs on AMX / AVX512-BF16): switched on when constructed (if asked for), off again — with its
// cast cache cleared — when the scope ends, also by an exception such as an out-of-memory error.
// Weights, gradients and optimizer state stay fp32; autocast runs matrix products in bf16 and
// keeps LayerNorm, softmax and losses in fp32; the fused scan and convolution kernels read and
// write bf16 activations when given them, with fp32 state, weights and accumulation. Autocast
// state is per thread in ATen; this guard is the only place the project switches it.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>

namespace mabert {

class AutocastBf16 {
 public:
  AutocastBf16(bool on, const c10::Device& device) : on_(on), type_(device.type()) {
    if (!on_) return;
    prev_enabled_ = at::autocast::is_autocast_enabled(type_);
    prev_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::set_autocast_enabled(type_, true);
  }
  ~AutocastBf16() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(type_, prev_enabled_);
    at::autocast::set_autocast_dtype(type_, prev_dtype_);
    if (!prev_enabled_) at::autocast::clear_cache();
  }
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool on_;
  c10::DeviceType type_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace mabert

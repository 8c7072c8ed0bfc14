#include "model/dropout.h"

#include "util/mix.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <map>
#include <mutex>

namespace mabert {

at::Tensor keyed_noise(const DropoutKey& key, uint64_t draw, at::IntArrayRef sizes, double p, const at::TensorOptions& options) {
  at::Tensor noise = at::empty(sizes, options);
  const c10::Device d = options.device();
  // A generator of the device's kind (CPU, CUDA) with its own state, reseeded per row: one per
  // thread and device, cloned from the default generator the first time (never advancing it).
  const c10::Device dev = d.is_cuda() ? c10::Device(c10::kCUDA, d.has_index() ? d.index() : 0) : c10::Device(c10::kCPU);
  thread_local std::map<std::pair<int, int>, at::Generator> own;
  at::Generator& gen = own[{static_cast<int>(dev.type()), static_cast<int>(dev.index())}];
  if (!gen.defined()) {
    at::Generator def = at::globalContext().defaultGenerator(dev);
    std::lock_guard<std::mutex> lock(def.mutex());
    gen = def.clone();
  }
  const uint64_t base = splitmix64(splitmix64(splitmix64(key.seed ^ 0x5DEECE66Dull) + static_cast<uint64_t>(key.micro_step)) + draw);
  for (int64_t b = 0; b < noise.size(0); ++b) {
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(splitmix64(base + static_cast<uint64_t>(key.first_row + b)));
    }
    noise[b].bernoulli_(1.0 - p, gen);
  }
  return noise.div_(1.0 - p);
}

at::Tensor Dropout::operator()(const at::Tensor& x) const {
  if (!active()) return x;
  if (!keyed()) return at::dropout(x, p, true);
  return x * keyed_noise(*stream->key, stream->draws++, x.sizes(), p, x.options());
}

at::Tensor Dropout::keyed_noise_for(at::IntArrayRef sizes, const at::TensorOptions& options) const {
  if (!keyed()) return {};
  return keyed_noise(*stream->key, stream->draws++, sizes, p, options);
}

}  // namespace mabert

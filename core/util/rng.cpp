#include "util/rng.h"

#include <ATen/Context.h>

#include <stdexcept>
#include <string>

namespace mabert {
namespace {

at::Generator default_generator(const c10::Device& d) {
  return at::globalContext().defaultGenerator(d.is_cuda() ? c10::Device(c10::kCUDA, d.has_index() ? d.index() : 0) : d);
}

at::Tensor get_state(at::Generator g) {  // a handle: copies share the generator
  std::lock_guard<std::mutex> lock(g.mutex());
  return g.get_state();
}

void put_state(at::Generator& g, const at::Tensor& s) {
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(s);
}

}  // namespace

std::mutex& rng_mutex() {
  static std::mutex m;
  return m;
}

JobRng::JobRng(uint64_t seed, const c10::Device& device) : device_(device) {
  std::lock_guard<std::mutex> lock(rng_mutex());
  at::Generator def = default_generator(device_);
  {
    std::lock_guard<std::mutex> glock(def.mutex());
    gen_ = def.clone();  // same kind of generator, its own state
  }
  std::lock_guard<std::mutex> glock(gen_.mutex());
  gen_.set_current_seed(seed);
}

at::Tensor JobRng::state() const { return get_state(gen_); }

void JobRng::set_state(const at::Tensor& s) {
  try {
    put_state(gen_, s);
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string("not a ") + kind() + " generator state (" + e.what_without_backtrace() + ")");
  }
}

const char* JobRng::kind() const { return device_.is_cuda() ? "cuda" : "cpu"; }

JobRng::Use::Use(JobRng& rng) : rng_(rng), lock_(rng_mutex()), default_(default_generator(rng.device_)) {
  saved_ = get_state(default_);
  put_state(default_, get_state(rng_.gen_));
}

JobRng::Use::~Use() {
  put_state(rng_.gen_, get_state(default_));
  put_state(default_, saved_);
}

}  // namespace mabert

// Random streams a job owns. LibTorch's dropout (nn::Dropout, scaled_dot_product_attention) draws
// from the process's default generator of the tensors' device and takes no generator argument.
// A JobRng is a generator of the job's own (seeded by the job); `JobRng::Use` lends its state to
// the default generator for one scope (a forward pass), holding rng_mutex(), and takes the
// advanced state back at the end. So a job's dropout masks depend on its seed and steps only:
// a model built or random inputs drawn on another thread in between (they hold rng_mutex() too)
// never shift them, and the state is what a checkpoint saves. (Training keys its dropout masks by
// example instead — model/dropout.h — unless asked for `--dropout-masks stream`; the stream then
// serves that choice and anything else a forward draws.)
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <mutex>

namespace mabert {

// Held by whatever seeds or draws from a process-wide default generator (weight initialisation
// under torch::manual_seed, a JobRng lending its state).
std::mutex& rng_mutex();

class JobRng {
 public:
  // A fresh stream for `device`'s kind of generator, seeded with `seed`.
  JobRng(uint64_t seed, const c10::Device& device);

  at::Tensor state() const;              // for checkpoints (a byte tensor)
  void set_state(const at::Tensor& s);   // throws std::runtime_error when it is not this kind's state
  const char* kind() const;              // "cpu" or "cuda": the checkpoint's key for the state

  // While alive, dropout on `device` draws from this job's stream.
  class Use {
   public:
    explicit Use(JobRng& rng);
    ~Use();
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    JobRng& rng_;
    std::lock_guard<std::mutex> lock_;
    at::Generator default_;
    at::Tensor saved_;
  };

 private:
  c10::Device device_;
  at::Generator gen_;
};

}  // namespace mabert

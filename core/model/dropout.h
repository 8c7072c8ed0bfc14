// Dropout whose masks do not depend on how a batch is split: world-size-invariant training.
//
// LibTorch's dropout draws every mask from one generator stream per process, so a rank's masks
// depend on which rows it holds and how many came before: 2 ranks and 1 process (or a run
// resumed at another world size) train different models at dropout > 0, as PyTorch DDP does. A
// keyed mask is drawn instead, per example, from a generator seeded by (the job's seed, the
// global micro-step, the draw's place in the forward, the example's global row in that
// micro-batch): the same example gets the same masks whichever rank holds it and however many
// ranks there are. Masks still depend on the device kind and the CPU's Bernoulli kernel (LibTorch
// draws through MKL on Intel CPUs), so they match across world sizes on one kind of machine.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <optional>

namespace mabert {

// Which masks a training forward draws (set by the training loop around each micro-batch).
struct DropoutKey {
  uint64_t seed = 0;        // the job's seed
  int64_t micro_step = 0;   // the global micro-batch: step · grad_accum + k
  int64_t first_row = 0;    // the global row, in that micro-batch, of this batch's row 0
};

// What a model's dropouts share during one forward: the key (none: LibTorch's own generator)
// and how many masks this forward has drawn (each draw's place, part of its key).
struct DropoutStream {
  std::optional<DropoutKey> key;
  uint64_t draws = 0;
};

// Scaled keep-noise for a tensor of `sizes` = {B, ...}: 0 with probability p, 1 / (1 − p)
// otherwise; row b drawn from a generator seeded by (key, draw, key.first_row + b).
at::Tensor keyed_noise(const DropoutKey& key, uint64_t draw, at::IntArrayRef sizes, double p, const at::TensorOptions& options);

// One dropout application (rate p, on in training), keyed when the stream has a key.
struct Dropout {
  double p = 0;
  bool training = false;
  DropoutStream* stream = nullptr;  // null: LibTorch's generator

  bool active() const { return training && p > 0; }
  bool keyed() const { return active() && stream && stream->key; }  // masks drawn by example
  // x {B, ...} with dropout applied (x itself when inactive).
  at::Tensor operator()(const at::Tensor& x) const;
  // For an operation that applies dropout to slices of one tensor of `sizes` (attention in query
  // chunks): the whole tensor's keyed noise, drawn once (as one draw); undefined when inactive
  // or unkeyed — then each slice goes through operator().
  at::Tensor keyed_noise_for(at::IntArrayRef sizes, const at::TensorOptions& options) const;
};

// torch::nn::Dropout's place in a model, with the model's DropoutStream (set by the model).
struct KeyedDropoutImpl : torch::nn::Module {
  explicit KeyedDropoutImpl(double p) : p(p) {}
  at::Tensor forward(const at::Tensor& x) { return now()(x); }
  Dropout now() { return {p, is_training(), stream.get()}; }  // this module as a Dropout, in its mode now

  double p;
  std::shared_ptr<DropoutStream> stream;
};
TORCH_MODULE(KeyedDropout);

}  // namespace mabert

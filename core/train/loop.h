// The training loop every job runs (pretraining, fine-tuning): per step, the batch, forward and
// loss, zero grad, backward, clip, update; logging, evaluation, checkpoints, probes and
// pause/stop are named one-line steps around it. A job describes itself as a LoopJob.
#pragma once

#include "data/batching.h"
#include "model/mabert.h"
#include "train/hooks.h"
#include "train/options.h"

#include <torch/optim/adamw.h>

#include <functional>
#include <map>
#include <string>

namespace mabert::train {

struct LoopJob {
  MaBert model{nullptr};
  c10::Device device{c10::kCPU};
  TrainOptions opt;
  std::string run_dir;
  std::function<data::Batch(int64_t micro_step)> batch_at;   // on device
  std::function<at::Tensor(const data::Batch&)> loss_of;     // scalar, on device
  std::function<std::map<std::string, double>()> evaluate;   // may be empty
  std::string watch;                                         // metric for best/early stopping (higher is better)
};

TrainResult run_loop(LoopJob& job, const Hooks& hooks);

// A job's starting point: the device (bf16 autocast only on CUDA), the model of `cfg` initialised
// from the seed (under rng_mutex), the options and the run folder. The model is still on the CPU.
LoopJob new_loop_job(const ModelConfig& cfg, const TrainOptions& opt, const std::string& run_dir);

// AdamW with two groups: weight decay on weights, none on norms, biases, A_log and D (SPEC §1).
torch::optim::AdamW make_optimizer(MaBert& model, const TrainOptions& o);

// The batch's tensors on `d`.
data::Batch to_device(data::Batch b, const c10::Device& d);

}  // namespace mabert::train

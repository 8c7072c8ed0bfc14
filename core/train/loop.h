// The training loop every job runs (pretraining, fine-tuning): per step, the batch, forward and
// loss, zero grad, backward, clip, update; logging, evaluation, checkpoints, probes and
// pause/stop are named one-line steps around it. A job describes itself as a LoopJob.
#pragma once

#include "data/batching.h"
#include "dist/world.h"
#include "model/mabert.h"
#include "train/fused_adamw.h"
#include "train/hooks.h"
#include "train/options.h"

#include <torch/optim/adamw.h>

#include <functional>
#include <map>
#include <string>

namespace mabert::train {

// A batch's loss as a sum over its `count` terms (masked tokens, examples): the loop divides by
// the count over every rank, so data-parallel training averages exactly as one process would.
struct LossTerms {
  at::Tensor sum;   // scalar, on device
  int64_t count = 0;
};

// A held-out evaluation cut into `units` (examples, or batches with fixed boundaries): each rank
// scores its share [begin, end) as a list of values (one per unit, or counts summed over the
// share), and `metrics` turns every rank's list, concatenated in rank order, into the metrics. So ranks split the work instead of each
// repeating it, and every rank computes the same metrics from the same values: the best-model and
// early-stopping decisions cannot differ between ranks. In one process the share is everything.
struct Evaluation {
  int64_t units = 0;
  std::function<std::vector<double>(int64_t begin, int64_t end)> score;
  std::function<std::map<std::string, double>(const std::vector<double>& values)> metrics;
  explicit operator bool() const { return static_cast<bool>(score); }
};

struct LoopJob {
  MaBert model{nullptr};
  c10::Device device{c10::kCPU};
  TrainOptions opt;
  std::string run_dir;
  std::shared_ptr<dist::World> world;                        // this process's share of the job
  std::function<data::Batch(int64_t micro_step)> batch_at;   // this rank's rows, on device (may be none)
  std::function<LossTerms(const data::Batch&)> loss_of;
  Evaluation evaluate;                                       // may be empty
  std::string watch;                                         // metric for best/early stopping (higher is better)
};

TrainResult run_loop(LoopJob& job, const Hooks& hooks);

// A job's starting point: the device (bf16 autocast only on CUDA), the model of `cfg` initialised
// from the seed (under rng_mutex), the options, the run folder and the world (null: one process).
// The model is still on the CPU.
LoopJob new_loop_job(const ModelConfig& cfg, const TrainOptions& opt, const std::string& run_dir,
                     std::shared_ptr<dist::World> world);

// Rows [begin, end) of a batch (this rank's share of a global batch).
data::Batch slice_rows(const data::Batch& b, int64_t begin, int64_t end);

// AdamW (fused step) with two groups: weight decay on weights, none on norms, biases, A_log and D (SPEC §1).
FusedAdamW make_optimizer(MaBert& model, const TrainOptions& o);

// The batch's tensors on `d`.
data::Batch to_device(data::Batch b, const c10::Device& d);

}  // namespace mabert::train

// What a training job is told: the optimiser, schedule, logging and checkpoint cadence, device.
#pragma once

#include "selective_scan/selective_scan.h"
#include "util/device.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace mabert::train {

struct TrainOptions {
  int64_t steps = 1000;          // optimizer steps
  int64_t batch_size = 32;
  int64_t grad_accum = 1;
  int64_t max_len = 128;
  double lr = 1e-4, weight_decay = 0.01, adam_eps = 1e-6, beta1 = 0.9, beta2 = 0.999;
  double warmup = 0.06;          // fraction of steps (< 1) or a number of steps (>= 1)
  double clip = 1.0;             // max gradient norm; 0 disables
  int64_t eval_every = 0;        // 0: only at the end
  int64_t save_every = 0;        // 0: only at the end (and on stop)
  int64_t log_every = 10;
  uint64_t seed = 42;
  bool bucket = true;
  bool left_padding = false;     // pad batches before the tokens (training and evaluation); JSON "padding": "left"
  std::string early_stop_metric; // empty: the task's metric
  int64_t patience = 0;          // evaluations without improvement before stopping; 0 = never
  double stop_at = 0;            // stop once the watched metric reaches this value (a recall task solved); 0 = never
  DeviceKind device = DeviceKind::Cpu;
  int device_index = 0;          // CUDA: which GPU (under torchrun, the local rank); not recorded
  bool bf16 = false;             // autocast to bf16 (CUDA; CPUs, fast with AMX / AVX512-BF16)
  bool overlap_comm = true;       // ranks: gradient buckets all-reduced during backward (else all after it); not recorded
  double comm_bucket_mb = 4;      // their size
  int prefetch = 2;               // batches made ahead on a background thread (0: made in the step); not recorded, changes nothing
  bool keyed_dropout = true;      // dropout masks keyed by example (world-size invariant); false: one stream per rank (as DDP)
  bool resume = false;           // continue from the run folder's latest checkpoint
  kernels::ScanImpl scan = kernels::ScanImpl::Auto;  // this job's model's scan path (self-checked)

  nlohmann::ordered_json to_json() const;
};

// The learning rate at `step`: linear warm-up, then linear decay to 0 at o.steps.
double lr_at(const TrainOptions& o, int64_t step);

}  // namespace mabert::train

// Checkpoints: a folder per step holding the weights (model.safetensors, the names of
// save_model), the AdamW state (optimizer.safetensors) and the trainer state with the RNG
// (state.json, rng.safetensors). A checkpoint is written into a temporary folder and renamed
// into place, then `latest` is replaced atomically, so a kill at any moment leaves the previous
// checkpoint loadable. checksums.json (each file's size and CRC-32) is written last, inside the
// folder before the rename; a resume verifies it and falls back to the previous checkpoint.
#pragma once

#include "model/mabert.h"

#include <torch/optim/adamw.h>

#include <optional>
#include <string>
#include <vector>

namespace mabert::train {

struct TrainerState {
  int64_t step = 0;
  double best_metric = 0;
  int64_t best_step = -1;
  int64_t evals_without_improvement = 0;
  std::vector<at::Tensor> rngs;   // each rank's generator state (JobRng), in rank order: rng.safetensors
  std::string rng_kind = "cpu";   // "cpu" or "cuda": keys "<kind>" (rank 0), "<kind>/rank-<r>"
};

// Writes <run_dir>/checkpoints/ckpt-<step>; keeps the newest `keep` checkpoints.
std::string save_checkpoint(const std::string& run_dir, MaBert& model, torch::optim::AdamW& opt,
                            const TrainerState& state, int keep = 2);

// The newest checkpoint folder of a run that is complete and whose files match the checksums
// written with them (checksums.json: each file's size and CRC-32; a folder from before checksums
// is taken as it is). Each newer folder passed over is named in *rejected, with its reason.
std::optional<std::string> latest_checkpoint(const std::string& run_dir, std::vector<std::string>* rejected = nullptr);

// Why a checkpoint folder cannot be used — a missing file, or one whose size or CRC-32 differs
// from checksums.json (a flipped bit, a file truncated by a full disk) — or "" when it can.
std::string checkpoint_problem(const std::string& ckpt_dir);

// Loads weights (and, when given, optimizer state, trainer state and RNG state).
void load_checkpoint(const std::string& ckpt_dir, MaBert& model, torch::optim::AdamW* opt, TrainerState* state);

// Parameters that get no weight decay: norms, biases, A_log and D (SPEC §1).
bool no_weight_decay(const std::string& name);

}  // namespace mabert::train

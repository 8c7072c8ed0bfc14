// The training engine shared by the CLI and the GUI worker: MLM pretraining and GLUE
// fine-tuning with AdamW (no decay on norms, biases, A_log, D), linear warm-up then linear
// decay, gradient clipping and accumulation, periodic evaluation, early stopping, atomic
// checkpoints and exact resume. The loop sees only plain hooks and an atomic stop flag.
#pragma once

#include "data/batching.h"
#include "data/glue.h"
#include "model/mabert.h"
#include "tokenize/tokenizer.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

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
  std::string early_stop_metric; // empty: the task's metric
  int64_t patience = 0;          // evaluations without improvement before stopping; 0 = never
  std::string device = "cpu";    // cpu | cuda
  bool bf16 = false;             // autocast to bf16 on CUDA
  bool resume = false;           // continue from the run folder's latest checkpoint

  nlohmann::ordered_json to_json() const;
  static TrainOptions from_json(const nlohmann::json& j);
};

struct StepStats {
  int64_t step = 0, total_steps = 0;
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0, eta_s = 0, elapsed_s = 0;
};

struct EvalStats {
  int64_t step = 0;
  std::map<std::string, double> metrics;
};

struct Hooks {
  std::function<void(const StepStats&)> on_step;
  std::function<void(const EvalStats&)> on_eval;
  std::function<void(const std::string&)> on_message;
  // Called on the training thread every `probe_every` steps (and at the end) with the live model
  // in eval mode and no gradients, for analyses such as padding drift during training.
  std::function<void(MaBert&, int64_t step)> on_probe;
  int64_t probe_every = 0;
  const std::atomic<bool>* stop = nullptr;   // checked after every step; a stop skips the final evaluation
  const std::atomic<bool>* pause = nullptr;  // while set, the loop waits between steps (stop still answers)
};

struct TrainResult {
  std::string status;  // finished | stopped | early_stopped | diverged
  int64_t steps = 0;
  double last_loss = 0;
  std::map<std::string, double> final_metrics, best_metrics;
  std::string message;
};

// MLM pretraining on a corpus. The run folder receives config.json, tokenizer.model, run.json,
// metrics.jsonl and checkpoints/.
struct PretrainJob {
  ModelConfig model;
  std::vector<std::string> corpus;
  std::string tokenizer;  // .model path
  std::string run_dir;
  TrainOptions train;
  int64_t max_sentences = 0;  // 0 = all
  bool packed = false;        // blocks of max_len instead of natural sentences
};
TrainResult pretrain(const PretrainJob& job, const Hooks& hooks = {});

// Fine-tuning on a GLUE task; `init` is a pretraining run folder (its latest checkpoint) or empty
// for random initialisation.
struct FinetuneJob {
  ModelConfig model;  // used when init is empty
  std::string task, data_dir, init, tokenizer, run_dir;
  TrainOptions train;
  int64_t max_train_examples = 0;  // 0 = all
  std::string pooling;             // overrides the pooling of the initial model (ablations); empty = keep
};
TrainResult finetune(const FinetuneJob& job, const Hooks& hooks = {});

// Loads a run folder's model (latest checkpoint, or the best one when `best` and present) and
// tokenizer.
struct LoadedRun {
  MaBert model{nullptr};
  Tokenizer tokenizer;
  nlohmann::json info;  // run.json
};
LoadedRun load_run(const std::string& run_dir, bool best = true);

struct Prediction {
  double label = 0;                  // class index or score
  std::vector<double> probabilities; // classification
  std::vector<double> map_weights;   // per token
  std::vector<std::string> pieces;
};
// Evaluates a split; returns metrics (empty for unlabelled splits) and one prediction per example.
std::map<std::string, double> evaluate(MaBert& model, const Tokenizer& tok, const data::GlueSplit& split, int64_t max_len,
                                       int64_t batch_size, std::vector<Prediction>* predictions = nullptr);
Prediction predict(MaBert& model, const Tokenizer& tok, const std::string& a, const std::string* b, int64_t max_len);

// What a run folder holds after a crash (`mabert runs check`): the latest checkpoint loads in
// full (weights, AdamW moments, trainer and RNG state) into the model of the run's config.json,
// and metrics.jsonl parses (torn lines skipped and listed). Throws, naming the file and what is
// wrong, otherwise. No checkpoint yet is not an error (step −1).
struct RunCheck {
  std::string checkpoint;  // the folder that loaded; empty when none was written yet
  int64_t step = -1;
  size_t metric_records = 0;
  std::vector<std::string> notes;   // metrics lines skipped (torn writes)
  std::vector<std::string> leftovers;  // temporary files/folders of interrupted writes
};
RunCheck check_run(const std::string& run_dir);

}  // namespace mabert::train

// The two training jobs, on the loop of train/loop.h: MLM pretraining and GLUE fine-tuning with
// AdamW (no decay on norms, biases, A_log, D), linear warm-up then linear decay, gradient clipping
// and accumulation, periodic evaluation, early stopping, atomic checkpoints and exact resume.
// Front ends run them through core/jobs (run folder, registry, tokenizer), not directly.
// Data-parallel: with a world of W ranks, each step's global batch (the one process's batch of
// the same seed, MLM masking included) is split by rows across the ranks; only rank 0 writes.
#pragma once

#include "data/recall.h"
#include "dist/world.h"
#include "model/config.h"
#include "train/evaluate.h"
#include "train/hooks.h"
#include "train/options.h"
#include "train/run_folder.h"

#include <optional>
#include <string>
#include <vector>

namespace mabert::train {

// MLM pretraining on a corpus. The run folder receives config.json, tokenizer.model, run.json,
// metrics.jsonl and checkpoints/.
struct PretrainJob {
  ModelConfig model;
  std::vector<std::string> corpus;
  std::string shards;     // a token-shard folder (data/shards.h) instead of the corpus: read by memory mapping
  std::string tokenizer;  // .model path (with shards: empty = the one the shards were made with)
  std::string run_dir;
  TrainOptions train;
  int64_t max_sentences = 0;  // 0 = all
  bool packed = false;        // blocks of max_len instead of natural sentences
  std::shared_ptr<dist::World> world;  // data-parallel share of this process; null = one process
};
TrainResult pretrain(const PretrainJob& job, const Hooks& hooks = {});

// Fine-tuning on a GLUE task, or on a synthetic recall task (data/recall.h: task "mqar", "needle",
// "selective-copy", parameters in `recall`, no data folder or tokenizer: the task brings its own
// vocabulary). `init` is a pretraining run folder (its latest checkpoint) or empty for random
// initialisation.
struct FinetuneJob {
  static constexpr JobKind kind = JobKind::Finetune;  // jobs::JobSpec's alternative for fine-tuning
  ModelConfig model;  // used when init is empty
  std::string task, data_dir, init, tokenizer, run_dir;
  data::RecallTask recall;  // the recall task's parameters (its kind follows `task`)
  TrainOptions train;
  int64_t max_train_examples = 0;  // 0 = all
  std::optional<PoolingKind> pooling;  // overrides the pooling of the initial model (ablations); none = keep
  std::shared_ptr<dist::World> world;  // data-parallel share of this process; null = one process
};
TrainResult finetune(const FinetuneJob& job, const Hooks& hooks = {});
// The recall part of finetune (train/recall.cpp): the slot answers through the tied MLM decoder.
TrainResult finetune_recall(const FinetuneJob& job, const Hooks& hooks = {});
// The calibrated recipe for recall tasks (docs/TASKS.md, "Recipe"): the model (a small hybrid,
// no dropout) and the training options a recall job uses unless told otherwise.
struct RecallRecipe {
  ModelConfig model;
  TrainOptions train;
};
RecallRecipe recall_recipe();
// The recipe's positions for a schedule: none where a layer with a scan (M B P) carries order,
// learned absolute positions otherwise (attention alone cannot tell order without them).
void recall_positions(ModelConfig& cfg);
// The studio's recall demo: the smallest recall task on which the recipe's hybrid visibly learns
// to look a key up, in about three minutes on two cores (docs/TASKS.md).
struct RecallDemo {
  ModelConfig model;
  TrainOptions train;
  data::RecallTask task;
};
RecallDemo recall_demo();
// The job's recall task with its kind taken from job.task, validated.
data::RecallTask recall_task(const FinetuneJob& job);
// Copies a pretraining run's latest weights into `model`: every tensor of the same name and shape;
// returns the names left at their fresh initialisation (another vocabulary's embeddings, a head).
std::vector<std::string> load_encoder(MaBert& model, const std::string& init);

// The model a job trains, as its run folder's config.json will hold it: the vocabulary of its
// tokenizer, the head its task needs, the initial run's design when fine-tuning from one.
ModelConfig resolved_config(const PretrainJob& job);
ModelConfig resolved_config(const FinetuneJob& job);
// The tokenizer a fine-tuning job uses: the initial run's, or the job's own.
std::string finetune_tokenizer(const FinetuneJob& job);

}  // namespace mabert::train

// The two training jobs, on the loop of train/loop.h: MLM pretraining and GLUE fine-tuning with
// AdamW (no decay on norms, biases, A_log, D), linear warm-up then linear decay, gradient clipping
// and accumulation, periodic evaluation, early stopping, atomic checkpoints and exact resume.
// Front ends run them through core/jobs (run folder, registry, tokenizer), not directly.
// Data-parallel: with a world of W ranks, each step's global batch (the one process's batch of
// the same seed, MLM masking included) is split by rows across the ranks; only rank 0 writes.
#pragma once

#include "dist/world.h"
#include "model/config.h"
#include "train/evaluate.h"
#include "train/hooks.h"
#include "train/options.h"
#include "train/run_folder.h"

#include <string>
#include <vector>

namespace mabert::train {

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
  std::shared_ptr<dist::World> world;  // data-parallel share of this process; null = one process
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
  std::shared_ptr<dist::World> world;  // data-parallel share of this process; null = one process
};
TrainResult finetune(const FinetuneJob& job, const Hooks& hooks = {});

// The model a job trains, as its run folder's config.json will hold it: the vocabulary of its
// tokenizer, the head its task needs, the initial run's design when fine-tuning from one.
ModelConfig resolved_config(const PretrainJob& job);
ModelConfig resolved_config(const FinetuneJob& job);
// The tokenizer a fine-tuning job uses: the initial run's, or the job's own.
std::string finetune_tokenizer(const FinetuneJob& job);

}  // namespace mabert::train

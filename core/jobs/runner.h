// The job runner every front end calls — the CLI, the studio's worker, the grid runner. It owns
// what is the same for every job: the run folder, the registry row (the *resolved* model config,
// as the run's config.json holds it, from "running" to the final status and result record), a
// tokenizer when none was given, and evaluating a finished run. Front ends only describe the job
// (a JobSpec), hand it to `run`, and show progress through the hooks.
//
// A job kind is one section below (its spec, with `kind`, and the three functions `run`, `run_dir`,
// `training_options` for it) and one file, jobs/<kind>.cpp, that defines them; plus its value and
// name in train/result.h and its front ends' fields (a CLI subcommand, a row of the studio's job
// buttons). The rest follows from the JobSpec variant: docs/ARCHITECTURE.md.
#pragma once

#include "tokenize/tokenizer.h"
#include "train/trainer.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mabert::jobs {

using train::JobKind;  // train/result.h: "pretrain" | "finetune" | "eval" (the registry's kind)
using train::parse_job_kind;
using train::to_string;
// The kind a run folder's run.json records; none when it records none, or one this build does not know.
std::optional<JobKind> kind_of_run(const nlohmann::json& run_info);

// A new run's folder, named by what it is and when it started (local time, to the millisecond):
// ROOT/pretrain-<time>, ROOT/finetune-<task>-<time>; an evaluation's sits inside the run it
// scores (ROOT is that run: ROOT/eval-<time>). The CLI and the studio name runs through it.
std::string new_run_dir(const std::string& root, JobKind kind, const std::string& task = "");
// The same with a name of the caller's (the CLI's demo: ROOT/demo-<time>).
std::string new_run_dir(const std::string& root, const std::string& name);

// Where a job is recorded and what its row says besides the model and the training options
// (e.g. {"source": "studio"} or the grid, variant and seed).
struct Recording {
  std::string registry;                           // empty: runs::Registry::default_path()
  nlohmann::json extra = nlohmann::json::object();
  bool write = true;                              // false: no row (a distributed grid's other ranks)
};


struct JobOutcome;  // what a job ends with (below)

// ---- Pretraining (jobs/pretrain.cpp) ----
// Without job.tokenizer, one of `vocab` pieces is trained on the corpus into the run folder (or
// the run folder's own is reused when resuming). Data-parallel (job.world of W ranks): --batch
// must divide by W; rank 0 trains the tokenizer and writes the folder and the registry row, the
// others wait; every rank checks it runs the same job as rank 0 before training.
struct PretrainSpec {
  static constexpr JobKind kind = JobKind::Pretrain;
  train::PretrainJob job;
  int vocab = 2000;
};
JobOutcome run(const PretrainSpec& spec, const Recording& rec, const train::Hooks& hooks);
const std::string& run_dir(const PretrainSpec& spec);
const train::TrainOptions* training_options(const PretrainSpec& spec);

// ---- Fine-tuning on a GLUE or recall task (jobs/finetune.cpp): train::FinetuneJob is its spec ----
JobOutcome run(const train::FinetuneJob& spec, const Recording& rec, const train::Hooks& hooks);
const std::string& run_dir(const train::FinetuneJob& spec);
const train::TrainOptions* training_options(const train::FinetuneJob& spec);

// ---- Evaluation of a fine-tuned run on a split of its task (jobs/evaluate.cpp) ----
struct EvalJob {
  std::string run;                 // the fine-tuning run folder
  std::string data_dir;            // empty: the folder the run was trained on
  std::string split = "dev";
  int64_t max_len = 0, batch = 64;  // max_len 0: the length the run was trained at (run.json), else 128
  bool best = true;                // the best checkpoint (else the latest)
  std::string predictions;         // when set: one prediction per example, in the task's order (TSV;
                                   // a recall task: each example's slots and right answers)
  // Serving-condition overrides (unset / empty: as the run was trained): the padding side, and a
  // padding-drift masking configuration (none | pre | post | pre+post | pre+post+state) switched
  // on the same weights, to measure what padding costs a model served another way.
  std::optional<bool> left_padding;
  std::string psm;
  // Layers switched off (0-based schedule indices) for the whole evaluation: what the metric loses.
  std::vector<int64_t> knock_out;
  // A recall run: task fields evaluated with instead of the trained ones (e.g. {"length": 256} to
  // test length generalisation; "eval_examples"); the split is "dev" or "test" (held-out streams).
  nlohmann::json recall = nlohmann::json::object();
};
struct EvalOutcome {
  std::string task;
  size_t examples = 0;
  std::string padding, psm;  // the conditions evaluated under (psm: the masking configuration's name)
  double pads_per_example = 0;  // pad tokens per example in the evaluation's batches (0 at batch 1)
  std::map<std::string, double> metrics;
  std::string metric;        // the task's headline metric (accuracy, mcc, f1, pearson)
  bool stopped = false;      // `stop` was set before it finished: no metrics
};
// `stop` (optional) is checked before every batch of a GLUE split: a job stopped mid-evaluation
// (the studio closing) waits for one batch, not the whole split.
EvalOutcome evaluate(const EvalJob& job, const std::atomic<bool>* stop = nullptr);

// Knock-out, one layer at a time: the evaluation with nothing off, then with each layer off, then
// with every layer of each kind in the schedule off (rows "none", "3 (T)", "all T"). The model is
// loaded once; job.knock_out is ignored.
struct KnockOutRow {
  std::string what;
  std::vector<int64_t> layers;
  std::map<std::string, double> metrics;
};
// `stop` (optional) is checked before every batch: a stopped sweep returns the rows it finished
// (the studio's window, closing mid-sweep, waits for one batch, not a whole evaluation).
std::vector<KnockOutRow> knock_out_sweep(const EvalJob& job, EvalOutcome* base = nullptr,
                                         const std::atomic<bool>* stop = nullptr);

// The spec of a job that needs no run folder of its own: recorded in the registry (with its own
// folder, `record_dir`) only when given one. Its run_dir is record_dir; it has no training options.
template <class Job, JobKind K>
struct Recorded {
  static constexpr JobKind kind = K;
  Job job;
  std::string record_dir;  // empty: not recorded
};
template <class Job, JobKind K>
const std::string& run_dir(const Recorded<Job, K>& spec) { return spec.record_dir; }
template <class Job, JobKind K>
const train::TrainOptions* training_options(const Recorded<Job, K>&) { return nullptr; }

// An evaluation: recorded as an "eval" run (the studio's Evaluate) or not (the CLI's eval, a grid's servings).
using EvalSpec = Recorded<EvalJob, JobKind::Evaluate>;
JobOutcome run(const EvalSpec& spec, const Recording& rec, const train::Hooks& hooks);

// ---- Training a tokenizer (jobs/tokenizer.cpp) ----
// A SentencePiece model with the special pieces MaBERT uses, on a corpus, into PREFIX.model
// (job.model_prefix; empty: record_dir/tokenizer, the name a pretraining run's own has). Recorded
// as a "tokenizer" run (the studio's Tokenizer button: run.json, a row of its pieces and seconds)
// or not (`mabert tokenizer train`). A stop is seen before training starts; SentencePiece's
// trainer itself is not interruptible.
using TokenizerSpec = Recorded<TokenizerTrainOptions, JobKind::Tokenizer>;
JobOutcome run(const TokenizerSpec& spec, const Recording& rec, const train::Hooks& hooks);

// ---- Every kind ----
struct JobOutcome {
  std::string run_id;              // the run folder's absolute path: the registry's id (unrecorded evaluation: empty)
  train::TrainResult result;       // an evaluation: status finished, its metrics as the final ones
  std::optional<EvalOutcome> eval; // an evaluation: what it scored, and how
};
// One job as every front end describes it: each kind's spec at its JobKind's index.
using JobSpec = std::variant<PretrainSpec, train::FinetuneJob, EvalSpec, TokenizerSpec>;
template <size_t... I>
constexpr bool specs_at_their_kinds(std::index_sequence<I...>) {
  return ((std::variant_alternative_t<I, JobSpec>::kind == static_cast<JobKind>(I)) && ...);
}
static_assert(std::variant_size_v<JobSpec> == train::kJobKinds && specs_at_their_kinds(std::make_index_sequence<train::kJobKinds>{}),
              "JobSpec holds each JobKind's spec at the kind's index, and nothing else");
inline JobKind kind_of(const JobSpec& spec) { return static_cast<JobKind>(spec.index()); }
// The folder the job writes: the run folder (an evaluation: record_dir).
const std::string& run_dir_of(const JobSpec& spec);
// A training job's options; null for an evaluation.
const train::TrainOptions* training_options(const JobSpec& spec);
// Does what the spec says, through its kind's `run`.
JobOutcome run(const JobSpec& spec, const Recording& rec, const train::Hooks& hooks = {});

// Trains a SentencePiece tokenizer on `corpus` into PREFIX.model unless that file exists;
// returns its path. `say` hears about it when it trains.
std::string ensure_tokenizer(const std::vector<std::string>& corpus, const std::string& prefix, int vocab,
                             const std::function<void(const std::string&)>& say = {});

// The registry row of one run, from start to end: records it as running with `config`, calls
// `body`, then records its final status and result (or "failed" with the error, rethrown). In a
// data-parallel job only rank 0 writes rows.
train::TrainResult record_run(const std::string& run_dir, JobKind kind, const std::string& task,
                              const nlohmann::json& config, const Recording& rec,
                              const std::function<train::TrainResult()>& body, bool write_row = true);

// The row of a run that finished in another process (a distributed grid's other rank, one
// process per cell), written by the rank that records: the same fields record_run's caller would
// give, read from its folder (config.json, run.json's training options), with its metrics.
void record_finished_run(const std::string& run_dir, JobKind kind, const std::string& task, const nlohmann::json& fields,
                         const std::map<std::string, double>& metrics, const Recording& rec);

}  // namespace mabert::jobs

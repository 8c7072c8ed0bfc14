// Ablation grids (paper Tables 1, 3 and B4): a JSON grid names the model variants (schedule,
// PSM levels, pooling, any config field), the pretraining budget, the GLUE tasks and the seeds.
// The runner pretrains each distinct encoder once, fine-tunes it on every task for every seed,
// and writes a results table (mean ± std per variant and task) as Markdown and CSV. It resumes:
// a cell whose result file exists is not run again. Every run is recorded in the registry.
#pragma once

#include "data/recall.h"
#include "model/config.h"
#include "dist/world.h"
#include "train/hooks.h"
#include "train/options.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <optional>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mabert::experiments {

struct Variant {
  std::string name;         // the row label, e.g. "Full", "PSM only", "MMTMMTMMTMMT"
  nlohmann::json overrides; // ModelConfig fields applied on top of the grid's base model
  // The pretraining seed of this variant's encoder ("pretrain_seed"; unset: the pretrain budget's):
  // variants alike but for it pretrain separate encoders, so pretraining variance is measured.
  std::optional<uint64_t> pretrain_seed;
};

// How a finished cell is served again ("serve": true): as trained, with the batches padded on
// the other side, and unpadded (batch 1); each with its score, pads per example and predictions.
enum class Serving { AsTrained, OtherSide, Unpadded };
const char* to_string(Serving s);  // "as_trained" | "other_side" | "unpadded"
inline constexpr Serving kServings[] = {Serving::AsTrained, Serving::OtherSide, Serving::Unpadded};

struct Grid {
  std::string name;
  std::string source;                     // the file it was read from (for messages)
  ModelConfig base;                       // preset + the grid's "model" fields
  nlohmann::json model_fields = nlohmann::json::object();  // the grid's "model" fields alone
  std::vector<Variant> variants;
  std::vector<std::string> corpus;        // pretraining text (files or folders)
  int vocab = 2000;                       // tokenizer trained on the corpus, shared by every encoder
  train::TrainOptions pretrain, finetune; // budgets
  int64_t max_train_examples = 0;         // fine-tuning examples per task (0 = all)
  std::vector<std::string> tasks;         // column names: GLUE task names, recall tasks' labels
  std::map<std::string, data::RecallTask> recall;  // the recall tasks among `tasks`, by label
  std::map<std::string, train::TrainOptions> task_budget;  // a task's own "finetune" budget (recall tasks), by label
  // A recall task's "eval_lengths": each finished cell is evaluated again at these lengths (the
  // trained weights on the same task at another length; needle at growing length), by label.
  std::map<std::string, std::vector<int64_t>> eval_lengths;
  bool pretraining = true;                // false (no "pretrain"): every cell starts from random weights
  std::string data_dir;                   // folder holding one subfolder per GLUE task
  std::vector<uint64_t> seeds;
  bool serve = false;                     // serve each finished cell three ways (Serving)

  // Strict: unknown fields and wrong types are errors naming the file and field. Relative paths
  // in the file are resolved against the file's folder.
  static Grid load(const std::string& path);
  static Grid from_json(const nlohmann::json& j, const std::string& where, const std::string& base_dir = ".");
};

struct CellResult {
  std::string variant, task;
  uint64_t seed = 0;
  double seconds = 0;                      // the cell's training time (0 when not recorded)
  int64_t steps = 0, tokens = 0;           // optimizer steps and tokens trained on (recall cells)
  double score = 0;                        // the task's metric (mcc, accuracy, f1, pearson)
  std::map<std::string, double> metrics;
  // The grid's eval_lengths for this cell's task: accuracy at each length, or why there is none
  // (a model with learned positions cannot run past them). Kept in result.json.
  std::map<int64_t, double> length_scores;
  std::map<int64_t, std::string> length_errors;
  double train_pads = -1;                    // pad tokens per training example (-1: not recorded)
  struct Served {
    double score = 0, pads = 0;              // the metric, pad tokens per example
  };
  std::map<Serving, Served> served;          // "serve": the cell served each way
  std::string run_dir;
  bool reused = false;                     // read back from an earlier run
};

struct GridReport {
  std::vector<CellResult> cells;
  int pretrain_runs = 0, pretrain_reused = 0, finetune_runs = 0, finetune_reused = 0;
  double seconds = 0;
};

struct GridHooks {
  std::function<void(const std::string&)> on_message;
  std::function<void(const CellResult&)> on_cell;
  train::Control* control = nullptr;  // stop: after the current step, the cell starts over next time
  std::string registry;               // empty: the default registry
  // Under torchrun: the grid's cells spread over the ranks (each a one-process job), handed out by
  // an atomic counter in the c10d store; only rank 0 writes registry rows and the results table.
  std::shared_ptr<dist::World> world;
  int device_index = 0;  // CUDA cells: the GPU they run on (under torchrun, the rank's local rank)
};

// A cell's run folder: out_dir/cells/<variant slug>/<task>/seed-<s>.
std::string cell_dir(const std::string& out_dir, const Variant& v, const std::string& task, uint64_t seed);
// The cells of `grid` already finished in out_dir (their result.json read back, in grid order,
// reused = true): a finished grid's results without running anything.
std::vector<CellResult> finished_cells(const Grid& grid, const std::string& out_dir);

// A results.csv (results_csv's layout, e.g. the shipped docs/results/table3-*.csv) read back as
// cells: one per score of its "scores" column, seeds numbered 1, 2, … in that order (the CSV does
// not keep them). Errors name the file and line.
std::vector<CellResult> read_results_csv(const std::string& path);

// The metric a task column reports: the GLUE task's, or "accuracy" for a recall task.
std::string task_metric(const Grid& grid, const std::string& task);

// Runs (or resumes) the grid into out_dir: out_dir/encoders/<key>/ for pretraining runs,
// out_dir/cells/<variant>/<task>/seed-<s>/ for fine-tuning, results.md and results.csv at the end.
GridReport run_grid(const Grid& grid, const std::string& out_dir, const GridHooks& hooks = {});

// A grid file's "sweep" ({"d_model": [32, 64, 128]}): every variant crossed with every
// combination of the listed values, named "<variant> d_model=64" (applied by from_json).
// The model a variant describes, validated: the grid's base, or the variant's own "preset" (e.g.
// "bert-tiny") with the grid's "model" fields on top; then the variant's other fields.
ModelConfig variant_config(const Grid& grid, const Variant& v);
// A key naming the encoder a variant pretrains: variants that differ only in pooling or head
// share it.
std::string encoder_key(const Grid& grid, const Variant& v);

// Results in the paper's layout: rows are variants in grid order, columns are tasks in grid
// order, then the average; cells are "mean ± std (n)".
std::string results_markdown(const Grid& grid, const std::vector<CellResult>& cells);
std::string results_csv(const Grid& grid, const std::vector<CellResult>& cells);
// One row per finished cell (the per-seed data behind the tables), with its training time, ms per
// step and tokens per second: cells.csv beside results.csv.
std::string cells_csv(const std::vector<CellResult>& cells);

}  // namespace mabert::experiments

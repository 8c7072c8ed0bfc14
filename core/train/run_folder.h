// A run folder on disk: creating one for a job, loading its model back, checking it after a crash.
#pragma once

#include "model/mabert.h"
#include "tokenize/tokenizer.h"

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string>
#include <vector>

namespace mabert::train {

// Creates the folder with config.json, tokenizer.model (copied unless it is already there) and
// run.json (`info`), each written atomically.
void prepare_run_dir(const std::string& run_dir, const ModelConfig& cfg, const std::string& tokenizer,
                     const nlohmann::ordered_json& info);

// A run folder's weights: the first of `order` that the folder has — its best weights (best/) or
// its latest complete checkpoint (checkpoints/) — loaded into the model of its config; `which`
// (optional) receives what was loaded, relative to the folder: "best" or "checkpoints/ckpt-…".
// Throws, naming the folder, when it has none of them.
enum class WeightSource { Best, Latest };
MaBert load_weights(const std::string& run_dir, std::initializer_list<WeightSource> order, std::string* which = nullptr);

// Loads a run folder's model (latest checkpoint, or the best one when `best` and present) and
// tokenizer.
struct LoadedRun {
  MaBert model{nullptr};
  Tokenizer tokenizer;
  nlohmann::json info;  // run.json
  std::string weights;  // what was loaded, relative to the run folder: "best" or "checkpoints/ckpt-…"
};
LoadedRun load_run(const std::string& run_dir, bool best = true);

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
  std::vector<std::string> rejected;   // newer checkpoints passed over: missing files, failed checksums
};
RunCheck check_run(const std::string& run_dir);

}  // namespace mabert::train

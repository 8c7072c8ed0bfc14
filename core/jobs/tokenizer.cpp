// Training a tokenizer as a job: the studio's Tokenizer button records it as a run (the model in
// its folder, run.json, a registry row with its pieces and seconds); `mabert tokenizer train`
// writes the model where it is told, unrecorded.
#include "jobs/common.h"

#include "data/corpus.h"

#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace mabert::jobs {
using namespace detail;
using json = nlohmann::json;

JobOutcome run(const TokenizerSpec& spec, const Recording& rec, const train::Hooks& hooks) {
  TokenizerTrainOptions o = spec.job;
  if (o.inputs.empty()) throw std::invalid_argument("a tokenizer job needs a corpus to train on");
  if (o.model_prefix.empty()) {
    if (spec.record_dir.empty()) throw std::invalid_argument("a tokenizer job needs where to write (a prefix or a run folder)");
    o.model_prefix = spec.record_dir + "/tokenizer";
  }
  const std::unique_ptr<FolderLock> lock = spec.record_dir.empty() ? nullptr : lock_run_folder(spec.record_dir, world_of(nullptr));
  const json config =
      row_config({{"corpus", o.inputs}, {"vocab", o.vocab_size}, {"type", o.model_type}, {"max_sentences", o.max_sentences}}, rec);
  const auto body = [&] {
    train::TrainResult r;
    if (hooks.control && hooks.control->stop_requested()) {
      r.status = train::RunStatus::Stopped, r.message = "stopped before the tokenizer was trained";
      return r;
    }
    if (hooks.on_message)
      hooks.on_message("training a " + std::to_string(o.vocab_size) + "-piece " + o.model_type + " tokenizer");
    const auto t0 = std::chrono::steady_clock::now();
    const std::string path = data::train_tokenizer(o);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int64_t pieces = Tokenizer::load(path).vocab_size();
    if (!spec.record_dir.empty())
      write_file_atomic(spec.record_dir + "/run.json",
                        json{{"kind", to_string(JobKind::Tokenizer)}, {"tokenizer", path}, {"config", config}}.dump(2) + "\n");
    if (hooks.on_message) {
      char took[64];
      std::snprintf(took, sizeof took, " pieces in %.1f s", seconds);
      hooks.on_message(path + ": " + std::to_string(pieces) + took);
    }
    r.final_metrics = {{"pieces", static_cast<double>(pieces)}, {"seconds", seconds}};
    return r;
  };
  JobOutcome out{spec.record_dir.empty() ? "" : run_id(spec.record_dir), {}, {}};
  out.result = record_run(spec.record_dir, JobKind::Tokenizer, "", config, rec, body, !spec.record_dir.empty());
  return out;
}

}  // namespace mabert::jobs

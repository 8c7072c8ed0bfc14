// What a job is and how it ended: the job kinds, a run's status, and the result a training job
// returns (what the registry stores as its metrics). One name table per enum (result.cpp).
#pragma once

#include "util/enum_names.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace mabert::train {

// What a run folder holds (run.json's "kind", the registry's): the strings "pretrain", "finetune", "eval", "tokenizer".
// A job kind is its value and its name here, its spec in core/jobs (docs/ARCHITECTURE.md).
enum class JobKind { Pretrain, Finetune, Evaluate, Tokenizer };
inline constexpr EnumName<JobKind> kJobKindNames[] = {
    {JobKind::Pretrain, "pretrain"}, {JobKind::Finetune, "finetune"}, {JobKind::Evaluate, "eval"}, {JobKind::Tokenizer, "tokenizer"}};
inline constexpr std::size_t kJobKinds = std::size(kJobKindNames);
constexpr bool job_kinds_in_order() {  // each name at its value's index, so a kind is its index (jobs::JobSpec's too)
  for (std::size_t i = 0; i < kJobKinds; ++i)
    if (kJobKindNames[i].value != static_cast<JobKind>(i)) return false;
  return true;
}
static_assert(job_kinds_in_order(), "the job kinds' names in the enum's order");
inline const char* to_string(JobKind k) { return enum_name(kJobKindNames, k); }
inline std::optional<JobKind> job_kind_named(const std::string& s) { return enum_value(kJobKindNames, s); }  // none: not a kind of this build
JobKind parse_job_kind(const std::string& s);  // also accepts "evaluate"; throws std::invalid_argument naming the value

// How a run ended (Running while it goes). The strings are for the registry, JSON and screens.
enum class RunStatus { Running, Finished, Stopped, EarlyStopped, Diverged, Failed };
const char* to_string(RunStatus s);
RunStatus parse_run_status(const std::string& s);  // throws std::invalid_argument naming the value

struct TrainResult {
  RunStatus status = RunStatus::Finished;
  int64_t steps = 0;
  double last_loss = 0;
  std::map<std::string, double> final_metrics, best_metrics;
  std::string message;
  // The training batches this process saw in this run (since a resume, its own steps): rows and
  // the pad positions among them, so a result says how much its model trained on padding.
  int64_t rows = 0, pad_tokens = 0;
  double data_wait_s = 0;  // time the steps waited for a batch (the background loader was behind)
  double comm_wait_s = 0;  // time the steps waited for gradient sums after backward (communication not hidden)
  // The data against the step: seconds in the training steps (forward, backward, gradient sums,
  // optimizer; not evaluation or checkpoints), and the batches made with the seconds making them
  // took (on the loader's thread, or inline without --prefetch).
  double step_s = 0, data_make_s = 0;
  int64_t batches_made = 0;
};
// The result record: what the registry stores as a run's metrics and `--json` prints.
nlohmann::ordered_json to_json(const TrainResult& r);

}  // namespace mabert::train

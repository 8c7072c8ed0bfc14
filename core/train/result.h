// What a job is and how it ended: the job kinds, a run's status, and the result a training job
// returns (what the registry stores as its metrics). One name table per enum (result.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace mabert::train {

// What a run folder holds (run.json's "kind", the registry's): the strings "pretrain", "finetune", "eval".
enum class JobKind { Pretrain, Finetune, Evaluate };
inline constexpr std::size_t kJobKinds = 3;
const char* to_string(JobKind k);
JobKind parse_job_kind(const std::string& s);  // also accepts "evaluate"; throws std::invalid_argument naming the value
std::optional<JobKind> job_kind_named(const std::string& s);  // none for a name this build does not know

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

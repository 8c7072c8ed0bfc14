// What a running job reports and how it is steered: step and evaluation statistics, the result,
// the hooks a front end fills in, and the stop/pause control another thread holds.
#pragma once

#include "model/mabert.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace mabert::train {

// How a run ended (Running while it goes). The strings are for the registry, JSON and screens.
enum class RunStatus { Running, Finished, Stopped, EarlyStopped, Diverged, Failed };
const char* to_string(RunStatus s);
RunStatus parse_run_status(const std::string& s);  // throws std::invalid_argument naming the value

struct StepStats {
  int64_t step = 0, total_steps = 0;
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0, eta_s = 0, elapsed_s = 0;
};

struct EvalStats {
  int64_t step = 0;
  std::map<std::string, double> metrics;
};

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

// Stop and pause, asked for from another thread (GUI buttons) and answered by the loop between
// steps. Pausing blocks the loop on a condition variable until resumed or stopped.
class Control {
 public:
  void request_stop();
  // Async-signal-safe (an atomic store, no notify): for SIGINT handlers, where nothing is paused.
  void request_stop_from_signal() { stop_.store(true); }
  void set_paused(bool paused);
  void reset();  // neither stopped nor paused (a new job)
  bool stop_requested() const { return stop_.load(); }
  bool paused() const { return paused_.load(); }
  // Blocks while paused (calling `on_block` once, under the lock, when it starts to wait); returns
  // whether a stop was asked for.
  bool wait_while_paused(const std::function<void()>& on_block = {});
  // For analyses that poll a flag (padding drift during training).
  const std::atomic<bool>* stop_flag() const { return &stop_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false}, paused_{false};
};

struct Hooks {
  std::function<void(const StepStats&)> on_step;
  std::function<void(const EvalStats&)> on_eval;
  std::function<void(const std::string&)> on_message;
  // Called on the training thread every `probe_every` steps (and at the end) with the live model
  // in eval mode and no gradients, for analyses such as padding drift during training.
  std::function<void(MaBert&, int64_t step)> on_probe;
  int64_t probe_every = 0;
  // Called on the training thread when a pause takes hold: the last step is done, nothing runs.
  std::function<void(int64_t step)> on_paused;
  Control* control = nullptr;  // checked after every step; a stop skips the final evaluation
};

}  // namespace mabert::train

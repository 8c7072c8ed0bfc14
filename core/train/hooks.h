// What a running job reports and how it is steered: step and evaluation statistics, the hooks a
// front end fills in, and the stop/pause control another thread holds (its result: train/result.h).
#pragma once

#include "model/mabert.h"
#include "train/result.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace mabert::train {

struct StepStats {
  int64_t step = 0, total_steps = 0;
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0, eta_s = 0, elapsed_s = 0;
};

struct EvalStats {
  int64_t step = 0;
  std::map<std::string, double> metrics;
};


// Stop and pause, asked for from another thread (GUI buttons) and answered by the loop between
// steps. Pausing blocks the loop on a condition variable until resumed or stopped.
//
// A front end that queues jobs to a worker thread numbers each when it is requested (issue(), on
// the requesting thread) and the worker begins it under that number (begin(n)): a stop stops the
// running job and every job requested before the stop, also one its thread has not picked up yet
// (the window closed right after Start), which then ends before its first step. A job requested
// after the stop is not stopped. A job run directly (the CLI) needs neither.
class Control {
 public:
  uint64_t issue();
  void begin(uint64_t job);  // job n begins: stopped if a stop came after it was issued (0: none was), not paused
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
  uint64_t issued_ = 0, stopped_through_ = 0;  // under mu_: jobs issued, and the last one a stop covers
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

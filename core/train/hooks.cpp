#include "train/hooks.h"

namespace mabert::train {

uint64_t Control::issue() {
  std::lock_guard<std::mutex> lock(mu_);
  return ++issued_;
}

void Control::begin(uint64_t job) {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = job != 0 && job <= stopped_through_;
  paused_ = false;
}

void Control::request_stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    stopped_through_ = issued_;
  }
  cv_.notify_all();
}

void Control::set_paused(bool paused) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = paused;
  }
  cv_.notify_all();
}

void Control::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
  paused_ = false;
}

bool Control::wait_while_paused(const std::function<void()>& on_block) {
  std::unique_lock<std::mutex> lock(mu_);
  if (paused_.load() && !stop_.load() && on_block) on_block();
  cv_.wait(lock, [this] { return !paused_.load() || stop_.load(); });
  return stop_.load();
}

}  // namespace mabert::train

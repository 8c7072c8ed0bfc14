#include "train/hooks.h"

namespace mabert::train {

void Control::request_stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
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

#include "train/batch_loader.h"

#include <chrono>

namespace mabert::train {

BatchLoader::BatchLoader(std::function<data::Batch(int64_t)> make, int depth)
    : make_(std::move(make)), depth_(static_cast<size_t>(std::max(1, depth))), thread_([this] { run(); }) {}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BatchLoader::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || (started_ && !error_ && ready_.size() < depth_); });
    if (stop_) return;
    const int64_t m = next_++;
    const uint64_t gen = generation_;
    lock.unlock();
    data::Batch b;
    std::exception_ptr err;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      b = make_(m);
    } catch (...) {
      err = std::current_exception();
    }
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    lock.lock();
    ++made_, make_s_ += took;
    if (gen != generation_) continue;  // the queue started over while this one was made
    if (err) error_ = err, error_at_ = m;
    else ready_.emplace_back(m, std::move(b));
    cv_.notify_all();
  }
}

int64_t BatchLoader::made() const {
  std::lock_guard<std::mutex> lock(mu_);
  return made_;
}

double BatchLoader::make_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return make_s_;
}

data::Batch BatchLoader::get(int64_t micro) {
  std::unique_lock<std::mutex> lock(mu_);
  // In sequence only right after the batch handed out last (or after the start of the queue):
  // then the queue holds `micro` first, or the thread is making it, or its error waits. Judged
  // by the queue's state instead, a call that skips a failed batch while the thread remakes it
  // would wait for a batch the queue never gets to.
  if (!started_ || micro != last_ + 1) {  // first call, a jump, a step back or a batch skipped: start over at `micro`
    ready_.clear();
    error_ = nullptr, error_at_ = -1;
    next_ = micro, ++generation_, started_ = true;
    last_ = micro - 1;
    cv_.notify_all();
  }
  const auto t0 = std::chrono::steady_clock::now();
  cv_.wait(lock, [&] { return (!ready_.empty() && ready_.front().first == micro) || (error_ && error_at_ == micro); });
  waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (error_) {
    const std::exception_ptr e = error_;
    error_ = nullptr, error_at_ = -1;
    next_ = micro, ++generation_;  // a retry of the same step makes it again
    cv_.notify_all();
    std::rethrow_exception(e);
  }
  data::Batch b = std::move(ready_.front().second);
  ready_.pop_front();
  last_ = micro;
  cv_.notify_all();  // room in the queue
  return b;
}

}  // namespace mabert::train

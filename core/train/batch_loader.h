// Batches made ahead on a background thread while the step runs: while the loop trains on
// micro-step m, batches m + 1 … m + depth are made and queued (a bounded queue). A job's
// batch_at is a pure function of the micro-step (its order and masking are drawn from the seed
// and the step), so a batch made early is the batch made on time; a request out of sequence (a
// resume, a restart) starts the queue over there. Every call of batch_at happens on the loader's
// thread, one at a time, so a batch maker with state (an epoch's cached order) needs no lock.
#pragma once

#include "data/batching.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace mabert::train {

class BatchLoader {
 public:
  BatchLoader(std::function<data::Batch(int64_t)> make, int depth);
  ~BatchLoader();  // stops the thread (a batch being made is finished and dropped)
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Batch `micro`: from the queue, or made next (waiting for it). Rethrows what batch_at threw.
  data::Batch get(int64_t micro);
  // Seconds get() waited for a batch that was not ready: how long the step stalled on data.
  double waited_seconds() const { return waited_; }
  // What the loader's thread did: batches made (those dropped when the queue started over
  // included) and the seconds spent making them, so a run can say how far ahead of the step it is.
  int64_t made() const;
  double make_seconds() const;

 private:
  void run();

  std::function<data::Batch(int64_t)> make_;
  const size_t depth_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int64_t, data::Batch>> ready_;
  int64_t next_ = 0;        // the micro-step the thread makes next
  int64_t last_ = -1;       // the micro-step get() handed out last (one before the queue's start after a start-over)
  uint64_t generation_ = 0; // bumped when the queue starts over: a batch of an older one is dropped
  bool started_ = false, stop_ = false;
  std::exception_ptr error_;
  int64_t error_at_ = -1;
  double waited_ = 0;
  int64_t made_ = 0;
  double make_s_ = 0;
  std::thread thread_;
};

}  // namespace mabert::train

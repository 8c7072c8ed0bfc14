// Gradient all-reduce overlapped with backward, as PyTorch's DDP Reducer does it: the parameters
// in buckets of about `bucket_bytes`, in reverse registration order (about the order backward
// produces their gradients); each bucket's sum launched from its gradients' post-accumulate hooks
// as soon as all of them are final and every earlier bucket has been launched — so every rank
// launches the same collectives in the same order — and waited for only before the optimizer
// step. The sums are those of one all-reduce of every gradient (bucketing changes only the
// grouping, not what is summed).
#pragma once

#include "dist/world.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace mabert::train {

class GradReducer {
 public:
  // `params`: every parameter whose gradient is summed over ranks (those some rank computes one
  // for; the caller found them on the first step). Hooks are installed on each.
  GradReducer(const std::vector<at::Tensor>& params, dist::World& world, int64_t bucket_bytes);
  ~GradReducer();  // removes the hooks
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Before the backward that makes the step's gradients final (its last micro-batch): from now
  // on a bucket whose gradients are all accumulated is launched.
  void arm();
  // After that backward (or none, on a rank without rows): launches the buckets not launched yet
  // (a gradient this rank did not compute counts as zero), waits for every sum, copies it back.
  void finish();
  // Seconds finish() spent waiting for sums, and how many buckets backward launched itself.
  double waited_seconds() const { return waited_; }
  int64_t launched_in_backward() const { return in_backward_; }
  size_t buckets() const { return buckets_.size(); }

  void ready(size_t param);  // a parameter's gradient is final (called by its hook)

 private:
  void launch_in_order();
  void launch(size_t bucket);

  struct Bucket {
    std::vector<size_t> params;
    size_t pending = 0;
    dist::PendingSum sum;
  };
  std::vector<at::Tensor> params_;
  std::vector<size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  std::vector<bool> got_;
  dist::World& world_;
  size_t next_ = 0;  // the next bucket to launch
  bool armed_ = false;
  double waited_ = 0;
  int64_t in_backward_ = 0;
};

}  // namespace mabert::train

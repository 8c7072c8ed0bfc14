#include "train/grad_reducer.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <stdexcept>

namespace mabert::train {
namespace {

// Called by autograd's AccumulateGrad once a leaf's .grad holds this backward's gradient.
struct ReadyHook : torch::autograd::PostAccumulateGradHook {
  ReadyHook(GradReducer* r, size_t i) : reducer(r), index(i) {}
  void operator()(const torch::autograd::Variable&) override { reducer->ready(index); }
  GradReducer* reducer;
  size_t index;
};

}  // namespace

GradReducer::GradReducer(const std::vector<at::Tensor>& params, dist::World& world, int64_t bucket_bytes)
    : params_(params), bucket_of_(params.size()), got_(params.size(), false), world_(world) {
  // Reverse registration order: the last layers' gradients come first in backward.
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const at::Tensor& p = params_[k];
    const int64_t b = p.numel() * p.element_size();
    const bool fits = !buckets_.empty() && bytes + b <= bucket_bytes &&
                      p.scalar_type() == params_[buckets_.back().params.front()].scalar_type() &&
                      p.device() == params_[buckets_.back().params.front()].device();
    if (!fits) buckets_.emplace_back(), bytes = 0;
    buckets_.back().params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += b;
  }
  for (size_t i = 0; i < params_.size(); ++i)
    torch::autograd::impl::set_post_acc_grad_hooks(params_[i], std::make_unique<ReadyHook>(this, i));
}

GradReducer::~GradReducer() {
  for (const auto& p : params_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
}

void GradReducer::arm() {
  for (auto& b : buckets_) b.pending = b.params.size(), b.sum = {};
  std::fill(got_.begin(), got_.end(), false);
  next_ = 0, armed_ = true;
}

void GradReducer::ready(size_t i) {
  if (!armed_ || got_[i]) return;
  got_[i] = true;
  if (--buckets_[bucket_of_[i]].pending == 0) launch_in_order();
}

void GradReducer::launch_in_order() {
  while (next_ < buckets_.size() && buckets_[next_].pending == 0) {
    ++in_backward_;
    launch(next_++);
  }
}

void GradReducer::launch(size_t b) {
  std::vector<at::Tensor> grads;
  for (size_t i : buckets_[b].params) {
    if (!params_[i].grad().defined()) params_[i].mutable_grad() = at::zeros_like(params_[i]);
    grads.push_back(params_[i].grad());
  }
  buckets_[b].sum = world_.all_reduce_sum_start(grads);
}

void GradReducer::finish() {
  if (!armed_) arm();  // no backward ran (a rank without rows): every bucket from here
  armed_ = false;
  for (; next_ < buckets_.size(); ++next_) launch(next_);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& b : buckets_) b.sum.wait();
  waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace mabert::train

#include "train/fused_adamw.h"

#include <ATen/ops/_fused_adamw.h>
#include <torch/torch.h>

#include <optional>
#include <stdexcept>

namespace mabert::train {

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs;
    std::vector<float> counts;
    // Refusals before any state changes.
    std::optional<torch::Device> device;
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (p.grad().is_sparse()) throw std::invalid_argument("FusedAdamW does not support sparse gradients");
      if (device && p.device() != *device)
        throw std::invalid_argument("FusedAdamW: a parameter group spans devices (" + device->str() + " and " +
                                    p.device().str() + ")");
      device = p.device();
    }
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto it = state_.find(p.unsafeGetTensorImpl());
      if (it == state_.end()) {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        if (o.amsgrad()) s->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = state_.emplace(p.unsafeGetTensorImpl(), std::move(s)).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      s.step(s.step() + 1);
      counts.push_back(static_cast<float>(s.step()));
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(s.exp_avg());
      exp_avg_sqs.push_back(s.exp_avg_sq());
      if (o.amsgrad()) max_exp_avg_sqs.push_back(s.max_exp_avg_sq());
    }
    if (params.empty()) continue;
    // The kernel reads each step count as a float tensor on the parameters' device: the group's
    // counts go there in one copy (on CUDA one asynchronous transfer from pinned memory, which the
    // allocator keeps until the copy is done; not a fill per parameter), each parameter's count a
    // view into it. Set from the state's integer counts every step, so a loaded state needs
    // nothing else.
    torch::Tensor counts_host = torch::tensor(counts);
    if (device->is_cuda()) counts_host = counts_host.pin_memory();
    const torch::Tensor on_device = counts_host.to(*device, /*non_blocking=*/true);
    std::vector<torch::Tensor> steps;
    steps.reserve(counts.size());
    for (int64_t i = 0; i < static_cast<int64_t>(counts.size()); ++i) steps.push_back(on_device.select(0, i));
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, o.lr(), std::get<0>(o.betas()),
                      std::get<1>(o.betas()), o.weight_decay(), o.eps(), o.amsgrad(), /*maximize=*/false);
  }
  return loss;
}

}  // namespace mabert::train

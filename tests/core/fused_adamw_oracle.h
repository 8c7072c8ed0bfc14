// The fused AdamW step (core/train/fused_adamw.h) against its reference, LibTorch's AdamW, on one
// device: two groups (weight decay on one), a parameter without a gradient in some steps,
// amsgrad, a learning rate changed between steps (as the schedule does), and a state saved and
// given to a fresh optimizer (as a resume does). test_train runs it on the CPU, test_model_cuda
// on CUDA (a different kernel, and the step counts copied to the device).
#pragma once

#include "harness.h"
#include "train/fused_adamw.h"

#include <torch/torch.h>

#include <sstream>

namespace mabert::test {

inline void check_fused_adamw_against_libtorch(const torch::Device& device) {
  for (const bool amsgrad : {false, true}) {
    torch::manual_seed(3);
    std::vector<torch::Tensor> init = {torch::randn({64, 33}).to(device), torch::randn({33}).to(device),
                                       torch::randn({7, 5, 3}).to(device)};
    auto make = [&](auto tag) {
      using Opt = decltype(tag);
      std::vector<torch::Tensor> ps;
      for (const auto& t : init) ps.push_back(t.clone().requires_grad_(true));
      auto o = torch::optim::AdamWOptions(1e-2).betas({0.9, 0.98}).eps(1e-6).weight_decay(0.1).amsgrad(amsgrad);
      auto nd = o;
      nd.weight_decay(0.0);
      std::vector<torch::optim::OptimizerParamGroup> groups;
      groups.emplace_back(std::vector<torch::Tensor>{ps[0], ps[2]}, std::make_unique<torch::optim::AdamWOptions>(o));
      groups.emplace_back(std::vector<torch::Tensor>{ps[1]}, std::make_unique<torch::optim::AdamWOptions>(nd));
      return std::make_pair(ps, std::make_unique<Opt>(groups, o));
    };
    auto [ref_p, ref] = make(torch::optim::AdamW(std::vector<torch::Tensor>{}));
    auto [fused_p, fused] = make(train::FusedAdamW(std::vector<torch::Tensor>{}));
    auto step = [](std::vector<torch::Tensor>& ps, torch::optim::Optimizer& opt, int k) {
      opt.zero_grad();
      torch::Tensor loss = (ps[0].sin() * 3).sum() + ps[1].pow(2).sum() * 0.5;
      if (k % 3 != 1) loss = loss + ps[2].cos().sum();  // ps[2] has no gradient every third step
      loss.backward();
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(1e-2 / (1 + k));
      opt.step();
    };
    double worst = 0;
    for (int k = 0; k < 12; ++k) {
      step(ref_p, *ref, k);
      step(fused_p, *fused, k);
      for (size_t i = 0; i < init.size(); ++i) worst = std::max(worst, (ref_p[i] - fused_p[i]).abs().max().item<double>());
    }
    std::printf("  %s, amsgrad %d: fused vs LibTorch AdamW over 12 steps, worst |dw| %.3g\n", device.str().c_str(),
                amsgrad, worst);
    EXPECT(worst < 1e-6);
    // Moved into a fresh fused optimizer, the state goes on as in the one it came from.
    for (size_t i = 0; i < init.size(); ++i) EXPECT((ref_p[i] - init[i]).abs().max().item<double>() > 1e-3);
    auto [resumed_p, resumed] = make(train::FusedAdamW(std::vector<torch::Tensor>{}));
    {
      torch::NoGradGuard g;
      for (size_t i = 0; i < init.size(); ++i) resumed_p[i].copy_(fused_p[i]);
    }
    std::stringstream saved;
    {
      torch::serialize::OutputArchive out;
      fused->save(out);
      out.save_to(saved);
    }
    torch::serialize::InputArchive in;
    in.load_from(saved);
    resumed->load(in);
    step(fused_p, *fused, 12);
    step(resumed_p, *resumed, 12);
    for (size_t i = 0; i < init.size(); ++i) EXPECT(torch::equal(fused_p[i], resumed_p[i]));
  }
}

}  // namespace mabert::test

// Shared inputs and comparisons for selective-scan tests: seeded random problems, every
// gradient of every input through autograd, and error summaries printed before asserting.
#pragma once

#include "selective_scan/selective_scan.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace mabert::test {

struct ScanCase {
  int64_t batch = 2, channels = 6, length = 7, dstate = 4;
  bool z = true, mask = false, reverse = false;
};

// Inputs as the model produces them (Δ before bias and softplus, A negative); with a mask,
// row 0 is right-padded and row 1 left-padded.
inline kernels::ScanInputs make_scan_inputs(const ScanCase& c, uint64_t seed, at::ScalarType dtype = at::kFloat,
                                            at::Device device = at::kCPU) {
  at::manual_seed(seed);
  const auto o = at::TensorOptions().dtype(at::kFloat);
  const int64_t B = c.batch, C = c.channels, L = c.length, N = c.dstate;
  kernels::ScanInputs in;
  in.u = at::randn({B, C, L}, o);
  in.delta = at::randn({B, C, L}, o) * 0.5 - 1.0;
  in.A = -at::exp(at::randn({C, N}, o) * 0.5);
  in.B = at::randn({B, N, L}, o);
  in.C = at::randn({B, N, L}, o);
  in.D = at::randn({C}, o);
  in.delta_bias = at::randn({C}, o) * 0.1;
  if (c.z) in.z = at::randn({B, C, L}, o);
  if (c.mask) {
    in.mask = at::ones({B, L}, o);
    const int64_t pads = std::max<int64_t>(0, std::min<int64_t>(L - 1, L / 3));
    if (pads > 0) {
      in.mask[0].narrow(0, L - pads, pads).zero_();
      if (B > 1) in.mask[1].narrow(0, 0, pads).zero_();
    }
  }
  for (at::Tensor* t : {&in.u, &in.delta, &in.B, &in.C, &in.z})
    if (t->defined()) *t = t->to(dtype);
  for (at::Tensor* t : {&in.u, &in.delta, &in.A, &in.B, &in.C, &in.D, &in.z, &in.delta_bias, &in.mask})
    if (t->defined()) *t = t->to(device);
  return in;
}

// The grid every fast path is compared on: lengths 1, 7, 64, 1037 × state sizes 4, 16 × with
// and without the gate z × with and without a mask × both directions.
template <typename F>
void for_each_scan_case(F&& fn) {
  for (int64_t L : {1, 7, 64, 1037})
    for (int64_t N : {4, 16})
      for (bool z : {false, true})
        for (bool mask : {false, true})
          for (bool reverse : {false, true}) {
            ScanCase c;
            c.length = L, c.dstate = N, c.z = z, c.mask = mask, c.reverse = reverse;
            fn(c);
          }
}

struct ScanResult {
  at::Tensor y;
  std::vector<std::pair<std::string, at::Tensor>> grads;  // name → gradient
};

// y and the gradient of every differentiable input for a fixed upstream gradient.
inline ScanResult run_with_grads(const kernels::ScanInputs& base, kernels::ScanImpl impl, bool reverse,
                                 const at::Tensor& dy) {
  kernels::ScanInputs in = base;
  std::vector<std::pair<std::string, at::Tensor*>> leaves = {{"u", &in.u}, {"delta", &in.delta}, {"A", &in.A},
                                                             {"B", &in.B}, {"C", &in.C},         {"D", &in.D},
                                                             {"z", &in.z}, {"delta_bias", &in.delta_bias}};
  for (auto& [name, t] : leaves)
    if (t->defined()) *t = t->detach().clone().requires_grad_(true);
  kernels::ScanOptions opt;
  opt.reverse = reverse;
  opt.impl = impl;
  ScanResult r;
  r.y = kernels::selective_scan(in, opt).y;
  r.y.backward(dy.to(r.y.scalar_type()));
  r.y = r.y.detach();
  for (auto& [name, t] : leaves)
    if (t->defined()) r.grads.emplace_back(name, t->grad());
  return r;
}

struct Err {
  double max_abs = 0, mean_abs = 0, max_rel = 0;
};

// Errors relative to the reference's scale (max |ref|), so tolerances read as fractions.
inline Err compare(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor g = got.to(at::kDouble).cpu(), w = want.to(at::kDouble).cpu();
  const at::Tensor d = (g - w).abs();
  Err e;
  e.max_abs = d.max().item<double>();
  e.mean_abs = d.mean().item<double>();
  e.max_rel = e.max_abs / std::max(1e-12, w.abs().max().item<double>());
  return e;
}

// Runs the reference (in fp32, on the same already-rounded inputs) and `impl` with the same
// upstream gradient. Returns the worst relative error over y and every input gradient, and a
// line for each quantity above `tol`.
struct PathComparison {
  double worst = 0;
  std::vector<std::string> failures;
};

inline PathComparison compare_with_reference(const kernels::ScanInputs& in, kernels::ScanImpl impl, bool reverse,
                                             const at::Tensor& dy, double tol) {
  kernels::ScanInputs ref_in = in;
  for (at::Tensor* t : {&ref_in.u, &ref_in.delta, &ref_in.B, &ref_in.C, &ref_in.z})
    if (t->defined()) *t = t->to(at::kFloat);
  const ScanResult want = run_with_grads(ref_in, kernels::ScanImpl::Ref, reverse, dy);
  const ScanResult got = run_with_grads(in, impl, reverse, dy);
  PathComparison c;
  auto check = [&](const std::string& what, const at::Tensor& g, const at::Tensor& w) {
    const Err e = compare(g, w);
    c.worst = std::max(c.worst, e.max_rel);
    if (e.max_rel > tol) {
      char line[200];
      std::snprintf(line, sizeof line, "%s: max rel err %.3g (max abs %.3g, mean abs %.3g)", what.c_str(), e.max_rel,
                    e.max_abs, e.mean_abs);
      c.failures.push_back(line);
    }
  };
  check("y", got.y, want.y);
  for (size_t i = 0; i < got.grads.size() && i < want.grads.size(); ++i)
    check("d" + got.grads[i].first, got.grads[i].second, want.grads[i].second);
  if (got.grads.size() != want.grads.size()) c.failures.push_back("different sets of gradients");
  return c;
}

}  // namespace mabert::test

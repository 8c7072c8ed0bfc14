// Shared inputs and comparisons for selective-scan tests: seeded random problems, every
// gradient of every input through autograd, and error summaries printed before asserting.
#pragma once

#include "selective_scan/scan_paths.h"

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

// The comparison machinery is the kernels' own (scan_paths.h), which the self-checks also use.
using ScanResult = kernels::ScanGradients;
using Err = kernels::ScanError;
inline Err compare(const at::Tensor& got, const at::Tensor& want) { return kernels::scan_error(got, want); }

// selective_scan with `impl` forced per call.
inline kernels::ScanPathFn forced(kernels::ScanImpl impl) {
  return [impl](const kernels::ScanInputs& in, const kernels::ScanOptions& opt) {
    kernels::ScanOptions o = opt;
    o.impl = impl;
    return kernels::selective_scan(in, o);
  };
}

// y and the gradient of every differentiable input for a fixed upstream gradient.
inline ScanResult run_with_grads(const kernels::ScanInputs& in, kernels::ScanImpl impl, bool reverse,
                                 const at::Tensor& dy) {
  return kernels::scan_with_grads(forced(impl), in, reverse, dy);
}

// `impl` against the reference (see compare_scan_with_reference). Returns the worst relative
// error over y and every input gradient, and a line for each quantity above `tol`.
struct PathComparison {
  double worst = 0;
  std::vector<std::string> failures;
};

inline PathComparison compare_with_reference(const kernels::ScanInputs& in, kernels::ScanImpl impl, bool reverse,
                                             const at::Tensor& dy, double tol) {
  PathComparison c;
  for (const auto& [what, e] : kernels::compare_scan_with_reference(forced(impl), in, reverse, dy)) {
    c.worst = std::max(c.worst, e.max_rel);
    if (e.max_rel > tol) {
      char line[200];
      std::snprintf(line, sizeof line, "%s: max rel err %.3g (max abs %.3g, mean abs %.3g)", what.c_str(), e.max_rel,
                    e.max_abs, e.mean_abs);
      c.failures.push_back(line);
    }
  }
  return c;
}

}  // namespace mabert::test

// A fast path checks itself against the reference before automatic dispatch trusts it: two
// small seeded problems (gate, mask with right and left padding, both directions, a length
// that crosses the CUDA kernel's chunk boundary, channels that are not a multiple of the CPU
// block), forward and every input gradient for one fixed upstream gradient.
//
// Why at run time as well as in the tests: the tests run on the machines we have; the CPU
// kernel picks an ISA build per machine and the CUDA kernel meets devices and toolkits we
// never ran on. A wrong kernel must cost one logged line and the reference's speed, never a
// silently wrong model.
#include "scan_paths.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <utility>

namespace mabert::kernels {
namespace {

struct Problem {
  int64_t batch, channels, length;
  bool z, mask, reverse;
};

// Inputs drawn from a private generator: the check never moves the global RNG, so a run with
// the check gives the same training as one without it.
ScanInputs make_problem(const Problem& pr, int64_t N, at::ScalarType dtype, at::Device device, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const int64_t B = pr.batch, C = pr.channels, L = pr.length;
  auto randn = [&](at::IntArrayRef shape) { return at::randn(shape, gen, f32); };
  ScanInputs in;
  in.u = randn({B, C, L});
  in.delta = randn({B, C, L}) * 0.5 - 1.0;
  in.A = -at::exp(randn({C, N}) * 0.5);
  in.B = randn({B, N, L});
  in.C = randn({B, N, L});
  in.D = randn({C});
  in.delta_bias = randn({C}) * 0.1;
  if (pr.z) in.z = randn({B, C, L});
  if (pr.mask) {
    in.mask = at::ones({B, L}, f32);
    const int64_t pads = L / 3;
    in.mask[0].narrow(0, L - pads, pads).zero_();
    in.mask[1].narrow(0, 0, pads).zero_();
  }
  for (at::Tensor* t : {&in.u, &in.delta, &in.B, &in.C, &in.z})
    if (t->defined()) *t = t->to(dtype);
  for (at::Tensor* t : {&in.u, &in.delta, &in.A, &in.B, &in.C, &in.D, &in.z, &in.delta_bias, &in.mask})
    if (t->defined()) *t = t->to(device);
  return in;
}

}  // namespace

ScanGradients scan_with_grads(const ScanPathFn& path, const ScanInputs& base, bool reverse, const at::Tensor& dy) {
  ScanInputs in = base;
  const std::pair<const char*, at::Tensor*> leaves[] = {{"u", &in.u}, {"delta", &in.delta}, {"A", &in.A},
                                                        {"B", &in.B}, {"C", &in.C},         {"D", &in.D},
                                                        {"z", &in.z}, {"delta_bias", &in.delta_bias}};
  for (const auto& [name, t] : leaves)
    if (t->defined()) *t = t->detach().clone().requires_grad_(true);
  ScanOptions opt;
  opt.reverse = reverse;
  ScanGradients r;
  r.y = path(in, opt).y;
  r.y.backward(dy.to(r.y.scalar_type()));
  r.y = r.y.detach();
  for (const auto& [name, t] : leaves)  // an input the path left without a gradient: zeros, compared as such
    if (t->defined()) r.grads.emplace_back(name, t->grad().defined() ? t->grad() : at::zeros_like(*t));
  return r;
}

ScanError scan_error(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor g = got.detach().to(at::kDouble).cpu(), w = want.detach().to(at::kDouble).cpu();
  ScanError e;
  if (!at::isfinite(g).all().item<bool>()) {
    e.max_abs = e.mean_abs = e.max_rel = INFINITY;
    return e;
  }
  const at::Tensor d = (g - w).abs();
  e.max_abs = d.max().item<double>();
  e.mean_abs = d.mean().item<double>();
  e.max_rel = e.max_abs / std::max(1e-12, w.abs().max().item<double>());
  return e;
}

ScanGradients reference_with_grads(const ScanInputs& in, bool reverse, const at::Tensor& dy) {
  ScanInputs ref_in = in;
  const auto ref_type = in.u.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  for (at::Tensor* t : {&ref_in.u, &ref_in.delta, &ref_in.B, &ref_in.C, &ref_in.z})
    if (t->defined()) *t = t->to(ref_type);
  return scan_with_grads(selective_scan_ref, ref_in, reverse, dy.to(ref_type));
}

std::vector<std::pair<std::string, ScanError>> compare_scan_with_reference(const ScanPathFn& path, const ScanInputs& in,
                                                                           bool reverse, const at::Tensor& dy) {
  const ScanGradients want = reference_with_grads(in, reverse, dy);
  const ScanGradients got = scan_with_grads(path, in, reverse, dy);
  std::vector<std::pair<std::string, ScanError>> errors = {{"y", scan_error(got.y, want.y)}};
  for (size_t i = 0; i < got.grads.size(); ++i)  // the same inputs on both sides: the same gradients
    errors.emplace_back("d" + got.grads[i].first, scan_error(got.grads[i].second, want.grads[i].second));
  return errors;
}

double self_check_tolerance(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble: return 1e-9;
    case at::kFloat: return 1e-4;
    case at::kHalf: return 1e-2;
    default: return 3e-2;  // bf16: 8 bits of mantissa on every input and output
  }
}

ScanSelfCheck self_check_scan(const ScanPathFn& path, const std::string& name, at::ScalarType dtype,
                              at::Device device, int64_t dstate) {
  ScanSelfCheck r;
  r.path = name;
  r.dtype = c10::toString(dtype);
  r.device = device.str();
  r.dstate = dstate;
  r.tolerance = self_check_tolerance(dtype);
  const auto start = std::chrono::steady_clock::now();
  // Called from inference code too (NoGradGuard): the check needs autograd for its gradients.
  const c10::AutoGradMode grad_on(true);
  const Problem problems[] = {{2, 20, 45, true, true, false}, {2, 20, 45, false, true, true}};
  uint64_t seed = 1234;
  try {
    for (const Problem& pr : problems) {
      const ScanInputs in = make_problem(pr, dstate, dtype, device, seed++);
      at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed++);
      const at::Tensor dy = at::randn({pr.batch, pr.channels, pr.length}, gen, at::TensorOptions()).to(device);
      for (const auto& [what, e] : compare_scan_with_reference(path, in, pr.reverse, dy)) {
        r.worst_rel = std::max(r.worst_rel, e.max_rel);
        if (e.max_rel > r.tolerance && r.failure.empty()) {
          char line[160];
          std::snprintf(line, sizeof line, "%s differs from the reference by %.3g of its scale (tolerance %.0e)%s",
                        what.c_str(), e.max_rel, r.tolerance, pr.reverse ? " in a reverse scan" : "");
          r.failure = line;
        }
      }
    }
  } catch (const std::exception& e) {
    const std::string what = e.what();
    r.failure = "threw: " + what.substr(0, what.find('\n'));
  }
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return r;
}

namespace {

std::mutex g_checks_mu;
std::map<std::string, ScanSelfCheck>& checks() {
  static std::map<std::string, ScanSelfCheck> m;
  return m;
}

}  // namespace

bool scan_self_check_enabled() {
  const char* v = std::getenv("MABERT_SCAN_VERIFY");
  return !(v && std::string(v) == "0");
}

const ScanSelfCheck& self_check_once(ScanImpl impl, const ScanPathFn& path, at::ScalarType dtype, at::Device device,
                                     int64_t dstate) {
  std::string key = std::string(scan_impl_name(impl)) + '|' + c10::toString(dtype) + '|' + device.str() + '|' +
                    std::to_string(dstate);
  // Held through the check: a second thread asking for the same path waits for the verdict.
  std::lock_guard<std::mutex> lock(g_checks_mu);
  auto it = checks().find(key);
  if (it == checks().end()) it = checks().emplace(key, self_check_scan(path, scan_impl_name(impl), dtype, device, dstate)).first;
  return it->second;
}

std::vector<ScanSelfCheck> scan_self_checks() {
  std::lock_guard<std::mutex> lock(g_checks_mu);
  std::vector<ScanSelfCheck> out;
  for (const auto& [key, c] : checks()) out.push_back(c);
  return out;
}

}  // namespace mabert::kernels

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

struct Result {
  at::Tensor y;
  std::vector<std::pair<const char*, at::Tensor>> grads;
};

Result run_with_grads(const ScanPathFn& path, ScanInputs in, bool reverse, const at::Tensor& dy) {
  const std::pair<const char*, at::Tensor*> leaves[] = {{"du", &in.u}, {"ddelta", &in.delta}, {"dA", &in.A},
                                                        {"dB", &in.B}, {"dC", &in.C},         {"dD", &in.D},
                                                        {"dz", &in.z}, {"ddelta_bias", &in.delta_bias}};
  for (const auto& [name, t] : leaves)
    if (t->defined()) *t = t->detach().clone().requires_grad_(true);
  ScanOptions opt;
  opt.reverse = reverse;
  Result r;
  r.y = path(in, opt).y;
  r.y.backward(dy.to(r.y.scalar_type()));
  r.y = r.y.detach();
  for (const auto& [name, t] : leaves)
    if (t->defined()) r.grads.emplace_back(name, t->grad().defined() ? t->grad() : at::zeros_like(*t));
  return r;
}

// max |got − want| / max |want|, in double on the CPU; NaN counts as infinitely wrong.
double relative_error(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor g = got.detach().to(at::kDouble).cpu(), w = want.detach().to(at::kDouble).cpu();
  if (!at::isfinite(g).all().item<bool>()) return INFINITY;
  const double scale = std::max(1e-12, w.abs().max().item<double>());
  return (g - w).abs().max().item<double>() / scale;
}

}  // namespace

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
      // The reference in fp32 on the same (already rounded) inputs.
      ScanInputs ref_in = in;
      for (at::Tensor* t : {&ref_in.u, &ref_in.delta, &ref_in.B, &ref_in.C, &ref_in.z})
        if (t->defined()) *t = t->to(dtype == at::kDouble ? at::kDouble : at::kFloat);
      const Result want = run_with_grads(selective_scan_ref, ref_in, pr.reverse, dy);
      const Result got = run_with_grads(path, in, pr.reverse, dy);
      auto check = [&](const char* what, const at::Tensor& g, const at::Tensor& w) {
        const double e = relative_error(g, w);
        r.worst_rel = std::max(r.worst_rel, e);
        if (e > r.tolerance && r.failure.empty()) {
          char line[160];
          std::snprintf(line, sizeof line, "%s differs from the reference by %.3g of its scale (tolerance %.0e)%s", what,
                        e, r.tolerance, pr.reverse ? " in a reverse scan" : "");
          r.failure = line;
        }
      };
      check("y", got.y, want.y);
      for (size_t i = 0; i < got.grads.size() && i < want.grads.size(); ++i)
        check(got.grads[i].first, got.grads[i].second, want.grads[i].second);
      if (got.grads.size() != want.grads.size() && r.failure.empty()) r.failure = "returns a different set of gradients";
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

// Selective-scan benchmark: every path against the reference in one run, medians of repeats
// after warm-up, measured peaks, a roofline floor, and achieved bandwidth on CUDA.
#include "bench/scan_bench.h"

#include "model/config.h"
#include "model/layers.h"
#include "selective_scan/selective_scan.h"
#include "util/memory.h"
#include "util/openmp_wait.h"
#include "util/rng.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

namespace mabert::bench {
namespace {

using Clock = std::chrono::steady_clock;
using kernels::ScanImpl;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

void sync(const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize(dev.index() < 0 ? 0 : dev.index());
}

// Times `fn` `repeats` times after `warmup` untimed calls; returns the median in ms.
double time_ms(const std::function<void()>& fn, int warmup, int repeats, const torch::Device& dev) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    sync(dev);
    const auto t0 = Clock::now();
    fn();
    sync(dev);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return median(ms);
}

double peak_mb(const std::function<void()>& fn, const torch::Device& dev) {
  const int idx = dev.is_cuda() ? std::max<int>(0, dev.index()) : -1;
  sync(dev);
  const int64_t base = peak_memory_reset(idx);
  fn();
  sync(dev);
  return peak_memory_since(idx, base) / (1024.0 * 1024.0);
}

kernels::ScanInputs make_inputs(const ScanBenchConfig& c, int64_t L, torch::Device dev, torch::ScalarType dt) {
  std::lock_guard<std::mutex> seeded(rng_mutex());  // the default generator is shared with any job running beside
  torch::manual_seed(0);
  const auto big = torch::TensorOptions().dtype(dt).device(dev);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(dev);
  kernels::ScanInputs in;
  // Layouts as a Mamba layer hands them over: u is the conv output {B, C, L}; Δ, z, B and C are
  // transposed views of projections laid out {B, L, ·} (z shares its rows with x in in_proj).
  in.u = torch::randn({c.batch, c.channels, L}, big);
  in.delta = (torch::randn({c.batch, L, c.channels}, big) * 0.5 - 2.0).transpose(1, 2);
  in.z = torch::randn({c.batch, L, 2 * c.channels}, big).narrow(2, c.channels, c.channels).transpose(1, 2);
  in.B = torch::randn({c.batch, L, c.dstate}, big).transpose(1, 2);
  in.C = torch::randn({c.batch, L, c.dstate}, big).transpose(1, 2);
  in.A = -torch::arange(1, c.dstate + 1, f32).repeat({c.channels, 1});
  in.D = torch::ones({c.channels}, f32);
  in.delta_bias = torch::full({c.channels}, -3.0, f32);
  return in;
}

// One direction of the SSM core as the model runs it between in_proj and out_proj: conv + SiLU,
// x_proj, dt_proj, the scan with Δ's bias and softplus, D skip and gate (model/layers.h).
ScanBranch make_core(const ScanBenchConfig& c) {
  ModelConfig mc;
  mc.d_model = c.channels / mc.expand;
  mc.d_state = c.dstate;
  std::lock_guard<std::mutex> seeded(rng_mutex());
  torch::manual_seed(0);
  return ScanBranch(mc);
}

std::vector<std::string> available_paths(const ScanBenchConfig& c) {
  if (!c.paths.empty()) return c.paths;
  std::vector<std::string> p = {"ref"};
  p.push_back(c.device == "cuda" ? "cuda" : "cpu");
  return p;
}

}  // namespace

namespace {

// A fast number from a wrong kernel means nothing: each path first passes its self-check
// (forward and every gradient against the reference, kernels/selective_scan/self_check.cpp).
void self_check_paths(ScanBenchReport& rep, const std::vector<std::string>& paths, torch::ScalarType dt, const torch::Device& dev,
                      const std::function<void(const std::string&)>& progress) {
  for (const auto& name : paths) {
    const ScanImpl impl = kernels::parse_scan_impl(name);
    if (impl == ScanImpl::Ref) continue;
    const kernels::ScanSelfCheck c = kernels::self_check_scan_path(impl, dt, dev, rep.config.dstate);
    rep.self_checks.push_back({name, c.dtype, c.failure, c.worst_rel, c.tolerance, c.ms});
    if (progress) progress("self-check " + name + ": " + (c.passed() ? "passed" : "FAILED: " + c.failure));
  }
}

// Rows [first, end) of one length, each against its own reference: the scan's against "ref",
// the core's against "core:ref".
void against_references(std::vector<ScanBenchRow>& rows, size_t first) {
  for (size_t i = first; i < rows.size(); ++i) {
    auto& r = rows[i];
    const std::string want = r.path.rfind("core:", 0) == 0 ? "core:ref" : "ref";
    for (size_t k = first; k < rows.size(); ++k) {
      const ScanBenchRow& ref = rows[k];
      if (ref.path != want) continue;
      r.speedup_fwd = ref.fwd_ms / r.fwd_ms;
      r.speedup_fwdbwd = ref.fwdbwd_ms / r.fwdbwd_ms;
      r.mem_ratio = r.fwdbwd_peak_mb > 0 ? ref.fwdbwd_peak_mb / r.fwdbwd_peak_mb : 0;
    }
  }
}

}  // namespace

ScanBenchReport run_scan_bench(const ScanBenchConfig& cfg, const std::function<void(const std::string&)>& progress) {
  ScanBenchReport rep;
  rep.config = cfg;
  rep.cpu_isa = kernels::cpu_kernel_isa();
  rep.kernel_threads = kernels::cpu_kernel_threads();
  rep.openmp_wait = openmp_wait_setting();
  rep.threads = at::get_num_threads();
  if (cfg.device == "cuda" && !torch::cuda::is_available())
    throw std::runtime_error("--device cuda: no CUDA device is available on this machine");
  const torch::Device dev = cfg.device == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const torch::ScalarType dt = cfg.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat;
  if (cfg.dtype != "float32" && cfg.dtype != "bfloat16") throw std::invalid_argument("--dtype must be float32 or bfloat16");
  if (dev.is_cuda()) rep.peak_bandwidth_gbs = kernels::cuda_peak_bandwidth_gbs(0);
  const auto paths = available_paths(cfg);
  self_check_paths(rep, paths, dt, dev, progress);

  ScanBranch core = make_core(cfg);
  for (int64_t L : cfg.lengths) {
    const kernels::ScanInputs in = make_inputs(cfg, L, dev, dt);
    // The upstream gradient arrives from out_proj, laid out {B, L, C}.
    const torch::Tensor dy = torch::randn({cfg.batch, L, cfg.channels}, in.u.options()).transpose(1, 2);
    double roof = 0;
    if (!dev.is_cuda()) {
      const int64_t count = cfg.batch * cfg.channels * L * cfg.dstate;
      roof = time_ms([&] { kernels::scan_roofline_cpu(count); }, cfg.warmup, cfg.repeats, dev);
    }
    const size_t first = rep.rows.size();
    auto measure = [&](const std::string& name, const std::function<void()>& fwd, const std::function<void()>& fwdbwd,
                       double roof_ms) {
      ScanBenchRow row;
      row.path = name;
      row.length = L;
      row.fwd_ms = time_ms(fwd, cfg.warmup, cfg.repeats, dev);
      row.fwdbwd_ms = time_ms(fwdbwd, cfg.warmup, cfg.repeats, dev);
      row.fwd_peak_mb = peak_mb(fwd, dev);
      row.fwdbwd_peak_mb = peak_mb(fwdbwd, dev);
      if (roof_ms > 0) {
        row.roofline_ms = roof_ms;
        row.roofline_multiple = row.fwd_ms / roof_ms;
      }
      if (dev.is_cuda()) {
        const double es = torch::elementSize(dt);
        const double bytes = es * (4.0 * cfg.batch * cfg.channels * L + 2.0 * cfg.batch * L * cfg.dstate);
        row.bandwidth_gbs = bytes / (row.fwd_ms * 1e-3) / 1e9;
        if (rep.peak_bandwidth_gbs > 0) row.bandwidth_share = row.bandwidth_gbs / rep.peak_bandwidth_gbs;
      }
      rep.rows.push_back(row);
      if (progress) {
        std::ostringstream s;
        s << "L=" << L << " " << name << ": fwd " << row.fwd_ms << " ms, fwd+bwd " << row.fwdbwd_ms << " ms";
        progress(s.str());
      }
    };
    auto too_long_for = [&](ScanImpl impl) { return impl == ScanImpl::Ref && L > cfg.ref_max_length; };
    for (const auto& name : paths) {
      const ScanImpl impl = kernels::parse_scan_impl(name);
      if (too_long_for(impl)) continue;
      kernels::ScanOptions opt;
      opt.impl = impl;
      if (kernels::resolve_scan_impl(in, opt) != impl)
        throw std::runtime_error("path '" + name + "' cannot run these inputs here (see the log line above)");
      auto fwd = [&] {
        torch::NoGradGuard g;
        kernels::selective_scan(in, opt);
      };
      auto fwdbwd = [&] {
        kernels::ScanInputs x = in;
        for (torch::Tensor* t : {&x.u, &x.delta, &x.z, &x.B, &x.C, &x.A, &x.D, &x.delta_bias})
          *t = t->detach().requires_grad_(true);
        kernels::selective_scan(x, opt).y.backward(dy);
      };
      measure(name, fwd, fwdbwd, roof);
    }
    // The whole core (CPU): the fused conv, time-major projections and fused scan against the
    // same module run as the oracle (reference conv and scan). Its time over the scan's shows
    // what the conv and the two small projections add.
    if (!dev.is_cuda() && dt == torch::kFloat) {
      // The same inputs for every path: x and z as in_proj's halves, dy as out_proj hands it back.
      const torch::Tensor x = torch::randn({cfg.batch, L, cfg.channels}), z = torch::randn({cfg.batch, L, cfg.channels});
      const torch::Tensor dyc = dy.transpose(1, 2);
      for (const auto& name : paths) {
        const ScanImpl impl = kernels::parse_scan_impl(name);
        if (too_long_for(impl)) continue;
        auto fwd = [&] {
          torch::NoGradGuard g;
          core->forward(x, z, torch::Tensor(), false, impl, nullptr, nullptr);
        };
        auto fwdbwd = [&] {
          const torch::Tensor xg = x.detach().requires_grad_(true), zg = z.detach().requires_grad_(true);
          core->forward(xg, zg, torch::Tensor(), false, impl, nullptr, nullptr).backward(dyc);
        };
        measure("core:" + name, fwd, fwdbwd, 0.0);
      }
      core->zero_grad();
    }
    against_references(rep.rows, first);
  }
  return rep;
}

nlohmann::ordered_json ScanBenchReport::to_json() const {
  nlohmann::ordered_json j;
  j["config"] = {{"batch", config.batch}, {"channels", config.channels}, {"dstate", config.dstate},
                 {"dtype", config.dtype},  {"device", config.device},     {"repeats", config.repeats},
                 {"warmup", config.warmup}};
  j["cpu_isa"] = cpu_isa;
  j["cpu_kernel_threads"] = kernel_threads;
  j["openmp_wait"] = openmp_wait;
  if (config.device == "cuda") j["cuda_kernels"] = kernels::cuda_kernel_variants();
  j["threads"] = threads;
  if (peak_bandwidth_gbs > 0) j["peak_bandwidth_gbs"] = peak_bandwidth_gbs;
  j["self_checks"] = nlohmann::ordered_json::array();
  for (const auto& c : self_checks)
    j["self_checks"].push_back({{"path", c.path}, {"dtype", c.dtype}, {"passed", c.failure.empty()},
                                {"worst_rel_err", c.worst_rel}, {"tolerance", c.tolerance}, {"ms", c.ms}, {"failure", c.failure}});
  j["rows"] = nlohmann::ordered_json::array();
  for (const auto& r : rows) {
    nlohmann::ordered_json x = {{"path", r.path},
                                {"length", r.length},
                                {"fwd_ms", r.fwd_ms},
                                {"fwdbwd_ms", r.fwdbwd_ms},
                                {"fwd_peak_mb", r.fwd_peak_mb},
                                {"fwdbwd_peak_mb", r.fwdbwd_peak_mb},
                                {"speedup_fwd_vs_ref", r.speedup_fwd},
                                {"speedup_fwdbwd_vs_ref", r.speedup_fwdbwd},
                                {"peak_mem_ratio_ref_over_path", r.mem_ratio}};
    if (r.roofline_ms > 0) x["roofline_ms"] = r.roofline_ms, x["fwd_over_roofline"] = r.roofline_multiple;
    if (r.bandwidth_gbs > 0) x["bandwidth_gbs"] = r.bandwidth_gbs, x["bandwidth_share_of_peak"] = r.bandwidth_share;
    j["rows"].push_back(x);
  }
  return j;
}

std::string ScanBenchReport::to_table() const {
  std::ostringstream s;
  char line[320];
  std::snprintf(line, sizeof line, "selective scan: B=%lld, E*d=%lld, N=%lld, %s on %s, %d threads, CPU kernel %s on %d threads, OpenMP wait: %s; medians of %d after %d warm-up\n",
                (long long)config.batch, (long long)config.channels, (long long)config.dstate, config.dtype.c_str(),
                config.device.c_str(), threads, cpu_isa.c_str(), kernel_threads, openmp_wait.c_str(), config.repeats, config.warmup);
  s << line;
  if (config.device == "cuda") s << "CUDA kernels: " << kernels::cuda_kernel_variants() << " (MABERT_SCAN_CUDA_FWD/_BWD=sequential pick the others)\n";
  for (const auto& c : self_checks) {
    std::snprintf(line, sizeof line, "self-check %s (%s) vs reference, y and every gradient: %s, worst relative error %.2e (tolerance %.0e), %.0f ms%s%s\n",
                  c.path.c_str(), c.dtype.c_str(), c.failure.empty() ? "passed" : "FAILED", c.worst_rel, c.tolerance, c.ms,
                  c.failure.empty() ? "" : ": ", c.failure.c_str());
    s << line;
  }
  std::snprintf(line, sizeof line, "%6s %-8s %10s %12s %9s %11s %10s %14s %9s %9s%s\n", "L", "path", "fwd ms", "fwd+bwd ms",
                "fwd MB", "fwd+bwd MB", "fwd x ref", "fwd+bwd x ref", "mem ref/x", "fwd/roof",
                peak_bandwidth_gbs > 0 ? "   GB/s (share)" : "");
  s << line;
  for (const auto& r : rows) {
    std::string bw;
    if (r.bandwidth_gbs > 0) {
      char b[64];
      std::snprintf(b, sizeof b, "   %.0f (%.0f%%)", r.bandwidth_gbs, 100 * r.bandwidth_share);
      bw = b;
    }
    char roof[32] = "-";
    if (r.roofline_multiple > 0) std::snprintf(roof, sizeof roof, "%.2f", r.roofline_multiple);
    std::snprintf(line, sizeof line, "%6lld %-8s %10.2f %12.2f %9.1f %11.1f %10.2f %14.2f %9.1f %9s%s\n",
                  (long long)r.length, r.path.c_str(), r.fwd_ms, r.fwdbwd_ms, r.fwd_peak_mb, r.fwdbwd_peak_mb,
                  r.speedup_fwd, r.speedup_fwdbwd, r.mem_ratio, roof, bw.c_str());
    s << line;
  }
  return s.str();
}

}  // namespace mabert::bench

// `mabert bench scan | gemm | allreduce` (`bench model`: cmd_experiments.cpp): the selective-scan benchmark (ratios against the reference measured in
// the same run; never a timed test).
#include "cli/commands.h"

#include "bench/gemm_bench.h"
#include "bench/scan_bench.h"
#include "dist/world.h"
#include "model/mabert.h"
#include "util/cpu_features.h"
#include "util/device.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

namespace mabert::cli {
namespace {

// --- bench scan: every selective-scan path against the reference ------------------------------
void add_bench_scan_command(CLI::App* bench) {
  auto cfg = std::make_shared<bench::ScanBenchConfig>();
  auto json = std::make_shared<bool>(false);
  auto threads = std::make_shared<int>(0);
  CLI::App* scan = bench->add_subcommand("scan", "Selective scan: every available path vs the reference, forward and forward+backward");
  scan->add_option("--batch", cfg->batch, "Batch size")->capture_default_str();
  scan->add_option("--channels", cfg->channels, "Channels E*d")->capture_default_str();
  scan->add_option("--state", cfg->dstate, "State size N")->capture_default_str();
  scan->add_option("--lengths", cfg->lengths, "Sequence lengths")->capture_default_str()->delimiter(',');
  scan->add_option("--paths", cfg->paths, "Paths to time (ref, cpu, cuda); default: ref and this device's fast path")->delimiter(',');
  scan->add_option("--dtype", cfg->dtype, "float32 or bfloat16")->capture_default_str();
  scan->add_option("--device", cfg->device, "cpu or cuda")->capture_default_str();
  scan->add_option("--repeats", cfg->repeats, "Timed repeats (median reported)")->capture_default_str()->check(CLI::Range(1, 1000));
  scan->add_option("--warmup", cfg->warmup, "Untimed warm-up runs")->capture_default_str();
  scan->add_option("--ref-max-length", cfg->ref_max_length, "Skip the (slow) reference above this length")->capture_default_str();
  scan->add_option("--threads", *threads, "Intra-op threads (0 = LibTorch's default)");
  scan->add_flag("--json", *json, "Machine-readable output");
  scan->callback([cfg, json, threads] {
    if (*threads > 0) at::set_num_threads(*threads);
    auto progress = [&](const std::string& line) {
      if (!*json) std::cerr << "  " << line << std::endl;
    };
    const auto report = bench::run_scan_bench(*cfg, progress);
    if (*json)
      std::cout << report.to_json().dump(2) << '\n';
    else
      std::cout << report.to_table();
  });
}

// --- bench gemm: this machine's fp32 and bf16 matrix-product rates ------------------------------
void add_bench_gemm_command(CLI::App* bench) {
  struct GemmArgs {
    std::string device = "cpu";
    double seconds = 0.5;
    int threads = 0;
    bool json = false;
  };
  auto g = std::make_shared<GemmArgs>();
  CLI::App* gemm = bench->add_subcommand(
      "gemm", "This machine's matrix-product rate in fp32 and bf16 as the model computes them (the peak every model's FLOP rate is read against; "
      "bf16 on a CPU without AMX / AVX512-BF16 in fp32 on bf16-rounded operands)");
  gemm->add_option("--device", g->device, "cpu or cuda")->capture_default_str();
  gemm->add_option("--seconds", g->seconds, "Timed seconds per shape and precision (at least 3 fp32 runs)")
      ->capture_default_str()->check(CLI::Range(0.01, 600.0));
  gemm->add_option("--threads", g->threads, "Intra-op threads (0 = LibTorch's default)");
  gemm->add_flag("--json", g->json, "Machine-readable output");
  gemm->callback([g] {
    if (g->threads > 0) at::set_num_threads(g->threads);
    const c10::Device dev = torch_device(parse_device(g->device));
    const std::string where = dev.is_cpu() ? cpu_bf16().describe() : dev.str();
    if (!g->json) {
      std::fprintf(stderr, "%s, %d threads\n", where.c_str(), at::get_num_threads());
      if (const std::string w = bf16_warning(dev); !w.empty()) std::fprintf(stderr, "warning: %s\n", w.c_str());
      std::printf("| product (m x n x k) | fp32 GFLOP/s | bf16 GFLOP/s | bf16 / fp32 |\n|---|---|---|---|\n");
    }
    const auto rates = bench::gemm_rates(bench::default_gemm_shapes(), dev, g->seconds, [&](const bench::GemmRate& r) {
      if (!g->json)
        std::printf("| %s (%lld x %lld x %lld) | %.1f | %.1f | %.2f |\n", r.shape.name.c_str(), static_cast<long long>(r.shape.m),
                    static_cast<long long>(r.shape.n), static_cast<long long>(r.shape.k), r.fp32_gflops, r.bf16_gflops, r.ratio());
      std::fflush(stdout);
    });
    if (g->json) {
      nlohmann::ordered_json j = {{"device", where}, {"threads", at::get_num_threads()},
                                  {"bf16_engine", dev.is_cpu() ? cpu_bf16().fast() : true},
                                  {"bf16_products", dev.is_cpu() && cpu_bf16_products() == CpuBf16Products::Fp32 ? "fp32" : "native"},
                                  {"shapes", nlohmann::json::array()}};
      for (const auto& r : rates)
        j["shapes"].push_back({{"name", r.shape.name}, {"m", r.shape.m}, {"n", r.shape.n}, {"k", r.shape.k},
                               {"fp32_gflops", r.fp32_gflops}, {"bf16_gflops", r.bf16_gflops}, {"bf16_over_fp32", r.ratio()}});
      std::cout << j.dump(2) << '\n';
    }
  });
}

// --- bench allreduce: the gradient all-reduce of data-parallel training, per model size -------
void add_bench_allreduce_command(CLI::App* bench) {
  struct DistArgs {
    std::vector<std::string> presets = {"tiny", "small", "base"};
    int repeats = 10, timeout = 120;
    std::string device = "cpu";
  };
  auto d = std::make_shared<DistArgs>();
  CLI::App* ar = bench->add_subcommand(
      "allreduce", "Under torchrun: the time of one step's gradient all-reduce (25 MB buckets, as training does) per preset");
  ar->add_option("--presets", d->presets, "Model presets whose gradients to all-reduce")->delimiter(',')->capture_default_str();
  ar->add_option("--repeats", d->repeats, "Timed repeats (median reported)")->capture_default_str()->check(CLI::Range(1, 1000));
  ar->add_option("--device", d->device, "cpu (Gloo) or cuda (NCCL)")->capture_default_str();
  ar->add_option("--dist-timeout", d->timeout, "Seconds a collective may wait")->capture_default_str();
  ar->callback([d] {
    const dist::Launch launch = dist::launch_from_env();
    if (!launch.launched)
      throw std::runtime_error("bench allreduce measures a process group: launch it with torchrun --nproc-per-node N");
    const DeviceKind kind = parse_device(d->device);
    const auto world = dist::World::join(launch, kind, std::chrono::seconds(d->timeout));
    const c10::Device dev = torch_device(kind, launch.local_rank);
    if (world->root())
      std::printf("| model | parameters | gradient MB | all-reduce ms (median of %d) | min | max | bus GB/s |\n|---|---|---|---|---|---|---|\n",
                  d->repeats);
    for (const std::string& preset : d->presets) {
      ModelConfig cfg = ModelConfig::preset(preset);
      std::vector<at::Tensor> grads;
      int64_t bytes = 0;
      {
        MaBert model(cfg);  // the gradient tensors of a real model: its parameter shapes
        for (const auto& p : model->parameters()) {
          grads.push_back(at::randn_like(p).to(dev));
          bytes += p.numel() * 4;
        }
      }
      for (int i = 0; i < 2; ++i) world->all_reduce_sum(grads);  // warm-up: connections, buffers
      std::vector<double> ms;
      for (int i = 0; i < d->repeats; ++i) {
        synchronize(dev);
        world->barrier();
        const auto t0 = std::chrono::steady_clock::now();
        world->all_reduce_sum(grads);
        synchronize(dev);  // NCCL's wait() only orders the stream: the clock stops when the GPU is done
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(ms.begin(), ms.end());
      const double med = ms[ms.size() / 2];
      // A ring all-reduce moves 2 (W−1)/W of the data through each rank's link.
      const double bus = 2.0 * (world->size() - 1) / world->size() * static_cast<double>(bytes) / (med * 1e-3) / 1e9;
      if (world->root())
        std::printf("| %s | %.2f M | %.1f | %.2f | %.2f | %.2f | %.2f |\n", preset.c_str(), bytes / 4 / 1e6, bytes / 1048576.0, med,
                    ms.front(), ms.back(), bus);
    }
    if (world->root()) std::printf("\n%d ranks, backend %s, %s\n", world->size(), world->backend().c_str(), launch.master_addr.c_str());
  });
}

}  // namespace

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (print ratios against a baseline measured in the same run)");
  bench->require_subcommand(1);
  add_bench_scan_command(bench);
  add_bench_model_command(bench);
  add_bench_gemm_command(bench);
  add_bench_allreduce_command(bench);
}

}  // namespace mabert::cli

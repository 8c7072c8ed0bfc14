// `mabert bench scan`: the selective-scan benchmark (ratios against the reference measured in
// the same run; never a timed test).
#include "cli/commands.h"

#include "bench/scan_bench.h"

#include <ATen/Parallel.h>

#include <iostream>
#include <memory>

namespace mabert::cli {

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (print ratios against a baseline measured in the same run)");
  bench->require_subcommand(1);
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
  add_bench_model_command(bench);
}

}  // namespace mabert::cli

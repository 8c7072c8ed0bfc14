// Selective-scan benchmark: forward and forward+backward time and peak memory of every
// available path against the reference in the same run, plus a roofline floor (the scan's exp
// and multiply-adds over in-cache data) and, on CUDA, achieved memory bandwidth.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace mabert::bench {

struct ScanBenchConfig {
  int64_t batch = 4, channels = 512, dstate = 16;
  std::vector<int64_t> lengths = {512, 1024, 2048, 4096};
  std::vector<std::string> paths;  // empty = every path available here (ref, cpu, cuda)
  std::string dtype = "float32";   // float32 | bfloat16
  std::string device = "cpu";      // cpu | cuda
  int repeats = 5, warmup = 1;
  int64_t ref_max_length = 4096;   // the reference is slow: skip it above this length
};

struct ScanBenchRow {
  std::string path;
  int64_t length = 0;
  double fwd_ms = 0, fwdbwd_ms = 0;           // medians
  double fwd_peak_mb = 0, fwdbwd_peak_mb = 0;  // measured peaks above the baseline
  double speedup_fwd = 0, speedup_fwdbwd = 0;  // reference time / this time (0 if no reference)
  double mem_ratio = 0;                        // reference fwd+bwd peak / this peak
  double roofline_ms = 0, roofline_multiple = 0;
  double bandwidth_gbs = 0, bandwidth_share = 0;  // CUDA only
};

struct ScanBenchReport {
  ScanBenchConfig config;
  std::string cpu_isa;
  std::string openmp_wait;  // util/openmp_wait.h
  int kernel_threads = 1;  // threads the fused CPU kernels split over (1: built without OpenMP)
  int threads = 0;
  double peak_bandwidth_gbs = 0;
  struct SelfCheck {
    std::string path, dtype, failure;  // failure empty = passed
    double worst_rel = 0, tolerance = 0, ms = 0;
  };
  std::vector<SelfCheck> self_checks;  // each fast path against the reference, before timing it
  std::vector<ScanBenchRow> rows;
  nlohmann::ordered_json to_json() const;
  std::string to_table() const;
};

// `progress` receives one line per finished measurement.
ScanBenchReport run_scan_bench(const ScanBenchConfig& cfg, const std::function<void(const std::string&)>& progress = {});

}  // namespace mabert::bench

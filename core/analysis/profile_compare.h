// Comparing profiled models length by length, as `mabert bench model` prints it and the studio's
// efficiency view tabulates it: time ratios against a baseline (design / all-T) or of the others
// against the design (the paper's "reduces time by N×"), the crossover length, the Markdown table.
#pragma once

#include "analysis/efficiency.h"

#include <string>
#include <vector>

namespace mabert::analysis {

// The median time of `name` at length L; 0 when it was not measured or failed.
double median_at(const std::vector<ProfilePoint>& pts, const std::string& name, int64_t L);
// time(name) / time(baseline) at L; 0 when either is missing.
double time_ratio(const std::vector<ProfilePoint>& pts, const std::string& name, const std::string& baseline, int64_t L);
// The mean time of `others` / time(design) at L; 0 unless all were measured.
double others_over_design(const std::vector<ProfilePoint>& pts, const std::string& design,
                          const std::vector<std::string>& others, int64_t L);
// The shortest of `lengths` from which `design` is faster than `baseline` at that and every
// longer length; −1 when there is none.
int64_t crossover_length(const std::vector<ProfilePoint>& pts, const std::string& design, const std::string& baseline,
                         const std::vector<int64_t>& lengths);

struct ComparisonTable {
  std::vector<std::string> names;  // the models, the design first
  std::string baseline;            // all-T for schedules; empty: the ratio is the others' mean over the design
  std::vector<int64_t> lengths;
  std::string heading;             // e.g. "inference (batch 1, cpu, fp32, median of 5)"
};
// One row per length: time and peak memory of each model, and the ratio; with a baseline, a line
// saying from which length the design is faster.
std::string comparison_markdown(const std::vector<ProfilePoint>& pts, const ComparisonTable& t);

// One row per length: each model's achieved FLOP rate (model FLOPs counted from its config, per
// median time) and its share of `peak_gflops`, this machine's GEMM rate measured in the same run.
std::string flop_rate_markdown(const std::vector<ProfilePoint>& pts, const std::vector<std::string>& names,
                               const std::vector<int64_t>& lengths, double peak_gflops, const std::string& peak_label);

// With each model also run in bf16 as "<name> bf16": per length, its fp32 median over its bf16
// median (one run's medians).
std::string bf16_speedup_markdown(const std::vector<ProfilePoint>& pts, const std::vector<std::string>& fp32_names,
                                  const std::vector<int64_t>& lengths);

}  // namespace mabert::analysis

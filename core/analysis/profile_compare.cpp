#include "analysis/profile_compare.h"

#include <cstdio>
#include <functional>

namespace mabert::analysis {

double median_at(const std::vector<ProfilePoint>& pts, const std::string& name, int64_t L) {
  for (const auto& p : pts)
    if (p.schedule == name && p.length == L && p.error.empty()) return p.median_ms;
  return 0;
}

double time_ratio(const std::vector<ProfilePoint>& pts, const std::string& name, const std::string& baseline, int64_t L) {
  const double t = median_at(pts, name, L), b = median_at(pts, baseline, L);
  return t > 0 && b > 0 ? t / b : 0;
}

double others_over_design(const std::vector<ProfilePoint>& pts, const std::string& design,
                          const std::vector<std::string>& others, int64_t L) {
  const double t_design = median_at(pts, design, L);
  double sum = 0;
  for (const auto& o : others) {
    const double t = median_at(pts, o, L);
    if (t <= 0) return 0;
    sum += t;
  }
  return others.empty() || t_design <= 0 ? 0 : sum / static_cast<double>(others.size()) / t_design;
}

int64_t crossover_length(const std::vector<ProfilePoint>& pts, const std::string& design, const std::string& baseline,
                         const std::vector<int64_t>& lengths) {
  int64_t crossover = -1;
  for (int64_t L : lengths) {
    const double t_design = median_at(pts, design, L), t_base = median_at(pts, baseline, L);
    if (t_design > 0 && t_base > 0 && t_design < t_base) {
      if (crossover < 0) crossover = L;
    } else {
      crossover = -1;  // must stay faster at every longer length
    }
  }
  return crossover;
}

std::string comparison_markdown(const std::vector<ProfilePoint>& pts, const ComparisonTable& t) {
  const std::string& design = t.names.front();
  const std::vector<std::string> others(t.names.begin() + 1, t.names.end());
  const std::string ratio_head = t.baseline.empty() ? "mean of others / " + design : design + " / " + t.baseline;
  std::string md = "\n### " + t.heading + "\n\n| length |";
  for (const auto& n : t.names) md += " " + n + " ms | peak MB |";
  md += " time " + ratio_head + " |\n|---|";
  for (size_t i = 0; i < t.names.size(); ++i) md += "---|---|";
  md += "---|\n";
  for (int64_t L : t.lengths) {
    md += "| " + std::to_string(L) + " |";
    for (const auto& n : t.names)
      for (const auto& p : pts)
        if (p.schedule == n && p.length == L) {
          char cell[96];
          if (p.error.empty()) std::snprintf(cell, sizeof cell, " %.2f | %.1f |", p.median_ms, p.peak_bytes / 1048576.0);
          else std::snprintf(cell, sizeof cell, " %s | — |", p.error.c_str());
          md += cell;
        }
    const double ratio = t.baseline.empty() ? others_over_design(pts, design, others, L) : time_ratio(pts, design, t.baseline, L);
    char r[32];
    std::snprintf(r, sizeof r, " %.3f |\n", ratio);
    md += r;
  }
  if (!t.baseline.empty()) {
    const int64_t crossover = crossover_length(pts, design, t.baseline, t.lengths);
    md += crossover > 0 ? "\n" + design + " is faster than " + t.baseline + " from " + std::to_string(crossover) + " tokens on.\n"
                        : "\n" + design + " is not faster than " + t.baseline + " at the longest length measured.\n";
  }
  return md;
}

namespace {

// One row per length, one column per model; `cell` gives a model's text at a length, or "" for —.
std::string per_length_table(const std::string& caption, const std::vector<std::string>& names,
                             const std::vector<int64_t>& lengths,
                             const std::function<std::string(const std::string&, int64_t)>& cell) {
  std::string md = "\n" + caption + "\n\n| length |";
  for (const auto& n : names) md += " " + n + " |";
  md += "\n|---|";
  for (size_t i = 0; i < names.size(); ++i) md += "---|";
  md += "\n";
  for (int64_t L : lengths) {
    md += "| " + std::to_string(L) + " |";
    for (const auto& n : names) {
      const std::string c = cell(n, L);
      md += " " + (c.empty() ? std::string("—") : c) + " |";
    }
    md += "\n";
  }
  return md;
}

}  // namespace

std::string flop_rate_markdown(const std::vector<ProfilePoint>& pts, const std::vector<std::string>& names,
                               const std::vector<int64_t>& lengths, double peak_gflops, const std::string& peak_label) {
  char peak[160];
  std::snprintf(peak, sizeof peak, "%.1f GFLOP/s", peak_gflops);
  return per_length_table("Achieved GFLOP/s (share of " + peak_label + ", " + peak + ")", names, lengths,
                          [&](const std::string& n, int64_t L) {
                            for (const auto& p : pts)
                              if (p.schedule == n && p.length == L && p.error.empty() && p.gflops > 0) {
                                char c[64];
                                std::snprintf(c, sizeof c, "%.1f (%.0f %%)", p.gflops,
                                              peak_gflops > 0 ? 100 * p.gflops / peak_gflops : 0.0);
                                return std::string(c);
                              }
                            return std::string();
                          });
}

std::string bf16_speedup_markdown(const std::vector<ProfilePoint>& pts, const std::vector<std::string>& fp32_names,
                                  const std::vector<int64_t>& lengths) {
  return per_length_table("bf16 speed-up (fp32 median / bf16 median, same run)", fp32_names, lengths,
                          [&](const std::string& n, int64_t L) {
                            const double r = time_ratio(pts, n, n + " bf16", L);
                            char c[32];
                            std::snprintf(c, sizeof c, "%.2f×", r);
                            return r > 0 ? std::string(c) : std::string();
                          });
}

}  // namespace mabert::analysis

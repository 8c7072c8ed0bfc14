#include "experiments/recall_figures.h"

#include "util/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace mabert::experiments {
namespace {

// The schedule and width of each variant, by name.
std::map<std::string, std::pair<std::string, int64_t>> variant_shapes(const Grid& grid) {
  std::map<std::string, std::pair<std::string, int64_t>> m;
  for (const Variant& v : grid.variants) {
    const ModelConfig c = variant_config(grid, v);
    m[v.name] = {c.schedule, c.d_model};
  }
  return m;
}

// Schedules in grid order (first appearance).
std::vector<std::string> schedules(const Grid& grid) {
  std::vector<std::string> out;
  for (const Variant& v : grid.variants) {
    const std::string s = variant_config(grid, v).schedule;
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

CurvePoint summarise(double x, const std::vector<double>& v) {
  CurvePoint p;
  p.x = x, p.n = v.size();
  for (double s : v) p.mean += s;
  p.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    for (double s : v) p.std += (s - p.mean) * (s - p.mean);
    p.std = std::sqrt(p.std / static_cast<double>(v.size() - 1));
  }
  return p;
}

// Curves of schedule → x → scores: `points_of(cell, width)` gives each cell's (x, score) points
// on this figure (none: the cell is not on it).
template <typename PointsOf>
std::vector<Curve> curves(const Grid& grid, const std::vector<CellResult>& cells, PointsOf points_of) {
  const auto shapes = variant_shapes(grid);
  std::map<std::string, std::map<double, std::vector<double>>> by;
  for (const CellResult& c : cells) {
    const auto it = shapes.find(c.variant);
    if (it == shapes.end()) continue;
    for (const auto& [x, score] : points_of(c, it->second.second)) by[it->second.first][x].push_back(score);
  }
  std::vector<Curve> out;
  for (const std::string& s : schedules(grid)) {
    Curve curve{s, {}};
    for (const auto& [x, v] : by[s]) curve.points.push_back(summarise(x, v));
    if (!curve.points.empty()) out.push_back(std::move(curve));
  }
  return out;
}

using Points = std::vector<std::pair<double, double>>;

std::string svg(const std::string& title, const std::string& x_label, bool log_x, const std::vector<Curve>& cs) {
  PlotSpec spec;
  spec.title = title, spec.x_label = x_label, spec.y_label = "accuracy (mean over seeds)", spec.log_x = log_x;
  std::vector<PlotSeries> series;
  for (const Curve& c : cs) {
    PlotSeries s{c.name, {}, {}};
    for (const CurvePoint& p : c.points) s.x.push_back(p.x), s.y.push_back(p.mean);
    series.push_back(std::move(s));
  }
  return svg_line_plot(spec, series);
}

}  // namespace

std::vector<int64_t> grid_widths(const Grid& grid) {
  std::set<int64_t> w;
  for (const auto& [name, shape] : variant_shapes(grid)) w.insert(shape.second);
  return {w.begin(), w.end()};
}

std::vector<Curve> score_by_width(const Grid& grid, const std::vector<CellResult>& cells, const std::string& task) {
  return curves(grid, cells, [&](const CellResult& c, int64_t width) {
    return c.task == task ? Points{{static_cast<double>(width), c.score}} : Points{};
  });
}

std::vector<Curve> score_by_length(const Grid& grid, const std::vector<CellResult>& cells, data::RecallKind kind,
                                   int64_t d_model) {
  return curves(grid, cells, [&](const CellResult& c, int64_t width) {
    const auto it = grid.recall.find(c.task);
    if (it == grid.recall.end() || it->second.kind != kind || width != d_model) return Points{};
    return Points{{static_cast<double>(it->second.length), c.score}};
  });
}

std::vector<Curve> score_by_eval_length(const Grid& grid, const std::vector<CellResult>& cells, const std::string& task,
                                        int64_t d_model) {
  return curves(grid, cells, [&](const CellResult& c, int64_t width) {
    Points p;
    if (c.task != task || width != d_model) return p;
    for (const auto& [len, score] : c.length_scores) p.emplace_back(static_cast<double>(len), score);
    return p;
  });
}

std::vector<std::pair<std::string, std::string>> recall_figures(const Grid& grid, const std::vector<CellResult>& cells) {
  std::vector<std::pair<std::string, std::string>> out;
  if (grid.recall.empty()) return out;
  for (const std::string& t : grid.tasks)
    if (grid.recall.count(t))
      out.emplace_back("recall-width-" + t + ".svg", svg(t + ": accuracy against width", "d_model", true, score_by_width(grid, cells, t)));
  std::set<data::RecallKind> kinds;
  for (const auto& [label, task] : grid.recall) kinds.insert(task.kind);
  for (data::RecallKind k : kinds)
    for (int64_t w : grid_widths(grid)) {
      const std::string name = std::string(data::to_string(k)) + "-d" + std::to_string(w);
      out.emplace_back("recall-length-" + name + ".svg",
                       svg(std::string(data::to_string(k)) + " at d_model " + std::to_string(w) + ": accuracy against length",
                           "length (tokens)", true, score_by_length(grid, cells, k, w)));
    }
  for (const auto& [task, lengths] : grid.eval_lengths)
    for (int64_t w : grid_widths(grid))
      out.emplace_back("recall-eval-length-" + task + "-d" + std::to_string(w) + ".svg",
                       svg(task + " at d_model " + std::to_string(w) + ": trained at " + std::to_string(grid.recall.at(task).length) +
                               ", evaluated at each length",
                           "evaluation length (tokens)", true, score_by_eval_length(grid, cells, task, w)));
  return out;
}

}  // namespace mabert::experiments

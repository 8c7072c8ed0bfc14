// The recall grid's figures (docs/results/recall.md): accuracy against model width, one curve per
// schedule, a panel per task column (Zoology's figure); and accuracy against length at a fixed
// width. One computation serves the SVGs the grid writes and the studio's Experiments plot.
#pragma once

#include "experiments/grid.h"

#include <string>
#include <utility>
#include <vector>

namespace mabert::experiments {

struct CurvePoint {
  double x = 0, mean = 0, std = 0;  // std: sample standard deviation over the seeds (0 for one)
  size_t n = 0;
};
struct Curve {
  std::string name;  // the schedule
  std::vector<CurvePoint> points;  // ascending x
};

// Widths (d_model) of the grid's variants, ascending; and the recall task columns of one kind.
std::vector<int64_t> grid_widths(const Grid& grid);

// For one task column: per schedule, the mean score at each width (finished cells only).
std::vector<Curve> score_by_width(const Grid& grid, const std::vector<CellResult>& cells, const std::string& task);
// For one recall kind at one width: per schedule, the mean score at each task length.
std::vector<Curve> score_by_length(const Grid& grid, const std::vector<CellResult>& cells, data::RecallKind kind,
                                   int64_t d_model);

// For a task with "eval_lengths" at one width: per schedule, the mean accuracy at each evaluation
// length (the cells' length_scores; lengths a model cannot run at are left out).
std::vector<Curve> score_by_eval_length(const Grid& grid, const std::vector<CellResult>& cells, const std::string& task,
                                        int64_t d_model);

// Every figure as (file name, SVG): recall-width-<task>.svg per recall column and
// recall-length-<kind>-d<width>.svg per kind and width, recall-eval-length-<task>-d<width>.svg per
// task with eval_lengths and width. Empty for a grid without recall tasks.
std::vector<std::pair<std::string, std::string>> recall_figures(const Grid& grid, const std::vector<CellResult>& cells);

}  // namespace mabert::experiments

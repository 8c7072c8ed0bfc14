// A small, dependency-free SVG line chart, so the Qt-free CLI can write the figures of its
// experiments (drift against pad count, latency against length) next to their CSV files.
#pragma once

#include <string>
#include <vector>

namespace mabert {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotSpec {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  double log_floor = 1e-9;  // values ≤ 0 are drawn here on a log axis
  int width = 720, height = 440;
};

std::string svg_line_plot(const PlotSpec& spec, const std::vector<PlotSeries>& series);

}  // namespace mabert

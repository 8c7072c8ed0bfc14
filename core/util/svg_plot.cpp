#include "util/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace mabert {
namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

std::string num(double v) {
  std::ostringstream o;
  o << std::setprecision(3) << v;
  return o.str();
}

// Tick values: powers of ten on a log axis, a 1-2-5 step on a linear one.
std::vector<double> ticks(double lo, double hi, bool log) {
  std::vector<double> t;
  if (log) {
    for (int e = static_cast<int>(std::floor(lo)); e <= static_cast<int>(std::ceil(hi)); ++e)
      if (e >= lo - 1e-9 && e <= hi + 1e-9) t.push_back(e);
    if (t.size() < 2) t = {lo, hi};
    return t;
  }
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / 6, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(v);
  return t;
}

}  // namespace

std::string svg_line_plot(const PlotSpec& spec, const std::vector<PlotSeries>& series) {
  static const char* colors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
  auto tx = [&](double v) { return spec.log_x ? std::log10(std::max(v, spec.log_floor)) : v; };
  auto ty = [&](double v) { return spec.log_y ? std::log10(std::max(v, spec.log_floor)) : v; };
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      x0 = std::min(x0, tx(s.x[i])), x1 = std::max(x1, tx(s.x[i]));
      y0 = std::min(y0, ty(s.y[i])), y1 = std::max(y1, ty(s.y[i]));
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (!spec.log_y) y0 = std::min(y0, 0.0);
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  y1 += (y1 - y0) * 0.05;
  const double L = 80, R = 180, T = 40, B = 55;
  const double W = spec.width - L - R, H = spec.height - T - B;
  auto px = [&](double v) { return L + (tx(v) - x0) / (x1 - x0) * W; };
  auto py = [&](double v) { return T + H - (ty(v) - y0) / (y1 - y0) * H; };
  auto pxt = [&](double t) { return L + (t - x0) / (x1 - x0) * W; };
  auto pyt = [&](double t) { return T + H - (t - y0) / (y1 - y0) * H; };

  std::ostringstream o;
  o << std::fixed << std::setprecision(1);
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << spec.width << "\" height=\"" << spec.height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << L + W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
    << esc(spec.title) << "</text>\n";
  for (double t : ticks(x0, x1, spec.log_x)) {
    o << "<line x1=\"" << pxt(t) << "\" y1=\"" << T << "\" x2=\"" << pxt(t) << "\" y2=\"" << T + H
      << "\" stroke=\"#ddd\"/><text x=\"" << pxt(t) << "\" y=\"" << T + H + 16 << "\" text-anchor=\"middle\">"
      << num(spec.log_x ? std::pow(10.0, t) : t) << "</text>\n";
  }
  for (double t : ticks(y0, y1, spec.log_y)) {
    o << "<line x1=\"" << L << "\" y1=\"" << pyt(t) << "\" x2=\"" << L + W << "\" y2=\"" << pyt(t)
      << "\" stroke=\"#ddd\"/><text x=\"" << L - 6 << "\" y=\"" << pyt(t) + 4 << "\" text-anchor=\"end\">"
      << num(spec.log_y ? std::pow(10.0, t) : t) << "</text>\n";
  }
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W << "\" height=\"" << H
    << "\" fill=\"none\" stroke=\"black\"/>\n";
  o << "<text x=\"" << L + W / 2 << "\" y=\"" << spec.height - 12 << "\" text-anchor=\"middle\">" << esc(spec.x_label)
    << "</text>\n<text transform=\"translate(18," << T + H / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << esc(spec.y_label) << "</text>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* c = colors[k % 7];
    o << "<polyline fill=\"none\" stroke=\"" << c << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) o << px(s.x[i]) << ',' << py(s.y[i]) << ' ';
    o << "\"/>\n";
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      o << "<circle cx=\"" << px(s.x[i]) << "\" cy=\"" << py(s.y[i]) << "\" r=\"3\" fill=\"" << c << "\"/>\n";
    const double ly = T + 14 + 18 * static_cast<double>(k);
    o << "<line x1=\"" << L + W + 12 << "\" y1=\"" << ly - 4 << "\" x2=\"" << L + W + 32 << "\" y2=\"" << ly - 4
      << "\" stroke=\"" << c << "\" stroke-width=\"2\"/><text x=\"" << L + W + 36 << "\" y=\"" << ly << "\">"
      << esc(s.name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace mabert

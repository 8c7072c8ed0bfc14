// GLUE metrics.
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace mabert::train {
namespace {

void same_size(size_t a, size_t b) {
  if (a != b) throw std::invalid_argument("metric inputs differ in length");
  if (a == 0) throw std::invalid_argument("metric inputs are empty");
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = 0.5 * static_cast<double>(i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

}  // namespace

double matthews_corrcoef(const std::vector<int>& t, const std::vector<int>& p) {
  same_size(t.size(), p.size());
  double tp = 0, tn = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == 1 && p[i] == 1) ++tp;
    else if (t[i] == 0 && p[i] == 0) ++tn;
    else if (t[i] == 0 && p[i] == 1) ++fp;
    else ++fn;
  }
  const double den = std::sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
  return den == 0 ? 0.0 : (tp * tn - fp * fn) / den;
}

double accuracy(const std::vector<int>& t, const std::vector<int>& p) {
  same_size(t.size(), p.size());
  size_t ok = 0;
  for (size_t i = 0; i < t.size(); ++i) ok += t[i] == p[i];
  return static_cast<double>(ok) / static_cast<double>(t.size());
}

double f1_binary(const std::vector<int>& t, const std::vector<int>& p) {
  same_size(t.size(), p.size());
  double tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    tp += t[i] == 1 && p[i] == 1;
    fp += t[i] == 0 && p[i] == 1;
    fn += t[i] == 1 && p[i] == 0;
  }
  return tp == 0 ? 0.0 : 2 * tp / (2 * tp + fp + fn);
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  same_size(x.size(), y.size());
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx == 0 || syy == 0 ? 0.0 : sxy / std::sqrt(sxx * syy);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) { return pearson(ranks(x), ranks(y)); }

std::map<std::string, double> glue_metrics(const std::string& task, const std::vector<double>& labels,
                                           const std::vector<double>& preds) {
  std::map<std::string, double> m;
  if (task == "STS-B") {
    m["pearson"] = pearson(preds, labels);
    m["spearman"] = spearman(preds, labels);
    return m;
  }
  std::vector<int> t(labels.begin(), labels.end()), p(preds.begin(), preds.end());
  m["accuracy"] = accuracy(t, p);
  if (task == "CoLA") m["mcc"] = matthews_corrcoef(t, p);
  if (task == "MRPC" || task == "QQP") m["f1"] = f1_binary(t, p);
  return m;
}

}  // namespace mabert::train

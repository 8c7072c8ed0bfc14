// GLUE metrics.
#include "train/metrics.h"

#include "util/files.h"
#include "util/json_text.h"

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

MetricsLog read_metrics_log(const std::string& path) {
  const std::string text = read_file(path);
  MetricsLog log;
  int64_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string where = path + ":" + std::to_string(line_no);
    nlohmann::json j;
    try {
      j = parse_json_text(line);
    } catch (const JsonTextError& e) {
      log.notes.push_back(where + ": not a complete JSON line (a write torn by a crash?), skipped: " + e.what());
      continue;
    }
    auto bad = [&](const std::string& field, const std::string& what) {
      throw std::runtime_error(where + ": field '" + field + "': " + what);
    };
    if (!j.is_object()) throw std::runtime_error(where + ": expected a JSON object");
    LogRecord r;
    r.line = line_no;
    if (!j.contains("event") || !j["event"].is_string() || j["event"].get<std::string>().empty())
      bad("event", "expected a non-empty string");
    r.event = j["event"].get<std::string>();
    if (!j.contains("step") || !j["step"].is_number_unsigned() || j["step"].get<uint64_t>() > (uint64_t{1} << 53))
      bad("step", "expected a non-negative integer");
    r.step = j["step"].get<int64_t>();
    auto number = [&](const nlohmann::json& v, const std::string& field) {
      if (v.is_null()) return std::nan("");  // how nlohmann writes NaN and infinities
      if (!v.is_number()) bad(field, "expected a number or null");
      return v.get<double>();
    };
    if (r.event == "eval") {
      if (!j.contains("metrics") || !j["metrics"].is_object()) bad("metrics", "expected an object of numbers");
      for (auto it = j["metrics"].begin(); it != j["metrics"].end(); ++it)
        r.values[it.key()] = number(it.value(), "metrics." + it.key());
    } else {
      if (r.event == "step" && !j.contains("loss")) bad("loss", "missing");
      // Numbers are the record's values; other fields (a newer version's strings) are ignored,
      // except the fields this version writes, which must be numbers.
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "event" || it.key() == "step") continue;
        const bool known = it.key() == "loss" || it.key() == "lr" || it.key() == "grad_norm" ||
                           it.key() == "tokens_per_s" || it.key() == "elapsed_s";
        if (known || it.value().is_number()) r.values[it.key()] = number(it.value(), it.key());
      }
    }
    log.records.push_back(std::move(r));
  }
  return log;
}

}  // namespace mabert::train

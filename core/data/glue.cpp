// GLUE TSV readers. Columns are found by header name where the file has a header, by position
// for headerless CoLA; labels are validated against the task's label set.
#include "data/glue.h"

#include "util/files.h"
#include "util/json_text.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <stdexcept>

namespace mabert::data {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

const std::vector<GlueTask>& tasks() {
  static const std::vector<GlueTask> t = {
      {"CoLA", false, false, {"0", "1"}, "mcc", {"train", "dev", "test"}},
      {"SST-2", false, false, {"0", "1"}, "accuracy", {"train", "dev", "test"}},
      {"MRPC", true, false, {"0", "1"}, "f1", {"train", "dev", "test"}},
      {"QQP", true, false, {"0", "1"}, "f1", {"train", "dev", "test"}},
      {"STS-B", true, true, {}, "pearson", {"train", "dev", "test"}},
      {"MNLI", true, false, {"contradiction", "entailment", "neutral"}, "accuracy",
       {"train", "dev_matched", "dev_mismatched", "test_matched", "test_mismatched"}},
      {"QNLI", true, false, {"entailment", "not_entailment"}, "accuracy", {"train", "dev", "test"}},
      {"RTE", true, false, {"entailment", "not_entailment"}, "accuracy", {"train", "dev", "test"}},
      {"WNLI", true, false, {"0", "1"}, "accuracy", {"train", "dev", "test"}},
      {"AX", true, false, {"contradiction", "entailment", "neutral"}, "accuracy", {"diagnostic"}},
  };
  return t;
}

// Column names per task: text a, text b, label (as in the official headers).
struct Columns {
  std::vector<std::string> a, b, label;
};
Columns columns_for(const std::string& task) {
  if (task == "SST-2") return {{"sentence"}, {}, {"label"}};
  if (task == "MRPC") return {{"#1 String"}, {"#2 String"}, {"Quality"}};
  if (task == "QQP") return {{"question1"}, {"question2"}, {"is_duplicate"}};
  if (task == "STS-B") return {{"sentence1"}, {"sentence2"}, {"score"}};
  if (task == "MNLI") return {{"sentence1"}, {"sentence2"}, {"gold_label"}};
  if (task == "QNLI") return {{"question"}, {"sentence"}, {"label"}};
  if (task == "CoLA") return {{"sentence"}, {}, {}};  // CoLA test has a header; train/dev do not
  return {{"sentence1"}, {"sentence2"}, {"label"}};   // RTE, WNLI, AX
}

[[noreturn]] void row_error(const std::string& file, int64_t line, const std::string& what) {
  throw std::runtime_error(file + ":" + std::to_string(line) + ": " + what);
}

}  // namespace

std::vector<std::string> split_tsv(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return out;
}

std::vector<std::string> glue_task_names() {
  std::vector<std::string> n;
  for (const auto& t : tasks()) n.push_back(t.name);
  return n;
}

std::string label_meaning(const GlueTask& task, size_t index) {
  static const std::map<std::string, std::vector<std::string>> meanings = {
      {"CoLA", {"unacceptable", "acceptable"}},   {"SST-2", {"negative", "positive"}},
      {"MRPC", {"not equivalent", "equivalent"}}, {"QQP", {"not duplicate", "duplicate"}},
      {"WNLI", {"not entailment", "entailment"}}};
  const auto it = meanings.find(task.name);
  if (it != meanings.end() && index < it->second.size()) return it->second[index];
  return task.labels.at(index);
}

const GlueTask& glue_task(const std::string& name) {
  std::string k = lower(name);
  if (k == "sst2") k = "sst-2";
  if (k == "stsb" || k == "sts") k = "sts-b";
  if (k == "diagnostic") k = "ax";
  for (const auto& t : tasks())
    if (lower(t.name) == k) return t;
  std::string known;
  for (const auto& n : glue_task_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown GLUE task '" + name + "' (known: " + known + ")");
}

GlueSplit load_glue(const std::string& task_name, const std::string& dir, const std::string& split) {
  GlueSplit out;
  out.task = glue_task(task_name);
  const GlueTask& task = out.task;
  if (std::find(task.splits.begin(), task.splits.end(), split) == task.splits.end()) {
    std::string known;
    for (const auto& s : task.splits) known += (known.empty() ? "" : ", ") + s;
    throw std::invalid_argument(task.name + " has no split '" + split + "' (splits: " + known + ")");
  }
  out.file = dir + "/" + split + ".tsv";
  std::string text = read_file(out.file);
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);

  std::vector<std::string> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();  // no final newline
    std::string line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = nl + 1;
  }
  const bool headerless = task.name == "CoLA" && split != "test";
  const Columns cols = columns_for(task.name);
  std::map<std::string, size_t> index;
  size_t width = 4;
  size_t first = 0;
  if (!headerless) {
    if (lines.empty()) throw std::runtime_error(out.file + ": empty file, expected a header line");
    const auto header = split_tsv(lines[0]);
    for (size_t i = 0; i < header.size(); ++i) index[header[i]] = i;
    width = header.size();
    first = 1;
  }
  auto col = [&](const std::vector<std::string>& names, bool required, const char* what) -> long {
    if (headerless) return -1;
    for (const auto& n : names)
      if (index.count(n)) return static_cast<long>(index[n]);
    if (required) row_error(out.file, 1, std::string("header lacks the ") + what + " column '" + (names.empty() ? "?" : names[0]) + "'");
    return -1;
  };
  const long ca = headerless ? 3 : col(cols.a, true, "text");
  const long cb = task.pair ? col(cols.b, true, "second text") : -1;
  const long cl = headerless ? 1 : (cols.label.empty() ? -1 : col(cols.label, false, "label"));
  out.labelled = cl >= 0;

  for (size_t i = first; i < lines.size(); ++i) {
    const int64_t lineno = static_cast<int64_t>(i) + 1;
    if (lines[i].empty()) {
      if (i + 1 == lines.size()) break;  // trailing newline
      row_error(out.file, lineno, "empty line");
    }
    const auto f = split_tsv(lines[i]);
    if (f.size() != width)
      row_error(out.file, lineno, "expected " + std::to_string(width) + " tab-separated fields, found " + std::to_string(f.size()));
    GlueExample ex;
    ex.line = lineno;
    ex.a = f[static_cast<size_t>(ca)];
    if (cb >= 0) ex.b = f[static_cast<size_t>(cb)];
    if (cl >= 0) {
      const std::string& v = f[static_cast<size_t>(cl)];
      if (task.regression) {
        char* end = nullptr;
        ex.label = std::strtod(v.c_str(), &end);
        // The whole field must be the number: end == c_str() + size() also rejects a NUL byte inside it.
        if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(ex.label) || ex.label < 0 || ex.label > 5)
          row_error(out.file, lineno, "score '" + printable(v) + "' is not a number in [0, 5]");
      } else {
        const auto it = std::find(task.labels.begin(), task.labels.end(), v);
        if (it == task.labels.end()) row_error(out.file, lineno, "label '" + printable(v) + "' is not one of the task's labels");
        ex.label = static_cast<double>(it - task.labels.begin());
      }
    }
    out.examples.push_back(std::move(ex));
  }
  return out;
}

}  // namespace mabert::data

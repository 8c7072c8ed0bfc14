// GLUE tasks in their official TSV layout (as written by GLUE's download script), with the
// quirks of the real files: headerless CoLA train/dev, a UTF-8 byte-order mark in MRPC, no
// final newline, quote characters that are text (fields are split on TAB only). Every row is
// checked; a malformed one is an error naming the file and line — nothing is skipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mabert::data {

struct GlueExample {
  std::string a, b;     // b empty for single-sentence tasks
  double label = -1;    // class index, or the STS-B score; −1 when the split has no labels
  int64_t line = 0;     // 1-based line in the file
};

struct GlueTask {
  std::string name;                       // CoLA, SST-2, MRPC, QQP, STS-B, MNLI, QNLI, RTE, WNLI, AX
  bool pair = false;
  bool regression = false;
  std::vector<std::string> labels;        // label strings in class-index order (empty for STS-B)
  std::string metric;                     // the metric early stopping watches: mcc | accuracy | f1 | pearson
  std::vector<std::string> splits;        // file stems: train, dev, test, dev_matched, ...
  int64_t num_labels() const { return regression ? 1 : static_cast<int64_t>(labels.size()); }
};

struct GlueSplit {
  GlueTask task;
  std::string file;
  bool labelled = false;
  std::vector<GlueExample> examples;
};

// Known task names (case-insensitive; "SST2", "STSB", "diagnostic" accepted too).
const GlueTask& glue_task(const std::string& name);
std::vector<std::string> glue_task_names();
// What class `index` means, for people: "positive" for SST-2's "1"; the label itself where the
// files already use words (RTE's "entailment").
std::string label_meaning(const GlueTask& task, size_t index);

// Reads <dir>/<split>.tsv of `task` (dir is the task's folder, e.g. .../glue/CoLA).
GlueSplit load_glue(const std::string& task, const std::string& dir, const std::string& split);

// Splits one TSV line on TAB only (quotes are text).
std::vector<std::string> split_tsv(const std::string& line);

}  // namespace mabert::data

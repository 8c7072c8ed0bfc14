// The official GLUE metrics: Matthews correlation (CoLA), accuracy, F1 of the positive class
// (MRPC, QQP), Pearson and Spearman correlation (STS-B). Degenerate inputs (one class, constant
// predictions) give 0 correlation rather than NaN, as scikit-learn and scipy-based GLUE scripts do for MCC.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mabert::train {

double matthews_corrcoef(const std::vector<int>& y_true, const std::vector<int>& y_pred);
double accuracy(const std::vector<int>& y_true, const std::vector<int>& y_pred);
double f1_binary(const std::vector<int>& y_true, const std::vector<int>& y_pred);  // positive class 1
double pearson(const std::vector<double>& x, const std::vector<double>& y);
double spearman(const std::vector<double>& x, const std::vector<double>& y);  // average ranks for ties

// All metrics reported for a task: classification (labels/predictions as class indices) or
// regression (scores). Keys: mcc, accuracy, f1, pearson, spearman — whichever apply.
std::map<std::string, double> glue_metrics(const std::string& task, const std::vector<double>& labels,
                                           const std::vector<double>& predictions);

// One line of a run's metrics.jsonl, as the trainer writes it:
//   {"event":"step","step":10,"loss":7.1,"lr":0.0005,"grad_norm":1.2,"tokens_per_s":900,"elapsed_s":3.5}
//   {"event":"eval","step":100,"metrics":{"accuracy":0.61,...}}
struct LogRecord {
  int64_t line = 0;       // 1-based line in the file
  std::string event;      // step | eval | another event a newer version writes
  int64_t step = 0;
  std::map<std::string, double> values;  // step: loss, lr, ...; eval: the metrics. null (NaN or inf written) is NaN
};

struct MetricsLog {
  std::vector<LogRecord> records;  // in file order
  std::vector<std::string> notes;  // lines skipped, each "file:line: ..."
};

// Reads a metrics.jsonl. A line that is not JSON at all is a write torn by a crash (the last
// line, or after a resume a line in the middle): skipped and reported in `notes`. A line that is
// JSON but not a record (not an object, no event or step, a value of the wrong type) is an error
// naming the file, the line and the field.
MetricsLog read_metrics_log(const std::string& path);

}  // namespace mabert::train

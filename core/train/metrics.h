// The official GLUE metrics: Matthews correlation (CoLA), accuracy, F1 of the positive class
// (MRPC, QQP), Pearson and Spearman correlation (STS-B). Degenerate inputs (one class, constant
// predictions) give 0 correlation rather than NaN, as scikit-learn and scipy-based GLUE scripts do for MCC.
#pragma once

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

}  // namespace mabert::train

// Efficiency against sequence length (paper Fig. 5), measured on this machine: latency and peak
// memory for the current schedule next to all-T and all-M schedules of the same width and depth.
#pragma once

#include "worker.h"

#include <QWidget>

class QComboBox;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace mabert::ui {

class EfficiencyView : public QWidget {
  Q_OBJECT
 public:
  explicit EfficiencyView(QWidget* parent = nullptr);

  void setDesign(const ModelConfig& cfg, bool valid);
  // While a training run is going, measuring would compete with it for the cores: blocked.
  void setBlocked(bool blocked);
  // The schedules compared: the design's, then all-T and all-M of the same depth (deduplicated).
  QStringList schedules() const;
  analysis::ProfileOptions options() const;
  QCustomPlot* latencyPlot() const { return latency_; }
  QCustomPlot* memoryPlot() const { return memory_; }
  QTableWidget* table() const { return table_; }
  QLineEdit* lengthsEdit() const { return lengths_; }
  QSpinBox* repeatsSpin() const { return repeats_; }
  const std::vector<analysis::ProfilePoint>& points() const { return points_; }

 public slots:
  void start();
  void onPoint(const mabert::analysis::ProfilePoint& p);
  void onDone(const QString& csv);

 signals:
  void profileRequested(const mabert::ModelConfig& cfg, const QStringList& schedules,
                        const mabert::analysis::ProfileOptions& opt);
  void stopRequested();
  void done();

 private:
  void redraw();
  ModelConfig cfg_;
  bool valid_ = true, blocked_ = false;
  QLineEdit* lengths_;
  QComboBox *mode_, *scan_, *device_;
  QSpinBox *repeats_, *batch_;
  QPushButton *run_, *stop_;
  QLabel* status_;
  QCustomPlot *latency_, *memory_;
  QTableWidget* table_;
  std::vector<analysis::ProfilePoint> points_;
  QString csv_;
};

}  // namespace mabert::ui

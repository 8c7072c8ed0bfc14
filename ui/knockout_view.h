// Layer knock-out on the loaded run: a button per layer switches it off (its residual block
// passes its input through) for the typed input, so the views and the prediction show what the
// layer did; "Measure" runs the task's held-out evaluation with each layer (and each kind) off
// and draws the metric's drop as a bar per row — "which layers does recall depend on" in one click.
#pragma once

#include "worker.h"

#include <QWidget>

class QCustomPlot;
class QHBoxLayout;
class QLabel;
class QPushButton;
class QTableWidget;

namespace mabert::ui {

class KnockOutView : public QWidget {
  Q_OBJECT
 public:
  explicit KnockOutView(QWidget* parent = nullptr);
  // The loaded model: one toggle per layer; Measure needs a fine-tuning run (a task to score).
  void setModel(const ModelSource& source);
  std::vector<int64_t> knockedOut() const;
  QPushButton* layerButton(int i) const;
  QPushButton* measureButton() const { return measure_; }
  QCustomPlot* plot() const { return plot_; }
  QTableWidget* table() const { return table_; }

 public slots:
  void onMeasured(const std::vector<mabert::jobs::KnockOutRow>& rows, const QString& metric);
  void onFailed(const QString& message);

 signals:
  void knockOutChanged(const std::vector<int64_t>& layers);  // for the typed input
  void measureRequested(const QString& run_dir);

 private:
  QHBoxLayout* toggles_;
  std::vector<QPushButton*> buttons_;
  QPushButton* measure_;
  QLabel* status_;
  QCustomPlot* plot_;
  QTableWidget* table_;
  QString run_dir_;
};

}  // namespace mabert::ui

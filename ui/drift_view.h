// Padding drift (paper Figs. 3–4): cosine distance of the final [CLS] or of the valid-token mean
// against the number of added pads, one curve per masking configuration. Computed on demand on
// the loaded model, and refreshed live during training on a fixed probe set.
#pragma once

#include "worker.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QTableWidget;

namespace mabert::ui {

class DriftView : public QWidget {
  Q_OBJECT
 public:
  explicit DriftView(QWidget* parent = nullptr);

  analysis::DriftOptions options() const;
  // `source` describes where the curves come from (a loaded model, or training step N).
  void setCurves(const std::vector<analysis::DriftCurve>& curves, const QString& source);
  const std::vector<analysis::DriftCurve>& curves() const { return curves_; }
  QCustomPlot* plot() const { return plot_; }
  QTableWidget* table() const { return table_; }
  QComboBox* measureCombo() const { return measure_; }

 public slots:
  void setBusy(bool busy);

 signals:
  void computeRequested(const mabert::analysis::DriftOptions& opt);
  void stopRequested();
  void curvesChanged(const QString& source);

 private:
  void redraw();
  QComboBox *side_, *measure_;
  QCheckBox* log_;
  QPushButton *compute_, *stop_;
  QLabel* source_;
  QCustomPlot* plot_;
  QTableWidget* table_;
  std::vector<analysis::DriftCurve> curves_;
};

}  // namespace mabert::ui

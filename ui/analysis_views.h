// The analysis views on the loaded model for a typed sentence (or pair): MAP weights, SSM state
// trajectories and attention maps, all drawn from one Inspection computed on the analysis
// worker; plus the padding-drift and efficiency views, hosted in one AnalysisPanel.
#pragma once

#include "worker.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QCPColorMap;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QSpinBox;
class QTabWidget;
class QTextBrowser;

namespace mabert::ui {

class DriftView;
class EfficiencyView;
class KnockOutView;

class MapView : public QWidget {
  Q_OBJECT
 public:
  explicit MapView(QWidget* parent = nullptr);
  void show(const analysis::Inspection& r);
  // Whether the pooling was trained (ModelSource::pooling_trained); when not, a notice says the
  // weights are an initialisation and they are drawn in grey.
  void setPoolingTrained(bool trained, const QString& why);
  // The task and class names of the model's head (empty: no task), for the prediction line.
  void setTask(const QString& task, const QStringList& class_names);
  QLabel* prediction() const { return prediction_; }
  bool poolingTrained() const { return trained_; }
  QLabel* notice() const { return notice_; }
  QCustomPlot* plot() const { return plot_; }
  QTextBrowser* text() const { return text_; }

 private:
  bool trained_ = true;
  QString task_;
  QStringList class_names_;
  QLabel* notice_;
  QLabel* prediction_;
  QTextBrowser* text_;
  QCustomPlot* plot_;
};

class SsmView : public QWidget {
  Q_OBJECT
 public:
  explicit SsmView(QWidget* parent = nullptr);
  void setLayers(const std::vector<int>& layers, const ModelConfig& cfg);
  int layer() const;  // −1 when the model has no SSM layer
  void show(const analysis::Inspection& r);
  QList<QCustomPlot*> plots() const { return {heat_plot_, lines_plot_, path_plot_, delta_plot_}; }
  QComboBox* layerCombo() const { return layer_; }

 signals:
  void layerChanged();

 private:
  void drawChannels();
  QComboBox* layer_;
  QLineEdit* channels_;
  QCustomPlot *heat_plot_, *lines_plot_, *path_plot_, *delta_plot_;
  QCPColorMap* heat_ = nullptr;
  analysis::Inspection last_;
};

class AttentionView : public QWidget {
  Q_OBJECT
 public:
  explicit AttentionView(QWidget* parent = nullptr);
  void setLayers(const std::vector<int>& layers, const ModelConfig& cfg);
  int layer() const;
  void show(const analysis::Inspection& r);
  QCustomPlot* plot() const { return plot_; }
  QComboBox* layerCombo() const { return layer_; }
  QComboBox* headCombo() const { return head_; }

 signals:
  void layerChanged();

 private:
  void draw();
  void updateTicks();
  QComboBox *layer_, *head_;
  QCustomPlot* plot_;
  QCPColorMap* map_ = nullptr;
  analysis::Inspection last_;
};

class AnalysisPanel : public QWidget {
  Q_OBJECT
 public:
  explicit AnalysisPanel(QWidget* parent = nullptr);

  void setModel(const ModelSource& source);
  MapView* mapView() const { return map_; }
  SsmView* ssmView() const { return ssm_; }
  AttentionView* attentionView() const { return attention_; }
  DriftView* driftView() const { return drift_; }
  EfficiencyView* efficiencyView() const { return efficiency_; }
  KnockOutView* knockOutView() const { return knockout_; }
  QTabWidget* tabs() const { return tabs_; }
  QLineEdit* sentence() const { return sentence_; }
  QLineEdit* pair() const { return pair_; }
  QSpinBox* pads() const { return pads_; }
  QCheckBox* leftPad() const { return left_; }
  quint64 lastSerial() const { return serial_; }
  bool hasModel() const { return has_model_; }
  QLabel* notice() const { return notice_; }

  nlohmann::json state() const;
  void restore(const nlohmann::json& j);

 public slots:
  void requestInspection();
  // Issues the pending (debounced) request now, if any; otherwise a fresh one.
  void inspectNow();
  void onInspected(const mabert::analysis::Inspection& r, quint64 serial);
  // Shows why the latest inspection could not be made (the views keep the previous one).
  void onInspectFailed(const QString& message);

 signals:
  void inspectRequested(const QString& a, const QString& b, const mabert::analysis::InspectOptions& opt, quint64 serial);
  void inspectionShown(const mabert::analysis::Inspection& r, quint64 serial);

 private:
  QLineEdit *sentence_, *pair_;
  QSpinBox* pads_;
  QCheckBox* left_;
  QLabel* model_label_;
  QLabel* notice_;  // over-long input or a failed inspection, in words; hidden otherwise
  QTabWidget* tabs_;
  MapView* map_;
  SsmView* ssm_;
  AttentionView* attention_;
  DriftView* drift_;
  EfficiencyView* efficiency_;
  KnockOutView* knockout_;
  qint64 answer_token_ = -1;
  QTimer* debounce_;
  quint64 serial_ = 0;
  bool has_model_ = false;
};

}  // namespace mabert::ui

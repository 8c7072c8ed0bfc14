// Data and runs: the corpus / tokenizer / GLUE task pickers, training options, the start, pause
// and stop buttons, live curves of loss, learning rate and evaluation metrics, and the run
// history from the shared registry (reopen, compare on one plot, load for analysis).
#pragma once

#include "worker.h"

#include <nlohmann/json.hpp>

#include <QWidget>

#include <functional>
#include <vector>

class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QFormLayout;
class QGroupBox;
class QHBoxLayout;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTreeWidget;

namespace mabert::ui {

class TrainPanel : public QWidget {
  Q_OBJECT
 public:
  explicit TrainPanel(QWidget* parent = nullptr);

  void setDesign(const ModelConfig& cfg, bool valid);
  void setRegistryPath(const QString& path) { registry_ = path; }
  QString registryPath() const { return registry_; }
  void setRunsRoot(const QString& dir) { runs_root_ = dir; }
  // Sentences used as the fixed probe set for live padding drift.
  void setProbeSentences(const QStringList& s) { probes_ = s; }
  QStringList probeSentences() const { return probes_; }
  QString runsRoot() const { return runs_root_; }

  // A request for a job of `kind` from the current fields.
  TrainRequest request(jobs::JobKind kind) const;
  bool running() const { return running_; }

  nlohmann::json state() const;
  void restore(const nlohmann::json& j);  // tolerant: missing fields keep their values

  QCustomPlot* lossPlot() const { return loss_plot_; }
  QCustomPlot* evalPlot() const { return eval_plot_; }
  QCustomPlot* comparePlot() const { return compare_plot_; }
  QTreeWidget* history() const { return history_; }
  QPushButton* button(const QString& name) const;  // pretrain finetune evaluate pause stop
  QLineEdit* field(const QString& name) const;     // corpus tokenizer data init eval_run runs_root

  // Loss curves (step, loss) read from run folders' metrics.jsonl; a torn last line is skipped.
  static QVector<QPair<double, double>> readLossCurve(const QString& run_dir, QString* note = nullptr);

 public slots:
  void onStarted(const QString& run_dir);
  void onStep(const mabert::train::StepStats& s);
  void onPaused(qint64 step);
  void onEvaluated(const mabert::train::EvalStats& e);
  void onMessage(const QString& m);
  void onFinished(const mabert::ui::TrainOutcome& o);
  void refreshHistory();
  void compareChecked();
  // Export `run_dir` for Python into `out_dir` (the History button asks for the folder first).
  void exportRun(const QString& run_dir, const QString& out_dir, bool force);
  void onExported(const QString& out_dir, const QString& summary);
  void onExportFailed(const QString& message);

 signals:
  void startRequested(const mabert::ui::TrainRequest& request);
  void pauseRequested(bool paused);
  void stopRequested();
  void loadRunRequested(const QString& run_dir);
  void reopenRunRequested(const QString& run_dir);
  void exportRequested(const QString& run_dir, const QString& out_dir, bool force);
  void exportShown(const QString& out_dir, bool ok);  // the panel reported an export's end
  void runFinished(const mabert::ui::TrainOutcome& o);
  void stepShown(qint64 step);  // after the GUI drew a step (tests wait on GUI-thread signals only)
  void pausedShown(qint64 step);  // the worker confirmed the pause took hold
  void recallDemoStarted(const QString& run_dir);  // the recall demo's run folder, before it starts

 private:
  // The constructor's parts, each building (and wiring) one area of the panel.
  QGroupBox* buildDataBox();
  QGroupBox* buildTrainingBox();
  QHBoxLayout* buildJobButtons();
  QWidget* buildLivePlots();
  QWidget* buildHistory();
  QString kindName() const { return QString::fromUtf8(jobs::to_string(current_kind_)); }  // the running job's
  void setRunning(bool r);
  void start(jobs::JobKind kind);
  // Starts `rq` (a request built from the fields, or the recall demo's) as a job of `kind`.
  void startRequest(const TrainRequest& rq);
  // The recall demo: the calibrated small hybrid on the smallest MQAR that shows attention recall.
  void startRecallDemo();
  void addRecallFields(QFormLayout* form);  // the recall tasks in the task list, their pairs
  QString selectedRun() const;
  void exportSelected();  // asks for the folder (and whether to replace it), then exportRun

  ModelConfig design_;
  bool design_valid_ = true, running_ = false;
  QString registry_, runs_root_;
  jobs::JobKind current_kind_ = jobs::JobKind::Pretrain;
  QStringList probes_;
  QLineEdit *corpus_, *tokenizer_, *data_, *init_, *eval_run_, *runs_root_edit_;
  QComboBox *task_, *device_, *precision_, *split_;
  void setDeviceAndPrecision(train::TrainOptions& o) const;  // the Device and Precision fields
  train::TrainOptions trainingOptions() const;               // the Training box
  QString newRunsRoot() const;                               // where new run folders go
  // One job button per job kind, in JobKind's order (jobForms, train_panel.cpp: a new kind is a
  // row there): what the button says, whether it needs a valid design, what must be chosen
  // before it starts (empty: nothing), the job from the fields (a new run folder named for it),
  // and where a finished run of the kind is offered next (may be empty).
  struct JobForm {
    jobs::JobKind kind;
    const char *name, *label, *tip;
    bool needs_design;
    std::function<QString()> missing;
    std::function<jobs::JobSpec()> spec;
    std::function<void(const QString&)> finished;
    QPushButton* button = nullptr;  // made from the above by buildJobButtons
  };
  std::vector<JobForm> jobForms();
  std::vector<JobForm> forms_;
  QSpinBox *vocab_, *steps_, *batch_, *max_len_, *eval_every_, *pairs_;
  QDoubleSpinBox* lr_;
  QPushButton *pause_, *stop_, *export_, *recall_demo_;
  QProgressBar* progress_;
  QLabel* status_;
  QPlainTextEdit* log_;
  QCustomPlot *loss_plot_, *eval_plot_, *compare_plot_;
  QTreeWidget* history_;
  QMap<QString, int> eval_graph_;  // metric → graph index
};

}  // namespace mabert::ui

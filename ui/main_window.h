// The studio's window: the schedule composer in a dock, and tabs for data & runs and for the
// analysis views; menus for projects, plot export and the presentation font. It owns the two
// worker threads and wires the widgets to them with queued connections only.
#pragma once

#include "worker.h"

#include <nlohmann/json.hpp>

#include <QElapsedTimer>
#include <QMainWindow>

#include <memory>

class QCustomPlot;
class QLabel;
class QTabWidget;

namespace mabert::ui {

class AnalysisPanel;
class Composer;
class ExperimentsPanel;
class TrainPanel;

// Measures how long the GUI event loop is kept from running: a 5 ms timer records the longest
// gap between its ticks beyond the interval.
class StallMonitor : public QObject {
 public:
  explicit StallMonitor(QObject* parent = nullptr);
  void reset();
  double maxStallMs() const { return max_ms_; }
  double meanTickMs() const { return ticks_ ? total_ms_ / ticks_ : 0; }
  int64_t ticks() const { return ticks_; }

 private:
  QElapsedTimer clock_;
  double last_ = 0, max_ms_ = 0, total_ms_ = 0;
  int64_t ticks_ = 0;
};

struct StudioOptions {
  QString project;     // open this project file
  bool fresh = false;  // ignore the autosaved session; start on the demo
  bool autosave = true;
  // On the demo, without the autosaved session and without saving one: a window that leaves no
  // trace (tests, the GUI monkey).
  static StudioOptions scratch() {
    StudioOptions o;
    o.fresh = true, o.autosave = false;
    return o;
  }
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(const StudioOptions& opt = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  Composer* composer() const { return composer_; }
  TrainPanel* trainPanel() const { return train_; }
  AnalysisPanel* analysis() const { return analysis_; }
  ExperimentsPanel* experiments() const { return experiments_; }
  QTabWidget* tabs() const { return tabs_; }
  TrainWorker* trainWorker() const { return train_worker_; }
  AnalysisWorker* analysisWorker() const { return analysis_worker_; }
  StallMonitor* stallMonitor() const { return stall_; }
  QString loadedRun() const { return loaded_run_; }
  // The longest event-loop stall between the last run's start and its end (ms).
  double runStallMs() const { return run_stall_ms_; }

  nlohmann::json projectState() const;
  // Applies a project (tolerant of missing sections). Returns false with a message box on error.
  bool applyProject(const nlohmann::json& j, const QString& source);
  bool saveProject(const QString& path);
  bool openProject(const QString& path);
  // The ready demo: shipped corpus, the tiny MMTMMT design, 300 steps at length 64.
  void loadDemo();
  // Loads a shipped trained model (a run folder under resources/models) into the analysis views
  // and shows them, with `sentence` typed when given. The composer keeps its design.
  void openShippedModel(const QString& dir, const QString& sentence = {});
  void setPresentationMode(bool on);
  // Writes every plot of the window as PNG (and optionally PDF/SVG) into `dir`; returns the files.
  QStringList exportAllPlots(const QString& dir, const QStringList& formats = {"png"});
  // The same, one plot per turn of the event loop, so the window answers while it writes (File →
  // Export all plots); plotsExported reports the files. A second request while one runs is refused
  // (false).
  bool startExportAllPlots(const QString& dir, const QStringList& formats);
  bool exportingPlots() const { return export_ != nullptr; }

 signals:
  void modelLoaded(const mabert::ui::ModelSource& source);
  void plotsExported(const QString& dir, const QStringList& files);
  // Requests to the workers (queued: they live on their own threads).
  void loadRunRequested(const QString& run_dir);
  void trainRequested(const mabert::ui::TrainRequest& request);
  void gridRequested(const QString& grid_file, const QString& out_dir, const QString& registry, quint64 ticket);
  void driftRequested(const QStringList& sentences, const mabert::analysis::DriftOptions& options);
  void initModelRequested(const mabert::ModelConfig& cfg, const QString& tokenizer, const QString& corpus,
                          const QString& work_dir);

 protected:
  void closeEvent(QCloseEvent* e) override;

 private:
  // Runs `work`; an error it throws is shown in a warning box titled `title` (and false returned).
  bool warnOnError(const QString& title, const std::function<void()>& work);
  void buildMenus();
  void wire();             // the workers' request signals, then each part below
  void wireComposer();     // the design → the panels that depend on it
  void wireTraining();     // Data & runs ↔ the training worker; finished runs into the views
  void wireAnalysis();     // the analysis views ↔ the analysis worker
  void wireExperiments();  // grids, queued on the training thread
  void wireKnockOut();     // the Knock-out view ↔ the analysis worker
  void wireRecallDemo();   // Data & runs' recall demo: train, then open the attention view on an example
  void initUntrainedModel();
  void setProbesFromCorpus();
  // Every plot of the window with the file name (without extension) its export gets.
  QList<QPair<QCustomPlot*, QString>> plotsToExport() const;
  void exportNextPlot();
  struct PlotExport;
  std::unique_ptr<PlotExport> export_;

  StudioOptions opt_;
  Composer* composer_;
  TrainPanel* train_;
  AnalysisPanel* analysis_;
  ExperimentsPanel* experiments_;
  QTabWidget* tabs_;
  TrainWorker* train_worker_;
  AnalysisWorker* analysis_worker_;
  QThread *train_thread_, *analysis_thread_;
  StallMonitor* stall_;
  QLabel *status_model_, *status_stall_;
  QString project_path_, loaded_run_, recall_demo_run_;
  bool model_is_untrained_ = true;
  QTimer* reinit_;
  int base_font_size_ = 0;
  double run_stall_ms_ = 0;
};

}  // namespace mabert::ui

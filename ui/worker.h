// The two background workers of the studio. Each lives in its own QThread; the GUI talks to
// them only through queued signals and a few atomics, so the window never waits on LibTorch.
//   TrainWorker    — pretraining, fine-tuning and evaluation through the core trainer, with
//                    live step/eval signals and padding drift on fixed probes during training.
//   AnalysisWorker — owns the model being inspected (a loaded run, or a freshly initialised
//                    one from the composer) and runs inspections, drift and efficiency profiles,
//                    and exports runs for Python.
#pragma once

#include "analysis/drift.h"
#include "analysis/efficiency.h"
#include "analysis/inspect.h"
#include "experiments/grid.h"
#include "jobs/runner.h"

#include <QObject>
#include <QString>
#include <QStringList>
#include <QThread>

#include <atomic>
#include <memory>

namespace mabert::ui {

// A job from the training panel: what to run (jobs::run takes it as it is), where it is recorded,
// and the padding-drift probes shown live while a training job runs.
struct TrainRequest {
  jobs::JobSpec job;
  std::string registry;
  std::vector<std::string> probe_sentences;  // padding drift during training; empty = none
  int64_t probe_every = 25;
  quint64 ticket = 0;  // TrainWorker::issue() when it was requested (0: a stop before it began is not seen)
};

struct TrainOutcome {
  QString run_dir, message;
  train::RunStatus status = train::RunStatus::Failed;
  QString statusName() const { return QString::fromUtf8(train::to_string(status)); }
  std::map<std::string, double> metrics;
};

class TrainWorker : public QObject {
  Q_OBJECT
 public:
  // Safe to call from any thread. issue() numbers a job as it is requested (before it is queued to
  // this worker's thread), so a stop asked for before the worker begins it holds (train::Control).
  quint64 issue() { return control_.issue(); }
  void requestStop() { control_.request_stop(); }
  void setPaused(bool p) { control_.set_paused(p); }
  bool paused() const { return control_.paused(); }

 public slots:
  void run(const mabert::ui::TrainRequest& request);
  // Runs (or resumes) an ablation grid file into out_dir on this thread (runs queue behind
  // training, so the two never compete for the cores).
  void runGrid(const QString& grid_file, const QString& out_dir, const QString& registry, quint64 ticket);

 signals:
  void started(const QString& run_dir);
  void step(const mabert::train::StepStats& s);
  void pausedAt(qint64 step);  // the pause took hold after this step
  void evaluated(const mabert::train::EvalStats& e);
  void message(const QString& text);
  void drift(qint64 step, const std::vector<mabert::analysis::DriftCurve>& curves);
  void finished(const mabert::ui::TrainOutcome& outcome);
  void gridCell(const mabert::experiments::CellResult& cell);
  void gridFinished(const QString& status, const QString& markdown, const QString& message);

 private:
  train::Hooks hooks();  // signals for every report, this worker's control
  std::function<void(MaBert&, int64_t)> drift_probe(const TrainRequest& rq);

  train::Control control_;
};

struct ModelSource {
  QString description;  // "run …" or "untrained …"
  ModelConfig config;
  QString run_dir;      // empty for an untrained model
  // Whether the pooling's weights were ever trained: MLM pretraining never trains MAP's (or attn's)
  // score layer, only fine-tuning does; the MAP view says so rather than drawing initial weights
  // as if they meant something. Poolings without parameters (cls, mean, masked_mean) count as trained.
  bool pooling_trained = false;
  // A fine-tuned run's GLUE task and what its classes mean (empty otherwise), for the prediction
  // the MAP view shows beside the weights.
  QString task;
  QStringList class_names;
  // A recall run: a held-out example as text (what the views should show first) and the slot
  // token whose answers the MAP view lists; empty / −1 otherwise.
  QString example;
  qint64 answer_token = -1;
};

// What the analysis worker was asked to do: its failure signal says which, and the views route by it.
enum class AnalysisTask { LoadRun, KnockOut, InitModel, Inspect, Drift, Profile, Export };
QString to_qstring(AnalysisTask t);  // the words the status bar shows ("load run", "knock-out", ...)

class AnalysisWorker : public QObject {
  Q_OBJECT
 public:
  // Ends the job in progress (drift, profile, knock-out sweep) at its next check.
  void requestStop() { stop_ = true; }
  // The window is closing: the job in progress ends at its next check and a job still queued
  // does not start (a queued slot may run before the thread's event loop sees quit()).
  void shutDown() {
    closing_ = true;
    stop_ = true;
  }

 public slots:
  // A run folder (its best checkpoint if present) with its tokenizer.
  void loadRun(const QString& run_dir);
  // A freshly initialised model of the composer's design, with the given tokenizer (or one
  // trained on `corpus` into `work_dir` when tokenizer is empty). Seeded, so reproducible.
  void initModel(const mabert::ModelConfig& cfg, const QString& tokenizer, const QString& corpus, const QString& work_dir);
  void inspect(const QString& a, const QString& b, const mabert::analysis::InspectOptions& opt, quint64 serial);
  void drift(const QStringList& sentences, const mabert::analysis::DriftOptions& opt);
  void profile(const mabert::ModelConfig& cfg, const QStringList& schedules, const mabert::analysis::ProfileOptions& opt);
  // `mabert export --format hf` for a run folder (History's "Export for Python…").
  void exportRun(const QString& run_dir, const QString& out_dir, bool force);
  // Layers switched off in the inspected model (for the typed input; 0-based).
  void setKnockOut(const std::vector<int64_t>& layers);
  // The knock-out sweep of a fine-tuned run on its task's held-out data (jobs::knock_out_sweep).
  void knockOutSweep(const QString& run_dir);

 signals:
  void modelReady(const mabert::ui::ModelSource& source);
  void inspected(const mabert::analysis::Inspection& result, quint64 serial);
  void driftReady(const std::vector<mabert::analysis::DriftCurve>& curves);
  void profilePoint(const mabert::analysis::ProfilePoint& p);
  void profileDone(const QString& csv);
  void exported(const QString& out_dir, const QString& summary);
  void knockOutMeasured(const std::vector<mabert::jobs::KnockOutRow>& rows, const QString& metric);
  void failed(mabert::ui::AnalysisTask task, const QString& message);

 private:
  MaBert model_{nullptr};
  std::unique_ptr<Tokenizer> tok_;
  int64_t max_len_ = 512;
  std::atomic<bool> stop_{false}, closing_{false};
  // A long job starts with the stop flag cleared, unless the window is closing.
  void beginJob() { stop_ = closing_.load(); }
};

// Registers the types above for queued connections (call once, before connecting).
void register_worker_types();

// Starts `worker` in a new thread owned by `parent`; the thread is stopped and joined when the
// parent is destroyed. Returns the thread.
QThread* start_in_thread(QObject* worker, QObject* parent, const QString& name);

}  // namespace mabert::ui

Q_DECLARE_METATYPE(mabert::ui::TrainRequest)
Q_DECLARE_METATYPE(mabert::ui::TrainOutcome)
Q_DECLARE_METATYPE(mabert::ui::AnalysisTask)
Q_DECLARE_METATYPE(mabert::ui::ModelSource)
Q_DECLARE_METATYPE(mabert::experiments::CellResult)
Q_DECLARE_METATYPE(mabert::ModelConfig)
Q_DECLARE_METATYPE(std::vector<mabert::jobs::KnockOutRow>)
Q_DECLARE_METATYPE(std::vector<int64_t>)
Q_DECLARE_METATYPE(mabert::train::StepStats)
Q_DECLARE_METATYPE(mabert::train::EvalStats)
Q_DECLARE_METATYPE(mabert::analysis::Inspection)
Q_DECLARE_METATYPE(mabert::analysis::InspectOptions)
Q_DECLARE_METATYPE(mabert::analysis::DriftOptions)
Q_DECLARE_METATYPE(mabert::analysis::ProfileOptions)
Q_DECLARE_METATYPE(mabert::analysis::ProfilePoint)
Q_DECLARE_METATYPE(std::vector<mabert::analysis::DriftCurve>)

#include "main_window.h"

#include "analysis_views.h"
#include "composer.h"
#include "data/corpus.h"
#include "drift_view.h"
#include "efficiency_view.h"
#include "experiments_panel.h"
#include "knockout_view.h"
#include "plot_util.h"
#include "places.h"
#include "train_panel.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QPointer>
#include <QScrollArea>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>
#include <QUndoStack>
#include <qcustomplot.h>

namespace mabert::ui {

struct MainWindow::PlotExport {
  QString dir;
  QStringList formats, written;
  QList<QPair<QPointer<QCustomPlot>, QString>> plots;  // a plot may go (a view rebuilt) meanwhile
  int next = 0;
};

// --- StallMonitor --------------------------------------------------------------------------------

StallMonitor::StallMonitor(QObject* parent) : QObject(parent) {
  auto* timer = new QTimer(this);
  timer->setTimerType(Qt::PreciseTimer);
  timer->setInterval(5);
  clock_.start();
  connect(timer, &QTimer::timeout, this, [this] {
    const double now = static_cast<double>(clock_.nsecsElapsed()) / 1e6;
    const double gap = now - last_;
    if (ticks_ > 0) {
      max_ms_ = std::max(max_ms_, gap - 5.0);
      static const bool debug = qEnvironmentVariableIsSet("MABERT_STALL_DEBUG");
      if (debug && gap - 5.0 > 30) qInfo("stall of %.1f ms ending at t=%.1f ms", gap - 5.0, now);
      total_ms_ += gap;
    }
    ++ticks_;
    last_ = now;
  });
  timer->start();
}

void StallMonitor::reset() {
  max_ms_ = 0, total_ms_ = 0, ticks_ = 0;
  last_ = static_cast<double>(clock_.nsecsElapsed()) / 1e6;
}

// --- MainWindow ----------------------------------------------------------------------------------

MainWindow::MainWindow(const StudioOptions& opt, QWidget* parent) : QMainWindow(parent), opt_(opt) {
  register_worker_types();
  setWindowTitle("MaBERT Studio");
  resize(1500, 950);
  base_font_size_ = QApplication::font().pointSize();

  composer_ = new Composer;
  auto* dock = new QDockWidget("Schedule composer", this);
  dock->setObjectName("composer_dock");
  auto* scroll = new QScrollArea;
  scroll->setWidget(composer_);
  scroll->setWidgetResizable(true);
  dock->setWidget(scroll);
  dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
  addDockWidget(Qt::LeftDockWidgetArea, dock);
  dock->setMinimumWidth(330);

  tabs_ = new QTabWidget;
  train_ = new TrainPanel;
  analysis_ = new AnalysisPanel;
  tabs_->addTab(train_, "Data && runs");
  experiments_ = new ExperimentsPanel;
  tabs_->addTab(analysis_, "Analysis");
  tabs_->addTab(experiments_, "Experiments");
  setCentralWidget(tabs_);

  status_model_ = new QLabel("no model");
  status_stall_ = new QLabel;
  status_stall_->setToolTip("The longest time the window was kept from redrawing since the current run started.");
  statusBar()->addWidget(status_model_, 1);
  statusBar()->addPermanentWidget(status_stall_);
  stall_ = new StallMonitor(this);

  train_worker_ = new TrainWorker;
  analysis_worker_ = new AnalysisWorker;
  train_thread_ = start_in_thread(train_worker_, this, "train-worker");
  analysis_thread_ = start_in_thread(analysis_worker_, this, "analysis-worker");
  reinit_ = new QTimer(this);
  reinit_->setSingleShot(true);
  reinit_->setInterval(400);
  connect(reinit_, &QTimer::timeout, this, &MainWindow::initUntrainedModel);

  train_->setRunsRoot(studio_data_dir() + "/runs");
  buildMenus();
  wire();

  // Start: a project given on the command line, else the last session, else the demo.
  loadDemo();
  bool restored = false;
  if (!opt_.project.isEmpty()) {
    restored = openProject(opt_.project);
  } else if (!opt_.fresh && QFileInfo::exists(autosave_path())) {
    try {
      restored = applyProject(load_project(autosave_path()), autosave_path());
    } catch (const std::exception& e) {
      statusBar()->showMessage(QString("last session not restored: ") + e.what(), 10000);
    }
  }
  // Nothing to show from a session: the shipped fine-tuned model, so the views show learned
  // structure at once (the demo pretraining is still one click away on "Data & runs").
  if (const QString shipped = default_shipped_model(); loaded_run_.isEmpty() && !restored && !shipped.isEmpty())
    openShippedModel(shipped, default_sentence());
  else if (loaded_run_.isEmpty())
    initUntrainedModel();
  train_->refreshHistory();
  // The session is also saved every 30 s, so a crash or a kill loses at most that much setup.
  if (opt_.autosave) {
    auto* autosave = new QTimer(this);
    autosave->setInterval(30000);
    connect(autosave, &QTimer::timeout, this, [this] {
      try {
        save_project(autosave_path(), projectState());
      } catch (const std::exception&) {
      }
    });
    autosave->start();
  }
}

MainWindow::~MainWindow() {
  // Ask long jobs to end so the threads can be joined promptly.
  train_worker_->requestStop();
  analysis_worker_->shutDown();
  for (QThread* t : {train_thread_, analysis_thread_}) {
    t->quit();
    t->wait();
  }
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu("&File");
  file->addAction("New demo project", this, [this] {
    loadDemo();
    initUntrainedModel();
  });
  file->addAction("&Open project…", QKeySequence::Open, this, [this] {
    const QString p = QFileDialog::getOpenFileName(this, "Open project", QString(), "MaBERT Studio project (*.mabert.json *.json)");
    if (!p.isEmpty()) openProject(p);
  });
  file->addAction("&Save project", QKeySequence::Save, this, [this] {
    QString p = project_path_;
    if (p.isEmpty()) p = QFileDialog::getSaveFileName(this, "Save project", "project.mabert.json", "MaBERT Studio project (*.mabert.json)");
    if (!p.isEmpty()) saveProject(p);
  });
  file->addAction("Save project &as…", QKeySequence::SaveAs, this, [this] {
    const QString p = QFileDialog::getSaveFileName(this, "Save project", "project.mabert.json", "MaBERT Studio project (*.mabert.json)");
    if (!p.isEmpty()) saveProject(p);
  });
  file->addAction("Load run for analysis…", this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, "Run folder", train_->runsRoot());
    if (!d.isEmpty()) emit loadRunRequested(d);
  });
  QMenu* shipped = file->addMenu("Open shipped model");
  shipped->setObjectName("shipped_models");
  for (const QString& d : shipped_models())
    shipped->addAction(QDir(d).dirName(), this, [this, d] { openShippedModel(d); });
  shipped->setEnabled(!shipped->isEmpty());
  file->addAction("Export all plots…", this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, "Export every plot (PNG, PDF, SVG) into");
    if (d.isEmpty()) return;
    if (!startExportAllPlots(d, {"png", "pdf", "svg"})) statusBar()->showMessage("an export of the plots is still going", 5000);
  });
  file->addSeparator();
  file->addAction("&Quit", QKeySequence::Quit, this, &QWidget::close);

  QMenu* edit = menuBar()->addMenu("&Edit");
  QAction* undo = composer_->undoStack()->createUndoAction(this, "&Undo");
  undo->setShortcut(QKeySequence::Undo);
  QAction* redo = composer_->undoStack()->createRedoAction(this, "&Redo");
  redo->setShortcut(QKeySequence::Redo);
  edit->addAction(undo);
  edit->addAction(redo);

  QMenu* view = menuBar()->addMenu("&View");
  QAction* present = view->addAction("&Presentation font size");
  present->setCheckable(true);
  present->setShortcut(QKeySequence("Ctrl+Shift+P"));
  present->setObjectName("presentation");
  connect(present, &QAction::toggled, this, &MainWindow::setPresentationMode);

  QMenu* help = menuBar()->addMenu("&Help");
  help->addAction("Concepts", this, [this] {
    QMessageBox::information(
        this, "MaBERT in five lines",
        "<p><b>Layers.</b> T = Transformer (attention over every token), M = Mamba (a selective state-space scan, "
        "linear in length), B = bidirectional Mamba, P = both in parallel. The schedule is the order of the layers.</p>"
        "<p><b>Padding.</b> Batches pad short sentences. Attention masks pad keys, but a scan carries pads into its "
        "state. <b>PSM</b> masks pads before the SSM, after each block and inside the scan (Δ = 0).</p>"
        "<p><b>MAP</b> pools the tokens with learned weights and gives pads exactly zero weight.</p>"
        "<p><b>Padding drift</b> measures how much a sentence's vector moves when pads are added.</p>"
        "<p>Hover any control for its explanation.</p>");
  });
}

void MainWindow::wire() {
  // Requests to the workers: typed signals, delivered queued on the workers' threads.
  connect(this, &MainWindow::loadRunRequested, analysis_worker_, &AnalysisWorker::loadRun);
  connect(this, &MainWindow::initModelRequested, analysis_worker_, &AnalysisWorker::initModel);
  connect(this, &MainWindow::driftRequested, analysis_worker_, &AnalysisWorker::drift);
  connect(this, &MainWindow::trainRequested, train_worker_, &TrainWorker::run);
  connect(this, &MainWindow::gridRequested, train_worker_, &TrainWorker::runGrid);
  wireComposer();
  wireTraining();
  wireAnalysis();
  wireExperiments();
  connect(train_->field("corpus"), &QLineEdit::editingFinished, this, &MainWindow::setProbesFromCorpus);
  wireKnockOut();
  wireRecallDemo();
}

// Composer → everything that depends on the design.
void MainWindow::wireComposer() {
  connect(composer_, &Composer::configChanged, this, [this](const ModelConfig& cfg) {
    train_->setDesign(cfg, composer_->valid());
    analysis_->efficiencyView()->setDesign(cfg, composer_->valid());
    if (model_is_untrained_ && composer_->valid()) reinit_->start();
  });
  train_->setDesign(composer_->config(), composer_->valid());
  analysis_->efficiencyView()->setDesign(composer_->config(), composer_->valid());
}

void MainWindow::wireTraining() {
  connect(train_, &TrainPanel::startRequested, this, [this](TrainRequest rq) {
    stall_->reset();
    analysis_->efficiencyView()->setBlocked(true);
    rq.ticket = train_worker_->issue();  // a stop from now on (the window closing at once) reaches it
    emit trainRequested(rq);
  });
  connect(train_, &TrainPanel::pauseRequested, this, [this](bool p) { train_worker_->setPaused(p); });
  connect(train_, &TrainPanel::stopRequested, this, [this] { train_worker_->requestStop(); });
  connect(train_worker_, &TrainWorker::started, train_, &TrainPanel::onStarted);
  connect(train_worker_, &TrainWorker::step, train_, &TrainPanel::onStep);
  connect(train_worker_, &TrainWorker::pausedAt, train_, &TrainPanel::onPaused);
  connect(train_worker_, &TrainWorker::step, this, [this] {
    status_stall_->setText(QString("UI max stall %1 ms").arg(stall_->maxStallMs(), 0, 'f', 1));
  });
  connect(train_worker_, &TrainWorker::evaluated, train_, &TrainPanel::onEvaluated);
  connect(train_worker_, &TrainWorker::message, train_, &TrainPanel::onMessage);
  connect(train_worker_, &TrainWorker::finished, train_, &TrainPanel::onFinished);
  connect(train_worker_, &TrainWorker::drift, this, [this](qint64 step, const std::vector<analysis::DriftCurve>& c) {
    analysis_->driftView()->setCurves(c, QString("live: training probes at step %1 (left padding)").arg(step));
  });
  connect(train_worker_, &TrainWorker::finished, this, [this](const TrainOutcome& o) {
    run_stall_ms_ = stall_->maxStallMs();
    analysis_->efficiencyView()->setBlocked(false);
    status_stall_->setText(QString("UI max stall during the run %1 ms").arg(run_stall_ms_, 0, 'f', 1));
    // A finished (or stopped) pretraining or fine-tuning run is loaded into the views.
    using train::RunStatus;
    if ((o.status == RunStatus::Finished || o.status == RunStatus::Stopped || o.status == RunStatus::EarlyStopped) &&
        QFileInfo::exists(o.run_dir + "/config.json"))
      emit loadRunRequested(o.run_dir);
  });
  connect(train_, &TrainPanel::loadRunRequested, this, [this](const QString& d) {
    emit loadRunRequested(d);
  });
  connect(train_, &TrainPanel::reopenRunRequested, this, [this](const QString& d) {
    warnOnError("Reopen run", [&] {
      composer_->setConfig(ModelConfig::load((d + "/config.json").toStdString()), "Reopen " + QDir(d).dirName());
      emit loadRunRequested(d);
    });
  });
}

void MainWindow::wireAnalysis() {
  connect(analysis_, &AnalysisPanel::inspectRequested, analysis_worker_, &AnalysisWorker::inspect);
  connect(analysis_worker_, &AnalysisWorker::inspected, analysis_, &AnalysisPanel::onInspected);
  connect(analysis_worker_, &AnalysisWorker::modelReady, this, [this](const ModelSource& s) {
    model_is_untrained_ = s.run_dir.isEmpty();
    loaded_run_ = s.run_dir;
    status_model_->setText("Model: " + s.description);
    analysis_->setModel(s);
    emit modelLoaded(s);
  });
  connect(analysis_worker_, &AnalysisWorker::failed, this, [this](AnalysisTask task, const QString& msg) {
    statusBar()->showMessage(to_qstring(task) + ": " + msg, 15000);
    if (task == AnalysisTask::Inspect) analysis_->onInspectFailed(msg);
    if (task == AnalysisTask::Drift) analysis_->driftView()->setBusy(false);
    if (task == AnalysisTask::Profile) analysis_->efficiencyView()->onDone({});
    if (task == AnalysisTask::Export) train_->onExportFailed(msg);
  });
  connect(train_, &TrainPanel::exportRequested, analysis_worker_, &AnalysisWorker::exportRun);
  connect(analysis_worker_, &AnalysisWorker::exported, train_, &TrainPanel::onExported);
  auto* drift = analysis_->driftView();
  connect(drift, &DriftView::computeRequested, this, [this, drift](const analysis::DriftOptions& o) {
    if (!analysis_->hasModel()) return;
    drift->setBusy(true);
    QStringList probes = train_->probeSentences();
    if (probes.isEmpty()) probes << analysis_->sentence()->text();
    emit driftRequested(probes, o);
  });
  connect(analysis_worker_, &AnalysisWorker::driftReady, this, [this](const std::vector<analysis::DriftCurve>& c) {
    analysis_->driftView()->setCurves(c, "loaded model: " + status_model_->text().mid(7));
  });
  connect(drift, &DriftView::stopRequested, this, [this] { analysis_worker_->requestStop(); });
  auto* eff = analysis_->efficiencyView();
  connect(eff, &EfficiencyView::profileRequested, analysis_worker_, &AnalysisWorker::profile);
  connect(eff, &EfficiencyView::stopRequested, this, [this] { analysis_worker_->requestStop(); });
  connect(analysis_worker_, &AnalysisWorker::profilePoint, eff, &EfficiencyView::onPoint);
  connect(analysis_worker_, &AnalysisWorker::profileDone, eff, &EfficiencyView::onDone);
}

// Experiments run on the training thread, queued behind (never beside) a training run.
void MainWindow::wireExperiments() {
  connect(experiments_, &ExperimentsPanel::runRequested, this, [this](const QString& grid, const QString& out) {
    emit gridRequested(grid, out, train_->registryPath(), train_worker_->issue());
  });
  connect(experiments_, &ExperimentsPanel::stopRequested, this, [this] { train_worker_->requestStop(); });
  connect(train_worker_, &TrainWorker::gridCell, experiments_, &ExperimentsPanel::onCell);
  connect(train_worker_, &TrainWorker::gridFinished, experiments_, &ExperimentsPanel::onFinished);
  connect(train_worker_, &TrainWorker::message, experiments_, &ExperimentsPanel::onMessage);
}

void MainWindow::wireKnockOut() {
  auto* ko = analysis_->knockOutView();
  connect(ko, &KnockOutView::knockOutChanged, analysis_worker_, &AnalysisWorker::setKnockOut);
  connect(ko, &KnockOutView::knockOutChanged, analysis_, &AnalysisPanel::inspectNow);  // queued behind the switch
  connect(ko, &KnockOutView::measureRequested, analysis_worker_, &AnalysisWorker::knockOutSweep);
  connect(analysis_worker_, &AnalysisWorker::knockOutMeasured, ko, &KnockOutView::onMeasured);
  connect(analysis_worker_, &AnalysisWorker::failed, ko, [ko](AnalysisTask task, const QString& msg) {
    if (task == AnalysisTask::KnockOut) ko->onFailed(msg);
  });
}

void MainWindow::wireRecallDemo() {
  // The demo's run, once loaded, opens on the attention view of its first attention layer, with
  // a held-out example typed (AnalysisPanel::setModel types it for any recall run).
  connect(train_, &TrainPanel::recallDemoStarted, this, [this](const QString& run_dir) { recall_demo_run_ = run_dir; });
  connect(analysis_worker_, &AnalysisWorker::modelReady, this, [this](const ModelSource& s) {
    if (recall_demo_run_.isEmpty() || s.run_dir != recall_demo_run_) return;
    recall_demo_run_.clear();
    tabs_->setCurrentWidget(analysis_);
    analysis_->tabs()->setCurrentWidget(analysis_->attentionView());
  });
}

void MainWindow::setProbesFromCorpus() {
  // Sixteen sentences of moderate length from the corpus: the fixed probe set of the drift view.
  QStringList probes;
  const QString corpus = train_->field("corpus")->text();
  if (!corpus.isEmpty() && QFileInfo(corpus).isFile() && QFileInfo(corpus).size() < 64 * 1024 * 1024) {
    try {
      for (const auto& doc : data::read_corpus({corpus.toStdString()}))
        for (const auto& s : doc.sentences) {
          const auto words = QString::fromStdString(s).split(' ', Qt::SkipEmptyParts).size();
          if (words >= 6 && words <= 30 && probes.size() < 16) probes << QString::fromStdString(s);
        }
    } catch (const std::exception&) {
    }
  }
  train_->setProbeSentences(probes);
}

void MainWindow::initUntrainedModel() {
  // Not while a run is going: it would compete for the cores; the run's model is loaded at its end.
  if (!composer_->valid() || train_->running()) return;
  ModelConfig cfg = composer_->config();
  emit initModelRequested(cfg, train_->field("tokenizer")->text(), demo_corpus(), studio_data_dir());
}

void MainWindow::loadDemo() {
  ModelConfig cfg = ModelConfig::preset("tiny");
  cfg.vocab_size = 2000;
  cfg.max_len = 512;
  composer_->setConfig(cfg, "Demo design");
  nlohmann::json data = {{"corpus", demo_corpus().toStdString()}, {"tokenizer", ""}, {"vocab", 2000},
                         {"steps", 300}, {"batch", 32}, {"max_len", 64}, {"lr", 5e-4}, {"eval_every", 100},
                         {"task", "SST-2"}, {"init", ""}, {"eval_run", ""}};
  const QString shared = shared_data_dir();
  data["data"] = shared.isEmpty() ? "" : (shared + "/glue/SST-2").toStdString();
  train_->restore(data);
  setProbesFromCorpus();
  project_path_.clear();
}

void MainWindow::openShippedModel(const QString& dir, const QString& sentence) {
  loaded_run_ = dir;
  if (!sentence.isEmpty()) analysis_->sentence()->setText(sentence);
  tabs_->setCurrentWidget(analysis_);
  emit loadRunRequested(dir);
}

nlohmann::json MainWindow::projectState() const {
  return {{"design", composer_->config().to_json()},
          {"data", train_->state()},
          {"analysis", analysis_->state()},
          {"run", loaded_run_.toStdString()},
          {"presentation", QApplication::font().pointSize() > base_font_size_}};
}

bool MainWindow::warnOnError(const QString& title, const std::function<void()>& work) {
  try {
    work();
    return true;
  } catch (const std::exception& e) {
    QMessageBox::warning(this, title, e.what());
    return false;
  }
}

bool MainWindow::applyProject(const nlohmann::json& j, const QString& source) {
  return warnOnError("Project", [&] {
    if (j.contains("design")) composer_->setConfig(ModelConfig::from_json(j["design"], source.toStdString() + ": design"), "Open project");
    if (j.contains("data")) train_->restore(j["data"]);
    if (j.contains("analysis")) analysis_->restore(j["analysis"]);
    setProbesFromCorpus();
    const QString run = QString::fromStdString(j.value("run", ""));
    if (!run.isEmpty() && QFileInfo::exists(run + "/config.json")) {
      loaded_run_ = run;
      emit loadRunRequested(run);
    } else {
      initUntrainedModel();
    }
  });
}

bool MainWindow::saveProject(const QString& path) {
  return warnOnError("Save project", [&] {
    save_project(path, projectState());
    project_path_ = path;
    statusBar()->showMessage("saved " + path, 5000);
  });
}

bool MainWindow::openProject(const QString& path) {
  nlohmann::json j;
  if (!warnOnError("Open project", [&] { j = load_project(path); }) || !applyProject(j, path)) return false;
  project_path_ = path;
  return true;
}

void MainWindow::setPresentationMode(bool on) {
  QFont f = QApplication::font();
  f.setPointSize(on ? std::max(16, base_font_size_ * 3 / 2) : base_font_size_);
  QApplication::setFont(f);
  for (auto* p : findChildren<QCustomPlot*>()) {
    for (auto* axis : p->axisRect()->axes()) {
      axis->setTickLabelFont(f);
      QFont lf = f;
      lf.setBold(true);
      axis->setLabelFont(lf);
    }
    p->legend->setFont(f);
    p->replot();
  }
}

QList<QPair<QCustomPlot*, QString>> MainWindow::plotsToExport() const {
  QList<QPair<QCustomPlot*, QString>> out;
  QSet<QString> used;
  for (auto* p : findChildren<QCustomPlot*>()) {
    QString name = "plot";
    if (auto* t = qobject_cast<QCPTextElement*>(p->plotLayout()->element(0, 0))) name = t->text();
    name = name.toLower().replace(QRegularExpression("[^a-z0-9]+"), "-").remove(QRegularExpression("^-|-$"));
    QString unique = name;
    for (int i = 2; used.contains(unique); ++i) unique = name + "-" + QString::number(i);
    used.insert(unique);
    out.append({p, unique});
  }
  return out;
}

namespace {
QStringList export_one(QCustomPlot* p, const QString& dir, const QString& name, const QStringList& formats) {
  QStringList written;
  for (const auto& fmt : formats) {
    const QString path = dir + "/" + name + "." + fmt;
    if (export_plot(p, path)) written << path;
  }
  return written;
}
}  // namespace

QStringList MainWindow::exportAllPlots(const QString& dir, const QStringList& formats) {
  QDir().mkpath(dir);
  QStringList written;
  for (const auto& [p, name] : plotsToExport()) written << export_one(p, dir, name, formats);
  return written;
}

bool MainWindow::startExportAllPlots(const QString& dir, const QStringList& formats) {
  if (export_) return false;
  QDir().mkpath(dir);
  export_ = std::make_unique<PlotExport>();
  export_->dir = dir, export_->formats = formats;
  for (const auto& [p, name] : plotsToExport()) export_->plots.append({QPointer<QCustomPlot>(p), name});
  QTimer::singleShot(0, this, &MainWindow::exportNextPlot);  // `this` as context: nothing fires after the window
  return true;
}

void MainWindow::exportNextPlot() {
  if (!export_) return;
  PlotExport& e = *export_;
  if (e.next < e.plots.size()) {
    const auto& [p, name] = e.plots[e.next++];
    if (p) e.written << export_one(p, e.dir, name, e.formats);
    statusBar()->showMessage(QString("exporting plots: %1 of %2").arg(e.next).arg(e.plots.size()));
    QTimer::singleShot(0, this, &MainWindow::exportNextPlot);
    return;
  }
  const auto done = std::move(export_);
  statusBar()->showMessage(QString("%1 files written to %2").arg(done->written.size()).arg(done->dir), 8000);
  emit plotsExported(done->dir, done->written);
}

void MainWindow::closeEvent(QCloseEvent* e) {
  if (train_->running()) {
    const auto answer = QMessageBox::question(this, "A run is going",
                                              "Stop the run (a checkpoint is written) and quit?");
    if (answer != QMessageBox::Yes) return e->ignore();
    train_worker_->requestStop();
  }
  if (opt_.autosave) {
    try {
      save_project(autosave_path(), projectState());
    } catch (const std::exception&) {
    }
  }
  e->accept();
}

}  // namespace mabert::ui

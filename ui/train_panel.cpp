#include "train_panel.h"

#include "data/glue.h"
#include "data/recall.h"
#include "form_util.h"
#include "plot_util.h"
#include "places.h"
#include "runs/registry.h"
#include "train/metrics.h"
#include "util/cpu_features.h"

#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace mabert::ui {

namespace {

QString fmt_eta(double s) {
  if (s <= 0 || !std::isfinite(s)) return "—";
  const int t = static_cast<int>(s + 0.5);
  return QString("%1:%2").arg(t / 60).arg(t % 60, 2, 10, QChar('0'));
}

}  // namespace

TrainPanel::TrainPanel(QWidget* parent) : QWidget(parent) {
  auto* split = new QSplitter(Qt::Horizontal, this);
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(split);
  // Left: inputs, buttons, progress, log.
  auto* left = new QWidget;
  auto* lv = new QVBoxLayout(left);
  lv->addWidget(buildDataBox());
  lv->addWidget(buildTrainingBox());
  lv->addLayout(buildJobButtons());
  progress_ = new QProgressBar;
  lv->addWidget(progress_);
  status_ = new QLabel("idle");
  status_->setObjectName("status");
  lv->addWidget(status_);
  log_ = new QPlainTextEdit;
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(2000);
  lv->addWidget(log_, 1);
  split->addWidget(left);
  // Right: live curves and history.
  auto* tabs = new QTabWidget;
  tabs->addTab(buildLivePlots(), "Live");
  tabs->addTab(buildHistory(), "History");
  split->addWidget(tabs);
  split->setStretchFactor(1, 1);
  setRunning(false);
}

QGroupBox* TrainPanel::buildDataBox() {
  auto* data_box = new QGroupBox("Data");
  auto* df = new QFormLayout(data_box);
  corpus_ = path_row(df, "Corpus", "Text files or a folder for MLM pretraining (blank lines separate documents).", false, this);
  tokenizer_ = path_row(df, "Tokenizer", "A SentencePiece .model file. Leave empty to train one on the corpus into the run folder.", false, this);
  vocab_ = make_spin(100, 200000, 2000, "Vocabulary size of a tokenizer trained on the corpus.");
  df->addRow("Vocabulary", vocab_);
  task_ = new QComboBox;
  for (const auto& t : data::glue_task_names()) task_->addItem(QString::fromStdString(t));
  task_->setToolTip("GLUE task (official TSV layout) or synthetic recall task (generated from the seed; no folder) "
                    "for fine-tuning and evaluation.");
  df->addRow("Task", task_);
  data_ = path_row(df, "Task folder", "The task's folder with train.tsv / dev.tsv, e.g. ../shared/data/glue/SST-2 (GLUE tasks).", true, this);
  addRecallFields(df);
  init_ = path_row(df, "Start from run", "A pretraining run folder to fine-tune from (empty: random initialisation).", true, this);
  eval_run_ = path_row(df, "Evaluate run", "A fine-tuning run folder to evaluate.", true, this);
  split_ = new QComboBox;
  split_->addItems({"dev", "train", "test"});
  df->addRow("Split", split_);
  runs_root_edit_ = path_row(df, "Runs folder", "Where new run folders are created.", true, this);
  return data_box;
}

QGroupBox* TrainPanel::buildTrainingBox() {
  auto* opt_box = new QGroupBox("Training");
  auto* of = new QFormLayout(opt_box);
  steps_ = make_spin(1, 10000000, 300);
  of->addRow("Steps", steps_);
  batch_ = make_spin(1, 4096, 32);
  of->addRow("Batch", batch_);
  max_len_ = make_spin(8, 65536, 64, "Longest sequence in tokens; longer sentences are truncated.");
  of->addRow("Max length", max_len_);
  lr_ = new QDoubleSpinBox;
  lr_->setDecimals(6);
  lr_->setRange(1e-6, 1.0);
  lr_->setSingleStep(1e-4);
  lr_->setValue(5e-4);
  lr_->setToolTip("Peak learning rate (linear warm-up over 6 % of the steps, then linear decay).");
  of->addRow("Learning rate", lr_);
  eval_every_ = make_spin(0, 1000000, 100, "Evaluate every N steps (0: only at the end).");
  of->addRow("Evaluate every", eval_every_);
  device_ = new QComboBox;
  device_->addItem("cpu");
  if (torch::cuda::is_available()) device_->addItem("cuda");
  of->addRow("Device", device_);
  precision_ = new QComboBox;
  precision_->setObjectName("precision");
  precision_->addItems({"fp32", "bf16"});
  precision_->setToolTip(QString::fromStdString(
      "fp32: every product in fp32 (the default; the analysis views always use fp32: padding drift is read at 1e-15).\n"
      "bf16: matrix products autocast to bf16, master weights, optimizer state, LayerNorm, softmax and losses in fp32.\n"
      "This CPU: " + cpu_bf16().describe()));
  of->addRow("Precision", precision_);
  return opt_box;
}

QHBoxLayout* TrainPanel::buildJobButtons() {
  auto* buttons = new QHBoxLayout;
  forms_ = jobForms();
  for (JobForm& f : forms_) {
    f.button = new QPushButton(f.label);
    f.button->setObjectName(f.name);
    f.button->setToolTip(f.tip);
    connect(f.button, &QPushButton::clicked, this, [this, kind = f.kind] { start(kind); });
    buttons->addWidget(f.button);
  }
  pause_ = new QPushButton("Pause");
  pause_->setObjectName("pause");
  pause_->setCheckable(true);
  stop_ = new QPushButton("Stop");
  stop_->setObjectName("stop");
  stop_->setToolTip("Stops after the current step and writes a checkpoint.");
  recall_demo_ = new QPushButton("Recall demo");
  recall_demo_->setObjectName("recall_demo");
  recall_demo_->setToolTip("Trains a small hybrid (MT: a Mamba and an attention layer, width 64) on multi-query associative recall "
                           "in well under a minute on two cores, "
                           "then opens the attention view on a held-out example: the query's attention lands on its key.");
  for (auto* b : {pause_, stop_, recall_demo_}) buttons->addWidget(b);
  connect(recall_demo_, &QPushButton::clicked, this, &TrainPanel::startRecallDemo);
  connect(pause_, &QPushButton::toggled, this, [this](bool p) {
    pause_->setText(p ? "Resume" : "Pause");
    emit pauseRequested(p);
  });
  connect(stop_, &QPushButton::clicked, this, [this] {
    status_->setText("stopping after the current step…");
    emit stopRequested();
  });
  return buttons;
}

QWidget* TrainPanel::buildLivePlots() {
  auto* live = new QWidget;
  auto* rv = new QVBoxLayout(live);
  loss_plot_ = make_plot(live, "Training loss and learning rate", "step", "MLM / task loss");
  loss_plot_->addGraph();
  loss_plot_->graph(0)->setName("loss");
  loss_plot_->graph(0)->setPen(QPen(series_color(0), 2));
  loss_plot_->addGraph(loss_plot_->xAxis, loss_plot_->yAxis2);
  loss_plot_->graph(1)->setName("learning rate");
  loss_plot_->graph(1)->setPen(QPen(series_color(1), 1, Qt::DashLine));
  loss_plot_->yAxis2->setVisible(true);
  loss_plot_->yAxis2->setLabel("learning rate");
  loss_plot_->legend->setVisible(true);
  rv->addWidget(loss_plot_, 3);
  eval_plot_ = make_plot(live, "Evaluation metrics", "step", "value");
  rv->addWidget(eval_plot_, 2);
  return live;
}

QWidget* TrainPanel::buildHistory() {
  auto* hist = new QWidget;
  auto* hv = new QVBoxLayout(hist);
  history_ = new QTreeWidget;
  history_->setObjectName("history");
  history_->setHeaderLabels({"run", "kind", "task", "status", "ranks", "updated", "result"});
  history_->setRootIsDecorated(false);
  history_->setToolTip("Every run of the studio and the CLI (the shared run registry). Tick runs to compare them.");
  hv->addWidget(history_, 2);
  auto* hb = new QHBoxLayout;
  auto* refresh = new QPushButton("Refresh");
  auto* compare = new QPushButton("Compare ticked");
  auto* load = new QPushButton("Load for analysis");
  auto* reopen = new QPushButton("Reopen design");
  export_ = new QPushButton("Export for Python…");
  export_->setObjectName("export");
  export_->setToolTip("A Hugging Face model folder of the selected run (mabert export --format hf): loads with "
                      "transformers' AutoModel / AutoTokenizer, trust_remote_code=True");
  for (auto* b : {refresh, compare, load, reopen, export_}) hb->addWidget(b);
  hv->addLayout(hb);
  compare_plot_ = make_plot(hist, "Loss curves of the ticked runs", "step", "loss");
  compare_plot_->legend->setVisible(true);
  hv->addWidget(compare_plot_, 2);
  connect(refresh, &QPushButton::clicked, this, &TrainPanel::refreshHistory);
  connect(compare, &QPushButton::clicked, this, &TrainPanel::compareChecked);
  connect(load, &QPushButton::clicked, this, [this] {
    if (!selectedRun().isEmpty()) emit loadRunRequested(selectedRun());
  });
  connect(reopen, &QPushButton::clicked, this, [this] {
    if (!selectedRun().isEmpty()) emit reopenRunRequested(selectedRun());
  });
  connect(export_, &QPushButton::clicked, this, &TrainPanel::exportSelected);
  connect(history_, &QTreeWidget::itemDoubleClicked, this, [this](QTreeWidgetItem* it) {
    emit loadRunRequested(it->data(0, Qt::UserRole).toString());
  });
  return hist;
}

QPushButton* TrainPanel::button(const QString& name) const { return findChild<QPushButton*>(name); }

QLineEdit* TrainPanel::field(const QString& name) const {
  if (name == "corpus") return corpus_;
  if (name == "tokenizer") return tokenizer_;
  if (name == "data") return data_;
  if (name == "init") return init_;
  if (name == "eval_run") return eval_run_;
  if (name == "runs_root") return runs_root_edit_;
  return nullptr;
}

void TrainPanel::setDesign(const ModelConfig& cfg, bool valid) {
  design_ = cfg;
  design_valid_ = valid;
  setRunning(running_);
}

void TrainPanel::setRunning(bool r) {
  running_ = r;
  for (const JobForm& f : forms_) f.button->setEnabled(!r && (design_valid_ || !f.needs_design));
  pause_->setEnabled(r);
  stop_->setEnabled(r);
  if (!r) {
    pause_->blockSignals(true);
    pause_->setChecked(false);
    pause_->setText("Pause");
    pause_->blockSignals(false);
  }
}

train::TrainOptions TrainPanel::trainingOptions() const {
  train::TrainOptions t;
  t.steps = steps_->value();
  t.batch_size = batch_->value();
  t.max_len = max_len_->value();
  t.lr = lr_->value();
  t.eval_every = eval_every_->value();
  t.log_every = 1;
  setDeviceAndPrecision(t);
  return t;
}

QString TrainPanel::newRunsRoot() const { return runs_root_edit_->text().isEmpty() ? runs_root_ : runs_root_edit_->text(); }

std::vector<TrainPanel::JobForm> TrainPanel::jobForms() {
  const auto root = [this] { return newRunsRoot().toStdString(); };
  const auto recall = [this] { return data::is_recall_task(task_->currentText().toStdString()); };
  std::vector<JobForm> forms;
  forms.push_back({
      jobs::JobKind::Pretrain, "pretrain", "Pretrain",
      "Masked-language-model pretraining: 15 % of tokens are hidden and the model learns to predict them.", true,
      [this] { return corpus_->text().isEmpty() ? QString("Choose a corpus to pretrain on.") : QString(); },
      [this, root] {
        jobs::PretrainSpec p;
        p.job.model = design_, p.job.train = trainingOptions();
        if (!corpus_->text().isEmpty()) p.job.corpus = {corpus_->text().toStdString()};
        p.job.tokenizer = tokenizer_->text().toStdString();
        p.job.run_dir = jobs::new_run_dir(root(), jobs::JobKind::Pretrain);
        p.vocab = vocab_->value();
        return jobs::JobSpec(p);
      },
      [this](const QString& run_dir) { init_->setText(run_dir); }});  // the next fine-tuning starts from it
  forms.push_back({
      jobs::JobKind::Finetune, "finetune", "Fine-tune",
      "Train a classification/regression head (and the encoder) on the chosen GLUE task.", true,
      [this, recall] {
        if (recall()) return QString();
        if (data_->text().isEmpty()) return QString("Choose the GLUE task's folder.");
        if (init_->text().isEmpty() && tokenizer_->text().isEmpty())
          return QString("Fine-tuning needs a pretraining run to start from, or a tokenizer for random initialisation.");
        return QString();
      },
      [this, root] {
        train::FinetuneJob f;
        f.model = design_, f.train = trainingOptions();
        f.task = task_->currentText().toStdString();
        if (data::is_recall_task(f.task)) {  // the task's length is the panel's max length
          f.recall.length = max_len_->value();
          f.recall.pairs = pairs_->value();
        }
        f.data_dir = data_->text().toStdString();
        f.init = init_->text().toStdString();
        f.tokenizer = tokenizer_->text().toStdString();
        f.run_dir = jobs::new_run_dir(root(), jobs::JobKind::Finetune, f.task);
        return jobs::JobSpec(f);
      },
      [this](const QString& run_dir) { eval_run_->setText(run_dir); }});  // Evaluate scores it next
  forms.push_back({
      jobs::JobKind::Evaluate, "evaluate", "Evaluate",
      "Scores the chosen fine-tuning run on the split, at the length and padding side it was trained with.", false,
      [this] { return eval_run_->text().isEmpty() ? QString("Choose a fine-tuning run to evaluate.") : QString(); },
      [this] {
        jobs::EvalSpec e;
        // At the length and padding side the run was trained with (the panel's fields are training
        // options), so a run's own dev score is what Evaluate shows, as `mabert eval` does.
        e.job.run = eval_run_->text().toStdString();
        e.job.data_dir = data_->text().toStdString();
        e.job.split = split_->currentText().toStdString();
        e.job.max_len = 0;
        e.record_dir = jobs::new_run_dir(e.job.run, jobs::JobKind::Evaluate, task_->currentText().toStdString());
        return jobs::JobSpec(e);
      },
      {}});
  forms.push_back({
      jobs::JobKind::Tokenizer, "tokenizer", "Tokenizer",
      "Trains a SentencePiece tokenizer of Vocab pieces on the corpus into a new run folder, "
      "and puts it in the Tokenizer field for the next pretraining.", false,
      [this] { return corpus_->text().isEmpty() ? QString("Choose a corpus to train the tokenizer on.") : QString(); },
      [this, root] {
        jobs::TokenizerSpec t;
        t.job.inputs = {corpus_->text().toStdString()};
        t.job.vocab_size = vocab_->value();
        t.record_dir = jobs::new_run_dir(root(), jobs::JobKind::Tokenizer);
        return jobs::JobSpec(t);
      },
      [this](const QString& run_dir) { tokenizer_->setText(run_dir + "/tokenizer.model"); }});
  for (size_t i = 0; i < forms.size(); ++i)  // request() finds a kind's form at the kind's index
    if (forms[i].kind != static_cast<jobs::JobKind>(i)) throw std::logic_error("TrainPanel::jobForms: not in JobKind's order");
  return forms;
}

TrainRequest TrainPanel::request(jobs::JobKind kind) const {
  TrainRequest rq;
  rq.job = forms_.at(static_cast<size_t>(kind)).spec();
  rq.registry = registry_.toStdString();
  if (!data::is_recall_task(task_->currentText().toStdString()))  // drift probes are text; a recall task has its own vocabulary
    for (const auto& s : probes_) rq.probe_sentences.push_back(s.toStdString());
  return rq;
}

void TrainPanel::start(jobs::JobKind kind) {
  if (running_) return;
  const QString problem = forms_.at(static_cast<size_t>(kind)).missing();
  if (!problem.isEmpty()) {
    status_->setText(problem);
    log_->appendPlainText(problem);
    return;
  }
  startRequest(request(kind));
}

void TrainPanel::startRequest(const TrainRequest& rq) {
  if (running_) return;
  current_kind_ = jobs::kind_of(rq.job);
  for (int i = 0; i < 2; ++i) loss_plot_->graph(i)->data()->clear();
  eval_plot_->clearGraphs();
  eval_graph_.clear();
  replot_lazy(loss_plot_);
  replot_lazy(eval_plot_);
  progress_->setValue(0);
  const train::TrainOptions* t = jobs::training_options(rq.job);
  progress_->setMaximum(t ? static_cast<int>(t->steps) : 0);
  setRunning(true);
  status_->setText(kindName() + " starting…");
  emit startRequested(rq);
}

void TrainPanel::addRecallFields(QFormLayout* form) {
  for (const char* t : {"mqar", "needle", "selective-copy"}) task_->addItem(t);
  pairs_ = make_spin(0, 100000, 8,
                     "Recall tasks: key-value pairs (mqar; needle: 0 = as many as fit) or tokens to copy (selective-copy). "
                     "The example length is Max length; docs/TASKS.md describes the tasks.");
  pairs_->setObjectName("recall_pairs");
  form->addRow("Recall pairs", pairs_);
  auto show = [this, form] {
    const bool recall = data::is_recall_task(task_->currentText().toStdString());
    form->setRowVisible(pairs_, recall);
  };
  connect(task_, &QComboBox::currentTextChanged, this, show);
  show();
}

void TrainPanel::startRecallDemo() {
  const train::RecallDemo demo = train::recall_demo();
  TrainRequest rq;
  rq.registry = registry_.toStdString();  // no drift probes: they are text; this task has its own vocabulary
  train::FinetuneJob f;
  f.model = demo.model, f.train = demo.train, f.recall = demo.task;
  f.train.log_every = 1;
  setDeviceAndPrecision(f.train);
  f.task = data::to_string(demo.task.kind);
  f.run_dir = jobs::new_run_dir(newRunsRoot().toStdString(), "recall-demo");
  rq.job = f;
  log_->appendPlainText(QString("recall demo: %1 on %2, %3 steps")
                            .arg(QString::fromStdString(demo.model.schedule), QString::fromStdString(demo.task.label()))
                            .arg(demo.train.steps));
  emit recallDemoStarted(QString::fromStdString(f.run_dir));
  startRequest(rq);
}

void TrainPanel::onPaused(qint64 step) {
  status_->setText(QString("paused after step %1 — Resume continues, Stop writes a checkpoint").arg(step));
  emit pausedShown(step);
}

void TrainPanel::onStarted(const QString& run_dir) { log_->appendPlainText("run folder: " + run_dir); }

void TrainPanel::onStep(const train::StepStats& s) {
  if (qEnvironmentVariableIsSet("MABERT_STALL_DEBUG")) qInfo("step %lld", static_cast<long long>(s.step));
  progress_->setMaximum(static_cast<int>(s.total_steps));
  progress_->setValue(static_cast<int>(s.step));
  status_->setText(QString("%1 step %2/%3 · loss %4 · %5 tok/s · ETA %6")
                       .arg(kindName())
                       .arg(s.step)
                       .arg(s.total_steps)
                       .arg(s.loss, 0, 'f', 4)
                       .arg(s.tokens_per_s, 0, 'f', 0)
                       .arg(fmt_eta(s.eta_s)));
  loss_plot_->graph(0)->addData(static_cast<double>(s.step), s.loss);
  loss_plot_->graph(1)->addData(static_cast<double>(s.step), s.lr);
  loss_plot_->rescaleAxes();
  replot_lazy(loss_plot_);
  emit stepShown(s.step);
}

void TrainPanel::onEvaluated(const train::EvalStats& e) {
  QString line = QString("eval at step %1:").arg(e.step);
  for (const auto& [k, v] : e.metrics) {
    const QString key = QString::fromStdString(k);
    if (key.startsWith("neg_")) continue;  // the trainer's higher-is-better mirror of a loss
    line += QString(" %1=%2").arg(key).arg(v, 0, 'f', 4);
    if (!eval_graph_.contains(key)) {
      eval_graph_[key] = eval_plot_->graphCount();
      auto* g = eval_plot_->addGraph();
      g->setName(key);
      g->setPen(QPen(series_color(eval_plot_->graphCount() - 1), 2));
      g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
    }
    eval_plot_->graph(eval_graph_[key])->addData(static_cast<double>(e.step), v);
  }
  eval_plot_->legend->setVisible(eval_plot_->graphCount() > 0);
  log_->appendPlainText(line);
  eval_plot_->rescaleAxes();
  replot_lazy(eval_plot_);
}

void TrainPanel::onMessage(const QString& m) { log_->appendPlainText(m); }

void TrainPanel::onFinished(const TrainOutcome& o) {
  setRunning(false);
  progress_->setMaximum(std::max(1, progress_->maximum()));
  if (o.status == train::RunStatus::Finished) progress_->setValue(progress_->maximum());
  QString line = kindName() + " " + o.statusName();
  for (const auto& [k, v] : o.metrics)
    if (!QString::fromStdString(k).startsWith("neg_")) line += QString(" · %1 %2").arg(QString::fromStdString(k)).arg(v, 0, 'f', 4);
  if (!o.message.isEmpty()) line += " — " + o.message;
  status_->setText(line);
  log_->appendPlainText(line);
  const auto& offer = forms_.at(static_cast<size_t>(current_kind_)).finished;
  if (o.status != train::RunStatus::Failed && offer) offer(o.run_dir);
  refreshHistory();
  emit runFinished(o);
}

void TrainPanel::refreshHistory() {
  history_->clear();
  try {
    runs::Registry reg(registry_.isEmpty() ? runs::Registry::default_path() : registry_.toStdString());
    for (const auto& r : reg.list()) {
      QString result;
      if (r.metrics.is_object() && r.metrics.contains("final") && r.metrics["final"].is_object())
        for (auto it = r.metrics["final"].begin(); it != r.metrics["final"].end(); ++it)
          if (it.value().is_number()) result += QString("%1=%2 ").arg(QString::fromStdString(it.key())).arg(it.value().get<double>(), 0, 'f', 3);
      auto* it = new QTreeWidgetItem(history_, {QDir(QString::fromStdString(r.id)).dirName(), QString::fromStdString(r.kind),
                                                QString::fromStdString(r.task), QString::fromStdString(r.status),
                                                QString::fromStdString(runs::placement_of(r).text()),
                                                QString::fromStdString(r.updated), result});
      it->setData(0, Qt::UserRole, QString::fromStdString(r.id));
      it->setToolTip(0, QString::fromStdString(r.id));
      it->setCheckState(0, Qt::Unchecked);
    }
  } catch (const std::exception& e) {
    log_->appendPlainText(QString("run registry: ") + e.what());
  }
  for (int c = 0; c < history_->columnCount(); ++c) history_->resizeColumnToContents(c);
}

QString TrainPanel::selectedRun() const {
  auto* it = history_->currentItem();
  return it ? it->data(0, Qt::UserRole).toString() : QString();
}

void TrainPanel::exportSelected() {
  const QString run = selectedRun();
  if (run.isEmpty()) {
    log_->appendPlainText("export: select a run in the history first");
    return;
  }
  const QString out = QFileDialog::getSaveFileName(this, "Export for Python: new folder", run + "-hf");
  if (out.isEmpty()) return;
  const QDir dir(out);
  bool force = false;
  if (dir.exists() && !dir.isEmpty()) {
    if (QMessageBox::question(this, "Replace folder?", out + " exists and is not empty. Replace it?") != QMessageBox::Yes) return;
    force = true;
  }
  exportRun(run, out, force);
}

void TrainPanel::exportRun(const QString& run_dir, const QString& out_dir, bool force) {
  export_->setEnabled(false);
  log_->appendPlainText("exporting " + run_dir + " → " + out_dir + " …");
  emit exportRequested(run_dir, out_dir, force);
}

void TrainPanel::onExported(const QString& out_dir, const QString& summary) {
  export_->setEnabled(true);
  log_->appendPlainText("exported " + summary + " to " + out_dir +
                        "\n  Python: AutoModel.from_pretrained(\"" + out_dir + "\", trust_remote_code=True)");
  emit exportShown(out_dir, true);
}

void TrainPanel::onExportFailed(const QString& message) {
  export_->setEnabled(true);
  log_->appendPlainText("export failed: " + message);
  emit exportShown(QString(), false);
}

QVector<QPair<double, double>> TrainPanel::readLossCurve(const QString& run_dir, QString* note) {
  QVector<QPair<double, double>> out;
  try {
    const train::MetricsLog log = train::read_metrics_log((run_dir + "/metrics.jsonl").toStdString());
    for (const auto& r : log.records) {
      const auto loss = r.values.find("loss");
      if (r.event == "step" && loss != r.values.end() && std::isfinite(loss->second))
        out.push_back({static_cast<double>(r.step), loss->second});
    }
    if (note && !log.notes.empty())  // a torn line after a crash: reported, not fatal
      *note = QString::fromStdString(log.notes.front()) +
              (log.notes.size() > 1 ? QString(" (and %1 more lines)").arg(log.notes.size() - 1) : QString());
  } catch (const std::exception& e) {
    if (note) *note = e.what();
    out.clear();
  }
  return out;
}

void TrainPanel::compareChecked() {
  compare_plot_->clearGraphs();
  int n = 0;
  for (int i = 0; i < history_->topLevelItemCount(); ++i) {
    auto* it = history_->topLevelItem(i);
    if (it->checkState(0) != Qt::Checked) continue;
    QString note;
    const auto curve = readLossCurve(it->data(0, Qt::UserRole).toString(), &note);
    if (!note.isEmpty()) log_->appendPlainText(note);
    auto* g = compare_plot_->addGraph();
    g->setName(it->text(0) + (it->text(2).isEmpty() ? "" : " (" + it->text(2) + ")"));
    g->setPen(QPen(series_color(n++), 2));
    for (const auto& [x, y] : curve) g->addData(x, y);
  }
  compare_plot_->rescaleAxes();
  replot_lazy(compare_plot_);
}

void TrainPanel::setDeviceAndPrecision(train::TrainOptions& o) const {
  o.device = parse_device(device_->currentText().toStdString());
  o.bf16 = precision_->currentText() == "bf16";
}

nlohmann::json TrainPanel::state() const {
  return {{"corpus", corpus_->text().toStdString()},     {"tokenizer", tokenizer_->text().toStdString()},
          {"vocab", vocab_->value()},                    {"task", task_->currentText().toStdString()}, {"recall_pairs", pairs_->value()},
          {"data", data_->text().toStdString()},         {"init", init_->text().toStdString()},
          {"eval_run", eval_run_->text().toStdString()}, {"split", split_->currentText().toStdString()},
          {"runs_root", runs_root_edit_->text().toStdString()},
          {"steps", steps_->value()},                    {"batch", batch_->value()},
          {"max_len", max_len_->value()},                {"lr", lr_->value()},
          {"eval_every", eval_every_->value()},          {"device", device_->currentText().toStdString()},
          {"precision", precision_->currentText().toStdString()}};
}

void TrainPanel::restore(const nlohmann::json& j) {
  auto str = [&](const char* k, QLineEdit* e) {
    if (j.contains(k) && j[k].is_string()) e->setText(QString::fromStdString(j[k].get<std::string>()));
  };
  auto num = [&](const char* k, QSpinBox* s) {
    if (j.contains(k) && j[k].is_number_integer()) s->setValue(j[k].get<int>());
  };
  auto combo = [&](const char* k, QComboBox* c) {
    if (j.contains(k) && j[k].is_string()) {
      const int i = c->findText(QString::fromStdString(j[k].get<std::string>()));
      if (i >= 0) c->setCurrentIndex(i);
    }
  };
  str("corpus", corpus_), str("tokenizer", tokenizer_), str("data", data_), str("init", init_), str("eval_run", eval_run_);
  str("runs_root", runs_root_edit_);
  num("vocab", vocab_), num("steps", steps_), num("batch", batch_), num("max_len", max_len_), num("eval_every", eval_every_);
  num("recall_pairs", pairs_);
  combo("task", task_), combo("split", split_), combo("device", device_), combo("precision", precision_);
  if (j.contains("lr") && j["lr"].is_number()) lr_->setValue(j["lr"].get<double>());
}

}  // namespace mabert::ui

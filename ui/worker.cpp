#include "worker.h"

#include "data/glue.h"
#include "data/recall.h"
#include "interop/hf_export.h"
#include "util/enum_names.h"
#include "util/errors.h"

#include <QDir>

#include <filesystem>

namespace mabert::ui {
namespace fs = std::filesystem;

// --- TrainWorker -------------------------------------------------------------------------------

train::Hooks TrainWorker::hooks() {
  train::Hooks h;
  h.control = &control_;
  h.on_step = [this](const train::StepStats& s) { emit step(s); };
  h.on_paused = [this](int64_t s) { emit pausedAt(s); };
  h.on_eval = [this](const train::EvalStats& e) { emit evaluated(e); };
  h.on_message = [this](const std::string& m) { emit message(QString::fromStdString(m)); };
  return h;
}

// Padding drift on fixed probes while the model trains, with the run's tokenizer (read from the
// run folder at the first probe, so a tokenizer the job trains itself is the one used).
std::function<void(MaBert&, int64_t)> TrainWorker::drift_probe(const TrainRequest& rq) {
  struct Probes {
    std::vector<Encoding> encoded;
    bool made = false;
  };
  auto probes = std::make_shared<Probes>();
  const train::TrainOptions* t = jobs::training_options(rq.job);
  const int64_t trained_len = t ? t->max_len : 48;
  return [this, probes, sentences = rq.probe_sentences, run_dir = jobs::run_dir_of(rq.job),
          max_len = std::min<int64_t>(trained_len, 48)](MaBert& m, int64_t s) {
    if (!probes->made) {
      probes->made = true;
      const Tokenizer tok = Tokenizer::load(run_dir + "/tokenizer.model");
      probes->encoded = analysis::make_probes(tok, sentences, sentences.size(), max_len);
    }
    if (probes->encoded.empty()) return;
    analysis::DriftOptions d;
    d.pads = {0, 1, 2, 4, 8, 16};
    d.left = true;  // forward scans carry pads into valid tokens only when pads come first
    emit drift(s, analysis::padding_drift(m, probes->encoded, d, control_.stop_flag()));
  };
}

void TrainWorker::run(const TrainRequest& rq) {
  control_.begin(rq.ticket);
  TrainOutcome out;
  out.run_dir = QString::fromStdString(jobs::run_dir_of(rq.job));
  try {
    emit started(out.run_dir);
    train::Hooks h = hooks();
    if (!rq.probe_sentences.empty() && rq.probe_every > 0) {  // a training job calls them (evaluation does not)
      h.probe_every = rq.probe_every;
      h.on_probe = drift_probe(rq);
    }
    const train::TrainResult r = jobs::run(rq.job, {rq.registry, {{"source", "studio"}}}, h).result;
    out.status = r.status;
    out.message = QString::fromStdString(r.message);
    out.metrics = r.final_metrics;
  } catch (const std::exception& e) {
    out.status = train::RunStatus::Failed;
    out.message = QString::fromStdString(describe_error(e));
  }
  emit finished(out);
}

void TrainWorker::runGrid(const QString& grid_file, const QString& out_dir, const QString& registry, quint64 ticket) {
  control_.begin(ticket);
  try {
    const experiments::Grid g = experiments::Grid::load(grid_file.toStdString());
    experiments::GridHooks h;
    h.control = &control_;
    h.registry = registry.toStdString();
    h.on_message = [this](const std::string& m) { emit message(QString::fromStdString(m)); };
    h.on_cell = [this](const experiments::CellResult& c) { emit gridCell(c); };
    const auto rep = experiments::run_grid(g, out_dir.toStdString(), h);
    emit gridFinished(control_.stop_requested() ? "stopped" : "finished",
                      QString::fromStdString(experiments::results_markdown(g, rep.cells)),
                      QString("%1 encoders pretrained (%2 reused), %3 cells fine-tuned (%4 reused) in %5 s")
                          .arg(rep.pretrain_runs)
                          .arg(rep.pretrain_reused)
                          .arg(rep.finetune_runs)
                          .arg(rep.finetune_reused)
                          .arg(rep.seconds, 0, 'f', 0));
  } catch (const std::exception& e) {
    emit gridFinished("failed", {}, QString::fromStdString(describe_error(e)));
  }
}

// --- AnalysisWorker ----------------------------------------------------------------------------

void AnalysisWorker::loadRun(const QString& run_dir) {
  if (closing_) return;
  try {
    train::LoadedRun r = train::load_run(run_dir.toStdString());
    model_ = r.model;
    model_->eval();
    tok_ = std::make_unique<Tokenizer>(std::move(r.tokenizer));
    max_len_ = model_->config().max_len;
    const bool learned_pooling = has_score_layer(model_->config().pooling);
    ModelSource source;
    source.description = "run " + run_dir;
    source.config = model_->config();
    source.run_dir = run_dir;
    source.pooling_trained = !learned_pooling || jobs::kind_of_run(r.info) == jobs::JobKind::Finetune;
    const std::string task = r.info.value("task", "");
    if (data::is_recall_task(task)) {
      data::RecallTask t = data::RecallTask::from_json(r.info.value("recall", nlohmann::json::object()), run_dir.toStdString() + "/run.json: recall");
      source.task = QString::fromStdString(task);
      source.answer_token = data::RecallVocab(t).slot;
      source.example = QString::fromStdString(data::recall_text(t, data::recall_example(t, t.eval_seed, 0).ids));
    } else if (!task.empty()) {
      const data::GlueTask& t = data::glue_task(task);
      source.task = QString::fromStdString(t.name);
      for (size_t i = 0; i < t.labels.size(); ++i) source.class_names << QString::fromStdString(data::label_meaning(t, i));
    }
    emit modelReady(source);
  } catch (const std::exception& e) {
    emit failed(AnalysisTask::LoadRun, QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::setKnockOut(const std::vector<int64_t>& layers) {
  try {
    if (model_) model_->set_knock_out(layers);
  } catch (const std::exception& e) {
    emit failed(AnalysisTask::KnockOut, QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::knockOutSweep(const QString& run_dir) {
  try {
    jobs::EvalJob job;
    job.run = run_dir.toStdString();
    jobs::EvalOutcome base;
    beginJob();
    const auto rows = jobs::knock_out_sweep(job, &base, &stop_);
    if (stop_) return emit failed(AnalysisTask::KnockOut, "stopped");
    emit knockOutMeasured(rows, QString::fromStdString(base.metric));
  } catch (const std::exception& e) {
    emit failed(AnalysisTask::KnockOut, QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::initModel(const ModelConfig& cfg_in, const QString& tokenizer, const QString& corpus,
                               const QString& work_dir) {
  try {
    std::string tok_path = tokenizer.toStdString();
    if (tok_path.empty()) {
      const std::string prefix = work_dir.toStdString() + "/untrained-tokenizer";
      tok_path = prefix + ".model";
      fs::create_directories(work_dir.toStdString());
      tok_path = jobs::ensure_tokenizer({corpus.toStdString()}, prefix, 2000, {});
    }
    auto tok = std::make_unique<Tokenizer>(Tokenizer::load(tok_path));
    ModelConfig cfg = cfg_in;
    cfg.vocab_size = tok->vocab_size();
    cfg.head = Head::None;
    cfg.validate();
    model_ = seeded_model(cfg, 0);
    model_->eval();
    tok_ = std::move(tok);
    max_len_ = cfg.max_len;
    ModelSource source;
    source.description = "untrained " + QString::fromStdString(cfg.schedule) + " (random weights)";
    source.config = cfg;
    emit modelReady(source);
  } catch (const std::exception& e) {
    emit failed(AnalysisTask::InitModel, QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::inspect(const QString& a, const QString& b, const analysis::InspectOptions& opt, quint64 serial) {
  if (!model_) {
    emit failed(AnalysisTask::Inspect, "no model loaded: train one, load a run, or use the untrained design");
    return;
  }
  try {
    const std::string sa = a.toStdString(), sb = b.toStdString();
    analysis::InspectOptions o = opt;
    o.max_len = std::min(o.max_len, max_len_);
    emit inspected(analysis::inspect(model_, *tok_, sa, sb.empty() ? nullptr : &sb, o), serial);
  } catch (const std::exception& e) {
    emit failed(AnalysisTask::Inspect, QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::drift(const QStringList& sentences, const analysis::DriftOptions& opt) {
  beginJob();
  if (!model_) {
    emit failed(AnalysisTask::Drift, "no model loaded");
    return;
  }
  try {
    std::vector<std::string> s;
    for (const auto& q : sentences) s.push_back(q.toStdString());
    const auto probes = analysis::make_probes(*tok_, s, s.size(), std::min<int64_t>(max_len_ / 2, 64));
    emit driftReady(analysis::padding_drift(model_, probes, opt, &stop_));
  } catch (const std::exception& e) {
    emit failed(AnalysisTask::Drift, QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::profile(const ModelConfig& cfg, const QStringList& schedules, const analysis::ProfileOptions& opt) {
  beginJob();
  try {
    std::vector<std::string> s;
    for (const auto& q : schedules) s.push_back(q.toStdString());
    const auto points = analysis::profile(cfg, s, opt, [this](const analysis::ProfilePoint& p) { emit profilePoint(p); }, &stop_);
    std::string baseline = s.front();  // all-T when it was profiled
    for (const auto& sc : s)
      if (sc.find_first_not_of('T') == std::string::npos) baseline = sc;
    emit profileDone(QString::fromStdString(analysis::profile_csv(points, baseline)));
  } catch (const std::exception& e) {
    emit failed(AnalysisTask::Profile, QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::exportRun(const QString& run_dir, const QString& out_dir, bool force) {
  if (closing_) return;
  try {
    const interop::HfExportResult r = interop::export_hf({run_dir.toStdString(), out_dir.toStdString(), force, true});
    emit exported(QString::fromStdString(r.out_dir),
                  QString("%1 of %2 (%3, %4 parameters)")
                      .arg(QString::fromStdString(r.checkpoint), QDir(run_dir).dirName(), QString::fromStdString(r.architecture))
                      .arg(r.parameters));
  } catch (const std::exception& e) {
    emit failed(AnalysisTask::Export, QString::fromStdString(describe_error(e)));
  }
}

// --- plumbing ----------------------------------------------------------------------------------

namespace {
constexpr EnumName<AnalysisTask> kAnalysisTaskNames[] = {
    {AnalysisTask::LoadRun, "load run"}, {AnalysisTask::KnockOut, "knock-out"}, {AnalysisTask::InitModel, "initialise model"},
    {AnalysisTask::Inspect, "inspect"},  {AnalysisTask::Drift, "drift"},         {AnalysisTask::Profile, "profile"},
    {AnalysisTask::Export, "export"}};
static_assert(std::size(kAnalysisTaskNames) == 7, "an AnalysisTask without a name");
}  // namespace

QString to_qstring(AnalysisTask t) { return QString::fromUtf8(enum_name(kAnalysisTaskNames, t)); }

void register_worker_types() {
  qRegisterMetaType<TrainRequest>();
  qRegisterMetaType<AnalysisTask>();
  qRegisterMetaType<TrainOutcome>();
  qRegisterMetaType<ModelSource>();
  qRegisterMetaType<experiments::CellResult>();
  qRegisterMetaType<ModelConfig>();
  qRegisterMetaType<train::StepStats>();
  qRegisterMetaType<train::EvalStats>();
  qRegisterMetaType<analysis::Inspection>();
  qRegisterMetaType<analysis::InspectOptions>();
  qRegisterMetaType<analysis::DriftOptions>();
  qRegisterMetaType<analysis::ProfileOptions>();
  qRegisterMetaType<analysis::ProfilePoint>();
  qRegisterMetaType<std::vector<analysis::DriftCurve>>();
  qRegisterMetaType<std::vector<jobs::KnockOutRow>>();
  qRegisterMetaType<std::vector<int64_t>>();
}

QThread* start_in_thread(QObject* worker, QObject* parent, const QString& name) {
  auto* thread = new QThread(parent);
  thread->setObjectName(name);
  worker->moveToThread(thread);
  QObject::connect(thread, &QThread::finished, worker, &QObject::deleteLater);
  thread->start();
  QObject::connect(parent, &QObject::destroyed, thread, [thread] {
    thread->quit();
    thread->wait();
  });
  return thread;
}

}  // namespace mabert::ui

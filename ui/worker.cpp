#include "worker.h"

#include "data/corpus.h"
#include "runs/registry.h"
#include "util/errors.h"

#include <filesystem>

namespace mabert::ui {
namespace fs = std::filesystem;

namespace {

std::string registry_path(const std::string& given) {
  return given.empty() ? runs::Registry::default_path() : given;
}

}  // namespace

// --- TrainWorker -------------------------------------------------------------------------------

void TrainWorker::run(const TrainRequest& rq) {
  stop_ = false;
  pause_ = false;
  TrainOutcome out;
  out.run_dir = QString::fromStdString(rq.run_dir);
  const std::string kind = rq.kind.toStdString();
  const std::string id = fs::absolute(rq.run_dir).lexically_normal().string();
  std::unique_ptr<runs::Registry> reg;
  nlohmann::json cfg = {{"model", rq.model.to_json()}, {"train", rq.train.to_json()}, {"corpus", rq.corpus},
                        {"task", rq.task}, {"from", rq.init}, {"source", "studio"}};
  try {
    reg = std::make_unique<runs::Registry>(registry_path(rq.registry));
    emit started(out.run_dir);
    train::Hooks hooks;
    hooks.stop = &stop_;
    hooks.pause = &pause_;
    hooks.on_step = [this](const train::StepStats& s) { emit step(s); };
    hooks.on_eval = [this](const train::EvalStats& e) { emit evaluated(e); };
    hooks.on_message = [this](const std::string& m) { emit message(QString::fromStdString(m)); };

    train::TrainResult r;
    if (kind == "evaluate") {
      reg->upsert({id, "eval", rq.task, "running", "", "", cfg, nullptr});
      train::LoadedRun run = train::load_run(rq.init);
      const std::string task = rq.task.empty() ? run.info.value("task", "") : rq.task;
      if (task.empty()) throw std::runtime_error(rq.init + "/run.json: not a fine-tuning run (no task)");
      const std::string dir = rq.data_dir.empty() ? run.info.value("data", "") : rq.data_dir;
      const data::GlueSplit split = data::load_glue(task, dir, rq.split);
      emit message(QString("evaluating %1 on %2 %3 (%4 examples)")
                       .arg(QString::fromStdString(rq.init), QString::fromStdString(task), QString::fromStdString(rq.split))
                       .arg(split.examples.size()));
      r.status = "finished";
      r.final_metrics = train::evaluate(run.model, run.tokenizer, split, rq.train.max_len, 64);
      emit evaluated(train::EvalStats{0, r.final_metrics});
    } else {
      fs::create_directories(rq.run_dir);
      reg->upsert({id, kind, rq.task, "running", "", "", cfg, nullptr});
      std::string tokenizer = rq.tokenizer;
      if (tokenizer.empty() && kind == "pretrain") {
        TokenizerTrainOptions to;
        to.inputs = rq.corpus;
        to.model_prefix = rq.run_dir + "/tokenizer";
        to.vocab_size = rq.vocab;
        emit message(QString("training a %1-piece tokenizer on the corpus").arg(rq.vocab));
        tokenizer = Tokenizer::train(to);
      }
      // Padding drift on fixed probes while the model trains (the tokenizer is the run's).
      std::vector<Encoding> probes;
      std::unique_ptr<Tokenizer> probe_tok;
      if (!rq.probe_sentences.empty() && rq.probe_every > 0 && !tokenizer.empty()) {
        probe_tok = std::make_unique<Tokenizer>(Tokenizer::load(tokenizer));
        probes = analysis::make_probes(*probe_tok, rq.probe_sentences, rq.probe_sentences.size(),
                                       std::min<int64_t>(rq.train.max_len, 48));
      }
      if (!probes.empty()) {
        hooks.probe_every = rq.probe_every;
        hooks.on_probe = [this, &probes](MaBert& m, int64_t s) {
          analysis::DriftOptions d;
          d.pads = {0, 1, 2, 4, 8, 16};
          d.left = true;  // forward scans carry pads into valid tokens only when pads come first
          auto curves = analysis::padding_drift(m, probes, d, &stop_);
          emit drift(s, curves);
        };
      }
      if (kind == "pretrain") {
        train::PretrainJob job;
        job.model = rq.model;
        job.corpus = rq.corpus;
        job.tokenizer = tokenizer;
        job.run_dir = rq.run_dir;
        job.train = rq.train;
        r = train::pretrain(job, hooks);
      } else if (kind == "finetune") {
        train::FinetuneJob job;
        job.model = rq.model;
        job.task = rq.task;
        job.data_dir = rq.data_dir;
        job.init = rq.init;
        job.tokenizer = tokenizer;
        job.run_dir = rq.run_dir;
        job.train = rq.train;
        r = train::finetune(job, hooks);
      } else {
        throw std::invalid_argument("unknown job kind '" + kind + "'");
      }
    }
    out.status = QString::fromStdString(r.status);
    out.message = QString::fromStdString(r.message);
    out.metrics = r.final_metrics;
    nlohmann::json metrics = {{"final", r.final_metrics}, {"best", r.best_metrics}, {"steps", r.steps}, {"last_loss", r.last_loss}};
    reg->upsert({id, kind == "evaluate" ? "eval" : kind, rq.task, r.status, "", "", cfg, metrics});
  } catch (const std::exception& e) {
    out.status = "failed";
    out.message = QString::fromStdString(describe_error(e));
    if (reg) {
      try {
        reg->upsert({id, kind == "evaluate" ? "eval" : kind, rq.task, "failed", "", "", cfg, {{"error", describe_error(e)}}});
      } catch (...) {
      }
    }
  }
  emit finished(out);
}

void TrainWorker::runGrid(const QString& grid_file, const QString& out_dir, const QString& registry) {
  stop_ = false;
  try {
    const experiments::Grid g = experiments::Grid::load(grid_file.toStdString());
    experiments::GridHooks h;
    h.stop = &stop_;
    h.registry = registry.toStdString();
    h.on_message = [this](const std::string& m) { emit message(QString::fromStdString(m)); };
    h.on_cell = [this](const experiments::CellResult& c) { emit gridCell(c); };
    const auto rep = experiments::run_grid(g, out_dir.toStdString(), h);
    emit gridFinished(stop_ ? "stopped" : "finished", QString::fromStdString(experiments::results_markdown(g, rep.cells)),
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
  try {
    train::LoadedRun r = train::load_run(run_dir.toStdString());
    model_ = r.model;
    model_->eval();
    tok_ = std::make_unique<Tokenizer>(std::move(r.tokenizer));
    max_len_ = model_->config().max_len;
    emit modelReady({"run " + run_dir, model_->config(), run_dir});
  } catch (const std::exception& e) {
    emit failed("load run", QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::initModel(const ModelConfig& cfg_in, const QString& tokenizer, const QString& corpus,
                               const QString& work_dir) {
  try {
    std::string tok_path = tokenizer.toStdString();
    if (tok_path.empty()) {
      const std::string prefix = work_dir.toStdString() + "/untrained-tokenizer";
      tok_path = prefix + ".model";
      if (!fs::exists(tok_path)) {
        fs::create_directories(work_dir.toStdString());
        TokenizerTrainOptions to;
        to.inputs = {corpus.toStdString()};
        to.model_prefix = prefix;
        to.vocab_size = 2000;
        Tokenizer::train(to);
      }
    }
    auto tok = std::make_unique<Tokenizer>(Tokenizer::load(tok_path));
    ModelConfig cfg = cfg_in;
    cfg.vocab_size = tok->vocab_size();
    cfg.head = "none";
    cfg.validate();
    {
      std::lock_guard<std::mutex> seeded(init_mutex());
      torch::manual_seed(0);
      model_ = MaBert(cfg);
    }
    model_->eval();
    tok_ = std::move(tok);
    max_len_ = cfg.max_len;
    emit modelReady({"untrained " + QString::fromStdString(cfg.schedule) + " (random weights)", cfg, {}});
  } catch (const std::exception& e) {
    emit failed("initialise model", QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::inspect(const QString& a, const QString& b, const analysis::InspectOptions& opt, quint64 serial) {
  if (!model_) {
    emit failed("inspect", "no model loaded: train one, load a run, or use the untrained design");
    return;
  }
  try {
    const std::string sa = a.toStdString(), sb = b.toStdString();
    analysis::InspectOptions o = opt;
    o.max_len = std::min(o.max_len, max_len_);
    emit inspected(analysis::inspect(model_, *tok_, sa, sb.empty() ? nullptr : &sb, o), serial);
  } catch (const std::exception& e) {
    emit failed("inspect", QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::drift(const QStringList& sentences, const analysis::DriftOptions& opt) {
  stop_ = false;
  if (!model_) {
    emit failed("drift", "no model loaded");
    return;
  }
  try {
    std::vector<std::string> s;
    for (const auto& q : sentences) s.push_back(q.toStdString());
    const auto probes = analysis::make_probes(*tok_, s, s.size(), std::min<int64_t>(max_len_ / 2, 64));
    emit driftReady(analysis::padding_drift(model_, probes, opt, &stop_));
  } catch (const std::exception& e) {
    emit failed("drift", QString::fromStdString(describe_error(e)));
  }
}

void AnalysisWorker::profile(const ModelConfig& cfg, const QStringList& schedules, const analysis::ProfileOptions& opt) {
  stop_ = false;
  try {
    std::vector<std::string> s;
    for (const auto& q : schedules) s.push_back(q.toStdString());
    const auto points = analysis::profile(cfg, s, opt, [this](const analysis::ProfilePoint& p) { emit profilePoint(p); }, &stop_);
    std::string baseline = s.front();  // all-T when it was profiled
    for (const auto& sc : s)
      if (sc.find_first_not_of('T') == std::string::npos) baseline = sc;
    emit profileDone(QString::fromStdString(analysis::profile_csv(points, baseline)));
  } catch (const std::exception& e) {
    emit failed("profile", QString::fromStdString(describe_error(e)));
  }
}

// --- plumbing ----------------------------------------------------------------------------------

void register_worker_types() {
  qRegisterMetaType<TrainRequest>();
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

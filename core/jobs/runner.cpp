#include "jobs/runner.h"

#include "analysis/drift.h"
#include "data/corpus.h"
#include "data/recall.h"
#include "data/shards.h"
#include "runs/registry.h"
#include "train/evaluate.h"
#include "tokenize/tokenizer.h"
#include "util/errors.h"
#include "util/files.h"
#include "util/json_text.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <stdexcept>

namespace mabert::jobs {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::optional<JobKind> kind_of_run(const json& run_info) {
  const auto k = run_info.find("kind");
  return k != run_info.end() && k->is_string() ? train::job_kind_named(k->get<std::string>()) : std::nullopt;
}

std::string new_run_dir(const std::string& root, const std::string& name) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  char stamp[80];
  std::snprintf(stamp, sizeof stamp, "%s-%03lld", buf, static_cast<long long>(ms));
  return (fs::path(root) / (name + "-" + stamp)).string();
}

std::string new_run_dir(const std::string& root, JobKind kind, const std::string& task) {
  // The kind's own name ("pretrain", "finetune", "eval"), with the task when there is one.
  return new_run_dir(root, std::string(to_string(kind)) + (task.empty() ? "" : "-" + task));
}

namespace {

std::string run_id(const std::string& dir) { return fs::absolute(dir).lexically_normal().string(); }

dist::World& world_of(const std::shared_ptr<dist::World>& w) {
  static dist::World single;
  return w ? *w : single;
}

// --batch is the global batch: each of the W ranks takes batch / W rows of it.
void check_batch(const train::TrainOptions& t, const dist::World& world) {
  if (t.batch_size % world.size() != 0)
    throw std::invalid_argument("--batch " + std::to_string(t.batch_size) + " is the global batch and must divide by the " +
                                std::to_string(world.size()) + " ranks (each takes batch / ranks examples)");
}

// Every rank must run the same job into the same folder: a hash of the row's config and the folder,
// compared across ranks before anything trains.
void check_same_job(const json& config, const std::string& run_dir, dist::World& world) {
  if (!world.grouped()) return;
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : config.dump() + "\n" + run_id(run_dir)) h = (h ^ c) * 1099511628211ull;
  const auto all = world.all_gather(static_cast<int64_t>(h >> 1));
  std::string differ;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty())
    throw std::runtime_error("rank " + std::to_string(world.rank()) + ": " +
                             (differ.find(',') == std::string::npos ? "rank " + differ + " was" : "ranks " + differ + " were") +
                             " given a different job than rank 0 (model, training options, data or run folder): "
                             "launch every rank with the same command");
}

// Rank 0 (the rank that writes it) holds the run folder's lock for the whole job: a second job
// into the same folder (a second terminal, the studio and the CLI) is refused, naming the holder.
std::unique_ptr<FolderLock> lock_run_folder(const std::string& run_dir, const dist::World& world) {
  if (!world.root()) return nullptr;
  fs::create_directories(run_dir);
  return std::make_unique<FolderLock>(run_dir, "run folder");
}

// A registry row's config: the resolved model, the training options, where it ran, the job's own
// fields and the recording's.
json row_config(json model, json train, int world_size, const std::string& backend, const json& fields, const Recording& rec) {
  json c = {{"model", std::move(model)}, {"train", std::move(train)}, {"world_size", world_size}, {"backend", backend}};
  for (auto it = fields.begin(); it != fields.end(); ++it) c[it.key()] = it.value();
  for (auto it = rec.extra.begin(); it != rec.extra.end(); ++it) c[it.key()] = it.value();
  return c;
}
json row_config(const ModelConfig& resolved, const train::TrainOptions& t, const json& fields, const Recording& rec,
                const dist::World& world) {
  return row_config(resolved.to_json(), t.to_json(), world.size(), world.backend(), fields, rec);
}

}  // namespace

train::TrainResult record_run(const std::string& run_dir, JobKind kind, const std::string& task, const json& config,
                              const Recording& rec, const std::function<train::TrainResult()>& body, bool write_row) {
  if (!write_row || !rec.write) return body();
  runs::Registry reg(rec.registry.empty() ? runs::Registry::default_path() : rec.registry);
  const std::string id = run_id(run_dir);
  reg.upsert({id, to_string(kind), task, to_string(train::RunStatus::Running), "", "", config, nullptr});
  train::TrainResult r;
  try {
    r = body();
  } catch (const std::exception& e) {
    try {
      reg.upsert({id, to_string(kind), task, to_string(train::RunStatus::Failed), "", "", config,
                  {{"error", describe_error(e)}}});
    } catch (...) {  // the original error matters more than a failed row
    }
    throw;
  }
  reg.upsert({id, to_string(kind), task, to_string(r.status), "", "", config, train::to_json(r)});
  return r;
}

void record_finished_run(const std::string& run_dir, JobKind kind, const std::string& task, const json& fields,
                         const std::map<std::string, double>& metrics, const Recording& rec) {
  const json info = read_json_file(run_dir + "/run.json");
  const json config = row_config(read_json_file(run_dir + "/config.json"), info.value("train", json::object()), 1, "none", fields, rec);
  train::TrainResult r;
  r.final_metrics = metrics;
  if (kind == JobKind::Finetune) r.best_metrics = metrics;
  record_run(run_dir, kind, task, config, rec, [&] { return r; });
}

std::string ensure_tokenizer(const std::vector<std::string>& corpus, const std::string& prefix, int vocab,
                             const std::function<void(const std::string&)>& say) {
  const std::string path = prefix + ".model";
  if (fs::exists(path)) return path;
  TokenizerTrainOptions to;
  to.inputs = corpus;
  to.model_prefix = prefix;
  to.vocab_size = vocab;
  if (say) say("training a " + std::to_string(vocab) + "-piece tokenizer on the corpus");
  return data::train_tokenizer(to);
}

namespace {

JobOutcome pretrain(train::PretrainJob job, int vocab, const Recording& rec, const train::Hooks& hooks) {
  dist::World& world = world_of(job.world);
  check_batch(job.train, world);
  const auto lock = lock_run_folder(job.run_dir, world);
  if (job.tokenizer.empty() && !job.shards.empty()) job.tokenizer = data::TokenShards(job.shards).tokenizer_path();
  if (job.tokenizer.empty()) {
    const std::string prefix = job.run_dir + "/tokenizer";
    // On a real corpus this outlasts --dist-timeout: the other ranks wait on the store, not in a collective.
    world.root_first("train the tokenizer", [&] {
      if (!job.train.resume && fs::exists(prefix + ".model")) fs::remove(prefix + ".model");  // a fresh run trains its own
      ensure_tokenizer(job.corpus, prefix, vocab, hooks.on_message);
    });
    job.tokenizer = prefix + ".model";
  }
  const json data = job.shards.empty() ? json{{"corpus", job.corpus}} : json{{"shards", job.shards}};
  const json config = row_config(train::resolved_config(job), job.train, data, rec, world);
  check_same_job(config, job.run_dir, world);
  JobOutcome out{run_id(job.run_dir), {}};
  out.result = record_run(job.run_dir, JobKind::Pretrain, "", config, rec, [&] { return train::pretrain(job, hooks); },
                          world.root());
  return out;
}

JobOutcome finetune(const train::FinetuneJob& job, const Recording& rec, const train::Hooks& hooks) {
  dist::World& world = world_of(job.world);
  check_batch(job.train, world);
  const std::optional<data::RecallTask> recall =
      data::is_recall_task(job.task) ? std::optional(train::recall_task(job)) : std::nullopt;
  const std::string task = recall ? data::to_string(recall->kind) : data::glue_task(job.task).name;
  json fields = {{"task", task}, {"data", job.data_dir}, {"from", job.init}};
  if (recall) fields["recall"] = recall->to_json();
  const json config = row_config(train::resolved_config(job), job.train, fields, rec, world);  // validates the job
  const auto lock = lock_run_folder(job.run_dir, world);
  check_same_job(config, job.run_dir, world);
  JobOutcome out{run_id(job.run_dir), {}};
  out.result = record_run(job.run_dir, JobKind::Finetune, task, config, rec, [&] { return train::finetune(job, hooks); },
                          world.root());
  return out;
}

}  // namespace

// A model's masking flags named as the drift analysis names its configurations ("pre+post+state",
// "none"); the flags are independent in the config, so any combination gets a name.
static std::string psm_name(const ModelConfig& c) {
  std::string s;
  for (const auto& [on, part] : {std::pair{c.psm_pre, "pre"}, std::pair{c.psm_post, "post"}, std::pair{c.psm_state, "state"}})
    if (on) s += (s.empty() ? "" : "+") + std::string(part);
  return s.empty() ? "none" : s;
}

namespace {

// A run loaded once for evaluation under the job's serving conditions; score() runs the split
// with a given set of layers knocked out.
struct Evaluator {
  const EvalJob& job;
  train::LoadedRun r;
  EvalOutcome base;
  bool left = false;
  int64_t max_len = 128;
  std::optional<data::RecallTask> recall;
  std::optional<data::GlueSplit> split;

  explicit Evaluator(const EvalJob& j) : job(j), r(train::load_run(j.run, j.best)) {
    base.task = r.info.value("task", "");
    if (base.task.empty()) throw std::runtime_error(job.run + "/run.json: not a fine-tuning run (no task)");
    // Batches padded on the side, and cut at the length, the run was trained with (run.json's
    // train options), so the run's own dev score is reproduced.
    const auto train_opts = r.info.find("train");
    const bool has_opts = train_opts != r.info.end() && train_opts->is_object();
    left = job.left_padding.value_or(has_opts && train_opts->value("padding", "right") == "left");
    if (!job.psm.empty()) {
      const analysis::MaskConfig m = analysis::mask_config(job.psm);
      r.model->set_psm(m.pre, m.post, m.state);
    }
    base.padding = left ? "left" : "right";
    base.psm = psm_name(r.model->config());
    if (data::is_recall_task(base.task)) {
      json fields = r.info.value("recall", json::object());
      for (auto it = job.recall.begin(); it != job.recall.end(); ++it) {
        // Token ids follow the vocabulary's layout: a run is evaluated on the vocabulary it learned.
        if ((it.key() == "vocab" || it.key() == "noise") && fields.contains(it.key()) && fields[it.key()] != it.value())
          throw std::invalid_argument(std::string(it.key() == "vocab" ? "--task-vocab" : "--noise") + " " + it.value().dump() +
                                      ": the run was trained with " + fields[it.key()].dump() +
                                      ", and the token ids depend on it; it cannot change at evaluation");
        fields[it.key()] = it.value();
      }
      fields["task"] = base.task;
      recall = data::RecallTask::from_json(fields, job.run + "/run.json: recall");
      // Only a table of learned positions bounds the length; scan layers and attention without
      // absolute positions run at any length (needle at growing length evaluates them so).
      const ModelConfig& mc = r.model->config();
      if (mc.position == "learned" && recall->length > mc.max_len)
        throw std::invalid_argument("--length " + std::to_string(recall->length) + " exceeds the model's max_len " +
                                    std::to_string(mc.max_len) + " (its learned positions end there)");
      base.examples = static_cast<size_t>(recall->eval_examples);
      base.metric = "accuracy";
      return;
    }
    if (!job.recall.empty()) throw std::invalid_argument(job.run + ": recall-task options given for a " + base.task + " run");
    const std::string dir = job.data_dir.empty() ? r.info.value("data", "") : job.data_dir;
    split = data::load_glue(base.task, dir, job.split);
    base.examples = split->examples.size();
    base.metric = split->task.metric;
    const json trained_len = has_opts ? train_opts->value("max_len", json()) : json();
    max_len = job.max_len > 0 ? job.max_len : trained_len.is_number_integer() ? trained_len.get<int64_t>() : 128;
  }

  // The metrics with `knock_out` switched off; std::nullopt once `stop` is set (checked before every
  // batch of a GLUE split, whose encoding is kept for the next score: a sweep scores it often).
  std::optional<std::map<std::string, double>> score(const std::vector<int64_t>& knock_out,
                                                     std::vector<train::Prediction>* preds,
                                                     const std::atomic<bool>* stop = nullptr) {
    r.model->set_knock_out(knock_out);
    if (recall) return train::evaluate_recall(r.model, *recall, job.split, job.batch, left);
    if (enc.empty()) enc = train::encode_split(r.tokenizer, *split, max_len);
    return train::evaluate_encoded(r.model, *split, enc, job.batch, preds, left, stop);
  }
  // Each example's length in tokens as the evaluation batches it, in order.
  std::vector<int64_t> lengths() {
    std::vector<int64_t> out;
    if (recall) {
      const uint64_t stream = recall->held_out_stream(job.split);
      for (int64_t i = 0; i < recall->eval_examples; ++i)
        out.push_back(static_cast<int64_t>(data::recall_example(*recall, stream, i).ids.size()));
      return out;
    }
    if (enc.empty()) enc = train::encode_split(r.tokenizer, *split, max_len);
    for (const Encoding& e : enc) out.push_back(static_cast<int64_t>(e.ids.size()));
    return out;
  }
  std::vector<Encoding> enc;
};

}  // namespace

EvalOutcome evaluate(const EvalJob& job, const std::atomic<bool>* stop) {
  Evaluator ev(job);
  EvalOutcome out = ev.base;
  out.pads_per_example = data::pads_per_example(ev.lengths(), job.batch);
  const bool want = !job.predictions.empty();
  if (ev.recall) {
    ev.r.model->set_knock_out(job.knock_out);
    const data::RecallScore s = train::score_recall(ev.r.model, *ev.recall, job.split, job.batch, ev.left);
    out.metrics = s.metrics();
    if (want) {
      std::string tsv = "index\tslots\tright\n";
      for (size_t i = 0; i < s.example_slots.size(); ++i)
        tsv += std::to_string(i) + "\t" + std::to_string(s.example_slots[i]) + "\t" + std::to_string(s.example_right[i]) + "\n";
      write_file_atomic(job.predictions, tsv);
    }
    return out;
  }
  std::vector<train::Prediction> preds;
  const auto metrics = ev.score(job.knock_out, want ? &preds : nullptr, stop);
  if (!metrics) {
    out.stopped = true;
    return out;
  }
  out.metrics = *metrics;
  if (want) {
    std::string tsv = "index\tprediction\n";
    for (size_t i = 0; i < preds.size(); ++i) {
      const double p = preds[i].label;
      tsv += std::to_string(i) + "\t" + (ev.split->task.regression ? std::to_string(p) : ev.split->task.labels[static_cast<size_t>(p)]) + "\n";
    }
    write_file_atomic(job.predictions, tsv);
  }
  return out;
}

std::vector<KnockOutRow> knock_out_sweep(const EvalJob& job, EvalOutcome* base, const std::atomic<bool>* stop) {
  Evaluator ev(job);
  if (base) *base = ev.base;
  const std::string schedule = ev.r.model->config().schedule;
  std::vector<std::pair<std::string, std::vector<int64_t>>> plan = {{"none", {}}};
  for (size_t i = 0; i < schedule.size(); ++i)
    plan.push_back({std::to_string(i) + " (" + schedule[i] + ")", {static_cast<int64_t>(i)}});
  for (char kind : layer_letters()) {
    const std::vector<int64_t> all = layers_of_kind(schedule, kind);
    if (all.size() > 1) plan.push_back({std::string("all ") + kind, all});  // a single layer is already a row
  }
  std::vector<KnockOutRow> rows;
  for (const auto& [what, layers] : plan) {
    auto metrics = ev.score(layers, nullptr, stop);
    if (!metrics) break;
    rows.push_back({what, layers, std::move(*metrics)});
  }
  ev.r.model->set_knock_out({});
  return rows;
}

namespace {

JobOutcome evaluate(const EvalSpec& spec, const Recording& rec, const train::Hooks& hooks) {
  const EvalJob& job = spec.job;
  if (hooks.on_message) hooks.on_message("evaluating " + job.run + " on its " + job.split + " split");
  JobOutcome out{spec.record_dir.empty() ? "" : run_id(spec.record_dir), {}, {}};
  const auto body = [&] {
    out.eval = evaluate(job, hooks.control ? hooks.control->stop_flag() : nullptr);
    train::TrainResult r;
    r.final_metrics = out.eval->metrics;
    if (out.eval->stopped) r.status = train::RunStatus::Stopped, r.message = "stopped before the evaluation ended";
    return r;
  };
  if (spec.record_dir.empty()) {
    out.result = body();
  } else {
    json config = {{"run", job.run}, {"data", job.data_dir}, {"split", job.split}};
    for (auto it = rec.extra.begin(); it != rec.extra.end(); ++it) config[it.key()] = it.value();
    out.result = record_run(spec.record_dir, JobKind::Evaluate, "", config, rec, body);
  }
  if (out.eval->stopped) return out;
  if (hooks.on_message)
    hooks.on_message(out.eval->task + " " + job.split + ": " + std::to_string(out.eval->examples) + " examples");
  if (hooks.on_eval) hooks.on_eval(train::EvalStats{0, out.result.final_metrics});
  return out;
}

}  // namespace

// kind_of reads the kind from the variant's index: each kind's spec sits at its enum value.
static_assert(std::variant_size_v<JobSpec> == train::kJobKinds, "a JobKind without its spec in JobSpec, or one too many");
template <JobKind K, class Spec>
constexpr bool at_its_kind = std::is_same_v<std::variant_alternative_t<static_cast<size_t>(K), JobSpec>, Spec>;
static_assert(at_its_kind<JobKind::Pretrain, PretrainSpec> && at_its_kind<JobKind::Finetune, train::FinetuneJob> &&
              at_its_kind<JobKind::Evaluate, EvalSpec>);

JobKind kind_of(const JobSpec& spec) { return static_cast<JobKind>(spec.index()); }

const std::string& run_dir_of(const JobSpec& spec) {
  if (const auto* p = std::get_if<PretrainSpec>(&spec)) return p->job.run_dir;
  if (const auto* f = std::get_if<train::FinetuneJob>(&spec)) return f->run_dir;
  return std::get<EvalSpec>(spec).record_dir;
}

const train::TrainOptions* training_options(const JobSpec& spec) {
  if (const auto* p = std::get_if<PretrainSpec>(&spec)) return &p->job.train;
  if (const auto* f = std::get_if<train::FinetuneJob>(&spec)) return &f->train;
  return nullptr;
}

JobOutcome run(const JobSpec& spec, const Recording& rec, const train::Hooks& hooks) {
  if (const auto* p = std::get_if<PretrainSpec>(&spec)) return pretrain(p->job, p->vocab, rec, hooks);
  if (const auto* f = std::get_if<train::FinetuneJob>(&spec)) return finetune(*f, rec, hooks);
  return evaluate(std::get<EvalSpec>(spec), rec, hooks);
}

}  // namespace mabert::jobs

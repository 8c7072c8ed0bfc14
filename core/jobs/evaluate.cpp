// Evaluation as a job: a fine-tuned run scored on a split of its task under its serving
// conditions (padding side, masking, knocked-out layers), the knock-out sweep, and the "eval" run
// the studio records.
#include "jobs/common.h"

#include "analysis/drift.h"
#include "data/recall.h"
#include "train/evaluate.h"

#include <stdexcept>

namespace mabert::jobs {
using namespace detail;
using json = nlohmann::json;

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

JobOutcome run(const EvalSpec& spec, const Recording& rec, const train::Hooks& hooks) {
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
  const json config = row_config({{"run", job.run}, {"data", job.data_dir}, {"split", job.split}}, rec);
  out.result = record_run(spec.record_dir, JobKind::Evaluate, "", config, rec, body, !spec.record_dir.empty());
  if (out.eval->stopped) return out;
  if (hooks.on_message)
    hooks.on_message(out.eval->task + " " + job.split + ": " + std::to_string(out.eval->examples) + " examples");
  if (hooks.on_eval) hooks.on_eval(train::EvalStats{0, out.result.final_metrics});
  return out;
}

}  // namespace mabert::jobs

#include "jobs/runner.h"

#include "jobs/common.h"

#include "data/corpus.h"
#include "runs/registry.h"
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

namespace detail {

std::string run_id(const std::string& dir) { return fs::absolute(dir).lexically_normal().string(); }

dist::World& world_of(const std::shared_ptr<dist::World>& w) {
  static dist::World single;
  return w ? *w : single;
}

void check_batch(const train::TrainOptions& t, const dist::World& world) {
  if (t.batch_size % world.size() != 0)
    throw std::invalid_argument("--batch " + std::to_string(t.batch_size) + " is the global batch and must divide by the " +
                                std::to_string(world.size()) + " ranks (each takes batch / ranks examples)");
}

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

std::unique_ptr<FolderLock> lock_run_folder(const std::string& run_dir, const dist::World& world) {
  if (!world.root()) return nullptr;
  fs::create_directories(run_dir);
  return std::make_unique<FolderLock>(run_dir, "run folder");
}

json row_config(const json& fields, const Recording& rec) {
  json c = json::object();
  for (auto it = fields.begin(); it != fields.end(); ++it) c[it.key()] = it.value();
  for (auto it = rec.extra.begin(); it != rec.extra.end(); ++it) c[it.key()] = it.value();
  return c;
}
json row_config(json model, json train, int world_size, const std::string& backend, const json& fields, const Recording& rec) {
  json c = {{"model", std::move(model)}, {"train", std::move(train)}, {"world_size", world_size}, {"backend", backend}};
  c.update(row_config(fields, rec));
  return c;
}
json row_config(const ModelConfig& resolved, const train::TrainOptions& t, const json& fields, const Recording& rec,
                const dist::World& world) {
  return row_config(resolved.to_json(), t.to_json(), world.size(), world.backend(), fields, rec);
}

}  // namespace detail

using detail::row_config;
using detail::run_id;

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

const std::string& run_dir_of(const JobSpec& spec) {
  return std::visit([](const auto& s) -> const std::string& { return run_dir(s); }, spec);
}

const train::TrainOptions* training_options(const JobSpec& spec) {
  return std::visit([](const auto& s) { return training_options(s); }, spec);
}

JobOutcome run(const JobSpec& spec, const Recording& rec, const train::Hooks& hooks) {
  return std::visit([&](const auto& s) { return run(s, rec, hooks); }, spec);
}

}  // namespace mabert::jobs

#include "experiments/grid.h"

#include "data/glue.h"
#include "runs/registry.h"
#include "tokenize/tokenizer.h"
#include "util/files.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <set>
#include <sstream>

namespace mabert::experiments {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

[[noreturn]] void grid_error(const std::string& where, const std::string& field, const std::string& what) {
  throw ConfigError(where + ": field '" + field + "': " + what);
}

void check_keys(const json& j, const std::string& where, const std::string& prefix, const std::set<std::string>& allowed) {
  if (!j.is_object()) grid_error(where, prefix.empty() ? "(top level)" : prefix, "expected an object, got " + j.dump());
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed.count(it.key())) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      grid_error(where, prefix + it.key(), "unknown field (known: " + known + ")");
    }
}

template <typename T>
T get_as(const json& j, const std::string& where, const std::string& field) {
  try {
    return j.get<T>();
  } catch (const json::exception&) {
    grid_error(where, field, "wrong type: " + j.dump());
  }
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

// Training budget fields a grid may set (a subset of TrainOptions).
train::TrainOptions budget(const json& j, const std::string& where, const std::string& section, train::TrainOptions o,
                           int* vocab, int64_t* max_train) {
  std::set<std::string> keys = {"steps", "batch", "max_len", "lr", "warmup", "weight_decay", "clip", "accum", "device"};
  if (vocab) keys.insert("vocab");
  if (max_train) keys.insert("max_train");
  if (section == "pretrain") keys.insert("corpus");
  check_keys(j, where, section + ".", keys);
  auto f = [&](const char* k) { return section + "." + k; };
  if (j.contains("steps")) o.steps = get_as<int64_t>(j["steps"], where, f("steps"));
  if (j.contains("batch")) o.batch_size = get_as<int64_t>(j["batch"], where, f("batch"));
  if (j.contains("accum")) o.grad_accum = get_as<int64_t>(j["accum"], where, f("accum"));
  if (j.contains("max_len")) o.max_len = get_as<int64_t>(j["max_len"], where, f("max_len"));
  if (j.contains("lr")) o.lr = get_as<double>(j["lr"], where, f("lr"));
  if (j.contains("warmup")) o.warmup = get_as<double>(j["warmup"], where, f("warmup"));
  if (j.contains("weight_decay")) o.weight_decay = get_as<double>(j["weight_decay"], where, f("weight_decay"));
  if (j.contains("clip")) o.clip = get_as<double>(j["clip"], where, f("clip"));
  if (j.contains("device")) o.device = get_as<std::string>(j["device"], where, f("device"));
  if (vocab && j.contains("vocab")) *vocab = get_as<int>(j["vocab"], where, f("vocab"));
  if (max_train && j.contains("max_train")) *max_train = get_as<int64_t>(j["max_train"], where, f("max_train"));
  if (o.steps < 1) grid_error(where, f("steps"), "must be >= 1");
  if (o.batch_size < 1) grid_error(where, f("batch"), "must be >= 1");
  if (o.max_len < 4) grid_error(where, f("max_len"), "must be >= 4");
  if (!(o.lr > 0)) grid_error(where, f("lr"), "must be > 0");
  o.log_every = 10;
  return o;
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

std::string fnv_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  std::ostringstream o;
  o << std::hex << std::setw(16) << std::setfill('0') << h;
  return o.str().substr(0, 10);
}

struct Stats {
  double mean = 0, std = 0;
  size_t n = 0;
};
Stats stats(const std::vector<double>& v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    for (double x : v) s.std += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(s.std / static_cast<double>(v.size() - 1));  // sample standard deviation
  }
  return s;
}

std::map<std::pair<std::string, std::string>, std::vector<double>> by_cell(const std::vector<CellResult>& cells) {
  std::map<std::pair<std::string, std::string>, std::vector<double>> m;
  for (const auto& c : cells) m[{c.variant, c.task}].push_back(c.score);
  return m;
}

}  // namespace

Grid Grid::from_json(const json& j, const std::string& where, const std::string& base_dir) {
  check_keys(j, where, "", {"name", "preset", "model", "variants", "pretrain", "finetune", "tasks", "data", "seeds", "comment"});
  Grid g;
  g.source = where;
  g.name = j.contains("name") ? get_as<std::string>(j["name"], where, "name") : fs::path(where).stem().string();
  const std::string preset = j.contains("preset") ? get_as<std::string>(j["preset"], where, "preset") : "tiny";
  try {
    g.base = ModelConfig::preset(preset);
  } catch (const ConfigError& e) {
    grid_error(where, "preset", e.what());
  }
  if (j.contains("model")) {
    json m = g.base.to_json();
    if (!j["model"].is_object()) grid_error(where, "model", "expected an object");
    for (auto it = j["model"].begin(); it != j["model"].end(); ++it) m[it.key()] = it.value();
    g.base = ModelConfig::from_json(m, where + ": model");
  }
  if (!j.contains("variants") || !j["variants"].is_array() || j["variants"].empty())
    grid_error(where, "variants", "expected a non-empty array of {\"name\": ..., model fields ...}");
  std::set<std::string> names;
  for (size_t i = 0; i < j["variants"].size(); ++i) {
    const json& v = j["variants"][i];
    const std::string f = "variants[" + std::to_string(i) + "]";
    if (!v.is_object() || !v.contains("name")) grid_error(where, f, "expected an object with a \"name\"");
    Variant var;
    var.name = get_as<std::string>(v["name"], where, f + ".name");
    if (!names.insert(var.name).second) grid_error(where, f + ".name", "duplicate variant name '" + var.name + "'");
    var.overrides = json::object();
    for (auto it = v.begin(); it != v.end(); ++it)
      if (it.key() != "name") var.overrides[it.key()] = it.value();
    g.variants.push_back(var);
    (void)variant_config(g, g.variants.back());  // validates the overrides, naming the file
  }
  train::TrainOptions pre;
  pre.steps = 300, pre.batch_size = 32, pre.max_len = 64, pre.lr = 5e-4;
  const json& pj = j.contains("pretrain") ? j["pretrain"] : json::object();
  g.pretrain = budget(pj, where, "pretrain", pre, &g.vocab, nullptr);
  if (!pj.contains("corpus")) grid_error(where, "pretrain.corpus", "missing: the text to pretrain on (files or folders)");
  for (const auto& c : get_as<std::vector<std::string>>(pj["corpus"], where, "pretrain.corpus")) g.corpus.push_back(resolve(base_dir, c));
  train::TrainOptions fine;
  fine.steps = 200, fine.batch_size = 32, fine.max_len = 64, fine.lr = 1e-4;
  g.finetune = budget(j.contains("finetune") ? j["finetune"] : json::object(), where, "finetune", fine, nullptr,
                      &g.max_train_examples);
  if (!j.contains("tasks")) grid_error(where, "tasks", "missing: GLUE task names");
  g.tasks = get_as<std::vector<std::string>>(j["tasks"], where, "tasks");
  if (g.tasks.empty()) grid_error(where, "tasks", "expected at least one task");
  for (auto& t : g.tasks) {
    try {
      t = data::glue_task(t).name;
    } catch (const std::exception& e) {
      grid_error(where, "tasks", e.what());
    }
  }
  if (!j.contains("data")) grid_error(where, "data", "missing: the folder holding one folder per GLUE task");
  g.data_dir = resolve(base_dir, get_as<std::string>(j["data"], where, "data"));
  g.seeds = j.contains("seeds") ? get_as<std::vector<uint64_t>>(j["seeds"], where, "seeds") : std::vector<uint64_t>{1};
  if (g.seeds.empty()) grid_error(where, "seeds", "expected at least one seed");
  return g;
}

Grid Grid::load(const std::string& path) {
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::parse_error& e) {
    throw ConfigError(path + ": not valid JSON (" + e.what() + ")");
  }
  return from_json(j, path, fs::path(path).parent_path().string());
}

ModelConfig variant_config(const Grid& grid, const Variant& v) {
  json m = grid.base.to_json();
  for (auto it = v.overrides.begin(); it != v.overrides.end(); ++it) m[it.key()] = it.value();
  ModelConfig c = ModelConfig::from_json(m, grid.source + ": variant '" + v.name + "'");
  c.validate(grid.source + ": variant '" + v.name + "'");
  return c;
}

std::string encoder_key(const Grid& grid, const Variant& v) {
  ModelConfig c = variant_config(grid, v);
  c.pooling = "map", c.head = "none", c.num_labels = 2;  // pretraining does not use them
  json k = {{"model", c.to_json()}, {"train", grid.pretrain.to_json()}, {"corpus", grid.corpus}, {"vocab", grid.vocab}};
  return slug(c.schedule) + "-" + fnv_hex(k.dump());
}

GridReport run_grid(const Grid& grid, const std::string& out_dir, const GridHooks& hooks) {
  const auto t0 = std::chrono::steady_clock::now();
  auto say = [&](const std::string& m) {
    if (hooks.on_message) hooks.on_message(m);
  };
  auto stopped = [&] { return hooks.stop && hooks.stop->load(); };
  fs::create_directories(out_dir);
  runs::Registry reg(hooks.registry.empty() ? runs::Registry::default_path() : hooks.registry);
  GridReport rep;

  // One tokenizer for the whole grid, so every cell sees the same vocabulary.
  const std::string tok_path = out_dir + "/tokenizer.model";
  if (!fs::exists(tok_path)) {
    TokenizerTrainOptions to;
    to.inputs = grid.corpus;
    to.model_prefix = out_dir + "/tokenizer";
    to.vocab_size = grid.vocab;
    say("training a " + std::to_string(grid.vocab) + "-piece tokenizer on the corpus");
    Tokenizer::train(to);
  }
  auto record = [&](const std::string& dir, const std::string& kind, const std::string& task, const std::string& status,
                    const json& config, const json& metrics) {
    reg.upsert({fs::absolute(dir).lexically_normal().string(), kind, task, status, "", "", config, metrics});
  };

  // Pretraining: each distinct encoder once.
  std::map<std::string, std::string> encoder_dir;
  for (const Variant& v : grid.variants) {
    const std::string key = encoder_key(grid, v);
    if (encoder_dir.count(key)) continue;
    const std::string dir = out_dir + "/encoders/" + key;
    encoder_dir[key] = dir;
    if (fs::exists(dir + "/done.json")) {
      ++rep.pretrain_reused;
      say("encoder " + key + ": reusing " + dir);
      continue;
    }
    if (stopped()) break;
    train::PretrainJob job;
    job.model = variant_config(grid, v);
    job.corpus = grid.corpus;
    job.tokenizer = tok_path;
    job.run_dir = dir;
    job.train = grid.pretrain;
    job.train.resume = fs::exists(dir + "/checkpoints");  // an interrupted pretraining continues
    const json cfg = {{"grid", grid.name}, {"model", job.model.to_json()}, {"train", job.train.to_json()}};
    record(dir, "pretrain", "", "running", cfg, nullptr);
    say("pretraining encoder " + key + " (" + job.model.schedule + ") for " + std::to_string(job.train.steps) + " steps");
    train::Hooks h;
    h.stop = hooks.stop;
    const train::TrainResult r = train::pretrain(job, h);
    record(dir, "pretrain", "", r.status, cfg, {{"final", r.final_metrics}, {"steps", r.steps}});
    if (r.status != "finished") throw std::runtime_error("pretraining " + dir + " ended: " + r.status + " " + r.message);
    write_file_atomic(dir + "/done.json", json({{"status", r.status}, {"metrics", r.final_metrics}}).dump(2) + "\n");
    ++rep.pretrain_runs;
  }

  // Fine-tuning: every variant × task × seed; a cell with result.json is read back.
  for (const Variant& v : grid.variants)
    for (const std::string& task : grid.tasks)
      for (uint64_t seed : grid.seeds) {
        if (stopped()) break;
        const std::string dir = out_dir + "/cells/" + slug(v.name) + "/" + task + "/seed-" + std::to_string(seed);
        const std::string result_path = dir + "/result.json";
        CellResult c;
        c.variant = v.name, c.task = task, c.seed = seed, c.run_dir = dir;
        const std::string metric = data::glue_task(task).metric;
        if (fs::exists(result_path)) {
          const json r = json::parse(read_file(result_path));
          c.score = r.at("score").get<double>();
          c.metrics = r.at("metrics").get<std::map<std::string, double>>();
          c.reused = true;
          ++rep.finetune_reused;
        } else {
          if (fs::exists(dir)) remove_tree(dir);  // a half-finished cell starts over
          const ModelConfig mc = variant_config(grid, v);
          train::FinetuneJob job;
          job.task = task;
          job.data_dir = grid.data_dir + "/" + task;
          job.init = encoder_dir.at(encoder_key(grid, v));
          job.pooling = mc.pooling;
          job.run_dir = dir;
          job.train = grid.finetune;
          job.train.seed = seed;
          job.max_train_examples = grid.max_train_examples;
          const json cfg = {{"grid", grid.name}, {"variant", v.name}, {"seed", seed}, {"train", job.train.to_json()}};
          record(dir, "finetune", task, "running", cfg, nullptr);
          say("fine-tuning " + v.name + " on " + task + ", seed " + std::to_string(seed));
          train::Hooks h;
          h.stop = hooks.stop;
          const train::TrainResult r = train::finetune(job, h);
          record(dir, "finetune", task, r.status, cfg, {{"final", r.final_metrics}, {"best", r.best_metrics}});
          if (r.status == "stopped") break;
          if (r.status == "diverged") throw std::runtime_error(dir + ": " + r.message);
          c.metrics = r.best_metrics.empty() ? r.final_metrics : r.best_metrics;
          if (!c.metrics.count(metric)) throw std::runtime_error(dir + ": the evaluation has no '" + metric + "'");
          c.score = c.metrics.at(metric);
          write_file_atomic(result_path, json({{"variant", v.name}, {"task", task}, {"seed", seed}, {"metric", metric},
                                               {"score", c.score}, {"metrics", c.metrics}})
                                                 .dump(2) +
                                             "\n");
          ++rep.finetune_runs;
        }
        if (hooks.on_cell) hooks.on_cell(c);
        rep.cells.push_back(c);
      }

  write_file_atomic(out_dir + "/results.md", results_markdown(grid, rep.cells));
  write_file_atomic(out_dir + "/results.csv", results_csv(grid, rep.cells));
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

std::string results_markdown(const Grid& grid, const std::vector<CellResult>& cells) {
  const auto m = by_cell(cells);
  std::ostringstream o;
  o << std::fixed << std::setprecision(3);
  o << "| " << grid.name << " |";
  for (const auto& t : grid.tasks) o << ' ' << t << " (" << data::glue_task(t).metric << ") |";
  o << " avg |\n|---|";
  for (size_t i = 0; i <= grid.tasks.size(); ++i) o << "---|";
  o << '\n';
  for (const Variant& v : grid.variants) {
    o << "| " << v.name << " |";
    double sum = 0;
    size_t have = 0;
    for (const auto& t : grid.tasks) {
      auto it = m.find({v.name, t});
      if (it == m.end()) {
        o << " — |";
        continue;
      }
      const Stats s = stats(it->second);
      o << ' ' << s.mean << " ± " << s.std << " (" << s.n << ") |";
      sum += s.mean, ++have;
    }
    if (have == grid.tasks.size()) o << ' ' << sum / static_cast<double>(have) << " |\n";
    else o << " — |\n";
  }
  return o.str();
}

std::string results_csv(const Grid& grid, const std::vector<CellResult>& cells) {
  const auto m = by_cell(cells);
  std::ostringstream o;
  o << std::setprecision(6);
  o << "variant,task,metric,mean,std,n,scores\n";
  for (const Variant& v : grid.variants)
    for (const auto& t : grid.tasks) {
      auto it = m.find({v.name, t});
      if (it == m.end()) continue;
      const Stats s = stats(it->second);
      o << '"' << v.name << "\"," << t << ',' << data::glue_task(t).metric << ',' << s.mean << ',' << s.std << ',' << s.n << ",\"";
      for (size_t i = 0; i < it->second.size(); ++i) o << (i ? " " : "") << it->second[i];
      o << "\"\n";
    }
  return o.str();
}

}  // namespace mabert::experiments

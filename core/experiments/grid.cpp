#include "experiments/grid.h"

#include "data/glue.h"
#include "data/recall.h"
#include "experiments/recall_figures.h"
#include "jobs/runner.h"
#include "util/enum_names.h"
#include "util/files.h"
#include "util/json_text.h"

#include <ATen/ATen.h>

#include <atomic>
#include <charconv>
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
constexpr EnumName<Serving> kServingNames[] = {
    {Serving::AsTrained, "as_trained"}, {Serving::OtherSide, "other_side"}, {Serving::Unpadded, "unpadded"}};
static_assert(std::size(kServingNames) == std::size(kServings));
}  // namespace

const char* to_string(Serving s) { return enum_name(kServingNames, s); }

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

// A value as it appears in the file, shortened for messages.
std::string shown(const json& j) {
  std::string s = j.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// Typed reads: the JSON type must match and integers must fit their range (nlohmann's get<>
// would convert 1e300 to an integer, which is undefined behaviour, and wrap 2^40 into an int).
int64_t get_int(const json& j, const std::string& where, const std::string& field, int64_t lo, int64_t hi) {
  if (!j.is_number_integer()) grid_error(where, field, "expected an integer, got " + shown(j));
  // Unsigned JSON integers may exceed int64_t: compare them as uint64_t (lo and hi are >= 0 here).
  const bool in_range = j.is_number_unsigned()
                            ? j.get<uint64_t>() >= static_cast<uint64_t>(lo) && j.get<uint64_t>() <= static_cast<uint64_t>(hi)
                            : j.get<int64_t>() >= lo && j.get<int64_t>() <= hi;
  if (!in_range) grid_error(where, field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + shown(j));
  return j.get<int64_t>();
}

double get_real(const json& j, const std::string& where, const std::string& field, double lo) {
  if (!j.is_number()) grid_error(where, field, "expected a number, got " + shown(j));
  const double v = j.get<double>();
  if (!(v >= lo)) grid_error(where, field, "must be >= " + std::to_string(lo) + ", got " + shown(j));
  return v;
}

std::string get_string(const json& j, const std::string& where, const std::string& field) {
  if (!j.is_string()) grid_error(where, field, "expected a string, got " + shown(j));
  return j.get<std::string>();
}

std::vector<std::string> get_strings(const json& j, const std::string& where, const std::string& field) {
  if (!j.is_array()) grid_error(where, field, "expected an array of strings, got " + shown(j));
  std::vector<std::string> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(get_string(j[i], where, field + "[" + std::to_string(i) + "]"));
  return out;
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

// Training budget fields a grid may set (a subset of TrainOptions).
train::TrainOptions budget(const json& j, const std::string& where, const std::string& section, train::TrainOptions o,
                           int* vocab, int64_t* max_train) {
  std::set<std::string> keys = {"steps", "batch", "max_len", "lr", "warmup", "weight_decay", "clip", "accum", "device", "precision", "padding", "eval_every", "stop_at", "dropout_masks", "bucket"};
  if (vocab) keys.insert("vocab");
  if (max_train) keys.insert("max_train");
  if (section == "pretrain") keys.insert("corpus");
  check_keys(j, where, section + ".", keys);
  auto f = [&](const char* k) { return section + "." + k; };
  // Upper bounds: batch, length and vocabulary size allocations, so they are bounded here
  // rather than taken from the file as they stand.
  if (j.contains("steps")) o.steps = get_int(j["steps"], where, f("steps"), 1, int64_t{1} << 40);
  if (j.contains("batch")) o.batch_size = get_int(j["batch"], where, f("batch"), 1, 1 << 16);
  if (j.contains("accum")) o.grad_accum = get_int(j["accum"], where, f("accum"), 1, 1 << 16);
  if (j.contains("max_len")) o.max_len = get_int(j["max_len"], where, f("max_len"), 4, 1 << 20);
  if (j.contains("eval_every")) o.eval_every = get_int(j["eval_every"], where, f("eval_every"), 0, int64_t{1} << 40);
  if (j.contains("lr")) o.lr = get_real(j["lr"], where, f("lr"), 0);
  if (j.contains("warmup")) o.warmup = get_real(j["warmup"], where, f("warmup"), 0);
  if (j.contains("weight_decay")) o.weight_decay = get_real(j["weight_decay"], where, f("weight_decay"), 0);
  if (j.contains("clip")) o.clip = get_real(j["clip"], where, f("clip"), 0);
  if (j.contains("stop_at")) o.stop_at = get_real(j["stop_at"], where, f("stop_at"), 0);
  if (j.contains("device")) {
    try {
      o.device = parse_device(get_string(j["device"], where, f("device")));
    } catch (const std::invalid_argument& e) {
      grid_error(where, f("device"), e.what());
    }
  }
  if (j.contains("precision")) {
    const std::string p = get_string(j["precision"], where, f("precision"));
    if (p != "fp32" && p != "bf16") grid_error(where, f("precision"), "'" + p + "' is not one of: fp32, bf16");
    o.bf16 = p == "bf16";
  }
  if (j.contains("padding")) {
    const std::string side = get_string(j["padding"], where, f("padding"));
    if (side != "left" && side != "right") grid_error(where, f("padding"), "'" + side + "' is not one of: left, right");
    o.left_padding = side == "left";
  }
  if (j.contains("dropout_masks")) {  // results before keyed masks (2026-12-07) were trained with "stream"
    const std::string m = get_string(j["dropout_masks"], where, f("dropout_masks"));
    if (m != "keyed" && m != "stream") grid_error(where, f("dropout_masks"), "'" + m + "' is not one of: keyed, stream");
    o.keyed_dropout = m == "keyed";
  }
  if (j.contains("bucket")) {  // false: batches in a shuffled order, not sorted by length (they pad as the data does)
    if (!j["bucket"].is_boolean()) grid_error(where, f("bucket"), "expected true or false, got " + shown(j["bucket"]));
    o.bucket = j["bucket"].get<bool>();
  }
  if (vocab && j.contains("vocab")) *vocab = static_cast<int>(get_int(j["vocab"], where, f("vocab"), 6, 1 << 20));
  if (max_train && j.contains("max_train")) *max_train = get_int(j["max_train"], where, f("max_train"), 0, int64_t{1} << 40);
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

// A finished cell's result.json, read back on a rerun (an earlier run wrote it, but it is a
// file on disk like any other: errors name it and the field).
void read_cell_result(const std::string& path, CellResult* c) {
  json r;
  try {
    r = parse_json_text(read_file(path));
  } catch (const JsonTextError& e) {
    throw std::runtime_error(path + ": not valid JSON at " + e.what() + " (delete it to run the cell again)");
  }
  auto bad = [&](const std::string& field, const std::string& what) {
    throw std::runtime_error(path + ": field '" + field + "': " + what + " (delete the file to run the cell again)");
  };
  if (!r.is_object()) bad("(top level)", "expected an object");
  if (!r.contains("score") || !r["score"].is_number()) bad("score", "expected a number");
  if (!r.contains("metrics") || !r["metrics"].is_object()) bad("metrics", "expected an object of numbers");
  c->score = r["score"].get<double>();
  for (const char* k : {"seconds", "steps", "tokens"})
    if (r.contains(k) && !r[k].is_number()) bad(k, "expected a number");
  c->seconds = r.value("seconds", 0.0);
  c->steps = r.value("steps", int64_t{0});
  c->tokens = r.value("tokens", int64_t{0});
  c->metrics.clear();
  for (auto it = r["metrics"].begin(); it != r["metrics"].end(); ++it) {
    if (!it.value().is_number()) bad("metrics." + it.key(), "expected a number");
    c->metrics[it.key()] = it.value().get<double>();
  }
  if (r.contains("train_pads_per_example")) {
    if (!r["train_pads_per_example"].is_number()) bad("train_pads_per_example", "expected a number");
    c->train_pads = r["train_pads_per_example"].get<double>();
  }
  c->served.clear();
  if (r.contains("serving")) {
    if (!r["serving"].is_object()) bad("serving", "expected an object of servings");
    for (Serving s : kServings) {
      const std::string f = std::string("serving.") + to_string(s);
      if (!r["serving"].contains(to_string(s))) continue;
      const json& v = r["serving"][to_string(s)];
      if (!v.is_object() || !v.contains("score") || !v["score"].is_number() || !v.contains("pads_per_example") ||
          !v["pads_per_example"].is_number())
        bad(f, "expected {\"score\": a number, \"pads_per_example\": a number, ...}");
      c->served[s] = {v["score"].get<double>(), v["pads_per_example"].get<double>()};
    }
  }
  c->length_scores.clear(), c->length_errors.clear();
  if (!r.contains("lengths")) return;
  if (!r["lengths"].is_object()) bad("lengths", "expected an object of lengths to {\"accuracy\": a} or {\"error\": why}");
  for (auto it = r["lengths"].begin(); it != r["lengths"].end(); ++it) {
    const std::string f = "lengths." + it.key();
    int64_t len = 0;
    const auto [end, ec] = std::from_chars(it.key().data(), it.key().data() + it.key().size(), len);
    if (ec != std::errc() || end != it.key().data() + it.key().size() || len <= 0) bad(f, "expected a positive length as the key");
    const json& v = it.value();
    if (v.is_object() && v.contains("accuracy") && v["accuracy"].is_number()) {
      c->length_scores[len] = v["accuracy"].get<double>();
    } else if (v.is_object() && v.contains("error") && v["error"].is_string()) {
      c->length_errors[len] = v["error"].get<std::string>();
    } else {
      bad(f, "expected {\"accuracy\": a number} or {\"error\": a message}");
    }
  }
}

// A finished recall cell evaluated at other lengths (its best checkpoint, the task's held-out
// stream): {"<length>": {"accuracy": a}} or {"<length>": {"error": why}} where the model cannot
// run at that length (learned positions end at max_len) — recorded, not skipped.
json scores_at_lengths(const std::string& run_dir, const std::vector<int64_t>& lengths) {
  json out = json::object();
  for (int64_t len : lengths) {
    jobs::EvalJob ej;
    ej.run = run_dir;
    ej.recall = {{"length", len}};
    try {
      out[std::to_string(len)] = {{"accuracy", jobs::evaluate(ej).metrics.at("accuracy")}};
    } catch (const std::invalid_argument& e) {
      out[std::to_string(len)] = {{"error", e.what()}};
    }
  }
  return out;
}

// "serve": a finished cell served again on its best checkpoint as trained, with the batches padded
// on the other side, and unpadded (batch 1) — batches of 64 otherwise: the score, pad tokens per
// example, and each example's prediction in predictions-<serving>.tsv beside it.
json served_ways(const std::string& run_dir, bool trained_left) {
  json out = json::object();
  for (Serving s : kServings) {
    jobs::EvalJob ej;
    ej.run = run_dir;
    ej.batch = s == Serving::Unpadded ? 1 : 64;
    if (s == Serving::OtherSide) ej.left_padding = !trained_left;
    ej.predictions = run_dir + "/predictions-" + to_string(s) + ".tsv";
    const jobs::EvalOutcome e = jobs::evaluate(ej);
    out[to_string(s)] = {{"score", e.metrics.at(e.metric)}, {"metrics", e.metrics}, {"padding", e.padding}, {"batch", ej.batch},
                         {"pads_per_example", e.pads_per_example}, {"predictions", fs::path(ej.predictions).filename().string()}};
  }
  return out;
}

// "sweep": {"field": [v1, v2, ...], ...}: every variant × every combination, in file order.
void expand_sweep(Grid& g, const json& sweep, const std::string& where) {
  if (!sweep.is_object() || sweep.empty()) grid_error(where, "sweep", "expected an object of model fields to lists of values, got " + shown(sweep));
  for (auto it = sweep.begin(); it != sweep.end(); ++it)
    if (!it.value().is_array() || it.value().empty()) grid_error(where, "sweep." + it.key(), "expected a non-empty array of values");
  std::vector<Variant> out;
  for (const Variant& v : g.variants) {
    std::vector<Variant> acc = {v};
    for (auto it = sweep.begin(); it != sweep.end(); ++it) {
      std::vector<Variant> next;
      for (const Variant& a : acc)
        for (const json& value : it.value()) {
          Variant b = a;
          b.overrides[it.key()] = value;
          b.name += " " + it.key() + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
          next.push_back(b);
        }
      acc = std::move(next);
    }
    for (Variant& a : acc) {
      (void)variant_config(g, a);  // validates the combination, naming the file
      out.push_back(std::move(a));
    }
  }
  g.variants = std::move(out);
}

}  // namespace

std::string cell_dir(const std::string& out_dir, const Variant& v, const std::string& task, uint64_t seed) {
  return out_dir + "/cells/" + slug(v.name) + "/" + task + "/seed-" + std::to_string(seed);
}

std::vector<CellResult> finished_cells(const Grid& grid, const std::string& out_dir) {
  std::vector<CellResult> cells;
  for (const Variant& v : grid.variants)
    for (const std::string& task : grid.tasks)
      for (uint64_t seed : grid.seeds) {
        CellResult c;
        c.variant = v.name, c.task = task, c.seed = seed, c.run_dir = cell_dir(out_dir, v, task, seed);
        if (!fs::exists(c.run_dir + "/result.json")) continue;
        read_cell_result(c.run_dir + "/result.json", &c);
        c.reused = true;
        cells.push_back(std::move(c));
      }
  return cells;
}

namespace {

// One CSV record's fields (RFC 4180: quoted fields may hold commas and doubled quotes).
std::vector<std::string> csv_fields(const std::string& line, const std::function<void(const std::string&)>& bad) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else out.back() += c;
    } else if (c == '"') {
      if (!out.back().empty()) bad("a quote inside an unquoted field");
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  if (quoted) bad("an unterminated quoted field");
  return out;
}

}  // namespace

std::vector<CellResult> read_results_csv(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<CellResult> cells;
  std::istringstream in(text);
  std::string line;
  int64_t n = 0;
  for (; std::getline(in, line);) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto bad = [&](const std::string& what) {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": " + what);
    };
    if (n == 1) {
      if (line != "variant,task,metric,mean,std,n,scores") bad("not a results.csv (expected the header variant,task,metric,mean,std,n,scores)");
      continue;
    }
    if (line.empty()) continue;
    const auto f = csv_fields(line, bad);
    if (f.size() != 7) bad("expected 7 fields, found " + std::to_string(f.size()));
    std::istringstream scores(f[6]);
    std::vector<double> v;
    for (std::string s; scores >> s;) {
      try {
        size_t used = 0;
        v.push_back(std::stod(s, &used));
        if (used != s.size()) throw std::invalid_argument(s);
      } catch (const std::exception&) {
        bad("score '" + s + "' is not a number");
      }
    }
    if (v.empty()) bad("no scores for " + f[0] + " / " + f[1]);
    for (size_t i = 0; i < v.size(); ++i) {
      CellResult c;
      c.variant = f[0], c.task = f[1], c.seed = i + 1, c.score = v[i], c.reused = true;
      c.metrics[f[2]] = v[i];
      cells.push_back(std::move(c));
    }
  }
  if (n == 0) throw std::runtime_error(path + ": empty (expected a results.csv)");
  return cells;
}

std::string task_metric(const Grid& grid, const std::string& task) {
  return grid.recall.count(task) ? "accuracy" : data::glue_task(task).metric;
}

namespace {

// "variants": named model overrides, each validated against the grid's model; one cells/ folder each.
void parse_variants(Grid& g, const json& j, const std::string& where) {
  if (!j.contains("variants") || !j["variants"].is_array() || j["variants"].empty())
    grid_error(where, "variants", "expected a non-empty array of {\"name\": ..., model fields ...}");
  std::set<std::string> names;
  std::map<std::string, std::string> folders;  // slug -> the variant that uses it
  for (size_t i = 0; i < j["variants"].size(); ++i) {
    const json& v = j["variants"][i];
    const std::string f = "variants[" + std::to_string(i) + "]";
    if (!v.is_object() || !v.contains("name")) grid_error(where, f, "expected an object with a \"name\"");
    Variant var;
    var.name = get_string(v["name"], where, f + ".name");
    if (var.name.empty()) grid_error(where, f + ".name", "must not be empty");
    if (!names.insert(var.name).second) grid_error(where, f + ".name", "duplicate variant name '" + printable(var.name) + "'");
    // Each variant's cells live in cells/<slug of its name>/: two names must not share one.
    const auto [other, fresh] = folders.emplace(slug(var.name), var.name);
    if (!fresh)
      grid_error(where, f + ".name", "'" + printable(var.name) + "' and '" + printable(other->second) + "' would share the folder cells/" + other->first +
                                         " (names may differ only in letters and digits)");
    var.overrides = json::object();
    for (auto it = v.begin(); it != v.end(); ++it)
      if (it.key() != "name" && it.key() != "pretrain_seed") var.overrides[it.key()] = it.value();
    if (v.contains("pretrain_seed"))
      var.pretrain_seed = static_cast<uint64_t>(get_int(v["pretrain_seed"], where, f + ".pretrain_seed", 0, int64_t{1} << 62));
    g.variants.push_back(var);
    (void)variant_config(g, g.variants.back());  // validates the overrides, naming the file
  }
}

// A recall task's "eval_lengths": distinct lengths, each a valid task with the task's other fields.
std::vector<int64_t> parse_eval_lengths(const json& ls, const data::RecallTask& rt, const std::string& where, const std::string& lf) {
  if (!ls.is_array() || ls.empty()) grid_error(where, lf, "expected a non-empty array of lengths, got " + shown(ls));
  std::vector<int64_t> out;
  for (size_t k = 0; k < ls.size(); ++k) {
    const int64_t len = get_int(ls[k], where, lf + "[" + std::to_string(k) + "]", 8, 1 << 20);
    if (std::find(out.begin(), out.end(), len) != out.end()) grid_error(where, lf, "the length " + std::to_string(len) + " is listed twice");
    out.push_back(len);
  }
  // Each must make a valid task with the task's other fields (pairs that fit, and so on).
  for (int64_t len : out) {
    data::RecallTask at = rt;
    at.length = len;
    try {
      at.validate();
    } catch (const std::invalid_argument& e) {
      grid_error(where, lf, "at length " + std::to_string(len) + ": " + e.what());
    }
  }
  return out;
}

// "tasks": GLUE names and recall-task objects (with their own budgets); true when any is GLUE.
bool parse_tasks(Grid& g, const json& j, const std::string& where, std::map<std::string, json>* own_budget) {
  if (!j.contains("tasks")) grid_error(where, "tasks", "missing: GLUE task names or recall-task objects");
  if (!j["tasks"].is_array() || j["tasks"].empty()) grid_error(where, "tasks", "expected a non-empty array of GLUE task names and recall-task objects");
  bool glue = false;
  for (size_t i = 0; i < j["tasks"].size(); ++i) {
    const json& t = j["tasks"][i];
    const std::string f = "tasks[" + std::to_string(i) + "]";
    std::string name;
    if (t.is_object()) {  // a recall task: {"task": "mqar", "length": 64, ..., "finetune": {its own budget}}
      data::RecallTask rt;
      json fields = t;
      fields.erase("finetune");
      fields.erase("eval_lengths");
      try {
        rt = data::RecallTask::from_json(fields, where + ": field '" + f + "'");
      } catch (const std::invalid_argument& e) {
        throw ConfigError(e.what());
      }
      name = rt.label();
      g.recall[name] = rt;
      if (t.contains("finetune")) (*own_budget)[name] = t["finetune"];
      if (t.contains("eval_lengths")) g.eval_lengths[name] = parse_eval_lengths(t["eval_lengths"], rt, where, f + ".eval_lengths");
    } else {
      try {
        name = data::glue_task(get_string(t, where, f)).name;
      } catch (const ConfigError&) {
        throw;
      } catch (const std::exception& e) {
        grid_error(where, "tasks", f + ": " + e.what() + "; or a recall task as an object, e.g. {\"task\": \"mqar\", \"length\": 64}");
      }
      glue = true;
    }
    if (std::find(g.tasks.begin(), g.tasks.end(), name) != g.tasks.end()) grid_error(where, f, "the task " + name + " is listed twice");
    g.tasks.push_back(name);
  }
  return glue;
}

// "pretrain", "finetune" (and each task's own), "data": the budgets and the folders they read.
void parse_budgets(Grid& g, const json& j, const std::string& where, const std::string& base_dir, bool glue,
                   const std::map<std::string, json>& own_budget) {
  train::TrainOptions pre;
  pre.steps = 300, pre.batch_size = 32, pre.max_len = 64, pre.lr = 5e-4;
  g.pretraining = j.contains("pretrain") || glue;
  const json& pj = j.contains("pretrain") ? j["pretrain"] : json::object();
  g.pretrain = budget(pj, where, "pretrain", pre, &g.vocab, nullptr);
  if (g.pretraining) {
    if (!pj.contains("corpus")) grid_error(where, "pretrain.corpus", "missing: the text to pretrain on (files or folders)");
    for (const auto& c : get_strings(pj["corpus"], where, "pretrain.corpus")) g.corpus.push_back(resolve(base_dir, c));
  }
  train::TrainOptions fine;
  fine.steps = 200, fine.batch_size = 32, fine.max_len = 64, fine.lr = 1e-4;
  if (!glue) fine = train::recall_recipe().train;  // a recall grid's budget defaults to the calibrated recipe
  g.finetune = budget(j.contains("finetune") ? j["finetune"] : json::object(), where, "finetune", fine, nullptr,
                      &g.max_train_examples);
  for (const auto& [name, b] : own_budget) {  // on top of the grid's budget
    g.task_budget[name] = budget(b, where, "tasks." + name + ".finetune", g.finetune, nullptr, nullptr);
  }
  if (glue) {
    if (!j.contains("data")) grid_error(where, "data", "missing: the folder holding one folder per GLUE task");
    g.data_dir = resolve(base_dir, get_string(j["data"], where, "data"));
  } else if (j.contains("data")) {
    g.data_dir = resolve(base_dir, get_string(j["data"], where, "data"));
  }
}

// "seeds": non-negative integers, at least one (default {1}).
std::vector<uint64_t> parse_seeds(const json& j, const std::string& where) {
  std::vector<uint64_t> seeds = {1};
  if (j.contains("seeds")) {
    const json& s = j["seeds"];
    if (!s.is_array()) grid_error(where, "seeds", "expected an array of non-negative integers, got " + shown(s));
    seeds.clear();
    for (size_t i = 0; i < s.size(); ++i) {
      // Parsed non-negative integers are unsigned; ones built in code (Grid::from_json) may be signed.
      const json& seed = s[i];
      if (!seed.is_number_integer() || (!seed.is_number_unsigned() && seed.get<int64_t>() < 0))
        grid_error(where, "seeds[" + std::to_string(i) + "]", "expected a non-negative integer, got " + shown(seed));
      seeds.push_back(seed.is_number_unsigned() ? seed.get<uint64_t>() : static_cast<uint64_t>(seed.get<int64_t>()));
    }
  }
  if (seeds.empty()) grid_error(where, "seeds", "expected at least one seed");
  return seeds;
}

}  // namespace

Grid Grid::from_json(const json& j, const std::string& where, const std::string& base_dir) {
  check_keys(j, where, "", {"name", "preset", "model", "variants", "sweep", "pretrain", "finetune", "tasks", "data", "seeds", "serve", "comment"});
  Grid g;
  g.source = where;
  g.name = j.contains("name") ? get_string(j["name"], where, "name") : fs::path(where).stem().string();
  const std::string preset = j.contains("preset") ? get_string(j["preset"], where, "preset") : "tiny";
  try {
    g.base = ModelConfig::preset(preset);
  } catch (const ConfigError& e) {
    grid_error(where, "preset", e.what());
  }
  if (j.contains("model")) {
    json m = g.base.to_json();
    if (!j["model"].is_object()) grid_error(where, "model", "expected an object");
    for (auto it = j["model"].begin(); it != j["model"].end(); ++it) m[it.key()] = it.value();
    g.model_fields = j["model"];
    g.base = ModelConfig::from_json(m, where + ": model");
  }
  parse_variants(g, j, where);
  if (j.contains("sweep")) expand_sweep(g, j["sweep"], where);
  std::map<std::string, json> own_budget;
  const bool glue = parse_tasks(g, j, where, &own_budget);
  parse_budgets(g, j, where, base_dir, glue, own_budget);
  g.seeds = parse_seeds(j, where);
  if (j.contains("serve")) {
    if (!j["serve"].is_boolean()) grid_error(where, "serve", "expected true or false, got " + shown(j["serve"]));
    g.serve = j["serve"].get<bool>();
  }
  return g;
}

Grid Grid::load(const std::string& path) {
  json j;
  try {
    j = parse_json_text(read_file(path));
  } catch (const JsonTextError& e) {
    throw ConfigError(path + ": not valid JSON at " + e.what());
  }
  return from_json(j, path, fs::path(path).parent_path().string());
}

ModelConfig variant_config(const Grid& grid, const Variant& v) {
  const std::string where = grid.source + ": variant '" + printable(v.name) + "'";
  json m = grid.base.to_json();
  if (v.overrides.contains("preset")) {
    const json& p = v.overrides["preset"];
    if (!p.is_string()) throw ConfigError(where + ": field 'preset': expected a preset name, got " + p.dump());
    try {
      m = ModelConfig::preset(p.get<std::string>()).to_json();
    } catch (const ConfigError& e) {
      throw ConfigError(where + ": field 'preset': " + e.what());
    }
    for (auto it = grid.model_fields.begin(); it != grid.model_fields.end(); ++it) m[it.key()] = it.value();
  }
  for (auto it = v.overrides.begin(); it != v.overrides.end(); ++it)
    if (it.key() != "preset") m[it.key()] = it.value();
  ModelConfig c = ModelConfig::from_json(m, where);
  c.validate(where);
  return c;
}

std::string encoder_key(const Grid& grid, const Variant& v) {
  ModelConfig c = variant_config(grid, v);
  c.pooling = PoolingKind::Map, c.head = Head::None, c.num_labels = 2;  // pretraining does not use them
  json k = {{"model", c.to_json()}, {"train", grid.pretrain.to_json()}, {"corpus", grid.corpus}, {"vocab", grid.vocab}};
  if (v.pretrain_seed) k["pretrain_seed"] = *v.pretrain_seed;  // absent otherwise: earlier grids keep their keys
  return slug(c.schedule) + "-" + fnv_hex(k.dump());
}

namespace {

// Cells handed out one at a time: through the c10d store's atomic counter when the grid runs on
// several ranks (each rank takes the next index until none are left), in order otherwise.
class WorkQueue {
 public:
  WorkQueue(dist::World& world, std::string name) : world_(world), name_(std::move(name)) {}
  bool next(size_t n, size_t* i) {
    *i = static_cast<size_t>(world_.ticket(name_));
    return *i < n;
  }

 private:
  dist::World& world_;
  std::string name_;
};

struct GridRun {
  const Grid& grid;
  const std::string& out;
  const GridHooks& hooks;
  dist::World& world;
  GridReport rep;
  train::Hooks h;
  std::string tokenizer;
  std::vector<std::string> mine;  // run folders this rank trained (the others' rows rank 0 adds at the end)
  std::string queue_name;         // the work queues' names: the same on every rank, new for each run
  std::set<std::string> ran = {}; // run folders any rank trained in this run (gather_ran)

  void say(const std::string& m) const {
    if (hooks.on_message) hooks.on_message(world.size() > 1 ? "[rank " + std::to_string(world.rank()) + "] " + m : m);
  }
  bool stopped() const { return hooks.control && hooks.control->stop_requested(); }
  // Several ranks share one SQLite registry only through rank 0 (SQLite on a shared filesystem is
  // not safe for concurrent writers).
  jobs::Recording recording(json extra) const { return {hooks.registry, std::move(extra), world.root()}; }

  std::string cell_dir(const Variant& v, const std::string& task, uint64_t seed) const {
    return experiments::cell_dir(out, v, task, seed);
  }

  // Each distinct encoder once (a finished one, with done.json, is reused).
  std::map<std::string, std::string> pretrain_encoders() {
    std::map<std::string, std::string> dirs;  // key -> folder
    std::vector<std::pair<std::string, const Variant*>> todo;
    for (const Variant& v : grid.variants) {
      const std::string key = encoder_key(grid, v);
      if (dirs.emplace(key, out + "/encoders/" + key).second) todo.emplace_back(key, &v);
    }
    WorkQueue queue(world, queue_name + "/encoders");
    for (size_t i; !stopped() && queue.next(todo.size(), &i);) {
      const auto& [key, v] = todo[i];
      const std::string dir = dirs.at(key);
      if (fs::exists(dir + "/done.json")) {
        ++rep.pretrain_reused;
        say("encoder " + key + ": reusing " + dir);
        continue;
      }
      train::PretrainJob job;
      job.model = variant_config(grid, *v);
      job.corpus = grid.corpus;
      job.tokenizer = tokenizer;
      job.run_dir = dir;
      job.train = grid.pretrain;
      job.train.seed = v->pretrain_seed.value_or(grid.pretrain.seed);
      job.train.device_index = hooks.device_index;
      job.train.resume = fs::exists(dir + "/checkpoints");  // an interrupted pretraining continues
      say("pretraining encoder " + key + " (" + job.model.schedule + ") for " + std::to_string(job.train.steps) + " steps");
      const train::TrainResult r = jobs::run(jobs::PretrainSpec{job, grid.vocab}, recording({{"grid", grid.name}}), h).result;
      if (r.status == train::RunStatus::Stopped) break;
      if (r.status != train::RunStatus::Finished)
        throw std::runtime_error("pretraining " + dir + " ended: " + to_string(r.status) + " " + r.message);
      write_file_atomic(dir + "/done.json", json({{"status", to_string(r.status)}, {"metrics", r.final_metrics}}).dump(2) + "\n");
      mine.push_back(dir);
      ++rep.pretrain_runs;
    }
    return dirs;
  }

  // Every variant × task × seed; a cell with result.json is read back.
  void finetune_cells(const std::map<std::string, std::string>& encoders) {
    struct Cell {
      const Variant* v;
      std::string task;
      uint64_t seed;
    };
    // Seed-major: a grid stopped part-way (they run over several sittings) has every variant and
    // task at the first seed before any at the second.
    std::vector<Cell> todo;
    for (uint64_t seed : grid.seeds)
      for (const std::string& task : grid.tasks)
        for (const Variant& v : grid.variants) todo.push_back({&v, task, seed});
    WorkQueue queue(world, queue_name + "/cells");
    for (size_t i; !stopped() && queue.next(todo.size(), &i);) {
      const Cell& cell = todo[i];
      const std::string dir = cell_dir(*cell.v, cell.task, cell.seed);
      if (fs::exists(dir + "/result.json")) continue;  // read back with the others at the end
      if (fs::exists(dir)) remove_tree(dir);              // a half-finished cell starts over
      train::FinetuneJob job;
      const auto recall = grid.recall.find(cell.task);
      if (recall != grid.recall.end()) {
        job.task = data::to_string(recall->second.kind);
        job.recall = recall->second;
        job.model = variant_config(grid, *cell.v);
      } else {
        job.task = cell.task;
        job.data_dir = grid.data_dir + "/" + cell.task;
      }
      if (grid.pretraining) job.init = encoders.at(encoder_key(grid, *cell.v));
      job.pooling = variant_config(grid, *cell.v).pooling;
      job.run_dir = dir;
      job.train = grid.task_budget.count(cell.task) ? grid.task_budget.at(cell.task) : grid.finetune;
      job.train.seed = cell.seed;
      job.train.device_index = hooks.device_index;
      job.max_train_examples = grid.max_train_examples;
      say("fine-tuning " + cell.v->name + " on " + cell.task + ", seed " + std::to_string(cell.seed));
      const auto t0 = std::chrono::steady_clock::now();
      const train::TrainResult r =
          jobs::run(job, recording({{"grid", grid.name}, {"variant", cell.v->name}, {"seed", cell.seed}}), h).result;
      if (r.status == train::RunStatus::Stopped) break;
      if (r.status == train::RunStatus::Diverged) throw std::runtime_error(dir + ": " + r.message);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const std::string metric = task_metric(grid, cell.task);
      const auto metrics = r.best_metrics.empty() ? r.final_metrics : r.best_metrics;
      if (!metrics.count(metric)) throw std::runtime_error(dir + ": the evaluation has no '" + metric + "'");
      json result = {{"variant", cell.v->name}, {"task", cell.task}, {"seed", cell.seed}, {"metric", metric},
                     {"score", metrics.at(metric)}, {"metrics", metrics}, {"seconds", seconds}, {"steps", r.steps}};
      if (recall != grid.recall.end()) result["tokens"] = r.steps * job.train.batch_size * job.train.grad_accum * recall->second.length;
      if (grid.eval_lengths.count(cell.task)) result["lengths"] = scores_at_lengths(dir, grid.eval_lengths.at(cell.task));
      if (r.rows > 0) result["train_pads_per_example"] = static_cast<double>(r.pad_tokens) / static_cast<double>(r.rows);
      if (grid.serve) result["serving"] = served_ways(dir, job.train.left_padding);
      write_file_atomic(dir + "/result.json", result.dump(2) + "\n");
      if (hooks.on_cell) {  // live, as the cell finishes (collect_cells does not report it again)
        CellResult c;
        c.variant = cell.v->name, c.task = cell.task, c.seed = cell.seed, c.run_dir = dir;
        read_cell_result(dir + "/result.json", &c);
        hooks.on_cell(c);
      }
      mine.push_back(dir);
      ++rep.finetune_runs;
    }
  }

  // Which run folders any rank trained in this run: a collective, every rank calls it. Each rank
  // flags its own among the grid's folders (the same list, in the same order, everywhere).
  void gather_ran(const std::map<std::string, std::string>& encoders) {
    std::vector<std::string> dirs;
    for (const auto& [key, dir] : encoders) dirs.push_back(dir);
    for (uint64_t seed : grid.seeds)
      for (const std::string& task : grid.tasks)
        for (const Variant& v : grid.variants) dirs.push_back(cell_dir(v, task, seed));
    at::Tensor flags = at::zeros({static_cast<int64_t>(dirs.size())}, at::kByte);
    for (size_t i = 0; i < dirs.size(); ++i)
      if (std::find(mine.begin(), mine.end(), dirs[i]) != mine.end()) flags[static_cast<int64_t>(i)] = 1;
    for (const at::Tensor& f : world.all_gather_bytes(flags)) {
      const at::Tensor c = f.cpu().contiguous();
      for (size_t i = 0; i < dirs.size(); ++i)
        if (c.data_ptr<uint8_t>()[i]) ran.insert(dirs[i]);
    }
  }

  // Rank 0's registry rows for the runs the other ranks made in this run (they write none
  // themselves). Runs finished before it — recorded then, or restored from their result.json
  // alone, without run.json — are not recorded again.
  void record_others(const std::map<std::string, std::string>& encoders) {
    if (world.size() == 1 || !world.root()) return;
    auto others = [&](const std::string& dir) {
      return ran.count(dir) && std::find(mine.begin(), mine.end(), dir) == mine.end();
    };
    for (const auto& [key, dir] : encoders)
      if (others(dir) && fs::exists(dir + "/done.json"))
        jobs::record_finished_run(dir, jobs::JobKind::Pretrain, "", {{"corpus", grid.corpus}},
                                  read_json_file(dir + "/done.json").value("metrics", std::map<std::string, double>{}),
                                  recording({{"grid", grid.name}}));
    for (const CellResult& c : rep.cells)
      if (others(c.run_dir))
        jobs::record_finished_run(c.run_dir, jobs::JobKind::Finetune, c.task, {{"variant", c.variant}, {"seed", c.seed}},
                                  c.metrics, recording({{"grid", grid.name}}));
  }

  // Every finished cell in grid order, as the results table shows them (whichever rank ran it).
  void collect_cells() {
    for (CellResult& c : finished_cells(grid, out)) {
      c.reused = std::find(mine.begin(), mine.end(), c.run_dir) == mine.end();
      if (c.reused && world.size() == 1) ++rep.finetune_reused;
      if (hooks.on_cell && c.reused) hooks.on_cell(c);
      rep.cells.push_back(c);
    }
  }
};

}  // namespace

GridReport run_grid(const Grid& grid, const std::string& out_dir, const GridHooks& hooks) {
  const auto t0 = std::chrono::steady_clock::now();
  static dist::World single;
  // Every rank runs the same grids in the same order, so the n-th run has the same queues everywhere.
  static std::atomic<int64_t> runs{0};
  GridRun run{grid, out_dir, hooks, hooks.world ? *hooks.world : single, {}, {}, {}, {}, "grid-" + std::to_string(runs++)};
  run.h.control = hooks.control;
  dist::World& world = run.world;
  // One tokenizer for the whole grid, so every cell sees the same vocabulary (rank 0 trains it).
  if (world.root()) {
    fs::create_directories(out_dir);
    if (grid.pretraining)
      jobs::ensure_tokenizer(grid.corpus, out_dir + "/tokenizer", grid.vocab, [&](const std::string& m) { run.say(m); });
  }
  world.barrier();
  run.tokenizer = out_dir + "/tokenizer.model";
  const auto encoders = grid.pretraining ? run.pretrain_encoders() : std::map<std::string, std::string>{};
  world.barrier();  // every encoder is pretrained before any cell starts from one
  run.finetune_cells(encoders);
  world.barrier();
  run.gather_ran(encoders);
  run.collect_cells();
  run.record_others(encoders);
  if (world.root()) {
    write_file_atomic(out_dir + "/results.md", results_markdown(grid, run.rep.cells));
    write_file_atomic(out_dir + "/results.csv", results_csv(grid, run.rep.cells));
    write_file_atomic(out_dir + "/cells.csv", cells_csv(run.rep.cells));
    for (const auto& [name, svg] : recall_figures(grid, run.rep.cells)) write_file_atomic(out_dir + "/" + name, svg);
  }
  run.rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run.rep;
}

namespace {
// A task's eval_lengths table: a row per variant, a column per length, "mean ± std (n)" over the
// seeds; "cannot run" where every finished cell recorded an error at that length.
std::string lengths_markdown(const Grid& grid, const std::vector<CellResult>& cells, const std::string& task,
                             const std::vector<int64_t>& lengths) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(3);
  o << "| " << task << ", trained at " << grid.recall.at(task).length << ": accuracy at length |";
  for (int64_t len : lengths) o << ' ' << len << " |";
  o << "\n|---|";
  for (size_t i = 0; i < lengths.size(); ++i) o << "---|";
  o << '\n';
  for (const Variant& v : grid.variants) {
    o << "| " << v.name << " |";
    for (int64_t len : lengths) {
      std::vector<double> at;
      size_t errors = 0;
      for (const CellResult& c : cells) {
        if (c.variant != v.name || c.task != task) continue;
        if (c.length_scores.count(len)) at.push_back(c.length_scores.at(len));
        errors += c.length_errors.count(len);
      }
      if (!at.empty()) {
        const Stats st = stats(at);
        o << ' ' << st.mean << " ± " << st.std << " (" << st.n << ") |";
      } else {
        o << (errors ? " cannot run |" : " — |");
      }
    }
    o << '\n';
  }
  return o.str();
}
}  // namespace

std::string results_markdown(const Grid& grid, const std::vector<CellResult>& cells) {
  const auto m = by_cell(cells);
  std::ostringstream o;
  o << std::fixed << std::setprecision(3);
  o << "| " << grid.name << " |";
  for (const auto& t : grid.tasks) o << ' ' << t << " (" << task_metric(grid, t) << ") |";
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
  for (const auto& [task, lengths] : grid.eval_lengths) o << '\n' << lengths_markdown(grid, cells, task, lengths);
  return o.str();
}

std::string cells_csv(const std::vector<CellResult>& cells) {
  std::ostringstream o;
  o << std::setprecision(6);
  o << "variant,task,seed,score,seconds,steps,tokens,ms_per_step,tokens_per_s,train_pads_per_example";
  for (Serving s : kServings) o << ',' << to_string(s) << ',' << to_string(s) << "_pads";
  o << '\n';
  for (const CellResult& c : cells) {
    o << '"' << c.variant << "\"," << c.task << ',' << c.seed << ',' << c.score << ',' << c.seconds << ',' << c.steps << ','
      << c.tokens << ',';
    if (c.steps > 0 && c.seconds > 0) o << 1000 * c.seconds / static_cast<double>(c.steps);
    o << ',';
    if (c.tokens > 0 && c.seconds > 0) o << static_cast<double>(c.tokens) / c.seconds;
    o << ',';
    if (c.train_pads >= 0) o << c.train_pads;
    for (Serving s : kServings) {
      const auto it = c.served.find(s);
      o << ',';
      if (it != c.served.end()) o << it->second.score;
      o << ',';
      if (it != c.served.end()) o << it->second.pads;
    }
    o << '\n';
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
      o << '"' << v.name << "\"," << t << ',' << task_metric(grid, t) << ',' << s.mean << ',' << s.std << ',' << s.n << ",\"";
      for (size_t i = 0; i < it->second.size(); ++i) o << (i ? " " : "") << it->second[i];
      o << "\"\n";
    }
  return o.str();
}

}  // namespace mabert::experiments

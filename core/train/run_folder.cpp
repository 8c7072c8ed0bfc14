// Run folders: created for a job, loaded back for analysis and evaluation, checked after a crash.
#include "train/run_folder.h"

#include "train/checkpoint.h"
#include "train/loop.h"
#include "train/metrics.h"
#include "util/files.h"
#include "util/json_text.h"
#include "util/rng.h"

#include <torch/torch.h>

#include <filesystem>

namespace mabert::train {
namespace fs = std::filesystem;

void prepare_run_dir(const std::string& run_dir, const ModelConfig& cfg, const std::string& tokenizer,
                     const nlohmann::ordered_json& info) {
  fs::create_directories(run_dir);
  cfg.save(run_dir + "/config.json");
  const std::string tok_dst = run_dir + "/tokenizer.model";
  if (fs::absolute(tokenizer) != fs::absolute(tok_dst)) write_file_atomic(tok_dst, read_file(tokenizer));
  write_file_atomic(run_dir + "/run.json", info.dump(2) + "\n");
}

MaBert load_weights(const std::string& run_dir, std::initializer_list<WeightSource> order, std::string* which) {
  bool best_tried = false;
  for (WeightSource source : order) {
    if (source == WeightSource::Best) {
      best_tried = true;
      if (!fs::exists(run_dir + "/best/model.safetensors")) continue;
      if (which) *which = "best";
      return load_model(run_dir + "/best");
    }
    const auto ckpt = latest_checkpoint(run_dir);
    if (!ckpt) continue;
    MaBert model(ModelConfig::load(run_dir + "/config.json"));
    load_checkpoint(*ckpt, model, nullptr, nullptr);
    if (which) *which = fs::path(*ckpt).lexically_relative(run_dir).string();
    return model;
  }
  throw std::runtime_error(run_dir + ": no checkpoint to load" + (best_tried ? " (checkpoints/) and no best weights (best/)" : ""));
}

LoadedRun load_run(const std::string& run_dir, bool best) {
  LoadedRun r;
  const std::string info_path = run_dir + "/run.json";
  r.info = read_json_file(info_path);
  if (!r.info.is_object()) throw std::runtime_error(info_path + ": expected a JSON object");
  for (const auto& [key, value] : r.info.items())  // every field the front ends read is text
    if (!value.is_string() && (key == "task" || key == "data" || key == "kind" || key == "init"))
      throw std::runtime_error(info_path + ": field '" + key + "' must be a string");
  r.tokenizer = Tokenizer::load(run_dir + "/tokenizer.model");
  if (best) r.model = load_weights(run_dir, {WeightSource::Best, WeightSource::Latest}, &r.weights);
  else r.model = load_weights(run_dir, {WeightSource::Latest}, &r.weights);
  if (r.model->config().vocab_size != r.tokenizer.vocab_size())
    throw std::runtime_error(run_dir + ": the tokenizer has " + std::to_string(r.tokenizer.vocab_size()) +
                             " pieces but the model's vocabulary is " + std::to_string(r.model->config().vocab_size));
  r.model->eval();
  return r;
}

RunCheck check_run(const std::string& run_dir) {
  RunCheck r;
  if (!fs::is_directory(run_dir)) throw std::runtime_error(run_dir + ": not a run folder");
  const std::string metrics = run_dir + "/metrics.jsonl";
  if (fs::exists(metrics)) {
    MetricsLog log = read_metrics_log(metrics);
    r.metric_records = log.records.size();
    r.notes = log.notes;
  }
  for (const std::string sub : {"", "/checkpoints"}) {
    if (!fs::is_directory(run_dir + sub)) continue;
    for (const auto& e : fs::directory_iterator(run_dir + sub))
      if (e.path().filename().string().find(".tmp") != std::string::npos) r.leftovers.push_back(e.path().string());
  }
  const auto ckpt = latest_checkpoint(run_dir, &r.rejected);
  if (!ckpt) return r;
  MaBert model(ModelConfig::load(run_dir + "/config.json"));
  FusedAdamW opt = make_optimizer(model, TrainOptions{});
  TrainerState state;
  load_checkpoint(*ckpt, model, &opt, &state);
  if (state.rng_kind == "cpu") {  // a CUDA generator's state can only be checked on a device
    try {
      for (const auto& rng : state.rngs) JobRng(0, c10::Device(c10::kCPU)).set_state(rng);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(*ckpt + "/rng.safetensors: " + e.what());
    }
  }
  r.checkpoint = *ckpt;
  r.step = state.step;
  return r;
}

}  // namespace mabert::train

// GLUE fine-tuning: the encoder of a pretraining run (or a fresh one) with a new task head,
// cross-entropy (classification) or MSE (regression) loss, the dev split as the evaluation.
#include "train/trainer.h"

#include "train/checkpoint.h"
#include "train/loop.h"
#include "train/metrics.h"
#include "train/run_folder.h"

#include <torch/torch.h>

namespace mabert::train {
namespace {

// Summed over the batch's examples (the loop divides by their number over every rank).
torch::Tensor task_loss_sum(const ModelConfig& cfg, const torch::Tensor& logits, const torch::Tensor& labels) {
  if (cfg.head == Head::Regression)
    return torch::mse_loss(logits.to(torch::kFloat), labels.to(torch::kFloat), at::Reduction::Sum);
  return torch::nn::functional::cross_entropy(logits.to(torch::kFloat), labels.to(torch::kLong),
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

}  // namespace

std::vector<std::string> load_encoder(MaBert& model, const std::string& init) {
  // The run's latest checkpoint; or, for a folder that keeps only its best weights (the shipped
  // models in resources/models/), those.
  MaBert pre = load_weights(init, {WeightSource::Latest, WeightSource::Best});
  torch::NoGradGuard g;
  auto src = pre->named_parameters();
  std::vector<std::string> fresh;
  for (auto& p : model->named_parameters()) {
    const torch::Tensor* t = src.find(p.key());
    if (t && t->sizes() == p.value().sizes()) p.value().copy_(*t);
    else fresh.push_back(p.key());
  }
  return fresh;
}

std::string finetune_tokenizer(const FinetuneJob& job) {
  if (!job.init.empty()) return job.init + "/tokenizer.model";
  if (job.tokenizer.empty()) throw std::invalid_argument("fine-tuning from random initialisation needs --tokenizer");
  return job.tokenizer;
}

ModelConfig resolved_config(const FinetuneJob& job) {
  if (data::is_recall_task(job.task)) {
    const data::RecallTask t = recall_task(job);
    ModelConfig cfg = job.init.empty() ? job.model : ModelConfig::load(job.init + "/config.json");
    if (job.pooling) cfg.pooling = *job.pooling;
    cfg.vocab_size = t.vocab_size();
    cfg.head = Head::None;  // the slots are answered by the tied MLM decoder
    // One position more than the task's length: an example typed as text gets the tokenizer's
    // [SEP] at its end (the analysis views, predict), and still fits whole.
    if (job.init.empty()) cfg.max_len = t.length + 1;
    else if (cfg.max_len < t.length)
      throw std::invalid_argument("--length " + std::to_string(t.length) + " exceeds the max_len " + std::to_string(cfg.max_len) +
                                  " of the run to start from (" + job.init + ")");
    cfg.validate();
    return cfg;
  }
  const data::GlueTask& task = data::glue_task(job.task);
  ModelConfig cfg = job.init.empty() ? job.model : ModelConfig::load(job.init + "/config.json");
  cfg.vocab_size = Tokenizer::load(finetune_tokenizer(job)).vocab_size();
  if (job.pooling) cfg.pooling = *job.pooling;
  cfg.head = task.regression ? Head::Regression : Head::Classification;
  cfg.num_labels = task.regression ? 2 : task.num_labels();
  cfg.validate();
  return cfg;
}

TrainResult finetune(const FinetuneJob& job, const Hooks& hooks) {
  if (data::is_recall_task(job.task)) return finetune_recall(job, hooks);
  const data::GlueTask& task = data::glue_task(job.task);
  data::GlueSplit train = data::load_glue(task.name, job.data_dir, "train");
  const std::string dev_name = task.name == "MNLI" ? "dev_matched" : "dev";
  data::GlueSplit dev = data::load_glue(task.name, job.data_dir, dev_name);
  if (job.max_train_examples > 0 && static_cast<int64_t>(train.examples.size()) > job.max_train_examples)
    train.examples.resize(static_cast<size_t>(job.max_train_examples));
  const std::string tok_path = finetune_tokenizer(job);
  const Tokenizer tok = Tokenizer::load(tok_path);
  const ModelConfig cfg = resolved_config(job);

  LoopJob L = new_loop_job(cfg, job.train, job.run_dir, job.world);
  if (!job.init.empty()) load_encoder(L.model, job.init);
  L.model->to(L.device);
  dist::World& world = *L.world;
  nlohmann::ordered_json info = {{"kind", to_string(JobKind::Finetune)}, {"task", task.name}, {"data", job.data_dir}, {"init", job.init},
                                 {"train_examples", train.examples.size()}, {"train", job.train.to_json()},
                                 {"model", cfg.to_json()}, {"world_size", world.size()}, {"backend", world.backend()}};
  if (world.root()) prepare_run_dir(job.run_dir, cfg, tok_path, info);
  world.barrier();

  const auto enc = encode_split(tok, train, job.train.max_len);
  std::vector<int64_t> lengths;
  for (const auto& e : enc) lengths.push_back(static_cast<int64_t>(e.ids.size()));
  data::BatchOrder order(lengths, job.train.batch_size, job.train.seed, job.train.bucket);
  L.batch_at = [&](int64_t micro) {
    std::vector<const Encoding*> items;
    std::vector<double> labels;
    for (int64_t i : order.at(micro)) {
      items.push_back(&enc[static_cast<size_t>(i)]);
      labels.push_back(train.examples[static_cast<size_t>(i)].label);
    }
    data::Batch b = data::collate(items, {0, job.train.left_padding});
    b.labels = torch::tensor(labels, torch::kDouble);
    const auto [begin, end] = dist::shard(b.ids.size(0), world.rank(), world.size());
    return to_device(slice_rows(b, begin, end), L.device);
  };
  L.loss_of = [&](const data::Batch& b) -> LossTerms {
    EncoderOutput out = L.model->forward(b.ids, b.mask, b.segments);
    return {task_loss_sum(cfg, out.logits, b.labels), b.ids.size(0)};
  };
  // The dev set, one unit per example (its prediction); encoded once for every evaluation.
  const auto dev_enc = encode_split(tok, dev, job.train.max_len);
  const std::vector<double> dev_labels = split_labels(dev);
  L.evaluate.units = static_cast<int64_t>(dev_enc.size());
  L.evaluate.score = [&](int64_t begin, int64_t end) {
    return predict_range(L.model, dev_enc, begin, end, 64, job.train.left_padding);
  };
  L.evaluate.metrics = [&](const std::vector<double>& preds) { return glue_metrics(task.name, dev_labels, preds); };
  L.watch = job.train.early_stop_metric.empty() ? task.metric : job.train.early_stop_metric;
  if (hooks.on_message)
    hooks.on_message(task.name + ": " + std::to_string(train.examples.size()) + " training examples, " +
                     std::to_string(dev.examples.size()) + " dev examples");
  return run_loop(L, hooks);
}

}  // namespace mabert::train

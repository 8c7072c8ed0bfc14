// The training loop (read it top to bottom: batch, forward, zero grad, backward, update), the
// pretraining and fine-tuning jobs built on it, evaluation and prediction.
#include "train/trainer.h"

#include "data/corpus.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "util/files.h"
#include "util/json_text.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <chrono>
#include <thread>
#include <cmath>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace mabert::train {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
nlohmann::ordered_json TrainOptions::to_json() const {
  return {{"steps", steps},       {"batch_size", batch_size}, {"grad_accum", grad_accum}, {"max_len", max_len},
          {"lr", lr},             {"weight_decay", weight_decay}, {"adam_eps", adam_eps}, {"beta1", beta1},
          {"beta2", beta2},       {"warmup", warmup},         {"clip", clip},             {"eval_every", eval_every},
          {"save_every", save_every}, {"log_every", log_every}, {"seed", seed},           {"bucket", bucket},
          {"early_stop_metric", early_stop_metric}, {"patience", patience}, {"device", device}, {"bf16", bf16}};
}

TrainOptions TrainOptions::from_json(const nlohmann::json& j) {
  TrainOptions o;
  auto get = [&](const char* k, auto& v) {
    if (j.contains(k)) v = j.at(k).get<std::decay_t<decltype(v)>>();
  };
  get("steps", o.steps), get("batch_size", o.batch_size), get("grad_accum", o.grad_accum), get("max_len", o.max_len);
  get("lr", o.lr), get("weight_decay", o.weight_decay), get("adam_eps", o.adam_eps), get("beta1", o.beta1);
  get("beta2", o.beta2), get("warmup", o.warmup), get("clip", o.clip), get("eval_every", o.eval_every);
  get("save_every", o.save_every), get("log_every", o.log_every), get("seed", o.seed), get("bucket", o.bucket);
  get("early_stop_metric", o.early_stop_metric), get("patience", o.patience), get("device", o.device), get("bf16", o.bf16);
  return o;
}

namespace {

// Appends one JSON line with a single write(2), so concurrent readers see whole lines.
void append_jsonl(const std::string& path, const nlohmann::ordered_json& j) {
  const std::string line = j.dump() + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(path + ": cannot open the metrics log for appending");
  const ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) throw std::runtime_error(path + ": writing the metrics log failed");
}

double lr_at(const TrainOptions& o, int64_t step) {
  const double warm = o.warmup >= 1 ? o.warmup : o.warmup * static_cast<double>(o.steps);
  if (warm > 0 && step < warm) return o.lr * (step + 1) / warm;
  const double rest = std::max(1.0, static_cast<double>(o.steps) - warm);
  return o.lr * std::max(0.0, (static_cast<double>(o.steps) - step) / rest);
}

torch::optim::AdamW make_optimizer(MaBert& model, const TrainOptions& o) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) (no_weight_decay(p.key()) ? no_decay : decay).push_back(p.value());
  auto opts = torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.adam_eps).weight_decay(o.weight_decay);
  auto opts_nd = opts;
  opts_nd.weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(opts_nd));
  return torch::optim::AdamW(groups, opts);
}

// bf16 autocast on CUDA for the forward and loss (the backward follows the forward's dtypes).
class Autocast {
 public:
  Autocast(bool on, const torch::Device& d) : on_(on && d.is_cuda()) {
    if (!on_) return;
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~Autocast() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }

 private:
  bool on_;
};

// What a job hands the loop.
struct Loop {
  MaBert model{nullptr};
  torch::Device device{torch::kCPU};
  TrainOptions opt;
  std::string run_dir;
  std::function<data::Batch(int64_t micro_step)> batch_at;
  std::function<torch::Tensor(const data::Batch&)> loss_of;  // on device
  std::function<std::map<std::string, double>()> evaluate;   // may be empty
  std::string watch;                                         // metric for best/early stopping
};

TrainResult run_loop(Loop& L, const Hooks& hooks) {
  const TrainOptions& o = L.opt;
  auto say = [&](const std::string& m) {
    if (hooks.on_message) hooks.on_message(m);
  };
  torch::optim::AdamW optimizer = make_optimizer(L.model, o);
  TrainerState state;
  const std::string log_path = L.run_dir + "/metrics.jsonl";
  if (o.resume) {
    if (auto ckpt = latest_checkpoint(L.run_dir)) {
      load_checkpoint(*ckpt, L.model, &optimizer, &state);
      say("resumed from " + *ckpt + " at step " + std::to_string(state.step));
    } else {
      say("no checkpoint in " + L.run_dir + "; starting from step 0");
    }
  }
  TrainResult res;
  const int64_t start_step = state.step;
  const auto t0 = Clock::now();
  int64_t tokens_since = 0;
  auto t_last = t0;
  double loss_acc = 0;
  int64_t loss_n = 0;

  auto do_eval = [&](int64_t step) -> bool {  // returns true when early stopping triggers
    if (!L.evaluate) return false;
    L.model->eval();
    EvalStats ev{step, L.evaluate()};
    L.model->train();
    append_jsonl(log_path, {{"event", "eval"}, {"step", step}, {"metrics", ev.metrics}});
    if (hooks.on_eval) hooks.on_eval(ev);
    res.final_metrics = ev.metrics;
    const double v = ev.metrics.count(L.watch) ? ev.metrics.at(L.watch) : NAN;
    if (state.best_step < 0 || v > state.best_metric) {
      state.best_metric = v, state.best_step = step, state.evals_without_improvement = 0;
      res.best_metrics = ev.metrics;
      save_model(L.model, L.run_dir + "/best");  // weights + config, atomically per file
    } else {
      ++state.evals_without_improvement;
    }
    return o.patience > 0 && state.evals_without_improvement >= o.patience;
  };

  L.model->train();
  std::string status = "finished";
  while (state.step < o.steps) {
    const int64_t step = state.step;
    const double lr = lr_at(o, step);
    for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);

    optimizer.zero_grad();
    double step_loss = 0;
    for (int64_t k = 0; k < o.grad_accum; ++k) {
      data::Batch b = L.batch_at(step * o.grad_accum + k);
      tokens_since += b.tokens;
      torch::Tensor loss;
      {
        Autocast autocast(o.bf16, L.device);
        loss = L.loss_of(b) / static_cast<double>(o.grad_accum);
      }
      loss.backward();
      step_loss += loss.item<double>();
    }
    if (!std::isfinite(step_loss)) {
      status = "diverged";
      res.message = "loss became " + std::to_string(step_loss) + " at step " + std::to_string(step + 1) +
                    "; stopped, the last good checkpoint is kept (try a lower learning rate)";
      say(res.message);
      break;
    }
    double gnorm = 0;
    if (o.clip > 0) gnorm = torch::nn::utils::clip_grad_norm_(L.model->parameters(), o.clip);
    optimizer.step();
    state.step = step + 1;
    loss_acc += step_loss, ++loss_n;
    res.last_loss = step_loss;

    const bool last = state.step == o.steps;
    if (state.step % std::max<int64_t>(1, o.log_every) == 0 || last) {
      const auto now = Clock::now();
      const double dt = std::chrono::duration<double>(now - t_last).count();
      StepStats s;
      s.step = state.step, s.total_steps = o.steps, s.loss = loss_acc / loss_n, s.lr = lr, s.grad_norm = gnorm;
      s.tokens_per_s = dt > 0 ? tokens_since / dt : 0;
      s.elapsed_s = std::chrono::duration<double>(now - t0).count();
      s.eta_s = s.elapsed_s / static_cast<double>(std::max<int64_t>(1, state.step - start_step)) * (o.steps - state.step);
      append_jsonl(log_path, {{"event", "step"}, {"step", s.step}, {"loss", s.loss}, {"lr", s.lr},
                              {"grad_norm", s.grad_norm}, {"tokens_per_s", s.tokens_per_s}, {"elapsed_s", s.elapsed_s}});
      if (hooks.on_step) hooks.on_step(s);
      loss_acc = 0, loss_n = 0, tokens_since = 0, t_last = now;
    }
    bool early = false;
    if (o.eval_every > 0 && state.step % o.eval_every == 0 && !last) early = do_eval(state.step);
    if (o.save_every > 0 && state.step % o.save_every == 0 && !last) save_checkpoint(L.run_dir, L.model, optimizer, state);
    if (early) {
      status = "early_stopped";
      break;
    }
    if (hooks.on_probe && hooks.probe_every > 0 && (state.step % hooks.probe_every == 0 || last)) {
      torch::NoGradGuard no_grad;
      L.model->eval();
      hooks.on_probe(L.model, state.step);
      L.model->train();
    }
    while (hooks.pause && hooks.pause->load() && !(hooks.stop && hooks.stop->load()))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (hooks.stop && hooks.stop->load()) {
      status = "stopped";
      break;
    }
  }
  if (status != "diverged") {
    const bool evaluate = status == "finished" || (status == "early_stopped" && res.final_metrics.empty());
    if (evaluate) do_eval(state.step);
    save_checkpoint(L.run_dir, L.model, optimizer, state);
  }
  res.status = status;
  res.steps = state.step;
  return res;
}

void prepare_run_dir(const std::string& run_dir, const ModelConfig& cfg, const std::string& tokenizer,
                     const nlohmann::ordered_json& info) {
  fs::create_directories(run_dir);
  cfg.save(run_dir + "/config.json");
  const std::string tok_dst = run_dir + "/tokenizer.model";
  if (fs::absolute(tokenizer) != fs::absolute(tok_dst)) write_file_atomic(tok_dst, read_file(tokenizer));
  write_file_atomic(run_dir + "/run.json", info.dump(2) + "\n");
}

torch::Device device_of(const TrainOptions& o) {
  if (o.device == "cuda") {
    if (!torch::cuda::is_available()) throw std::runtime_error("--device cuda: no CUDA device is available");
    return torch::Device(torch::kCUDA, 0);
  }
  if (o.device != "cpu") throw std::invalid_argument("device must be cpu or cuda, got '" + o.device + "'");
  if (o.bf16) throw std::invalid_argument("--bf16 is autocast on CUDA; on the CPU training runs in fp32");
  return torch::Device(torch::kCPU);
}

data::Batch to_device(data::Batch b, const torch::Device& d) {
  b.ids = b.ids.to(d), b.mask = b.mask.to(d), b.segments = b.segments.to(d);
  if (b.labels.defined()) b.labels = b.labels.to(d);
  return b;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
TrainResult pretrain(const PretrainJob& job, const Hooks& hooks) {
  Tokenizer tok = Tokenizer::load(job.tokenizer);
  ModelConfig cfg = job.model;
  cfg.vocab_size = tok.vocab_size();
  cfg.head = "none";
  if (job.train.max_len > cfg.max_len)
    throw std::invalid_argument("max_len " + std::to_string(job.train.max_len) + " exceeds the model's max_len " +
                                std::to_string(cfg.max_len));
  cfg.validate();

  // Examples: natural sentences (the padded, variable-length case PSM is for) or packed blocks.
  std::vector<Encoding> examples;
  const int64_t body = job.train.max_len - 2;
  std::vector<int64_t> stream;
  for (const auto& doc : data::read_corpus(job.corpus)) {
    for (const auto& s : doc.sentences) {
      if (job.max_sentences > 0 && static_cast<int64_t>(examples.size()) >= job.max_sentences) break;
      if (!job.packed) {
        Encoding e = tok.encode(s, nullptr, job.train.max_len);
        if (e.ids.size() > 3) examples.push_back(std::move(e));  // at least two pieces of text
        continue;
      }
      const auto p = tok.encode_pieces(s);
      stream.insert(stream.end(), p.begin(), p.end());
      while (static_cast<int64_t>(stream.size()) >= body) {
        Encoding e;
        e.ids.push_back(Tokenizer::kCls);
        e.ids.insert(e.ids.end(), stream.begin(), stream.begin() + body);
        e.ids.push_back(Tokenizer::kSep);
        e.segments.assign(e.ids.size(), 0);
        stream.erase(stream.begin(), stream.begin() + body);
        examples.push_back(std::move(e));
      }
    }
  }
  if (examples.empty()) throw std::runtime_error("pretraining: the corpus gave no examples");
  std::vector<int64_t> lengths;
  for (const auto& e : examples) lengths.push_back(static_cast<int64_t>(e.ids.size()));

  Loop L;
  L.device = device_of(job.train);
  {
    std::lock_guard<std::mutex> seeded(init_mutex());
    torch::manual_seed(job.train.seed);
    L.model = MaBert(cfg);
  }
  L.model->to(L.device);
  L.opt = job.train;
  L.run_dir = job.run_dir;
  nlohmann::ordered_json info = {{"kind", "pretrain"}, {"corpus", job.corpus}, {"examples", examples.size()},
                                 {"train", job.train.to_json()}, {"model", cfg.to_json()}};
  prepare_run_dir(job.run_dir, cfg, job.tokenizer, info);
  if (hooks.on_message)
    hooks.on_message(std::to_string(examples.size()) + " examples, " + std::to_string(count_parameters(*L.model)) + " parameters");

  data::BatchOrder order(lengths, job.train.batch_size, job.train.seed, job.train.bucket);
  data::MlmMasking masking;
  masking.vocab_size = cfg.vocab_size;
  L.batch_at = [&](int64_t micro) {
    std::vector<const Encoding*> items;
    for (int64_t i : order.at(micro)) items.push_back(&examples[static_cast<size_t>(i)]);
    data::Batch b = data::collate(items);
    std::mt19937_64 rng(data::step_seed(job.train.seed, micro));
    data::apply_mlm_masking(b, masking, rng);
    return to_device(std::move(b), L.device);
  };
  L.loss_of = [&](const data::Batch& b) {
    EncoderOutput out = L.model->forward(b.ids, b.mask, b.segments);
    const torch::Tensor sel = b.labels.ne(-100);
    const torch::Tensor logits = L.model->mlm_logits(out.hidden.index({sel}));
    return torch::cross_entropy_loss(logits.to(torch::kFloat), b.labels.index({sel}));
  };
  // Held-out MLM loss on a fixed slice (first 2 % of examples, at most 256) as the evaluation.
  std::vector<int64_t> held;
  for (int64_t i = 0; i < std::min<int64_t>(256, std::max<int64_t>(1, static_cast<int64_t>(examples.size()) / 50)); ++i) held.push_back(i);
  L.evaluate = [&]() -> std::map<std::string, double> {
    torch::NoGradGuard g;
    double total = 0;
    int64_t n = 0;
    for (size_t s = 0; s < held.size(); s += static_cast<size_t>(job.train.batch_size)) {
      std::vector<const Encoding*> items;
      for (size_t i = s; i < std::min(held.size(), s + static_cast<size_t>(job.train.batch_size)); ++i)
        items.push_back(&examples[static_cast<size_t>(held[i])]);
      data::Batch b = data::collate(items);
      std::mt19937_64 rng(data::step_seed(job.train.seed ^ 0xE7A1u, static_cast<int64_t>(s)));
      data::apply_mlm_masking(b, masking, rng);
      total += L.loss_of(to_device(std::move(b), L.device)).item<double>();
      ++n;
    }
    const double loss = total / std::max<int64_t>(1, n);
    return {{"mlm_loss", loss}, {"neg_mlm_loss", -loss}};
  };
  L.watch = "neg_mlm_loss";
  return run_loop(L, hooks);
}

// ---------------------------------------------------------------------------------------------
namespace {

std::vector<Encoding> encode_split(const Tokenizer& tok, const data::GlueSplit& split, int64_t max_len) {
  std::vector<Encoding> out;
  out.reserve(split.examples.size());
  for (const auto& ex : split.examples) out.push_back(tok.encode(ex.a, split.task.pair ? &ex.b : nullptr, max_len));
  return out;
}

torch::Tensor task_loss(const ModelConfig& cfg, const torch::Tensor& logits, const torch::Tensor& labels) {
  if (cfg.head == "regression") return torch::mse_loss(logits.to(torch::kFloat), labels.to(torch::kFloat));
  return torch::cross_entropy_loss(logits.to(torch::kFloat), labels.to(torch::kLong));
}

}  // namespace

std::map<std::string, double> evaluate(MaBert& model, const Tokenizer& tok, const data::GlueSplit& split, int64_t max_len,
                                       int64_t batch_size, std::vector<Prediction>* predictions) {
  torch::NoGradGuard guard;
  const bool was_training = model->is_training();
  model->eval();
  const auto device = model->parameters().front().device();
  const auto enc = encode_split(tok, split, max_len);
  std::vector<double> labels, preds;
  for (size_t s = 0; s < enc.size(); s += static_cast<size_t>(batch_size)) {
    std::vector<const Encoding*> items;
    for (size_t i = s; i < std::min(enc.size(), s + static_cast<size_t>(batch_size)); ++i) items.push_back(&enc[i]);
    data::Batch b = to_device(data::collate(items), device);
    EncoderOutput out = model->forward(b.ids, b.mask, b.segments);
    const torch::Tensor logits = out.logits.to(torch::kFloat).cpu();
    const torch::Tensor probs = model->config().head == "regression" ? logits : torch::softmax(logits, -1);
    const torch::Tensor weights = out.pool_weights.to(torch::kFloat).cpu();
    for (size_t k = 0; k < items.size(); ++k) {
      const auto i = static_cast<int64_t>(k);
      const double p = model->config().head == "regression" ? logits[i].item<double>() : logits[i].argmax().item<double>();
      preds.push_back(p);
      labels.push_back(split.examples[s + k].label);
      if (predictions) {
        Prediction pr;
        pr.label = p;
        if (model->config().head != "regression") {
          auto row = probs[i].contiguous();
          pr.probabilities.assign(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
        }
        const int64_t n = static_cast<int64_t>(items[k]->ids.size());
        auto w = weights[i].narrow(0, 0, n).contiguous();
        pr.map_weights.assign(w.data_ptr<float>(), w.data_ptr<float>() + n);
        predictions->push_back(std::move(pr));
      }
    }
  }
  if (was_training) model->train();
  if (!split.labelled) return {};
  return glue_metrics(split.task.name, labels, preds);
}

Prediction predict(MaBert& model, const Tokenizer& tok, const std::string& a, const std::string* b, int64_t max_len) {
  torch::NoGradGuard guard;
  model->eval();
  const Encoding e = tok.encode(a, b, max_len);
  data::Batch batch = to_device(data::collate({&e}), model->parameters().front().device());
  EncoderOutput out = model->forward(batch.ids, batch.mask, batch.segments);
  Prediction p;
  p.pieces = tok.pieces(e.ids);
  auto w = out.pool_weights[0].to(torch::kFloat).cpu().contiguous();
  p.map_weights.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
  if (out.logits.defined()) {
    const torch::Tensor l = out.logits[0].to(torch::kFloat).cpu();
    if (model->config().head == "regression") {
      p.label = l.item<double>();
    } else {
      auto pr = torch::softmax(l, -1).contiguous();
      p.probabilities.assign(pr.data_ptr<float>(), pr.data_ptr<float>() + pr.numel());
      p.label = pr.argmax().item<double>();
    }
  }
  return p;
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
  if (best && fs::exists(run_dir + "/best/model.safetensors")) {
    r.model = load_model(run_dir + "/best");
  } else {
    r.model = MaBert(ModelConfig::load(run_dir + "/config.json"));
    const auto ckpt = latest_checkpoint(run_dir);
    if (!ckpt) throw std::runtime_error(run_dir + ": no checkpoint to load");
    load_checkpoint(*ckpt, r.model, nullptr, nullptr);
  }
  if (r.model->config().vocab_size != r.tokenizer.vocab_size())
    throw std::runtime_error(run_dir + ": the tokenizer has " + std::to_string(r.tokenizer.vocab_size()) +
                             " pieces but the model's vocabulary is " + std::to_string(r.model->config().vocab_size));
  r.model->eval();
  return r;
}

TrainResult finetune(const FinetuneJob& job, const Hooks& hooks) {
  const data::GlueTask& task = data::glue_task(job.task);
  data::GlueSplit train = data::load_glue(task.name, job.data_dir, "train");
  const std::string dev_name = task.name == "MNLI" ? "dev_matched" : "dev";
  data::GlueSplit dev = data::load_glue(task.name, job.data_dir, dev_name);
  if (job.max_train_examples > 0 && static_cast<int64_t>(train.examples.size()) > job.max_train_examples)
    train.examples.resize(static_cast<size_t>(job.max_train_examples));

  std::unique_lock<std::mutex> seeded(init_mutex());  // until the model is built
  torch::manual_seed(job.train.seed);
  ModelConfig cfg;
  std::string tok_path = job.tokenizer;
  if (!job.init.empty()) {
    cfg = ModelConfig::load(job.init + "/config.json");
    tok_path = job.init + "/tokenizer.model";
  } else {
    cfg = job.model;
    if (tok_path.empty()) throw std::invalid_argument("fine-tuning from random initialisation needs --tokenizer");
  }
  Tokenizer tok = Tokenizer::load(tok_path);
  cfg.vocab_size = tok.vocab_size();
  if (!job.pooling.empty()) cfg.pooling = job.pooling;
  cfg.head = task.regression ? "regression" : "classification";
  cfg.num_labels = task.regression ? 2 : task.num_labels();
  cfg.validate();

  Loop L;
  L.device = device_of(job.train);
  L.model = MaBert(cfg);
  seeded.unlock();
  if (!job.init.empty()) {
    // Encoder weights from the pretraining run; the task head starts fresh.
    const auto ckpt = latest_checkpoint(job.init);
    if (!ckpt) throw std::runtime_error(job.init + ": no checkpoint to initialise from");
    MaBert pre(ModelConfig::load(job.init + "/config.json"));
    load_checkpoint(*ckpt, pre, nullptr, nullptr);
    torch::NoGradGuard g;
    auto dst = L.model->named_parameters();
    for (const auto& p : pre->named_parameters())
      if (torch::Tensor* t = dst.find(p.key())) t->copy_(p.value());
  }
  L.model->to(L.device);
  L.opt = job.train;
  L.run_dir = job.run_dir;
  nlohmann::ordered_json info = {{"kind", "finetune"}, {"task", task.name}, {"data", job.data_dir}, {"init", job.init},
                                 {"train_examples", train.examples.size()}, {"train", job.train.to_json()},
                                 {"model", cfg.to_json()}};
  prepare_run_dir(job.run_dir, cfg, tok_path, info);

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
    data::Batch b = data::collate(items);
    b.labels = torch::tensor(labels, torch::kDouble);
    return to_device(std::move(b), L.device);
  };
  L.loss_of = [&](const data::Batch& b) {
    EncoderOutput out = L.model->forward(b.ids, b.mask, b.segments);
    return task_loss(cfg, out.logits, b.labels);
  };
  L.evaluate = [&]() { return evaluate(L.model, tok, dev, job.train.max_len, 64); };
  L.watch = job.train.early_stop_metric.empty() ? task.metric : job.train.early_stop_metric;
  if (hooks.on_message)
    hooks.on_message(task.name + ": " + std::to_string(train.examples.size()) + " training examples, " +
                     std::to_string(dev.examples.size()) + " dev examples");
  return run_loop(L, hooks);
}

RunCheck check_run(const std::string& run_dir) {
  namespace fs = std::filesystem;
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
  const auto ckpt = latest_checkpoint(run_dir);
  if (!ckpt) return r;
  MaBert model(ModelConfig::load(run_dir + "/config.json"));
  torch::optim::AdamW opt = make_optimizer(model, TrainOptions{});
  TrainerState state;
  load_checkpoint(*ckpt, model, &opt, &state);
  r.checkpoint = *ckpt;
  r.step = state.step;
  return r;
}

}  // namespace mabert::train

#include "train/loop.h"

#include "train/checkpoint.h"
#include "util/autocast.h"
#include "util/rng.h"

#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <fcntl.h>
#include <unistd.h>

namespace mabert::train {

torch::optim::AdamW make_optimizer(MaBert& model, const TrainOptions& o) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) (no_weight_decay(p.key()) ? no_decay : decay).push_back(p.value());
  auto opts = torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.adam_eps).weight_decay(o.weight_decay);
  auto opts_nd = opts;
  opts_nd.weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(opts_nd));
  return torch::optim::AdamW(groups, opts);
}

namespace {
using Clock = std::chrono::steady_clock;

// Appends one JSON line with a single write(2), so concurrent readers see whole lines.
void append_jsonl(const std::string& path, const nlohmann::ordered_json& j) {
  const std::string line = j.dump() + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(path + ": cannot open the metrics log for appending");
  const ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) throw std::runtime_error(path + ": writing the metrics log failed");
}

// The loop's state between steps, and the named steps it is made of.
class Trainer {
 public:
  Trainer(LoopJob& job, const Hooks& hooks)
      : job_(job), o_(job.opt), hooks_(hooks), optimizer_(make_optimizer(job.model, job.opt)),
        rng_(job.opt.seed, job.device), log_path_(job.run_dir + "/metrics.jsonl") {
    job_.model->set_scan_impl(o_.scan);
  }

  TrainResult run() {
    resume_if_asked();
    job_.model->train();
    while (state_.step < o_.steps) {
      const int64_t step = state_.step;
      set_learning_rate(step);
      optimizer_.zero_grad();
      const double loss = forward_backward(step);
      if (!std::isfinite(loss)) return diverged(loss, step);
      const double grad_norm = clip_gradients();
      optimizer_.step();
      state_.step = step + 1;
      record_loss(loss);
      if (due(o_.log_every) || last()) log_step(grad_norm);
      const bool early = due(o_.eval_every) && !last() && evaluate_now();
      if (due(o_.save_every) && !last()) checkpoint();
      if (early) return finish(RunStatus::EarlyStopped);
      if (due(hooks_.probe_every) || (last() && hooks_.probe_every > 0)) probe();
      if (stop_requested_after_pause()) return finish(RunStatus::Stopped);
    }
    return finish(RunStatus::Finished);
  }

 private:
  void say(const std::string& m) const {
    if (hooks_.on_message) hooks_.on_message(m);
  }
  bool due(int64_t every) const { return every > 0 && state_.step % every == 0; }
  bool last() const { return state_.step == o_.steps; }

  void resume_if_asked() {
    if (!o_.resume) return;
    if (auto ckpt = latest_checkpoint(job_.run_dir)) {
      load_checkpoint(*ckpt, job_.model, &optimizer_, &state_);
      try {
        rng_.set_state(state_.rng);
      } catch (const std::runtime_error& e) {
        throw std::runtime_error(*ckpt + "/rng.safetensors: " + e.what());
      }
      say("resumed from " + *ckpt + " at step " + std::to_string(state_.step));
    } else {
      say("no checkpoint in " + job_.run_dir + "; starting from step 0");
    }
    start_step_ = state_.step;
  }

  void set_learning_rate(int64_t step) {
    lr_ = lr_at(o_, step);
    for (auto& g : optimizer_.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr_);
  }

  // Forward and backward over the step's micro-batches; the summed (accumulation-scaled) loss.
  double forward_backward(int64_t step) {
    double loss_sum = 0;
    for (int64_t k = 0; k < o_.grad_accum; ++k) {
      data::Batch b = job_.batch_at(step * o_.grad_accum + k);
      tokens_since_log_ += b.tokens;
      at::Tensor loss;
      {
        JobRng::Use own_stream(rng_);  // dropout draws from this job's generator
        AutocastBf16 autocast(o_.bf16, job_.device);
        loss = job_.loss_of(b) / static_cast<double>(o_.grad_accum);
      }
      loss.backward();
      loss_sum += loss.item<double>();
    }
    return loss_sum;
  }

  double clip_gradients() {
    return o_.clip > 0 ? torch::nn::utils::clip_grad_norm_(job_.model->parameters(), o_.clip) : 0.0;
  }

  void record_loss(double loss) {
    loss_acc_ += loss, ++loss_n_;
    result_.last_loss = loss;
  }

  void log_step(double grad_norm) {
    const auto now = Clock::now();
    const double dt = std::chrono::duration<double>(now - t_log_).count();
    StepStats s;
    s.step = state_.step, s.total_steps = o_.steps, s.loss = loss_acc_ / loss_n_, s.lr = lr_, s.grad_norm = grad_norm;
    s.tokens_per_s = dt > 0 ? tokens_since_log_ / dt : 0;
    s.elapsed_s = std::chrono::duration<double>(now - t0_).count();
    s.eta_s = s.elapsed_s / static_cast<double>(std::max<int64_t>(1, state_.step - start_step_)) * (o_.steps - state_.step);
    append_jsonl(log_path_, {{"event", "step"}, {"step", s.step}, {"loss", s.loss}, {"lr", s.lr},
                             {"grad_norm", s.grad_norm}, {"tokens_per_s", s.tokens_per_s}, {"elapsed_s", s.elapsed_s}});
    if (hooks_.on_step) hooks_.on_step(s);
    loss_acc_ = 0, loss_n_ = 0, tokens_since_log_ = 0, t_log_ = now;
  }

  // Evaluates, keeps the best weights; returns true when early stopping triggers.
  bool evaluate_now() {
    if (!job_.evaluate) return false;
    job_.model->eval();
    EvalStats ev{state_.step, job_.evaluate()};
    job_.model->train();
    append_jsonl(log_path_, {{"event", "eval"}, {"step", ev.step}, {"metrics", ev.metrics}});
    if (hooks_.on_eval) hooks_.on_eval(ev);
    result_.final_metrics = ev.metrics;
    const double v = ev.metrics.count(job_.watch) ? ev.metrics.at(job_.watch) : NAN;
    if (state_.best_step < 0 || v > state_.best_metric) {
      state_.best_metric = v, state_.best_step = ev.step, state_.evals_without_improvement = 0;
      result_.best_metrics = ev.metrics;
      save_model(job_.model, job_.run_dir + "/best");  // weights + config, atomically per file
    } else {
      ++state_.evals_without_improvement;
    }
    return o_.patience > 0 && state_.evals_without_improvement >= o_.patience;
  }

  void checkpoint() {
    state_.rng = rng_.state();
    state_.rng_kind = rng_.kind();
    save_checkpoint(job_.run_dir, job_.model, optimizer_, state_);
  }

  void probe() {
    if (!hooks_.on_probe) return;
    torch::NoGradGuard no_grad;
    job_.model->eval();
    hooks_.on_probe(job_.model, state_.step);
    job_.model->train();
  }

  bool stop_requested_after_pause() {
    return hooks_.control && hooks_.control->wait_while_paused();
  }

  TrainResult diverged(double loss, int64_t step) {
    result_.status = RunStatus::Diverged;
    result_.message = "loss became " + std::to_string(loss) + " at step " + std::to_string(step + 1) +
                      "; stopped, the last good checkpoint is kept (try a lower learning rate)";
    say(result_.message);
    result_.steps = state_.step;
    return result_;
  }

  // The end of a run that did not diverge: a final evaluation when it finished (or stopped early
  // before any), the checkpoint, the result.
  TrainResult finish(RunStatus status) {
    result_.status = status;
    const bool eval = status == RunStatus::Finished || (status == RunStatus::EarlyStopped && result_.final_metrics.empty());
    if (eval) evaluate_now();
    checkpoint();
    result_.steps = state_.step;
    return result_;
  }

  LoopJob& job_;
  const TrainOptions& o_;
  const Hooks& hooks_;
  torch::optim::AdamW optimizer_;
  JobRng rng_;
  TrainerState state_;
  TrainResult result_;
  const std::string log_path_;
  int64_t start_step_ = 0, tokens_since_log_ = 0, loss_n_ = 0;
  double lr_ = 0, loss_acc_ = 0;
  const Clock::time_point t0_ = Clock::now();
  Clock::time_point t_log_ = t0_;
};

}  // namespace

TrainResult run_loop(LoopJob& job, const Hooks& hooks) { return Trainer(job, hooks).run(); }

LoopJob new_loop_job(const ModelConfig& cfg, const TrainOptions& opt, const std::string& run_dir) {
  LoopJob L;
  L.device = torch_device(opt.device);
  if (opt.bf16 && !L.device.is_cuda()) throw std::invalid_argument("--bf16 is autocast on CUDA; on the CPU training runs in fp32");
  {
    std::lock_guard<std::mutex> seeded(rng_mutex());
    torch::manual_seed(opt.seed);
    L.model = MaBert(cfg);
  }
  L.opt = opt;
  L.run_dir = run_dir;
  return L;
}

data::Batch to_device(data::Batch b, const c10::Device& d) {
  b.ids = b.ids.to(d), b.mask = b.mask.to(d), b.segments = b.segments.to(d);
  if (b.labels.defined()) b.labels = b.labels.to(d);
  return b;
}

}  // namespace mabert::train

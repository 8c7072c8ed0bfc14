#include "train/loop.h"

#include "train/batch_loader.h"
#include "train/checkpoint.h"
#include "train/grad_reducer.h"
#include "util/autocast.h"
#include "util/cpu_features.h"
#include "util/rng.h"

#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fcntl.h>
#include <unistd.h>

namespace mabert::train {

FusedAdamW make_optimizer(MaBert& model, const TrainOptions& o) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) (no_weight_decay(p.key()) ? no_decay : decay).push_back(p.value());
  auto opts = torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.adam_eps).weight_decay(o.weight_decay);
  auto opts_nd = opts;
  opts_nd.weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(opts_nd));
  return FusedAdamW(groups, opts);
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

// While alive, the model's dropout masks are keyed by (seed, micro-step, global row): the same
// masks on 1 process and on any number of ranks (model/dropout.h). Unkeyed with --dropout-masks stream.
class KeyedMasks {
 public:
  KeyedMasks(MaBert& model, const TrainOptions& o, int64_t micro_step, int64_t first_row) : model_(model) {
    if (o.keyed_dropout) model_->set_dropout_key(DropoutKey{o.seed, micro_step, first_row});
  }
  ~KeyedMasks() { model_->set_dropout_key(std::nullopt); }
  KeyedMasks(const KeyedMasks&) = delete;
  KeyedMasks& operator=(const KeyedMasks&) = delete;

 private:
  MaBert& model_;
};

// The loop's state between steps, and the named steps it is made of.
class Trainer {
 public:
  Trainer(LoopJob& job, const Hooks& hooks)
      : job_(job), o_(job.opt), hooks_(hooks), world_(*job.world), optimizer_(make_optimizer(job.model, job.opt)),
        rng_(rank_seed(job.opt.seed, job.world->rank()), job.device), log_path_(job.run_dir + "/metrics.jsonl") {
    job_.model->set_scan_impl(o_.scan);
    if (o_.prefetch > 0) loader_ = std::make_unique<BatchLoader>(job_.batch_at, o_.prefetch);
  }

  TrainResult run() {
    if (o_.bf16 && world_.root()) {
      const std::string w = bf16_warning(job_.device);
      if (!w.empty()) say(w);
      else say("bf16 autocast on " + (job_.device.is_cpu() ? cpu_bf16().describe() : job_.device.str()));
    }
    resume_if_asked();
    start_from_rank_0_weights();
    job_.model->train();
    // A stop asked for while the job was being prepared (its data read and encoded, the model
    // built; or before its thread began it) ends it before its first step.
    if (stop_requested_after_pause()) return finish(RunStatus::Stopped);
    while (state_.step < o_.steps) {
      const int64_t step = state_.step;
      const auto t0 = Clock::now();
      set_learning_rate(step);
      optimizer_.zero_grad();
      const double loss = forward_backward(step);
      if (!std::isfinite(loss)) return diverged(loss, step);
      sum_gradients_over_ranks();
      const double grad_norm = clip_gradients();
      optimizer_.step();
      result_.step_s += std::chrono::duration<double>(Clock::now() - t0).count();
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
  // Rank 0 keeps the job's seed (one process trains exactly as before); the others get their own streams.
  static uint64_t rank_seed(uint64_t seed, int rank) { return rank == 0 ? seed : data::step_seed(seed, -1000 - rank); }

  void say(const std::string& m) const {
    if (hooks_.on_message) hooks_.on_message(m);
  }
  bool due(int64_t every) const { return every > 0 && state_.step % every == 0; }
  bool last() const { return state_.step == o_.steps; }

  void resume_if_asked() {
    if (!o_.resume) return;
    std::vector<std::string> rejected;
    const auto ckpt = latest_checkpoint(job_.run_dir, &rejected);
    for (const auto& why : rejected) say("checkpoint passed over, not loaded: " + why);
    if (ckpt) {
      load_checkpoint(*ckpt, job_.model, &optimizer_, &state_);
      const size_t r = static_cast<size_t>(world_.rank());
      if (r < state_.rngs.size()) {
        try {
          rng_.set_state(state_.rngs[r]);
        } catch (const std::runtime_error& e) {
          throw std::runtime_error(*ckpt + "/rng.safetensors: " + e.what());
        }
      } else {
        say("the checkpoint holds no random stream for rank " + std::to_string(r) + " (written by " +
            std::to_string(state_.rngs.size()) + " ranks): it starts from its seed");
      }
      say("resumed from " + *ckpt + " at step " + std::to_string(state_.step));
    } else {
      say("no checkpoint in " + job_.run_dir + "; starting from step 0");
    }
    start_step_ = state_.step;
    check_ranks_resumed_alike();
  }

  // Each rank reads "latest" from the run folder itself; on a folder that is not shared (or not
  // coherent between machines) they would resume from different steps and their collectives
  // would pair different steps' work. Checked before the first step, named per rank.
  void check_ranks_resumed_alike() {
    if (!world_.grouped()) return;
    const std::vector<int64_t> steps = world_.all_gather(state_.step);
    if (std::all_of(steps.begin(), steps.end(), [&](int64_t s) { return s == steps[0]; })) return;
    std::string each;
    for (size_t r = 0; r < steps.size(); ++r) each += (r ? ", rank " : "rank ") + std::to_string(r) + " at step " + std::to_string(steps[r]);
    throw std::runtime_error("the ranks resumed " + job_.run_dir + " from different checkpoints (" + each +
                             "): the run folder must be the same folder on every rank (a shared, coherent filesystem)");
  }

  // Every rank starts from rank 0's parameters and buffers (the same seed gives the same ones, a
  // resumed run loads the same checkpoint; the broadcast makes it so whatever happened).
  void start_from_rank_0_weights() {
    if (!world_.grouped()) return;
    torch::NoGradGuard g;
    std::vector<at::Tensor> all;
    for (const auto& p : job_.model->parameters()) all.push_back(p.detach());
    for (const auto& b : job_.model->buffers()) all.push_back(b.detach());
    world_.broadcast(all);
  }

  void set_learning_rate(int64_t step) {
    lr_ = lr_at(o_, step);
    for (auto& g : optimizer_.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr_);
  }

  // Forward and backward over the step's micro-batches (this rank's rows of each). Each micro-batch's
  // loss is its sum over the terms of every rank divided by their number, so the gradients summed
  // over ranks are those of one process on the whole batch. Returns the step's loss.
  double forward_backward(int64_t step) {
    double step_loss = 0;
    for (int64_t k = 0; k < o_.grad_accum; ++k) {
      data::Batch b = next_batch(step * o_.grad_accum + k);
      tokens_since_log_ += b.tokens;
      const bool has_rows = b.ids.defined() && b.ids.size(0) > 0;
      if (has_rows) result_.rows += b.ids.size(0), result_.pad_tokens += b.ids.numel() - b.tokens;
      LossTerms terms;
      if (has_rows) {
        JobRng::Use own_stream(rng_);  // dropout draws from this job's generator (unkeyed masks)
        AutocastBf16 autocast(o_.bf16, job_.device);
        KeyedMasks keyed(job_.model, o_, step * o_.grad_accum + k, b.first_row);
        terms = job_.loss_of(b);
      }
      const double local_sum = has_rows ? terms.sum.item<double>() : 0.0;
      const auto [sum, count] = !world_.grouped() ? std::pair<double, double>{local_sum, static_cast<double>(terms.count)}
                                                   : world_.sum2(local_sum, static_cast<double>(terms.count));
      const double scale = std::max(1.0, count) * static_cast<double>(o_.grad_accum);
      if (has_rows && reducer_ && k == o_.grad_accum - 1) reducer_->arm();  // this backward makes the gradients final
      if (has_rows) (terms.sum / scale).backward();
      step_loss += sum / scale;
    }
    return step_loss;
  }

  data::Batch next_batch(int64_t micro) {
    if (loader_) return loader_->get(micro);
    const auto t0 = Clock::now();
    data::Batch b = job_.batch_at(micro);
    result_.data_make_s += std::chrono::duration<double>(Clock::now() - t0).count();
    ++result_.batches_made;
    return b;
  }

  // The global gradient: each rank's part summed (not on accumulation micro-steps: once per step).
  // A parameter no rank computed a gradient for (pooling in MLM pretraining) keeps none, as in
  // one process; one that only some ranks did (a rank without rows) counts as zero on the others.
  void sum_gradients_over_ranks() {
    if (!world_.grouped()) return;
    const auto t0 = Clock::now();
    if (reducer_) {
      reducer_->finish();
      for (size_t i = 0; i < reduced_.size(); ++i)
        if (!reduced_[i] && job_.model->parameters()[i].grad().defined())
          throw std::runtime_error("a parameter without a gradient on the first step has one now: the overlapped all-reduce "
                                   "does not sum it (train with --overlap-comm off)");
    } else {
      sum_all_gradients();
    }
    result_.comm_wait_s += std::chrono::duration<double>(Clock::now() - t0).count();
  }

  // After backward, one all-reduce over every gradient some rank has; the first step's also
  // decides which parameters the overlapped reducer serves from then on.
  void sum_all_gradients() {
    std::vector<at::Tensor> params = job_.model->parameters();
    at::Tensor have = at::zeros({static_cast<int64_t>(params.size())}, at::kDouble);
    for (size_t i = 0; i < params.size(); ++i) have[static_cast<int64_t>(i)] = params[i].grad().defined() ? 1.0 : 0.0;
    world_.all_reduce_sum({have});
    std::vector<at::Tensor> grads;
    for (size_t i = 0; i < params.size(); ++i) {
      if (have[static_cast<int64_t>(i)].item<double>() == 0) continue;
      if (!params[i].grad().defined()) params[i].mutable_grad() = at::zeros_like(params[i]);
      grads.push_back(params[i].grad());
    }
    world_.all_reduce_sum(grads);
    if (!o_.overlap_comm) return;
    reduced_.assign(params.size(), false);
    std::vector<at::Tensor> plan;
    for (size_t i = 0; i < params.size(); ++i)
      if (have[static_cast<int64_t>(i)].item<double>() > 0) reduced_[i] = true, plan.push_back(params[i]);
    reducer_ = std::make_unique<GradReducer>(plan, world_, static_cast<int64_t>(o_.comm_bucket_mb * (1 << 20)));
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
    s.tokens_per_s = dt > 0 ? world_.sum(static_cast<double>(tokens_since_log_)) / dt : 0;
    s.elapsed_s = std::chrono::duration<double>(now - t0_).count();
    s.eta_s = s.elapsed_s / static_cast<double>(std::max<int64_t>(1, state_.step - start_step_)) * (o_.steps - state_.step);
    if (world_.root())
      append_jsonl(log_path_, {{"event", "step"}, {"step", s.step}, {"loss", s.loss}, {"lr", s.lr},
                               {"grad_norm", s.grad_norm}, {"tokens_per_s", s.tokens_per_s}, {"elapsed_s", s.elapsed_s}});
    if (hooks_.on_step) hooks_.on_step(s);
    loss_acc_ = 0, loss_n_ = 0, tokens_since_log_ = 0, t_log_ = now;
  }

  // Each rank scores its share of the held-out units; all ranks gather every unit's values and
  // compute the metrics from them (the same values in the same order: the same metrics).
  std::map<std::string, double> evaluate_sharded() {
    const Evaluation& e = job_.evaluate;
    const auto [begin, end] = dist::shard(e.units, world_.rank(), world_.size());
    torch::NoGradGuard no_grad;
    job_.model->eval();
    std::vector<double> mine;
    if (end > begin) mine = e.score(begin, end);  // in fp32 (as the run's final scores are)
    job_.model->train();
    std::vector<double> all;
    for (const auto& part : world_.all_gather_values(mine)) all.insert(all.end(), part.begin(), part.end());
    return e.metrics(all);
  }

  // Evaluates (sharded over the ranks, every rank ending with the same metrics, so the same
  // decisions), keeps the best weights; returns true when early stopping triggers.
  bool evaluate_now() {
    if (!job_.evaluate) return false;
    EvalStats ev{state_.step, evaluate_sharded()};
    if (world_.root()) append_jsonl(log_path_, {{"event", "eval"}, {"step", ev.step}, {"metrics", ev.metrics}});
    if (hooks_.on_eval) hooks_.on_eval(ev);
    result_.final_metrics = ev.metrics;
    const double v = ev.metrics.count(job_.watch) ? ev.metrics.at(job_.watch) : NAN;
    if (state_.best_step < 0 || v > state_.best_metric) {
      state_.best_metric = v, state_.best_step = ev.step, state_.evals_without_improvement = 0;
      result_.best_metrics = ev.metrics;
      if (world_.root()) save_model(job_.model, job_.run_dir + "/best");  // weights + config, atomically per file
      world_.barrier();
    } else {
      ++state_.evals_without_improvement;
    }
    if (o_.stop_at > 0 && v >= o_.stop_at) return true;  // solved: the rest of the budget would change nothing
    return o_.patience > 0 && state_.evals_without_improvement >= o_.patience;
  }

  // Rank 0 writes it, with every rank's random stream; the others wait until it is in place.
  void checkpoint() {
    state_.rngs = world_.all_gather_bytes(rng_.state());
    state_.rng_kind = rng_.kind();
    if (world_.root()) save_checkpoint(job_.run_dir, job_.model, optimizer_, state_);
    world_.barrier();
  }

  void probe() {
    if (!hooks_.on_probe || !world_.root()) return;
    torch::NoGradGuard no_grad;
    job_.model->eval();
    hooks_.on_probe(job_.model, state_.step);
    job_.model->train();
  }

  // Every rank stops at the same step: a stop asked of any (Ctrl-C, the GUI) stops all.
  bool stop_requested_after_pause() {
    const bool here = hooks_.control && hooks_.control->wait_while_paused([this] {
      if (hooks_.on_paused) hooks_.on_paused(state_.step);
    });
    return !world_.grouped() ? here : world_.any(here);
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
    check_replicas_agree();
    result_.steps = state_.step;
    if (loader_) {
      result_.data_wait_s = loader_->waited_seconds();
      result_.data_make_s = loader_->make_seconds(), result_.batches_made = loader_->made();
    }
    if (world_.root()) say_data_against_step();
    if (world_.grouped() && world_.root()) {
      char line[200];
      std::snprintf(line, sizeof line, "gradient all-reduce: %.2f s waited after backward over %lld steps (%s)", result_.comm_wait_s,
                    static_cast<long long>(state_.step - start_step_),
                    reducer_ ? ("overlapped: " + std::to_string(reducer_->buckets()) + " buckets, " +
                                std::to_string(reducer_->launched_in_backward()) + " launched during backward").c_str()
                             : "not overlapped");
      say(line);
    }
    return result_;
  }

  // How far ahead of the step the data is, measured in this run: the batch maker's batches/s
  // (alone on its thread, or inline) against the steps' micro-batches/s, and the wait.
  void say_data_against_step() const {
    const int64_t micro = (state_.step - start_step_) * o_.grad_accum;
    if (result_.batches_made <= 0 || micro <= 0 || result_.data_make_s <= 0 || result_.step_s <= 0) return;
    const double made_per_s = static_cast<double>(result_.batches_made) / result_.data_make_s;
    const double compute_s = result_.step_s - (loader_ ? result_.data_wait_s : result_.data_make_s);  // the step without its data
    if (compute_s <= 0) return;
    const double used_per_s = static_cast<double>(micro) / compute_s;
    char line[300];
    std::snprintf(line, sizeof line,
                  "data: %lld batches made at %.1f batches/s (%s); the steps used %.2f batches/s (%.3f s a step, "
                  "data excluded): the data %.1fx faster than the step; %.2f s waited for it",
                  static_cast<long long>(result_.batches_made), made_per_s,
                  loader_ ? "on the loader's thread" : "inline, no prefetch", used_per_s,
                  compute_s / static_cast<double>(state_.step - start_step_), made_per_s / used_per_s,
                  result_.data_wait_s);
    say(line);
  }

  // Data-parallel replicas must end bitwise identical: a checksum of every parameter's bits,
  // compared across ranks (a mismatch is a bug, and an error rather than a silently wrong model).
  void check_replicas_agree() {
    if (!world_.grouped()) return;
    int64_t h = 0;
    for (const auto& p : job_.model->parameters()) {
      const at::Tensor flat = p.detach().contiguous().reshape(-1);
      const at::ScalarType bits = flat.element_size() == 8 ? at::kLong : flat.element_size() == 2 ? at::kShort : at::kInt;
      h = h * 1000003 + flat.view(bits).sum(at::kLong).item<int64_t>();
    }
    const auto all = world_.all_gather(h);
    for (size_t r = 1; r < all.size(); ++r)
      if (all[r] != all[0])
        throw std::runtime_error("rank " + std::to_string(r) + "'s weights differ from rank 0's after training: the replicas diverged");
    if (world_.root()) say("the " + std::to_string(world_.size()) + " replicas' weights are bitwise identical (checksum " + std::to_string(all[0]) + ")");
  }

  LoopJob& job_;
  const TrainOptions& o_;
  const Hooks& hooks_;
  dist::World& world_;
  FusedAdamW optimizer_;
  JobRng rng_;
  TrainerState state_;
  TrainResult result_;
  std::unique_ptr<BatchLoader> loader_;  // after the members batch_at may use; stopped first
  std::unique_ptr<GradReducer> reducer_; // ranks with --overlap-comm: built on the first step
  std::vector<bool> reduced_;            // the parameters it sums
  const std::string log_path_;
  int64_t start_step_ = 0, tokens_since_log_ = 0, loss_n_ = 0;
  double lr_ = 0, loss_acc_ = 0;
  const Clock::time_point t0_ = Clock::now();
  Clock::time_point t_log_ = t0_;
};

}  // namespace

TrainResult run_loop(LoopJob& job, const Hooks& hooks) { return Trainer(job, hooks).run(); }

LoopJob new_loop_job(const ModelConfig& cfg, const TrainOptions& opt, const std::string& run_dir,
                     std::shared_ptr<dist::World> world) {
  LoopJob L;
  L.world = world ? std::move(world) : std::make_shared<dist::World>();
  L.device = torch_device(opt.device, opt.device_index);
  L.model = seeded_model(cfg, opt.seed);
  L.opt = opt;
  L.run_dir = run_dir;
  return L;
}

data::Batch slice_rows(const data::Batch& b, int64_t begin, int64_t end) {
  if (begin == 0 && end == b.ids.size(0)) return b;
  data::Batch s;
  s.ids = b.ids.narrow(0, begin, end - begin), s.mask = b.mask.narrow(0, begin, end - begin);
  s.segments = b.segments.narrow(0, begin, end - begin);
  if (b.labels.defined()) s.labels = b.labels.narrow(0, begin, end - begin);
  s.tokens = end > begin ? static_cast<int64_t>(s.mask.sum().item<double>()) : 0;
  s.first_row = b.first_row + begin;
  return s;
}

data::Batch to_device(data::Batch b, const c10::Device& d) {
  b.ids = b.ids.to(d), b.mask = b.mask.to(d), b.segments = b.segments.to(d);
  if (b.labels.defined()) b.labels = b.labels.to(d);
  return b;
}

}  // namespace mabert::train

#include "analysis/efficiency.h"
#include "analysis/profile_compare.h"

#include "model/mabert.h"
#include "tokenize/tokenizer.h"
#include "train/fused_adamw.h"
#include "selective_scan/selective_scan.h"
#include "util/autocast.h"
#include "util/device.h"
#include "util/enum_names.h"
#include "util/errors.h"
#include "util/memory.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <sstream>

#if MABERT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace mabert::analysis {

std::vector<ProfilePoint> profile(const ModelConfig& base, const std::vector<std::string>& schedules,
                                  const ProfileOptions& opt, const std::function<void(const ProfilePoint&)>& on_point,
                                  const std::atomic<bool>* stop) {
  std::vector<ProfileModel> models;
  for (const std::string& schedule : schedules) {
    ProfileModel m{schedule, base};
    m.cfg.schedule = schedule;
    models.push_back(m);
  }
  return profile(models, opt, on_point, stop);
}

namespace {
constexpr EnumName<ProfileMode> kProfileModeNames[] = {{ProfileMode::Inference, "inference"}, {ProfileMode::Train, "train"}};
static_assert(std::size(kProfileModeNames) == 2, "a ProfileMode without a name");
}  // namespace

const char* to_string(ProfileMode m) { return enum_name(kProfileModeNames, m); }

ProfileMode parse_profile_mode(const std::string& s) {
  if (const auto m = enum_value(kProfileModeNames, s)) return *m;
  throw std::invalid_argument("profile: mode must be inference or train, got '" + s + "'");
}

namespace {

// A model of the profile, built once and timed at every length.
struct ProfileEntry {
  std::string schedule;
  ModelConfig cfg;
  MaBert model{nullptr};
  std::unique_ptr<train::FusedAdamW> optim;
  bool bf16 = false;
  int64_t params = 0;
};

// One model at one length: its point, one call of what is timed, and the timings.
struct TimedRun {
  ProfilePoint p;
  std::function<void()> run_once;
  std::vector<double> ms;
  double flops = 0;  // model FLOPs of one call
};

std::vector<ProfileEntry> build_profile_models(const std::vector<ProfileModel>& models, const ProfileOptions& opt,
                                               const torch::Device& dev, int64_t max_length) {
  const kernels::ScanImpl scan = kernels::parse_scan_impl(opt.scan);  // per model: other threads keep theirs
  std::vector<ProfileEntry> entries;
  for (const ProfileModel& m : models) {
    ProfileEntry e;
    e.schedule = m.name;
    e.cfg = m.cfg;
    e.bf16 = m.bf16 || opt.bf16;
    e.cfg.max_len = std::max(e.cfg.max_len, max_length);
    e.cfg.rel_range = std::max(e.cfg.rel_range, max_length);
    e.cfg.dropout = 0.0;  // timing, not regularisation
    e.cfg.validate("profile");
    e.model = seeded_model(e.cfg, opt.seed);
    e.model->to(dev);
    e.model->set_scan_impl(scan);
    // CUDA inference holds all weights in bf16. CPU inference holds the matrix weights in bf16 (no
    // cast on every call) and runs under autocast, which keeps LayerNorm, softmax and the scan's
    // state in fp32 (the CPU's bf16 LayerNorm would not). Training keeps fp32 master weights.
    if (e.bf16 && dev.is_cuda() && opt.mode == ProfileMode::Inference) e.model->to(torch::kBFloat16);
    if (e.bf16 && dev.is_cpu() && opt.mode == ProfileMode::Inference) e.model->hold_matrix_weights_in(torch::kBFloat16);
    e.params = count_parameters(*e.model);
    if (opt.mode == ProfileMode::Train) {
      e.model->train();
      e.optim = std::make_unique<train::FusedAdamW>(e.model->parameters(), torch::optim::AdamWOptions(1e-4));
    } else {
      e.model->eval();
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

// Every model's run at length L: random ids, and for training an MLM-style loss on 15 % of the
// positions. The runs refer to `entries`, which must outlive them.
std::vector<TimedRun> runs_at_length(std::vector<ProfileEntry>& entries, int64_t L, const ProfileOptions& opt,
                                     const torch::Device& dev, at::Generator& inputs_gen) {
  std::vector<TimedRun> timed;
  for (ProfileEntry& entry : entries) {
    MaBert& model = entry.model;
    train::FusedAdamW* optim = entry.optim.get();
    const ModelConfig& cfg = entry.cfg;
    TimedRun t;
    t.p.schedule = entry.schedule, t.p.length = L, t.p.params = entry.params, t.p.bf16 = entry.bf16;
    const bool bf16 = entry.bf16;
    torch::Tensor ids = torch::randint(Tokenizer::kNumSpecial, cfg.vocab_size, {opt.batch, L}, inputs_gen, torch::kLong).to(dev);
    torch::Tensor mask = torch::ones({opt.batch, L}, torch::kFloat).to(dev);
    const int64_t n_masked = std::max<int64_t>(1, L * 15 / 100);
    const FlopEstimate fl = estimate_flops(cfg, L, opt.mode == ProfileMode::Train ? n_masked : 0);
    t.flops = static_cast<double>(opt.batch) * (opt.mode == ProfileMode::Train ? fl.train_step() : fl.forward());
    torch::Tensor pos = torch::randperm(L, inputs_gen, torch::kLong).narrow(0, 0, n_masked).to(dev);
    t.run_once = [&opt, &model, optim, &cfg, ids, mask, pos, dev, bf16] {
      if (opt.mode == ProfileMode::Inference) {
        torch::NoGradGuard g;
        AutocastBf16 autocast(bf16 && dev.is_cpu(), dev);
        (void)model->forward(ids, mask);
      } else {
        optim->zero_grad();
        torch::Tensor loss;
        {
          AutocastBf16 autocast(bf16, dev);
          EncoderOutput r = model->forward(ids, mask);
          torch::Tensor h = r.hidden.index_select(1, pos);  // {B, n, D}
          torch::Tensor logits = model->mlm_logits(h).to(torch::kFloat);
          loss = torch::nn::functional::cross_entropy(logits.reshape({-1, cfg.vocab_size}), ids.index_select(1, pos).reshape(-1));
        }
        loss.backward();
        optim->step();
      }
      synchronize(dev);
    };
    timed.push_back(std::move(t));
  }
  return timed;
}

// Runs `fn` for `t`; a run that fails for lack of memory leaves its point with the error and no timings.
void guarded(TimedRun& t, const torch::Device& dev, const std::function<void()>& fn) {
  if (!t.p.error.empty()) return;
  try {
    fn();
  } catch (const std::exception& e) {
    if (!is_out_of_memory(e)) throw;
    t.p.error = "out of memory";
#if MABERT_WITH_CUDA
    if (dev.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#else
    (void)dev;
#endif
  }
}

// Three runs of `t` under LibTorch's operator profiler (CPU activity, input shapes), saved as a
// Chrome trace at `path`.
void trace_runs(TimedRun& t, const std::string& path) {
  namespace prof = torch::profiler::impl;
  const prof::ProfilerConfig config(prof::ProfilerState::KINETO, /*report_input_shapes=*/true);
  const std::set<prof::ActivityType> activities{prof::ActivityType::CPU};
  torch::autograd::profiler::prepareProfiler(config, activities);
  torch::autograd::profiler::enableProfiler(config, activities);
  try {
    for (int i = 0; i < 3; ++i) t.run_once();
  } catch (...) {
    torch::autograd::profiler::disableProfiler();
    throw;
  }
  torch::autograd::profiler::disableProfiler()->save(path);
}

// Warm-up and one untimed run per model for its peak memory, then the timed repeats interleaved:
// round r runs every model once, in an order rotated by r, so a machine that speeds up or slows
// down during the measurement (a noisy VM, turbo, another job) shifts all models alike and the
// ratios against the baseline compare like with like. False when stopped.
bool time_runs(std::vector<TimedRun>& timed, const ProfileOptions& opt, const torch::Device& dev, const std::atomic<bool>* stop) {
  const int mem_dev = dev.is_cuda() ? 0 : -1;
  for (TimedRun& t : timed) {
    if (stop && stop->load()) return false;
    guarded(t, dev, [&] {
      for (int i = 0; i < opt.warmup; ++i) t.run_once();
      const int64_t base_bytes = peak_memory_reset(mem_dev);
      const int64_t base_rss = dev.is_cuda() ? -1 : rss_peak_reset();
      t.run_once();
      t.p.peak_bytes = peak_memory_since(mem_dev, base_bytes);
      if (!dev.is_cuda()) t.p.rss_bytes = rss_peak_since(base_rss);
    });
  }
  const size_t n_models = timed.size();
  for (int r = 0; r < opt.repeats; ++r) {
    for (size_t k = 0; k < n_models; ++k) {
      if (stop && stop->load()) return false;
      TimedRun& t = timed[(k + static_cast<size_t>(r)) % n_models];
      guarded(t, dev, [&] {
        const auto t0 = std::chrono::steady_clock::now();
        t.run_once();
        t.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      });
    }
  }
  if (!opt.trace_prefix.empty())
    for (TimedRun& t : timed)
      if (t.p.error.empty()) {
        std::string name = t.p.schedule;  // "MT bf16" → "MT_bf16": no spaces in file names
        std::replace(name.begin(), name.end(), ' ', '_');
        trace_runs(t, opt.trace_prefix + "-" + name + "-" + std::to_string(t.p.length) + ".json");
      }
  return true;
}

// The point's median, range and FLOP rate from its timings (or no timings after an error).
ProfilePoint summarise(TimedRun& t) {
  if (t.p.error.empty()) {
    std::sort(t.ms.begin(), t.ms.end());
    const size_t n = t.ms.size();
    t.p.min_ms = t.ms.front(), t.p.max_ms = t.ms.back();
    t.p.median_ms = n % 2 ? t.ms[n / 2] : 0.5 * (t.ms[n / 2 - 1] + t.ms[n / 2]);
    t.p.gflops = t.flops / (t.p.median_ms * 1e-3) / 1e9;
  } else {
    t.p.peak_bytes = -1, t.p.rss_bytes = -1;
  }
  return t.p;
}

}  // namespace

std::vector<ProfilePoint> profile(const std::vector<ProfileModel>& models, const ProfileOptions& opt,
                                  const std::function<void(const ProfilePoint&)>& on_point, const std::atomic<bool>* stop) {
  if (opt.lengths.empty()) throw std::invalid_argument("profile: no lengths given");
  if (opt.repeats < 1) throw std::invalid_argument("profile: repeats must be >= 1");
  const torch::Device dev = torch_device(opt.device);
  std::vector<ProfileEntry> entries =
      build_profile_models(models, opt, dev, *std::max_element(opt.lengths.begin(), opt.lengths.end()));
  std::vector<ProfilePoint> points;
  at::Generator inputs_gen = at::make_generator<at::CPUGeneratorImpl>(opt.seed);  // the profile's own draws
  for (int64_t L : opt.lengths) {  // lengths outer, models inner
    std::vector<TimedRun> timed = runs_at_length(entries, L, opt, dev, inputs_gen);
    if (!time_runs(timed, opt, dev, stop)) return points;
    for (TimedRun& t : timed) {
      points.push_back(summarise(t));
      if (on_point) on_point(points.back());
    }
  }
  return points;
}

std::string profile_csv(const std::vector<ProfilePoint>& points, const std::string& baseline_schedule) {
  std::ostringstream out;
  out << "schedule,length,median_ms,min_ms,max_ms,peak_mb,rss_mb,params,gflops,time_vs_" << baseline_schedule
      << ",memory_vs_" << baseline_schedule << ",error\n";
  out.precision(6);
  for (const ProfilePoint& p : points) {
    const ProfilePoint* b = nullptr;
    for (const ProfilePoint& q : points)
      if (q.schedule == baseline_schedule && q.length == p.length && q.error.empty()) b = &q;
    out << p.schedule << ',' << p.length << ',' << p.median_ms << ',' << p.min_ms << ',' << p.max_ms << ','
        << (p.peak_bytes >= 0 ? p.peak_bytes / 1048576.0 : -1) << ',' << (p.rss_bytes >= 0 ? p.rss_bytes / 1048576.0 : -1)
        << ',' << p.params << ',' << p.gflops << ',';
    if (const double r = time_ratio(points, p.schedule, baseline_schedule, p.length); r > 0) out << r;
    out << ',';
    if (b && p.error.empty() && b->peak_bytes > 0) out << static_cast<double>(p.peak_bytes) / b->peak_bytes;
    out << ',' << p.error << '\n';
  }
  return out.str();
}

int64_t estimate_parameters(const ModelConfig& cfg) {
  const int64_t D = cfg.d_model, F = cfg.d_ffn, E = cfg.d_inner(), N = cfg.d_state, R = cfg.resolved_dt_rank(),
                K = cfg.d_conv, W = cfg.resolved_embed_dim();
  const int64_t ln = 2 * D, ffn = D * F + F + F * D + D;
  const int64_t attn = 4 * (D * D + D);
  const int64_t branch = E * K + E + E * (R + 2 * N) + R * E + E + E * N + E;  // conv, x_proj, dt_proj, A, D
  const int64_t ssm_shared = D * 2 * E + E * D;                                // in_proj (x, z), out_proj
  int64_t total = cfg.vocab_size * W + (cfg.position == "learned" ? cfg.max_len * W : 0) + cfg.type_vocab_size * W + 2 * W;
  if (W != D) total += W * D + D;  // factorised embeddings: the projection to D
  std::set<LayerKind> seen;
  for (LayerKind k : cfg.layers()) {
    if (cfg.share_layers && !seen.insert(k).second) continue;  // shared: counted once per letter
    switch (k) {
      case LayerKind::Transformer:
      case LayerKind::BigBird:
      case LayerKind::DeBERTa: total += 2 * ln + attn + ffn; break;
      case LayerKind::Longformer: total += 2 * ln + attn + 3 * (D * D + D) + ffn; break;  // + global q, k, v
      case LayerKind::Mamba: total += 2 * ln + ssm_shared + branch + ffn; break;
      case LayerKind::BiMamba: total += 2 * ln + ssm_shared + 2 * branch + ffn; break;
      case LayerKind::Parallel: total += 2 * ln + attn + ssm_shared + branch + ffn; break;
    }
  }
  for (LayerKind k : cfg.layers())
    if (k == LayerKind::DeBERTa) {
      total += 2 * cfg.rel_range * D + ln;  // the shared relative-position table and its norm
      break;
    }
  total += ln;                               // final norm
  total += D * W + W + 2 * W + cfg.vocab_size;  // MLM transform D → W, its norm, and the bias (decoder tied)
  if (has_score_layer(cfg.pooling)) total += D + 1;
  return total;
}

FlopEstimate estimate_flops(const ModelConfig& cfg, int64_t length, int64_t mlm_positions) {
  const double L = static_cast<double>(length), D = static_cast<double>(cfg.d_model), F = static_cast<double>(cfg.d_ffn),
               E = static_cast<double>(cfg.d_inner()), N = static_cast<double>(cfg.d_state),
               R = static_cast<double>(cfg.resolved_dt_rank()), K = static_cast<double>(cfg.d_conv),
               W = static_cast<double>(cfg.resolved_embed_dim());
  FlopEstimate f;
  // Keys each query attends to, per attention kind (Longformer: its window and [CLS]; BigBird: 3
  // window, 2 global and the random blocks; the others: every token).
  const auto keys = [&](LayerKind k) {
    if (k == LayerKind::Longformer) return std::min(L, static_cast<double>(cfg.attn_window) + 2);
    if (k == LayerKind::BigBird) return std::min(L, static_cast<double>((5 + cfg.sparse_random) * cfg.sparse_block));
    return L;
  };
  if (cfg.token_shift) f.projections += 2 * L * W * W;
  if (W != D) f.projections += 2 * L * W * D;
  for (LayerKind k : cfg.layers()) {
    f.projections += 4 * L * D * F;  // FFN up and down
    if (has_attention(k)) {
      f.projections += 8 * L * D * D;                        // q, k, v, out
      f.attention += 4 * L * keys(k) * D;                    // Q·Kᵀ and P·V
      if (k == LayerKind::Longformer) f.projections += 4 * L * D * D + 2 * D * D, f.attention += 4 * L * D;  // global k, v; [CLS]'s q and row
      if (k == LayerKind::DeBERTa) {
        const double span = std::min(L, static_cast<double>(cfg.rel_range));
        f.attention += 4 * L * L * D;                        // c2p and p2c scores
        f.projections += 8 * span * D * D;                   // the relative table through q and k
      }
    }
    if (has_ssm(k)) {
      const double branches = k == LayerKind::BiMamba ? 2 : 1;
      f.projections += 4 * L * D * E + 2 * L * E * D;        // in_proj (x, z), out_proj
      f.projections += branches * (2 * L * E * (R + 2 * N) + 2 * L * R * E);  // x_proj, dt_proj
      // conv; per (token, channel, state): exp(Δ·A), Δ·B·x, h = dA·h + dBx, y += C·h (7); per
      // (token, channel): softplus, the skip D·x and the SiLU gate (8).
      f.scan += branches * (2 * L * E * K + 7 * L * E * N + 8 * L * E);
    }
  }
  const double M = static_cast<double>(mlm_positions), V = static_cast<double>(cfg.vocab_size);
  f.projections += 2 * M * D * W + 2 * M * W * V;  // MLM transform and the tied decoder
  return f;
}

int64_t estimate_memory_bytes(const ModelConfig& cfg, int64_t L, bool training) {
  const int64_t D = cfg.d_model, F = cfg.d_ffn, E = cfg.d_inner(), H = cfg.n_heads, N = cfg.d_state;
  const int64_t params = estimate_parameters(cfg);
  int64_t act_peak = 0, act_sum = 0;
  for (LayerKind k : cfg.layers()) {
    int64_t a = 4 * L * D + L * F;  // residual, norm, FFN hidden
    if (k == LayerKind::Transformer || k == LayerKind::Parallel) a += 4 * L * D + 2 * H * L * L;  // q k v o, scores + probs
    if (k == LayerKind::DeBERTa) a += 4 * L * D + 6 * H * L * L;              // + c2p, p2c and their gathers
    if (k == LayerKind::Longformer) a += 6 * L * D + 2 * H * L * std::min<int64_t>(L, 3 * (cfg.attn_window / 2) + 1);
    if (k == LayerKind::BigBird) a += 6 * L * D + 2 * H * L * std::min<int64_t>(L, (5 + cfg.sparse_random) * cfg.sparse_block);
    if (has_ssm(k)) a += 6 * L * E + (training ? 0 : 2 * E * N);                  // x, z, conv, Δ, B, C
    if (k == LayerKind::BiMamba) a += 4 * L * E;
    act_peak = std::max(act_peak, a);
    act_sum += a;
  }
  const int64_t emb = 2 * L * D, logits = training ? L * cfg.vocab_size * 15 / 100 * 2 : 0;
  const int64_t floats = training ? params * 4 + act_sum + emb + logits : params + act_peak + emb;
  return floats * 4;
}

}  // namespace mabert::analysis

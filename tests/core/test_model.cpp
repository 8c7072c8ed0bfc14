// The MaBERT encoder: shapes for every layer kind and pooling, padding invariance under PSM
// (and its converse), MAP weights, gradients, learning, and save/load round trips.
#include "harness.h"
#include "model_fixtures.h"

#include "io/safetensors.h"
#include "model/products.h"
#include "selective_scan/selective_scan.h"
#include "util/autocast.h"
#include "util/cpu_features.h"
#include "util/files.h"

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace mabert;
using namespace mabert::test;
namespace fs = std::filesystem;

namespace {

const std::vector<int64_t> kLengths = {9, 4, 13};  // a batch with mixed lengths

std::string temp_dir(const std::string& name) { return scratch_dir("model", name); }

// Largest change of any valid token's final hidden state (and of the pooled vectors) between
// each sentence run alone, unpadded, and the same sentence inside a padded batch.
struct Drift {
  double hidden = 0, pooled_map = 0, pooled_cls = 0, pooled_masked_mean = 0;
};

Drift padding_drift(MaBert& model, const std::vector<torch::Tensor>& sents, int64_t extra, bool left) {
  torch::NoGradGuard guard;
  const int64_t D = model->config().d_model;
  Pooling cls(PoolingKind::Cls, D), masked_mean(PoolingKind::MaskedMean, D);
  const PaddedBatch b = pad_batch(sents, extra, left);
  EncoderOutput padded = model->forward(b.ids, b.mask);
  auto pc = cls(padded.hidden, b.mask).first;
  auto pm = masked_mean(padded.hidden, b.mask).first;
  Drift d;
  for (size_t i = 0; i < sents.size(); ++i) {
    EncoderOutput alone = model->forward(sents[i].unsqueeze(0), torch::Tensor());
    const auto row = padded.hidden[i].index_select(0, b.valid[i]);
    d.hidden = std::max(d.hidden, max_abs_diff(row, alone.hidden[0]));
    d.pooled_map = std::max(d.pooled_map, max_abs_diff(padded.pooled[i], alone.pooled[0]));
    d.pooled_cls = std::max(d.pooled_cls, max_abs_diff(pc[i], cls(alone.hidden, torch::Tensor()).first[0]));
    d.pooled_masked_mean = std::max(d.pooled_masked_mean, max_abs_diff(pm[i], masked_mean(alone.hidden, torch::Tensor()).first[0]));
  }
  return d;
}

// Fresh initialisation makes pad leaks tiny (B, C projections are N(0, 0.02)), which would let
// a leak hide under round-off. Perturbing every parameter gives the magnitudes of a trained model.
void perturb(MaBert& model, double std, uint64_t seed) {
  torch::NoGradGuard guard;
  torch::manual_seed(seed);
  for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * std);
}

// A micro model of `schedule` with the conv mode `conv`, in eval mode, its weights perturbed (std
// 0.2, `seed`): trained-like magnitudes for the padding tests.
MaBert perturbed_model(const char* schedule, const char* conv, uint64_t seed) {
  ModelConfig cfg = micro_config(schedule);
  cfg.conv = conv;
  MaBert model(cfg);
  model->eval();
  perturb(model, 0.2, seed);
  return model;
}

}  // namespace

TEST_CASE(shapes_and_dtypes_for_every_layer_kind_and_pooling) {
  for (const char* schedule : {"T", "M", "B", "P", "MBTP"}) {
    for (const char* pool : {"map", "attn", "cls", "mean", "masked_mean"}) {
      ModelConfig cfg = micro_config(schedule);
      cfg.pooling = parse_pooling(pool);
      cfg.head = Head::Classification;
      cfg.num_labels = 3;
      MaBert model(cfg);
      model->eval();
      const PaddedBatch b = pad_batch(random_sentences(kLengths, cfg.vocab_size, 1), 2, false);
      const int64_t B = 3, L = b.ids.size(1), D = cfg.d_model, C = cfg.d_inner(), N = cfg.d_state;
      ForwardOptions opt;
      opt.hidden_states = opt.attentions = true;
      opt.ssm_trace_layer = 0;
      EncoderOutput out = model->forward(b.ids, b.mask, torch::Tensor(), opt);
      EXPECT(out.hidden.sizes() == torch::IntArrayRef({B, L, D}));
      EXPECT(out.hidden.scalar_type() == torch::kFloat);
      EXPECT(out.pooled.sizes() == torch::IntArrayRef({B, D}));
      EXPECT(out.pool_weights.sizes() == torch::IntArrayRef({B, L}));
      EXPECT(out.logits.sizes() == torch::IntArrayRef({B, 3}));
      EXPECT_EQ(out.hidden_states.size(), std::strlen(schedule) + 1);
      REQUIRE(out.attentions.size() == std::strlen(schedule));
      for (size_t i = 0; i < out.attentions.size(); ++i) {
        const bool attn = schedule[i] == 'T' || schedule[i] == 'P';
        EXPECT_EQ(out.attentions[i].defined(), attn);
        if (attn) EXPECT(out.attentions[i].sizes() == torch::IntArrayRef({B, cfg.n_heads, L, L}));
      }
      const bool ssm = schedule[0] != 'T';
      EXPECT_EQ(out.ssm_trace.ssm_states.defined(), ssm);
      if (ssm) {
        EXPECT(out.ssm_trace.ssm_states.sizes() == torch::IntArrayRef({B, C, L, N}));
        EXPECT(out.ssm_trace.ssm_delta.sizes() == torch::IntArrayRef({B, C, L}));
        EXPECT_EQ(out.ssm_trace.ssm_states_rev.defined(), schedule[0] == 'B');
      }
      EXPECT(torch::isfinite(out.hidden).all().item<bool>());
      EXPECT(model->mlm_logits(out.hidden).sizes() == torch::IntArrayRef({B, L, cfg.vocab_size}));
    }
  }
  // Regression head and a bf16 model.
  ModelConfig cfg = micro_config("MBTP");
  cfg.head = Head::Regression;
  MaBert model(cfg);
  model->eval();
  const PaddedBatch b = pad_batch(random_sentences(kLengths, cfg.vocab_size, 2), 0, true);
  EXPECT(model->forward(b.ids, b.mask).logits.sizes() == torch::IntArrayRef({3}));
  model->to(torch::kBFloat16);
  EncoderOutput out = model->forward(b.ids, b.mask);
  EXPECT(out.hidden.scalar_type() == torch::kBFloat16);
  EXPECT(out.pooled.scalar_type() == torch::kBFloat16);
  EXPECT(torch::isfinite(out.logits.to(torch::kFloat)).all().item<bool>());
}

TEST_CASE(padding_invariance_with_full_psm) {
  // Under the reference scan and the fused kernel the model would pick by itself.
  for (kernels::ScanImpl impl : {kernels::ScanImpl::Ref, kernels::ScanImpl::Auto}) {
  std::printf("    scan path: %s\n", kernels::scan_impl_name(impl));
  for (const char* schedule : {"MMTMMT", "BTB", "PMP", "TBMP"}) {
    MaBert model(micro_config(schedule));
    model->set_scan_impl(impl);
    model->eval();
    perturb(model, 0.2, 13);
    const auto sents = random_sentences(kLengths, model->config().vocab_size, 3);
    for (bool left : {false, true}) {
      Drift worst;
      for (int64_t extra = 1; extra <= 64; ++extra) {
        const Drift d = padding_drift(model, sents, extra, left);
        worst.hidden = std::max(worst.hidden, d.hidden);
        worst.pooled_map = std::max(worst.pooled_map, d.pooled_map);
        worst.pooled_cls = std::max(worst.pooled_cls, d.pooled_cls);
        worst.pooled_masked_mean = std::max(worst.pooled_masked_mean, d.pooled_masked_mean);
      }
      std::printf("    %-7s %-5s pads 1..64: max|Δ| hidden %.2e  map %.2e  cls %.2e  masked_mean %.2e\n", schedule,
                  left ? "left" : "right", worst.hidden, worst.pooled_map, worst.pooled_cls, worst.pooled_masked_mean);
      EXPECT_LE(worst.hidden, 1e-5);
      EXPECT_LE(worst.pooled_map, 1e-5);
      EXPECT_LE(worst.pooled_cls, 1e-5);
      EXPECT_LE(worst.pooled_masked_mean, 1e-5);
    }
  }
  }
}

TEST_CASE(padding_invariance_with_full_psm_in_bf16_on_the_cpu) {
  // CPU bf16 inference as `bench model --bf16` runs it: matrix weights held in bf16, autocast on,
  // the scan and conv reading bf16 activations. Pads must still not reach a valid token. A bf16
  // product's rows can round differently when the batch's shape changes (oneDNN picks its blocking
  // by shape), so the bound is a few bf16 steps of the hidden state's scale, not zero; the same
  // models without PSM leak far above it, so the bound can fail.
  for (const char* schedule : {"MMTMMT", "BTB", "PMP"}) {
    MaBert model(micro_config(schedule));
    model->eval();
    perturb(model, 0.2, 13);
    model->hold_matrix_weights_in(torch::kBFloat16);
    AutocastBf16 autocast(true, torch::kCPU);
    const auto sents = random_sentences(kLengths, model->config().vocab_size, 3);
    double scale = 0;
    {
      torch::NoGradGuard g;
      scale = model->forward(sents[0].unsqueeze(0), torch::Tensor()).hidden.abs().amax().item<double>();
    }
    const double bound = 4 * scale / 256;  // four bf16 steps (8 significant bits) at the largest value
    double worst = 0, worst_pooled = 0;
    for (bool left : {false, true})
      for (int64_t extra : {1, 3, 8, 17, 40}) {
        const Drift d = padding_drift(model, sents, extra, left);
        worst = std::max(worst, d.hidden), worst_pooled = std::max(worst_pooled, d.pooled_map);
      }
    model->set_psm(false, false, false);
    double leak = 0;
    for (bool left : {false, true}) leak = std::max(leak, padding_drift(model, sents, 8, left).hidden);
    std::printf("    %-7s bf16, full PSM: max|Δ| hidden %.2e, MAP-pooled %.2e (bound %.2e, |hidden| ≤ %.2f); no PSM: %.2e\n",
                schedule, worst, worst_pooled, bound, scale, leak);
    EXPECT_LE(worst, bound);
    EXPECT_LE(worst_pooled, bound);
    EXPECT_GT(leak, 4 * bound);
  }
}

namespace {

// The largest |got − exact| in bf16 steps (the spacing of bf16 values at the exact value: 2^-7 of
// its power of two), after fp32 summation's error on the magnitudes summed (`mag`: the same
// product on |operands|). A correctly rounded result is within half a step.
double worst_bf16_steps(const torch::Tensor& got, const torch::Tensor& exact, const torch::Tensor& mag) {
  const torch::Tensor step = torch::pow(2.0, torch::floor(torch::log2(exact.abs())) - 7).clamp_min(1e-30);
  const torch::Tensor err = ((got.to(torch::kDouble) - exact).abs() - mag * 1e-6).clamp_min(0);
  return (err / step).max().item<double>();
}
// The share of elements equal to the exact product rounded once to bf16: near 1 when the operands
// were rounded as the engine rounds them (only fp32 summation can flip a rounding), far lower when
// not (an operand's own rounding moves a product by up to half a bf16 step).
double share_rounded_once(const torch::Tensor& got, const torch::Tensor& exact) {
  return got.to(torch::kDouble).eq(exact.to(torch::kBFloat16).to(torch::kDouble)).to(torch::kDouble).mean().item<double>();
}

torch::Tensor bf16_rounded(const torch::Tensor& t) { return t.to(torch::kBFloat16).to(torch::kDouble); }

}  // namespace

// The model's bf16 products both ways this CPU can take (util/cpu_features.h): ATen's bf16
// kernels (native), and bf16-rounded operands multiplied in fp32 (the way of a CPU without an
// engine). Each against the exact product of the rounded operands (in double), which each must
// meet within one bf16 step; then a micro hybrid model's forward and gradients both ways.
TEST_CASE(bf16_products_in_fp32_round_as_the_engine) {
  torch::manual_seed(17);
  const auto ways = {CpuBf16Products::Native, CpuBf16Products::Fp32};
  const char* names[] = {"native", "fp32"};
  // A linear layer under autocast (fp32 activations and weights, cast by the product).
  const torch::Tensor x = torch::randn({37, 70}), w = torch::randn({50, 70}), b = torch::randn({50});
  const torch::Tensor lin_exact = torch::addmm(bf16_rounded(b), bf16_rounded(x), bf16_rounded(w).t());
  const torch::Tensor lin_mag = torch::addmm(bf16_rounded(b).abs(), bf16_rounded(x).abs(), bf16_rounded(w).abs().t());
  // Attention-shaped products on bf16 tensors, outside autocast.
  const torch::Tensor q = torch::randn({2, 3, 19, 16}).to(torch::kBFloat16), k = torch::randn({2, 3, 23, 16}).to(torch::kBFloat16);
  const torch::Tensor qk_exact = torch::matmul(q.to(torch::kDouble), k.to(torch::kDouble).transpose(-1, -2));
  const torch::Tensor qk_mag = torch::matmul(q.to(torch::kDouble).abs(), k.to(torch::kDouble).abs().transpose(-1, -2));
  const torch::Tensor c = torch::randn({6, 19, 23}).to(torch::kBFloat16);
  const torch::Tensor cqk_exact = c.to(torch::kDouble).view({2, 3, 19, 23}) + qk_exact;
  const torch::Tensor cqk_mag = c.to(torch::kDouble).abs().view({2, 3, 19, 23}) + qk_mag;
  int i = 0;
  for (const CpuBf16Products way : ways) with_cpu_bf16_products(way, [&] {
    double lin = 0, mm = 0, bmm = 0, ein = 0, once = 0;
    {
      AutocastBf16 autocast(true, torch::kCPU);
      EXPECT(products::in_fp32(x) == (way == CpuBf16Products::Fp32));
      const torch::Tensor y = products::linear(x, w, b);
      EXPECT(y.scalar_type() == torch::kBFloat16);
      lin = worst_bf16_steps(y, lin_exact, lin_mag);
      once = share_rounded_once(y, lin_exact);
      if (way == CpuBf16Products::Fp32) {  // the fp32 way was taken: bit for bit the fp32 product of the rounded operands
        c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
        auto r = [](const torch::Tensor& t) { return t.to(torch::kBFloat16).to(torch::kFloat); };
        EXPECT(torch::equal(y, torch::addmm(r(b), r(x), r(w).t()).to(torch::kBFloat16)));
      }
    }
    EXPECT(!products::in_fp32(x));  // fp32 outside autocast: a plain fp32 product, either way
    const torch::Tensor s = products::matmul(q, k.transpose(-1, -2));
    EXPECT(s.scalar_type() == torch::kBFloat16);
    mm = worst_bf16_steps(s, qk_exact, qk_mag);
    if (way == CpuBf16Products::Fp32)
      EXPECT(torch::equal(s, torch::matmul(q.to(torch::kFloat), k.to(torch::kFloat).transpose(-1, -2)).to(torch::kBFloat16)));
    const torch::Tensor s3 = products::baddbmm(c, q.reshape({6, 19, 16}), k.reshape({6, 23, 16}).transpose(-1, -2));
    bmm = worst_bf16_steps(s3.view({2, 3, 19, 23}), cqk_exact, cqk_mag);
    ein = worst_bf16_steps(products::einsum("bhid,bhjd->bhij", q, k), qk_exact, qk_mag);
    once = std::min(once, share_rounded_once(s, qk_exact));
    std::printf("    %-6s worst error in bf16 steps: linear %.2f, matmul %.2f, baddbmm %.2f, einsum %.2f; rounded once: %.4f\n",
                names[i++], lin, mm, bmm, ein, once);
    EXPECT_GT(once, 0.98);
    EXPECT_LE(std::max({lin, mm, bmm, ein}), 1.0);  // at most one rounding flipped by fp32 summation
  });
  // A hybrid model with every kind of product (M and T layers, MAP pooling, the MLM head), as
  // training runs it (forward under autocast, backward after): the two ways apart by a few bf16
  // steps at most, in the hidden states, the pooled vector and the gradients.
  MaBert model(micro_config("MMTMMT"));
  model->eval();
  perturb(model, 0.2, 29);
  const auto sents = random_sentences({21, 9, 14}, model->config().vocab_size, 5);
  const PaddedBatch batch = pad_batch(sents, 3, false);
  std::vector<torch::Tensor> hidden, pooled, grads;
  for (const CpuBf16Products way : ways) with_cpu_bf16_products(way, [&] {
    model->zero_grad();
    torch::Tensor loss;
    {
      AutocastBf16 autocast(true, torch::kCPU);
      const auto out = model->forward(batch.ids, batch.mask);
      hidden.push_back(out.hidden.to(torch::kFloat).detach());
      pooled.push_back(out.pooled.to(torch::kFloat).detach());
      loss = model->mlm_logits(out.hidden).to(torch::kFloat).pow(2).mean() + out.pooled.to(torch::kFloat).pow(2).mean();
    }
    loss.backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : model->named_parameters()) {
      REQUIRE(p.value().grad().defined() || p.key().find("score.bias") != std::string::npos);
      if (p.value().grad().defined()) g.push_back(p.value().grad().flatten());
    }
    grads.push_back(torch::cat(g));
  });
  const double scale = hidden[0].abs().amax().item<double>();
  const double dh = max_abs_diff(hidden[0], hidden[1]), dp = max_abs_diff(pooled[0], pooled[1]);
  const double dg = ((grads[0] - grads[1]).norm() / grads[0].norm()).item<double>();
  std::printf("    MMTMMT, native vs fp32 products: hidden max|d| %.2e (|hidden| <= %.2f), pooled %.2e, every gradient %.2e relative\n",
              dh, scale, dp, dg);
  EXPECT_LE(dh, 8 * scale / 256);
  EXPECT_LE(dp, 8 * scale / 256);
  EXPECT_LE(dg, 0.03);
  EXPECT_GT(grads[0].norm().item<double>(), 0.0);
}

TEST_CASE(token_shift_carries_the_previous_token_and_never_a_pad) {
  // The embedding at t sees the token at t - 1 (and no other); a pad before the first token, or
  // after the last, changes nothing at the valid positions.
  ModelConfig c = micro_config("MT");
  c.token_shift = true;
  MaBert model(c);
  model->eval();
  perturb(model, 0.2, 5);
  torch::NoGradGuard g;
  const torch::Tensor ids = torch::tensor({{2, 7, 8, 9, 10, 3}}, torch::kLong);
  torch::Tensor other = ids.clone();
  other[0][2] = 11;
  const torch::Tensor none;
  const torch::Tensor a = model->embeddings->forward(ids, none, none), b = model->embeddings->forward(other, none, none);
  const torch::Tensor moved = (a - b).abs().amax(-1)[0];  // per position
  EXPECT(moved[1].item<double>() == 0 && moved[2].item<double>() > 1e-3 && moved[3].item<double>() > 1e-3);
  EXPECT(moved[4].item<double>() == 0 && moved[5].item<double>() == 0);
  const auto sents = random_sentences(kLengths, c.vocab_size, 3);
  for (bool left : {false, true}) {
    double worst = 0;
    for (int64_t extra = 1; extra <= 16; ++extra) worst = std::max(worst, padding_drift(model, sents, extra, left).hidden);
    std::printf("    token shift, %s pads 1..16: max|Δ| hidden %.2e\n", left ? "left" : "right", worst);
    EXPECT_LE(worst, 1e-5);
  }
  EXPECT(c.to_json().contains("token_shift") && !micro_config("MT").to_json().contains("token_shift"));
  EXPECT(ModelConfig::from_json(c.to_json(), "x").token_shift);
}

TEST_CASE(without_psm_padding_changes_outputs) {
  // The converse, so the invariance test can fail: each missing level lets pads leak.
  struct Case {
    const char* schedule;
    bool pre, post, state, left;
  };
  for (const Case& c : {Case{"BTB", false, false, false, false}, Case{"BTB", true, true, false, false},
                        Case{"MTM", true, true, false, true}, Case{"MTM", false, true, true, true}}) {
    MaBert model(micro_config(c.schedule));
    model->eval();
    perturb(model, 0.2, 13);
    model->set_psm(c.pre, c.post, c.state);
    const auto sents = random_sentences(kLengths, model->config().vocab_size, 4);
    const Drift d = padding_drift(model, sents, 16, c.left);
    std::printf("    %s pre=%d post=%d state=%d %s padding: max|Δ| hidden %.2e\n", c.schedule, c.pre, c.post, c.state,
                c.left ? "left" : "right", d.hidden);
    EXPECT_GT(d.hidden, 1e-3);
  }
}

// Which regimes are padding-invariant (docs/MODEL.md, "Where padding can reach a valid token").
// Pads reach a valid token through two doors of a scan direction: its convolution reads a pad
// position (forward causal: left padding; reverse causal: right padding; centred: both sides),
// which psm_pre closes (the SSM input is then exactly the zeros the convolution pads with); and
// its scan passes pads before valid tokens (forward: left padding; reverse: right padding), which
// only psm_state closes (pre leaves u = SiLU(conv bias) ≠ 0 on pads). psm_post closes neither.
// The whole grid — side × layer kind × conv mode × the 8 PSM combinations — is measured against
// that rule, with 1..9 pads, so a rule that is wrong in either direction fails.
TEST_CASE(padding_invariance_by_side_kind_conv_and_psm_level) {
  const auto sents = random_sentences(kLengths, 97, 21);
  int invariant = 0, leaking = 0;
  for (const char* schedule : {"MTM", "BTB", "PTP"}) {
    for (const char* conv : {"causal", "centred"}) {
      MaBert model = perturbed_model(schedule, conv, 17);
      for (bool left : {false, true}) {
        std::string row;
        for (int levels = 0; levels < 8; ++levels) {
          const bool pre = levels & 1, post = levels & 2, state = levels & 4;
          model->set_psm(pre, post, state);
          double worst = 0;
          for (int64_t extra : {1, 4, 9}) worst = std::max(worst, padding_drift(model, sents, extra, left).hidden);
          // The rule, per scan direction this layer kind runs.
          const bool centred = std::string(conv) == "centred";
          bool expect_invariant = true;
          for (bool reverse : {false, true}) {
            if (reverse && schedule[0] != 'B') continue;
            const bool pads_before = left != reverse;  // pads precede the valid tokens in scan order
            const bool conv_reads_pads = centred || pads_before;
            if (conv_reads_pads && !pre) expect_invariant = false;
            if (pads_before && !state) expect_invariant = false;
          }
          const bool is_invariant = worst <= 1e-5;
          EXPECT_MSG(is_invariant == expect_invariant, schedule << " conv=" << conv << (left ? " left" : " right")
                     << " pre=" << pre << " post=" << post << " state=" << state << ": max|Δ| " << worst
                     << (expect_invariant ? " but the rule says invariant" : " but the rule says it leaks"));
          EXPECT_MSG(expect_invariant || worst > 1e-3, "a leak this small could hide under round-off: " << worst);
          (is_invariant ? invariant : leaking)++;
          char cell[32];
          std::snprintf(cell, sizeof cell, " %c%c%c:%s", pre ? 'p' : '-', post ? 'o' : '-', state ? 's' : '-', is_invariant ? "inv " : "LEAK");
          row += cell;
        }
        std::printf("    %s %-7s %-5s%s\n", schedule, conv, left ? "left" : "right", row.c_str());
      }
    }
  }
  std::printf("    (p = psm_pre, o = psm_post, s = psm_state)  %d invariant, %d leaking regimes\n", invariant, leaking);
}

// psm_post is redundant once psm_pre is on: every consumer of a pad's hidden state is then
// masked (the SSM input by pre, attention keys by the −inf bias, pooling by the mask), so valid
// tokens come out the same with and without it — under both conv modes, both sides, every kind.
TEST_CASE(psm_pre_and_pre_plus_post_give_identical_valid_outputs) {
  const auto sents = random_sentences(kLengths, 97, 22);
  double worst = 0;
  for (const char* schedule : {"MTMBP", "BTPM"}) {
    for (const char* conv : {"causal", "centred"}) {
      MaBert model = perturbed_model(schedule, conv, 19);
      for (bool left : {false, true})
        for (bool state : {false, true}) {
          torch::NoGradGuard guard;
          const PaddedBatch b = pad_batch(sents, 6, left);
          model->set_psm(true, false, state);
          const EncoderOutput pre = model->forward(b.ids, b.mask);
          model->set_psm(true, true, state);
          const EncoderOutput both = model->forward(b.ids, b.mask);
          for (size_t i = 0; i < sents.size(); ++i)
            worst = std::max(worst, max_abs_diff(pre.hidden[i].index_select(0, b.valid[i]), both.hidden[i].index_select(0, b.valid[i])));
          worst = std::max(worst, max_abs_diff(pre.pooled, both.pooled));
        }
    }
  }
  std::printf("    pre vs pre+post, valid tokens and MAP-pooled vectors: max|Δ| %.2e\n", worst);
  EXPECT_LE(worst, 1e-6);
}

TEST_CASE(map_weights_zero_on_pads_and_sum_to_one) {
  for (bool left : {false, true}) {
    MaBert model(micro_config("MTB"));
    model->eval();
    const PaddedBatch b = pad_batch(random_sentences(kLengths, 97, 5), 7, left);
    torch::NoGradGuard guard;
    const torch::Tensor w = model->forward(b.ids, b.mask).pool_weights;
    const double on_pads = (w * (1 - b.mask)).abs().max().item<double>();
    const double sum_err = ((w * b.mask).sum(1) - 1).abs().max().item<double>();
    std::printf("    %s: max weight on pads %.1e, max |sum-1| %.1e\n", left ? "left" : "right", on_pads, sum_err);
    EXPECT_EQ(on_pads, 0.0);
    EXPECT_LE(sum_err, 1e-6);
    EXPECT((w >= 0).all().item<bool>());
  }
}

TEST_CASE(gradients_reach_every_parameter) {
  ModelConfig cfg = micro_config("TMBP");
  cfg.head = Head::Classification;
  cfg.dropout = 0.1;
  MaBert model(cfg);
  model->train();
  const PaddedBatch b = pad_batch(random_sentences(kLengths, cfg.vocab_size, 6), 3, false);
  const torch::Tensor segments = (torch::rand(b.ids.sizes()) > 0.5).to(torch::kLong);
  EncoderOutput out = model->forward(b.ids, b.mask, segments);
  const auto valid = b.mask.to(torch::kBool);
  const torch::Tensor mlm = torch::cross_entropy_loss(model->mlm_logits(out.hidden.index({valid})), b.ids.index({valid}));
  const torch::Tensor cls = torch::cross_entropy_loss(out.logits, torch::tensor({0, 1, 1}));
  (mlm + cls).backward();
  int64_t checked = 0;
  for (const auto& p : model->named_parameters()) {
    const auto& g = p.value().grad();
    EXPECT_MSG(g.defined() && g.abs().sum().item<double>() > 0, "no gradient reaches " << p.key());
    ++checked;
  }
  std::printf("    %lld parameter tensors, all with non-zero gradients\n", (long long)checked);
}

// 25 AdamW steps of MLM on the batch in training mode: ~15 % of its valid tokens (seed 8) masked
// with id 4 ([MASK]) and predicted, the forward under bf16 autocast when asked; `before_step` runs
// after each backward. Returns the first and the last loss.
std::pair<double, double> mlm_steps(MaBert& model, const PaddedBatch& b, bool bf16,
                                    const std::function<void()>& before_step = {}) {
  model->train();
  torch::manual_seed(8);
  const torch::Tensor pick = (torch::rand(b.ids.sizes()) < 0.15) & b.mask.to(torch::kBool);
  const torch::Tensor inputs = b.ids.masked_fill(pick, 4);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(3e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 25; ++step) {
    torch::Tensor loss;
    {
      AutocastBf16 autocast(bf16, torch::Device(torch::kCPU));
      EncoderOutput out = model->forward(inputs, b.mask);
      loss = torch::cross_entropy_loss(model->mlm_logits(out.hidden.index({pick})).to(torch::kFloat), b.ids.index({pick}));
    }
    opt.zero_grad();
    loss.backward();
    if (before_step) before_step();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  return {first, last};
}

TEST_CASE(optimizer_steps_reduce_mlm_loss) {
  ModelConfig cfg = micro_config("MTM");
  MaBert model(cfg);
  const PaddedBatch b = pad_batch(random_sentences({12, 8, 15, 10}, cfg.vocab_size, 7), 0, false);
  const auto [first, last] = mlm_steps(model, b, false);
  std::printf("    MLM loss %.3f -> %.3f after 25 AdamW steps\n", first, last);
  EXPECT_LE(last, 0.5 * first);
}

// bf16 on the CPU (autocast, fp32 master weights): every layer kind runs, products come out in
// bf16, the encoder's outputs stay within bf16's precision of fp32, the gradients reach fp32
// parameters, a few steps still learn, and leaving the scope leaves fp32 behind. Runs on any CPU
// (without AMX / AVX512-BF16 it is slow, hence the micro model).
TEST_CASE(bf16_autocast_on_the_cpu_tracks_fp32) {
  ModelConfig cfg = micro_config("MTBP");
  MaBert model(cfg);
  perturb(model, 0.05, 3);  // a trained model's magnitudes: at init the layers barely move the residual stream
  const PaddedBatch b = pad_batch(random_sentences({12, 8, 15, 10}, cfg.vocab_size, 7), 0, false);
  torch::Tensor ref, low;
  {
    torch::NoGradGuard g;
    ref = model->forward(b.ids, b.mask).hidden;
    AutocastBf16 autocast(true, torch::Device(torch::kCPU));
    EXPECT(at::autocast::is_autocast_enabled(at::kCPU));
    EXPECT(torch::nn::Linear(4, 4)(torch::ones({1, 4})).scalar_type() == torch::kBFloat16);
    low = model->forward(b.ids, b.mask).hidden;
  }
  EXPECT(!at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT(torch::nn::Linear(4, 4)(torch::ones({1, 4})).scalar_type() == torch::kFloat);
  EXPECT(torch::isfinite(low).all().item<bool>());
  const torch::Tensor valid = b.mask.to(torch::kBool);
  const double err = (low.to(torch::kFloat) - ref).index({valid}).abs().max().item<double>();
  const double scale = ref.index({valid}).abs().max().item<double>();
  std::printf("    bf16 autocast vs fp32: max |diff| %.3g of max |h| %.3g\n", err, scale);
  EXPECT_LE(err, 0.05 * scale);  // LayerNorm-scaled states; bf16 keeps 8 bits of mantissa

  const auto [first, last] = mlm_steps(model, b, true, [&] {
    for (const auto& p : model->parameters()) EXPECT(p.scalar_type() == torch::kFloat && (!p.grad().defined() || p.grad().scalar_type() == torch::kFloat));
  });
  std::printf("    bf16 MLM loss %.3f -> %.3f after 25 AdamW steps\n", first, last);
  EXPECT_LE(last, 0.5 * first);
}

TEST_CASE(keyed_dropout_masks_do_not_depend_on_how_the_batch_is_split) {
  // A training forward at dropout 0.1 with keyed masks: the batch whole, and its two halves each
  // keyed by its first global row (two ranks' shares), give the same outputs row for row — every
  // layer kind, the residual, FFN, attention-probability, embedding and head dropouts. Another
  // micro-step draws other masks; without a key the masks come from LibTorch's generator.
  ModelConfig cfg = micro_config("MTPB");
  cfg.dropout = 0.1;
  cfg.head = Head::Classification;
  MaBert model(cfg);
  model->train();
  const PaddedBatch b = pad_batch(random_sentences({9, 4, 13, 7}, cfg.vocab_size, 21), 3, false);
  auto run = [&](int64_t micro, int64_t first, int64_t rows) {
    model->set_dropout_key(DropoutKey{42, micro, first});
    EncoderOutput o = model->forward(b.ids.narrow(0, first, rows), b.mask.narrow(0, first, rows));
    return torch::cat({o.hidden.flatten(1), o.logits}, 1).detach();
  };
  const torch::Tensor whole = run(5, 0, 4), halves = torch::cat({run(5, 0, 2), run(5, 2, 2)});
  const torch::Tensor other_step = run(6, 0, 4);
  model->set_dropout_key(std::nullopt);
  const torch::Tensor unkeyed = model->forward(b.ids, b.mask).hidden.flatten(1).detach();
  model->eval();
  const torch::Tensor none = model->forward(b.ids, b.mask).hidden.flatten(1).detach();
  const int64_t H = none.size(1);
  std::printf("    whole vs halves max|Δ| %.2e; vs another step %.2e; vs no dropout %.2e; unkeyed vs keyed %.2e\n",
              max_abs_diff(whole, halves), max_abs_diff(whole, other_step), max_abs_diff(whole.narrow(1, 0, H), none),
              max_abs_diff(whole.narrow(1, 0, H), unkeyed));
  EXPECT_LE(max_abs_diff(whole, halves), 1e-5);
  EXPECT_GT(max_abs_diff(whole, other_step), 1e-2);
  EXPECT_GT(max_abs_diff(whole.narrow(1, 0, H), none), 1e-2);
  EXPECT_GT(max_abs_diff(whole.narrow(1, 0, H), unkeyed), 1e-2);
}

TEST_CASE(save_load_round_trip_gives_identical_outputs) {
  ModelConfig cfg = micro_config("MBTP");
  cfg.head = Head::Classification;
  cfg.pooling = PoolingKind::Map;
  MaBert model(cfg);
  model->eval();
  const std::string dir = temp_dir("roundtrip");
  save_model(model, dir);
  MaBert loaded = load_model(dir);
  loaded->eval();
  EXPECT(loaded->config().to_json() == cfg.to_json());
  const PaddedBatch b = pad_batch(random_sentences(kLengths, cfg.vocab_size, 9), 2, true);
  torch::NoGradGuard guard;
  EncoderOutput x = model->forward(b.ids, b.mask), y = loaded->forward(b.ids, b.mask);
  EXPECT_EQ(max_abs_diff(x.hidden, y.hidden), 0.0);
  EXPECT_EQ(max_abs_diff(x.logits, y.logits), 0.0);
  EXPECT_EQ(max_abs_diff(x.pool_weights, y.pool_weights), 0.0);

  // A checkpoint for another schedule, a truncated file, a missing tensor: clear errors.
  const std::string other = temp_dir("other");
  fs::copy_file(dir + "/model.safetensors", other + "/model.safetensors");
  ModelConfig wrong = cfg;
  wrong.schedule = "MBTT";
  wrong.save(other + "/config.json");
  EXPECT_THROWS_WITH(load_model(other), "model.safetensors", "layers.3");
  const std::string bytes = read_file(dir + "/model.safetensors");
  write_file_atomic(other + "/model.safetensors", bytes.substr(0, bytes.size() / 2));
  cfg.save(other + "/config.json");
  EXPECT_THROWS_WITH(load_model(other), "model.safetensors", "invalid safetensors");
  NamedTensors partial;
  for (const auto& p : model->named_parameters())
    if (p.key() != "final_norm.weight") partial.emplace_back(p.key(), p.value());
  save_safetensors(other + "/model.safetensors", partial);
  EXPECT_THROWS_WITH(load_model(other), "'final_norm.weight' is missing");
}

TEST_CASE(input_longer_than_max_len_is_a_clear_error) {
  MaBert model(micro_config("MT"));
  const torch::Tensor ids = torch::ones({1, 161}, torch::kLong);
  EXPECT_THROWS_WITH(model->forward(ids, torch::Tensor()), "161", "max_len 160");
}

TEST_MAIN()

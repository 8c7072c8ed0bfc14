// The paper's baseline encoders: each attention pattern (L window, S block-sparse, D
// disentangled) against its dense reference, values and gradients; padding handled like T; the
// window's peak memory growing linearly with length; ALBERT's factorised embeddings and sharing;
// the presets' parameter counts (estimate == built model; base printed beside Table B5); and the
// positional extension of Table A3.
#include "harness.h"
#include "model_fixtures.h"

#include "analysis/efficiency.h"
#include "model/attention.h"
#include "util/cpu_features.h"
#include "util/files.h"
#include "util/memory.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <limits>
#include <set>
#include <unistd.h>

using namespace mabert;
using namespace mabert::test;
namespace att = mabert::attention;

namespace {

struct Qkv {
  torch::Tensor q, k, v;
};

Qkv random_qkv(int64_t B, int64_t H, int64_t L, int64_t Dh, uint64_t seed) {
  torch::manual_seed(seed);
  Qkv r{torch::randn({B, H, L, Dh}), torch::randn({B, H, L, Dh}), torch::randn({B, H, L, Dh})};
  for (auto* t : {&r.q, &r.k, &r.v}) t->requires_grad_(true);
  return r;
}

// Row 0 right-padded to `valid0` tokens, row 1 left-padded to `valid1`.
torch::Tensor mixed_mask(int64_t L, int64_t valid0, int64_t valid1) {
  torch::Tensor m = torch::zeros({2, L});
  m[0].narrow(0, 0, valid0).fill_(1);
  m[1].narrow(0, L - valid1, valid1).fill_(1);
  return m;
}

// Compares two attention computations on the same q, k, v: outputs, then the gradients of a
// random projection of the outputs with respect to q, k and v.
void expect_same(const Qkv& x, const std::function<torch::Tensor(const Qkv&)>& fast,
                 const std::function<torch::Tensor(const Qkv&)>& reference, double tol, const std::string& what) {
  torch::Tensor a = fast(x), b = reference(x);
  REQUIRE(a.sizes() == b.sizes());
  EXPECT_MSG(max_abs_diff(a, b) <= tol, what << ": outputs differ by " << max_abs_diff(a, b));
  torch::Tensor w = torch::randn(a.sizes());
  auto ga = torch::autograd::grad({(a * w).sum()}, {x.q, x.k, x.v});
  auto gb = torch::autograd::grad({(b * w).sum()}, {x.q, x.k, x.v});
  const char* names[] = {"dq", "dk", "dv"};
  for (int i = 0; i < 3; ++i)
    EXPECT_MSG(max_abs_diff(ga[i], gb[i]) <= tol, what << ": " << names[i] << " differs by " << max_abs_diff(ga[i], gb[i]));
}

int64_t count(const torch::nn::Module& m) { return count_parameters(m); }

}  // namespace

TEST_CASE(window_attention_matches_its_dense_reference) {
  // Radius 4 and 5 (chunks that divide L or not), with right and left padding and without a mask.
  for (int64_t radius : {4, 5}) {
    for (bool masked : {true, false}) {
      const int64_t L = 37;
      Qkv x = random_qkv(2, 3, L, 8, 11 + radius);
      torch::Tensor mask = masked ? mixed_mask(L, 30, 21) : torch::Tensor();
      torch::Tensor g = att::first_valid(mask, 2, L);
      if (masked) EXPECT(g[0].item<int64_t>() == 0 && g[1].item<int64_t>() == L - 21);
      expect_same(
          x, [&](const Qkv& t) { return att::sliding_window(t.q, t.k, t.v, mask, g, radius, {}); },
          [&](const Qkv& t) { return att::dense(t.q, t.k, t.v, att::window_allowed(mask, g, 2, L, radius), {}); },
          2e-5, "window radius " + std::to_string(radius) + (masked ? " masked" : ""));
    }
  }
  // The reference mask itself: the band, the global column, pad keys off.
  torch::Tensor mask = mixed_mask(12, 12, 7);
  torch::Tensor allowed = att::window_allowed(mask, att::first_valid(mask, 2, 12), 2, 12, 2);
  EXPECT(allowed[0][0][6][4].item<bool>() && !allowed[0][0][6][3].item<bool>() && allowed[0][0][6][0].item<bool>());
  EXPECT(!allowed[1][0][11][2].item<bool>() && allowed[1][0][11][5].item<bool>());  // row 1: pads 0–4, global 5
}

TEST_CASE(chunked_bf16_attention_matches_the_dense_reference) {
  // The CPU bf16 path (AVX512-BF16 without AMX) against the fp32 dense reference on the same
  // bf16-rounded q, k, v: one chunk and several (a chunk that divides L and one that does not),
  // with right and left padding and without a mask; values and gradients. The bound is bf16's:
  // scores, probabilities and outputs each rounded to 8 significant bits (measured: printed).
  const int64_t L = 40;
  auto bf = [](const torch::Tensor& t) { return t.to(torch::kBFloat16); };
  auto rounded = [](const torch::Tensor& t) { return t.to(torch::kBFloat16).to(torch::kFloat); };
  for (bool masked : {true, false})
    for (int64_t chunk_elements : {int64_t{1} << 22, int64_t{2 * 3 * L * 16}, int64_t{2 * 3 * L * 13}}) {
      Qkv x = random_qkv(2, 3, L, 16, 29 + chunk_elements % 7);
      torch::Tensor mask = masked ? mixed_mask(L, 33, 18) : torch::Tensor();
      torch::Tensor bias = masked ? torch::zeros({2, L}).masked_fill(mask == 0, -std::numeric_limits<float>::infinity()).view({2, 1, 1, L})
                                  : torch::Tensor();
      auto fast = [&](const Qkv& t) {
        torch::Tensor y = att::chunked_bf16(bf(t.q), bf(t.k), bf(t.v), bias, {}, chunk_elements);
        EXPECT(y.scalar_type() == torch::kBFloat16);
        return y.to(torch::kFloat);
      };
      auto reference = [&](const Qkv& t) {
        return att::dense(rounded(t.q), rounded(t.k), rounded(t.v), att::key_valid(mask, 2, L, t.q.options()).view({2, 1, 1, L}),
                          {});
      };
      expect_same(x, fast, reference, 6e-2, "chunked bf16, chunk " + std::to_string(chunk_elements) + (masked ? " masked" : ""));
      torch::NoGradGuard g;
      std::printf("    chunk %-6lld %-8s max|Δ| output %.2e\n", static_cast<long long>(chunk_elements), masked ? "masked" : "no mask",
                  max_abs_diff(fast(x), reference(x)));
    }
  // A pad key gets no weight at all: changing the values at pad positions changes no output.
  Qkv x = random_qkv(2, 3, L, 16, 3);
  torch::Tensor mask = mixed_mask(L, 33, 18);
  torch::Tensor bias = torch::zeros({2, L}).masked_fill(mask == 0, -std::numeric_limits<float>::infinity()).view({2, 1, 1, L});
  torch::NoGradGuard g;
  torch::Tensor v2 = x.v.detach().clone();
  v2.masked_fill_((mask == 0).view({2, 1, L, 1}), 1e3);
  torch::Tensor a = att::chunked_bf16(x.q.to(torch::kBFloat16), x.k.to(torch::kBFloat16), x.v.to(torch::kBFloat16), bias, {}, 2 * 3 * L * 13);
  torch::Tensor b = att::chunked_bf16(x.q.to(torch::kBFloat16), x.k.to(torch::kBFloat16), v2.to(torch::kBFloat16), bias, {}, 2 * 3 * L * 13);
  EXPECT(torch::equal(a, b));
}

TEST_CASE(keyed_attention_dropout_does_not_depend_on_batch_split_or_chunks) {
  // Keyed dropout on the attention probabilities: the whole batch in chunks of one size, and its
  // two halves (each keyed by its first global row) in chunks of another, give the same output —
  // the chunk size follows the batch size, the masks must not. Dense: the same, unchunked.
  const int64_t L = 40;
  Qkv x = random_qkv(4, 2, L, 16, 9);
  torch::NoGradGuard g;
  const torch::Tensor q = x.q.to(torch::kBFloat16), k = x.k.to(torch::kBFloat16), v = x.v.to(torch::kBFloat16);
  DropoutStream whole{DropoutKey{5, 11, 0}}, first{DropoutKey{5, 11, 0}}, second{DropoutKey{5, 11, 2}};
  auto drop = [](DropoutStream& s) { return Dropout{0.25, true, &s}; };
  torch::Tensor all = att::chunked_bf16(q, k, v, {}, drop(whole), 4 * 2 * L * 7);
  torch::Tensor halves = torch::cat({att::chunked_bf16(q.narrow(0, 0, 2), k.narrow(0, 0, 2), v.narrow(0, 0, 2), {}, drop(first), 2 * 2 * L * 3),
                                     att::chunked_bf16(q.narrow(0, 2, 2), k.narrow(0, 2, 2), v.narrow(0, 2, 2), {}, drop(second), 2 * 2 * L * 40)});
  torch::Tensor plain = att::chunked_bf16(q, k, v, {}, {}, 4 * 2 * L * 7);
  const torch::Tensor allowed = torch::ones({4, 1, 1, L}, torch::kBool);
  DropoutStream d_whole{DropoutKey{5, 11, 0}}, d_second{DropoutKey{5, 11, 2}};
  torch::Tensor dense_all = att::dense(x.q, x.k, x.v, allowed, drop(d_whole));
  torch::Tensor dense_second = att::dense(x.q.narrow(0, 2, 2), x.k.narrow(0, 2, 2), x.v.narrow(0, 2, 2), allowed.narrow(0, 0, 2), drop(d_second));
  std::printf("    chunked: whole vs halves max|Δ| %.2e; dropout moved the output by %.2e; dense: rows 2..3 alone vs in the batch %.2e\n",
              max_abs_diff(all.to(torch::kFloat), halves.to(torch::kFloat)), max_abs_diff(all.to(torch::kFloat), plain.to(torch::kFloat)),
              max_abs_diff(dense_all.narrow(0, 2, 2), dense_second));
  EXPECT(torch::equal(all, halves));
  EXPECT_GT(max_abs_diff(all.to(torch::kFloat), plain.to(torch::kFloat)), 1e-2);
  EXPECT_LE(max_abs_diff(dense_all.narrow(0, 2, 2), dense_second), 1e-6);
  EXPECT_EQ(whole.draws, 1u);  // one draw for the whole tensor, whatever the chunks
}

TEST_CASE(keyed_noise_keeps_one_minus_p_scaled) {
  // Scaled keep-noise: zeros at rate p, the rest 1 / (1 − p); a row's noise is a function of its
  // key and global row only.
  const DropoutKey key{3, 8, 100};
  torch::Tensor n = keyed_noise(key, 2, {64, 2000}, 0.1, torch::TensorOptions());
  const double zeros = (n == 0).to(torch::kDouble).mean().item<double>();
  std::printf("    zero fraction %.4f (p 0.1, %lld draws)\n", zeros, static_cast<long long>(n.numel()));
  EXPECT_LE(std::abs(zeros - 0.1), 0.003);
  EXPECT(torch::allclose(n.masked_select(n != 0), torch::full({1}, 1.0 / 0.9)));
  torch::Tensor tail = keyed_noise(DropoutKey{3, 8, 160}, 2, {4, 2000}, 0.1, torch::TensorOptions());
  EXPECT(torch::equal(tail, n.narrow(0, 60, 4)));
  EXPECT(!torch::equal(keyed_noise(key, 3, {64, 2000}, 0.1, torch::TensorOptions()), n));                  // another draw
  EXPECT(!torch::equal(keyed_noise(DropoutKey{3, 9, 100}, 2, {64, 2000}, 0.1, torch::TensorOptions()), n));  // another step
}

TEST_CASE(chunked_bf16_attention_is_chosen_where_the_cpu_lacks_amx) {
  // The layer's choice: chunked bf16 on a CPU with AVX512-BF16 and no AMX (LibTorch's flash kernel
  // runs fp32 products there), LibTorch's SDPA elsewhere, for fp32 inputs, and when training would
  // keep more than 2^24 scores a layer. This machine's branch is printed; the rule is checked on it.
  const CpuBf16& cpu = cpu_bf16();
  const bool engine_without_amx = cpu.avx512_bf16 && !cpu.amx_bf16;
  std::printf("    %s: chunked bf16 attention %s\n", cpu.describe().c_str(), engine_without_amx ? "chosen" : "not chosen (SDPA)");
  torch::Tensor small = torch::zeros({1, 4, 64, 16}, torch::kBFloat16), big = torch::zeros({1, 4, 4096, 16}, torch::kBFloat16);
  {
    torch::NoGradGuard g;
    EXPECT_EQ(att::use_chunked_bf16(small), engine_without_amx);
    EXPECT_EQ(att::use_chunked_bf16(big), engine_without_amx);  // inference keeps nothing: any length
    EXPECT(!att::use_chunked_bf16(small.to(torch::kFloat)));
  }
  EXPECT_EQ(att::use_chunked_bf16(small.clone().requires_grad_(true)), engine_without_amx);
  EXPECT(!att::use_chunked_bf16(big.clone().requires_grad_(true)));  // 4·4096² > 2^24 saved scores
}

TEST_CASE(block_sparse_attention_matches_its_dense_reference) {
  for (int64_t L : {75, 64, 20}) {
    Qkv x = random_qkv(2, 2, L, 8, 5 + L);
    torch::Tensor mask = mixed_mask(L, L - 9, L / 2);
    const att::BlockPattern p = att::bigbird_pattern(L, 8, 2, 3);
    expect_same(
        x, [&](const Qkv& t) { return att::block_sparse(t.q, t.k, t.v, mask, p, {}); },
        [&](const Qkv& t) { return att::dense(t.q, t.k, t.v, att::block_allowed(p, mask, 2, L), {}); }, 2e-5,
        "block-sparse L=" + std::to_string(L));
  }
  // The pattern: first and last blocks global; every other block sees its neighbours, both global
  // blocks and exactly 2 random blocks (all distinct); fixed for a seed, different across seeds.
  const att::BlockPattern p = att::bigbird_pattern(160, 8, 2, 7);
  REQUIRE(p.n_blocks == 20);
  EXPECT(p.global == (std::vector<int64_t>{0, 19}));
  for (int64_t i = 1; i < 19; ++i) {
    const auto& keys = p.keys[i];
    // 3 window + 2 global + 2 random, all distinct; blocks 1 and 18 have a global block in their window.
    const size_t want = (i == 1 || i == 18) ? 6u : 7u;
    EXPECT_EQ(keys.size(), want);
    EXPECT_EQ(std::set<int64_t>(keys.begin(), keys.end()).size(), want);
    for (int64_t want : {i - 1, i, i + 1, int64_t{0}, int64_t{19}})
      EXPECT(std::find(keys.begin(), keys.end(), want) != keys.end());
  }
  EXPECT(att::bigbird_pattern(160, 8, 2, 7).keys == p.keys);
  EXPECT(att::bigbird_pattern(160, 8, 2, 8).keys != p.keys);
}

TEST_CASE(disentangled_attention_matches_its_reference) {
  // Range 6 < L clips distances; range 32 > L uses only the central 2L embeddings.
  for (int64_t range : {6, 32}) {
    const int64_t L = 20, H = 2, Dh = 8;
    Qkv x = random_qkv(2, H, L, Dh, 40 + range);
    torch::Tensor rq = torch::randn({H, 2 * range, Dh}, torch::requires_grad());
    torch::Tensor rk = torch::randn({H, 2 * range, Dh}, torch::requires_grad());
    torch::Tensor a = att::disentangled_scores(x.q, x.k, rq, rk, range);
    torch::Tensor b = att::disentangled_scores_reference(x.q, x.k, rq, rk, range);
    EXPECT_MSG(max_abs_diff(a, b) <= 2e-5, "range " << range << ": scores differ by " << max_abs_diff(a, b));
    torch::Tensor w = torch::randn(a.sizes());
    auto ga = torch::autograd::grad({(a * w).sum()}, {x.q, x.k, rq, rk});
    auto gb = torch::autograd::grad({(b * w).sum()}, {x.q, x.k, rq, rk});
    for (size_t i = 0; i < ga.size(); ++i)
      EXPECT_MSG(max_abs_diff(ga[i], gb[i]) <= 2e-5, "range " << range << ": gradient " << i << " differs by "
                                                              << max_abs_diff(ga[i], gb[i]));
  }
  // The fused, chunked attention against softmax(reference scores)·v: chunks that divide L and
  // ones that do not, a chunk longer than L, clipped and unclipped ranges, with padded keys.
  for (int64_t range : {6, 20}) {
    for (int64_t chunk : {4, 7, 64}) {
      const int64_t L = 20, H = 2, Dh = 8;
      Qkv x = random_qkv(2, H, L, Dh, 70 + range + chunk);
      torch::Tensor rq = torch::randn({H, 2 * range, Dh}, torch::requires_grad());
      torch::Tensor rk = torch::randn({H, 2 * range, Dh}, torch::requires_grad());
      torch::Tensor allowed = (mixed_mask(L, 13, 9) > 0).view({2, 1, 1, L});
      torch::Tensor a = att::disentangled(x.q, x.k, x.v, rq, rk, range, allowed, {}, chunk);
      torch::Tensor b = att::attend(att::disentangled_scores_reference(x.q, x.k, rq, rk, range), allowed, x.v, {});
      const std::string what = "fused, range " + std::to_string(range) + ", chunk " + std::to_string(chunk);
      EXPECT_MSG(max_abs_diff(a, b) <= 2e-5, what << ": outputs differ by " << max_abs_diff(a, b));
      torch::Tensor w = torch::randn(a.sizes());
      auto ga = torch::autograd::grad({(a * w).sum()}, {x.q, x.k, x.v, rq, rk});
      auto gb = torch::autograd::grad({(b * w).sum()}, {x.q, x.k, x.v, rq, rk});
      for (size_t i = 0; i < ga.size(); ++i)
        EXPECT_MSG(max_abs_diff(ga[i], gb[i]) <= 2e-5, what << ": gradient " << i << " differs by " << max_abs_diff(ga[i], gb[i]));
    }
  }
  // δ(i, j) = clamp(i − j, −R, R − 1) + R.
  torch::Tensor d = att::relative_index(10, 3, torch::TensorOptions());
  EXPECT(d[5][5].item<int64_t>() == 3 && d[9][0].item<int64_t>() == 5 && d[0][9].item<int64_t>() == 0 &&
         d[4][5].item<int64_t>() == 2);
}

// A D layer (which projects only the table rows distances up to L − 1 can use) against the
// reference formula on the whole relative table, for L shorter and longer than the range.
TEST_CASE(deberta_layer_matches_the_reference_formula) {
  for (int64_t L : {12, 40}) {
    ModelConfig cfg = micro_config("D");
    cfg.rel_range = 24;
    torch::manual_seed(L);
    MaBert m(cfg);
    m->eval();
    auto& layer = dynamic_cast<TransformerLayer&>(*m->layers()[0]);
    torch::NoGradGuard guard;
    torch::Tensor x = torch::randn({2, L, cfg.d_model});
    LayerContext ctx;
    ctx.mask = torch::ones({2, L});
    ctx.mask[1].narrow(0, L - 3, 3).fill_(0);
    ctx.rel = m->rel_norm(m->rel_embeddings->weight);
    torch::Tensor fast = layer.attn->forward(x, ctx);
    const int64_t H = cfg.n_heads, Dh = cfg.d_model / H;
    auto w = layer.attn->qkv->weight.chunk(3, 0);
    auto b = layer.attn->qkv->bias.chunk(3, 0);
    auto heads = [&](const torch::Tensor& t, int64_t n) { return t.view({-1, n, H, Dh}).transpose(1, 2); };
    torch::Tensor q = heads(torch::nn::functional::linear(x, w[0], b[0]), L), k = heads(torch::nn::functional::linear(x, w[1], b[1]), L),
                  v = heads(torch::nn::functional::linear(x, w[2], b[2]), L);
    torch::Tensor rq = heads(torch::nn::functional::linear(ctx.rel, w[0], b[0]), 2 * cfg.rel_range)[0];
    torch::Tensor rk = heads(torch::nn::functional::linear(ctx.rel, w[1], b[1]), 2 * cfg.rel_range)[0];
    torch::Tensor scores = att::disentangled_scores_reference(q, k, rq, rk, cfg.rel_range);
    torch::Tensor y = att::attend(scores, (ctx.mask > 0).view({2, 1, 1, L}), v, {});
    torch::Tensor ref = layer.attn->out(y.transpose(1, 2).reshape({2, L, cfg.d_model}));
    EXPECT_MSG(max_abs_diff(fast, ref) <= 2e-5, "L=" << L << ": differs by " << max_abs_diff(fast, ref));
  }
}

// Whole layers: the fast path (no probabilities asked) equals the dense reference path (asked),
// forward and backward, in a model with every new letter and windows shorter than the input.
TEST_CASE(baseline_layers_fast_path_equals_dense_path_in_a_model) {
  ModelConfig cfg = micro_config("LSDT");
  cfg.attn_window = 8, cfg.sparse_block = 4, cfg.sparse_random = 1, cfg.rel_range = 8;
  torch::manual_seed(3);
  MaBert m(cfg);
  m->eval();
  const PaddedBatch b = pad_batch(random_sentences({29, 17}, cfg.vocab_size, 9), 3, false);
  ForwardOptions with_probs;
  with_probs.attentions = true;
  auto fast = m->forward(b.ids, b.mask);
  auto dense = m->forward(b.ids, b.mask, {}, with_probs);
  EXPECT_LE(max_abs_diff(fast.hidden, dense.hidden), 1e-4);
  REQUIRE(dense.attentions.size() == 4);
  for (int l = 0; l < 4; ++l) {
    const torch::Tensor& a = dense.attentions[l];
    REQUIRE(a.defined() && a.size(2) == b.ids.size(1));
    // Rows sum to 1; pad keys get exactly 0.
    EXPECT_LE((a.sum(-1) - 1).abs().max().item<double>(), 1e-5);
    EXPECT(a[1].select(-1, 30).abs().max().item<double>() == 0.0);
  }
  // Longformer: a token far from [CLS] and from position 20 gives them 0 and nonzero weight resp.
  const torch::Tensor& lw = dense.attentions[0];
  EXPECT(lw[0][0][20][10].item<double>() == 0.0 && lw[0][0][20][0].item<double>() > 0 && lw[0][0][20][17].item<double>() > 0);
  EXPECT(lw[0][0][0][28].item<double>() > 0);  // the global row sees everything

  // Gradients match too, and reach every parameter.
  m->train();  // dropout is 0 in micro_config
  auto loss_of = [&](const EncoderOutput& r) { return (r.hidden * torch::linspace(-1, 1, cfg.d_model)).sum(); };
  m->zero_grad();
  loss_of(m->forward(b.ids, b.mask)).backward();
  std::vector<torch::Tensor> g_fast;
  for (auto& p : m->parameters()) g_fast.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
  m->zero_grad();
  loss_of(m->forward(b.ids, b.mask, {}, with_probs)).backward();
  size_t i = 0, missing = 0;
  for (const auto& item : m->named_parameters()) {
    const auto& g = g_fast[i++];
    if (item.key().rfind("mlm.", 0) == 0 || item.key().rfind("pooling.", 0) == 0) continue;  // not in this loss
    if (!g.defined()) {
      ++missing;
      std::printf("    no gradient: %s\n", item.key().c_str());
      continue;
    }
    const double scale = 1.0 + g.abs().max().item<double>();
    EXPECT_MSG(max_abs_diff(g, item.value().grad()) <= 1e-5 * scale,
               item.key() << ": gradient differs by " << max_abs_diff(g, item.value().grad()));
  }
  EXPECT_EQ(missing, 0u);
}

// Like T, the L and D layers give a sentence's valid tokens the same outputs whatever padding is
// added (window and relative distances ignore pads); S keeps pad keys at zero weight.
TEST_CASE(baseline_layers_handle_padding_like_t_layers) {
  for (const char* schedule : {"LLT", "DDT"}) {
    ModelConfig cfg = micro_config(schedule);
    cfg.attn_window = 6, cfg.rel_range = 5, cfg.pooling = PoolingKind::MaskedMean;
    torch::manual_seed(4);
    MaBert m(cfg);
    m->eval();
    torch::NoGradGuard guard;
    const auto sents = random_sentences({13, 7}, cfg.vocab_size, 21);
    for (bool left : {false, true}) {
      const PaddedBatch b = pad_batch(sents, 6, left);
      auto padded = m->forward(b.ids, b.mask);
      double drift = 0;
      for (size_t i = 0; i < sents.size(); ++i) {
        auto alone = m->forward(sents[i].unsqueeze(0), torch::Tensor());
        drift = std::max(drift, max_abs_diff(padded.hidden[i].index_select(0, b.valid[i]), alone.hidden[0]));
        drift = std::max(drift, max_abs_diff(padded.pooled[i], alone.pooled[0]));
      }
      EXPECT_MSG(drift <= 2e-5, schedule << (left ? " left" : " right") << " padding changes valid outputs by " << drift);
    }
  }
  ModelConfig cfg = micro_config("SS");
  cfg.sparse_block = 4, cfg.sparse_random = 1;
  MaBert m(cfg);
  m->eval();
  const PaddedBatch b = pad_batch(random_sentences({21, 9}, cfg.vocab_size, 2), 4, true);
  ForwardOptions o;
  o.attentions = true;
  auto r = m->forward(b.ids, b.mask, {}, o);
  for (const auto& a : r.attentions) {
    torch::Tensor on_pads = a.masked_select((b.mask == 0).view({2, 1, 1, -1}).expand_as(a));
    EXPECT(on_pads.abs().max().item<double>() == 0.0);
    EXPECT(torch::isfinite(r.hidden).all().item<bool>());
  }
}

// Peak memory of one window-attention layer's forward at doubling lengths (measured with the
// counting CPU allocator): it grows about 2× per doubling, where dense attention grows about 4×.
TEST_CASE(window_attention_memory_grows_linearly_with_length) {
  ModelConfig cfg = micro_config("L");
  cfg.d_model = 64, cfg.n_heads = 4, cfg.attn_window = 64, cfg.max_len = 4096;
  ModelConfig dense_cfg = cfg;
  dense_cfg.schedule = "T";
  torch::manual_seed(0);
  TransformerLayer window(cfg, LayerKind::Longformer), full(dense_cfg, LayerKind::Transformer);
  window.eval(), full.eval();
  torch::NoGradGuard guard;
  auto peak = [](EncoderLayer& layer, int64_t L, bool explicit_scores) {
    torch::Tensor h = torch::randn({1, L, 64});
    LayerContext ctx;
    ctx.mask = torch::ones({1, L});
    ctx.mask3 = ctx.mask.unsqueeze(-1);
    ctx.attn_bias = torch::zeros({1, 1, 1, L});
    LayerTrace trace;
    trace.want_attention = explicit_scores;  // the dense layer: scores materialised, not the fused kernel
    (void)layer.forward(h, ctx, &trace);     // warm-up
    trace.attention = torch::Tensor();
    const int64_t base = peak_memory_reset(-1);
    (void)layer.forward(h, ctx, &trace);
    trace.attention = torch::Tensor();
    return peak_memory_since(-1, base);
  };
  std::vector<int64_t> lengths = {512, 1024, 2048, 4096};
  std::vector<double> w, d;
  for (int64_t L : lengths) w.push_back(static_cast<double>(peak(window, L, false))), d.push_back(static_cast<double>(peak(full, L, true)));
  for (size_t i = 0; i < lengths.size(); ++i)
    std::printf("    L=%-5lld window %8.2f MB   dense (explicit scores) %8.2f MB\n", static_cast<long long>(lengths[i]),
                w[i] / 1048576.0, d[i] / 1048576.0);
  for (size_t i = 1; i < lengths.size(); ++i) {
    const double growth = w[i] / w[i - 1];
    EXPECT_MSG(growth > 1.6 && growth < 2.4, "window peak grew " << growth << "x from " << lengths[i - 1] << " to " << lengths[i]);
  }
  EXPECT_GT(d.back() / d[d.size() - 2], 3.0);  // the dense layer at the same lengths: quadratic
  EXPECT_GT(d.back(), 4 * w.back());
}

TEST_CASE(albert_factorised_embeddings_and_cross_layer_sharing) {
  ModelConfig cfg = micro_config("TTTT");
  cfg.embed_dim = 16;
  cfg.share_layers = true;
  MaBert m(cfg);
  ModelConfig one = micro_config("T");
  one.embed_dim = 16;
  EXPECT_EQ(count(*m), count(*MaBert(one)));  // four layers, one layer's weights
  EXPECT(m->layers()[0].get() == m->layers()[3].get());
  EXPECT(m->embeddings->tok->weight.size(1) == 16 && m->embeddings->proj->weight.size(0) == 32);
  const PaddedBatch b = pad_batch(random_sentences({9, 5}, cfg.vocab_size, 1), 0, false);
  auto r = m->forward(b.ids, b.mask);
  EXPECT(r.hidden.size(2) == 32 && m->mlm_logits(r.hidden).size(2) == cfg.vocab_size);
  // Sharing per letter: MTMT has one M and one T.
  ModelConfig mixed = micro_config("MTMT");
  mixed.share_layers = true;
  EXPECT_EQ(count(*MaBert(mixed)), analysis::estimate_parameters(mixed));
  EXPECT_EQ(count(*MaBert(mixed)), count(*MaBert(micro_config("MT"))));
  // Save and load keep the sharing.
  const std::string dir = (std::filesystem::temp_directory_path() / ("mabert_albert_" + std::to_string(::getpid()))).string();
  save_model(m, dir);
  MaBert back = load_model(dir);
  m->eval(), back->eval();
  EXPECT_LE(max_abs_diff(m->forward(b.ids, b.mask).hidden, back->forward(b.ids, b.mask).hidden), 0.0);
  remove_tree(dir);
}

TEST_CASE(baseline_presets_parameter_counts) {
  // The analytic count equals the built model for every preset at tiny and small.
  for (const auto& family : ModelConfig::baseline_families())
    for (const char* size : {"tiny", "small"}) {
      const std::string name = family + "-" + size;
      ModelConfig cfg = ModelConfig::preset(name);
      MaBert m(cfg);
      EXPECT_MSG(count(*m) == analysis::estimate_parameters(cfg),
                 name << ": built " << count(*m) << ", estimated " << analysis::estimate_parameters(cfg));
    }
  // Base presets beside the paper's Table B5 (millions of parameters).
  const std::vector<std::pair<std::string, double>> table_b5 = {
      {"bert", 109.484}, {"albert", 11.685}, {"longformer", 148.661}, {"bigbird", 128.061}, {"deberta", 184.417}, {"mabert", 205.322}};
  std::printf("    %-16s %10s %14s\n", "preset", "ours (M)", "Table B5 (M)");
  for (const auto& [family, paper] : table_b5) {
    const double ours = analysis::estimate_parameters(ModelConfig::preset(family + "-base")) / 1e6;
    std::printf("    %-16s %10.3f %14.3f\n", (family + "-base").c_str(), ours, paper);
    if (family != "mabert") EXPECT_MSG(std::abs(ours - paper) / paper < 0.05, family << "-base: " << ours << " M vs " << paper);
  }
  EXPECT_THROWS_WITH(ModelConfig::preset("roberta-base"), "unknown preset 'roberta-base'", "bert-base");
  EXPECT_THROWS_WITH(ModelConfig::preset("bert-huge"), "unknown preset 'bert-huge'");
}

TEST_CASE(positional_extension_interpolates_the_tables) {
  for (const char* family : {"bert", "deberta"}) {
    ModelConfig cfg = ModelConfig::preset(std::string(family) + "-tiny");
    cfg.max_len = 64, cfg.rel_range = 16, cfg.vocab_size = 200;
    MaBert m(cfg);
    MaBert big = extend_positions(m, 256, 64);
    EXPECT(big->config().max_len == 256 && big->config().rel_range == 64);
    if (m->embeddings->pos) {
      const auto &a = m->embeddings->pos->weight, &b = big->embeddings->pos->weight;
      REQUIRE(b.size(0) == 256);
      EXPECT_LE(max_abs_diff(a[0], b[0]), 1e-6);
      EXPECT_LE(max_abs_diff(a[63], b[255]), 1e-6);
      // Row 85 of 256 sits at 85·63/255 = 21 of the old table, exactly.
      EXPECT_LE(max_abs_diff(a[21], b[85]), 1e-5);
    }
    if (m->rel_embeddings) {
      REQUIRE(big->rel_embeddings->weight.size(0) == 128);
      EXPECT_LE(max_abs_diff(m->rel_embeddings->weight[0], big->rel_embeddings->weight[0]), 1e-6);
    }
    EXPECT_LE(max_abs_diff(m->embeddings->tok->weight, big->embeddings->tok->weight), 0.0);
    big->eval();
    torch::NoGradGuard guard;
    torch::Tensor ids = torch::randint(5, 200, {1, 200}, torch::kLong);
    EXPECT(torch::isfinite(big->forward(ids, torch::Tensor()).hidden).all().item<bool>());
    if (m->embeddings->pos) EXPECT_THROWS_WITH((void)m->forward(ids, torch::Tensor()), "exceeds the model's max_len 64");
  }
}

TEST_CASE(config_rejects_bad_baseline_fields) {
  ModelConfig c = micro_config("L");
  c.attn_window = 7;
  EXPECT_THROWS_WITH(c.validate("x.json"), "x.json", "attn_window", "even");
  c = micro_config("S");
  c.sparse_block = 0;
  EXPECT_THROWS_WITH(c.validate("x.json"), "x.json", "sparse_block");
  c = micro_config("D");
  c.rel_range = 0;
  EXPECT_THROWS_WITH(c.validate("x.json"), "x.json", "rel_range");
  c = micro_config("T");
  c.embed_dim = -1;
  EXPECT_THROWS_WITH(c.validate("x.json"), "embed_dim");
  EXPECT_THROWS_WITH(parse_schedule("MMX"), "'X'", "position 3", "T M B P L S D");
  // Round trip of the new fields.
  ModelConfig d = ModelConfig::preset("albert-small");
  EXPECT(ModelConfig::from_json(nlohmann::json::parse(d.to_json().dump())).to_json() == d.to_json());
}

TEST_MAIN()

// Building blocks of the MaBERT encoder (SPEC §1). Shapes follow the legend in layers.h.
#include "model/layers.h"

#include "model/attention.h"

#include "conv_silu/conv_silu.h"
#include "selective_scan/selective_scan.h"

#include <torch/torch.h>

#include <cmath>

namespace mabert {
namespace F = torch::nn::functional;
namespace {

}  // namespace

// The model being built sets its ModelConfig::init_std here for the layers' projections (the
// layer constructors that make them do not all see the config); BERT's 0.02 otherwise.
thread_local double t_init_std = 0.02;
InitStdScope::InitStdScope(double std) : previous_(t_init_std) { t_init_std = std; }
InitStdScope::~InitStdScope() { t_init_std = previous_; }
double scoped_init_std() { return t_init_std; }

namespace {

// BERT-style initialisation for projections: N(0, init_std), zero bias.
void init_linear(Affine& lin) {
  torch::NoGradGuard guard;
  lin->weight.normal_(0.0, t_init_std);
  if (lin->bias.defined()) lin->bias.zero_();
}

Affine make_linear(int64_t in, int64_t out, bool bias) {
  Affine lin(torch::nn::LinearOptions(in, out).bias(bias));
  init_linear(lin);
  return lin;
}

torch::nn::LayerNorm make_norm(const ModelConfig& cfg) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.d_model}).eps(cfg.layer_norm_eps));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
EmbeddingsImpl::EmbeddingsImpl(const ModelConfig& cfg) : max_len(cfg.max_len) {
  const int64_t E = cfg.resolved_embed_dim();
  tok = register_module("tok", torch::nn::Embedding(cfg.vocab_size, E));
  if (cfg.position == "learned") pos = register_module("pos", torch::nn::Embedding(cfg.max_len, E));
  if (cfg.type_vocab_size > 0) seg = register_module("seg", torch::nn::Embedding(cfg.type_vocab_size, E));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({E}).eps(cfg.layer_norm_eps)));
  if (E != cfg.d_model) proj = register_module("proj", make_linear(E, cfg.d_model, true));
  drop = register_module("drop", KeyedDropout(cfg.dropout));
  if (cfg.token_shift) shift = register_module("shift", make_linear(E, E, true));
  torch::NoGradGuard guard;
  for (auto& p : {tok, pos, seg})
    if (p) p->weight.normal_(0.0, cfg.init_std);
}

torch::Tensor EmbeddingsImpl::forward(const torch::Tensor& ids, const torch::Tensor& segments,
                                      const torch::Tensor& mask) {
  const int64_t L = ids.size(1);
  const torch::Tensor t = tok(ids);  // {B, L, D}
  torch::Tensor x = t;
  if (pos) {
    if (L > max_len)
      throw std::invalid_argument("sequence length " + std::to_string(L) + " exceeds the model's max_len " +
                                  std::to_string(max_len));
    // Positions count valid tokens only, so left padding does not shift a sentence's positions.
    torch::Tensor pos_ids;
    if (mask.defined())
      pos_ids = (mask.to(torch::kLong).cumsum(1) - 1).clamp_min(0);
    else
      pos_ids = torch::arange(L, ids.options().dtype(torch::kLong)).unsqueeze(0).expand_as(ids);
    x = x + pos(pos_ids);
  }
  if (seg) x = x + seg(segments.defined() ? segments : torch::zeros_like(ids));
  if (shift) {
    // The previous position's token embedding; the first position and a pad's successor get none.
    torch::Tensor prev = F::pad(t, F::PadFuncOptions({0, 0, 1, 0})).narrow(1, 0, L);
    if (mask.defined()) prev = prev * F::pad(mask, F::PadFuncOptions({1, 0})).narrow(1, 0, L).unsqueeze(-1).to(prev.dtype());
    x = x + shift(prev);
  }
  x = norm(x);
  if (proj) x = proj(x);
  return drop(x);
}

// ---------------------------------------------------------------------------------------------
SelfAttentionImpl::SelfAttentionImpl(const ModelConfig& cfg, LayerKind variant_, uint64_t seed_)
    : variant(variant_),
      n_heads(cfg.n_heads),
      window_radius(cfg.attn_window / 2),
      block(cfg.sparse_block),
      n_random(cfg.sparse_random),
      rel_range(cfg.rel_range),
      seed(seed_) {
  if (!has_attention(variant) || variant == LayerKind::Parallel) variant = LayerKind::Transformer;
  const int64_t D = cfg.d_model;
  attn_drop = register_module("attn_drop", KeyedDropout(cfg.dropout));
  qkv = register_module("qkv", make_linear(D, 3 * D, true));
  out = register_module("out", make_linear(D, D, true));
  if (variant == LayerKind::Longformer) global_qkv = register_module("global_qkv", make_linear(D, 3 * D, true));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x, const LayerContext& ctx, torch::Tensor* probs) {
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), Dh = D / n_heads;
  // {B, L, 3D} → 3 × {B, H, L, Dh}
  auto parts = qkv(x).view({B, L, 3, n_heads, Dh}).permute({2, 0, 3, 1, 4}).unbind(0);
  const torch::Tensor &q = parts[0], &k = parts[1], &v = parts[2];
  const Dropout drop = attn_drop->now();
  torch::Tensor y;
  switch (variant) {
    case LayerKind::Longformer: y = longformer(x, q, k, v, ctx, probs); break;
    case LayerKind::BigBird: {
      const attention::BlockPattern pattern = attention::bigbird_pattern(L, block, n_random, seed);
      if (probs) y = attention::dense(q, k, v, attention::block_allowed(pattern, ctx.mask, B, L), drop, probs);
      else y = attention::block_sparse(q, k, v, ctx.mask, pattern, drop);
      break;
    }
    case LayerKind::DeBERTa: {
      if (!ctx.rel.defined()) throw std::logic_error("a D layer needs the model's relative-position embeddings");
      // The relative embeddings go through this layer's query and key projections (shared keys, as DeBERTa v2/v3).
      // Only distances up to L − 1 occur: project just the 2·span table rows around the centre.
      const int64_t R = ctx.rel.size(0) / 2, span = std::min(R, L), R2 = 2 * span;
      auto w = qkv->weight.chunk(3, 0);
      auto b = qkv->bias.chunk(3, 0);
      torch::Tensor rel = ctx.rel.narrow(0, R - span, R2).to(x.scalar_type());
      torch::Tensor rel_q = products::linear(rel, w[0], b[0]).view({R2, n_heads, Dh}).transpose(0, 1);
      torch::Tensor rel_k = products::linear(rel, w[1], b[1]).view({R2, n_heads, Dh}).transpose(0, 1);
      torch::Tensor allowed = attention::key_valid(ctx.mask, B, L, x.options()).view({B, 1, 1, L});
      if (probs)
        y = attention::attend(attention::disentangled_scores(q, k, rel_q, rel_k, span), allowed, v, drop, probs);
      else
        y = attention::disentangled(q, k, v, rel_q, rel_k, span, allowed, drop);
      break;
    }
    default: {
      torch::Tensor bias = ctx.attn_bias.defined() ? ctx.attn_bias.to(q.scalar_type()) : torch::Tensor();
      if (probs) {
        torch::Tensor scores = products::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(Dh));
        if (bias.defined()) scores = scores + bias;
        torch::Tensor a = torch::softmax(scores, -1);
        *probs = a.detach();
        y = products::matmul(drop(a), v);
      } else if (attention::use_chunked_bf16(q)) {
        y = attention::chunked_bf16(q, k, v, bias, drop);
      } else if (drop.keyed()) {  // SDPA draws from LibTorch's generator (and its CPU kernels run the math form with dropout)
        y = attention::dense(q, k, v, attention::key_valid(ctx.mask, B, L, x.options()).view({B, 1, 1, L}), drop);
      } else {
        y = products::sdpa(q, k, v, bias, drop.active() ? drop.p : 0.0);
      }
    }
  }
  return out(y.transpose(1, 2).reshape({B, L, D}));
}

torch::Tensor SelfAttentionImpl::longformer(const torch::Tensor& x, const torch::Tensor& q, const torch::Tensor& k,
                                            const torch::Tensor& v, const LayerContext& ctx, torch::Tensor* probs) {
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), H = n_heads, Dh = D / H;
  const Dropout drop = attn_drop->now();
  torch::Tensor global = attention::first_valid(ctx.mask, B, L).to(x.device());  // {B}: [CLS]
  // Every query: its window and the global token. When the window covers the whole sequence the
  // blocked form would only add padding, so the dense form runs.
  torch::Tensor y;
  if (probs || L - 1 <= window_radius)
    y = attention::dense(q, k, v, attention::window_allowed(ctx.mask, global, B, L, window_radius), drop, probs);
  else
    y = attention::sliding_window(q, k, v, ctx.mask, global, window_radius, drop);
  // The global token's row: every valid key, through the global projections.
  auto w = global_qkv->weight.chunk(3, 0);
  auto b = global_qkv->bias.chunk(3, 0);
  torch::Tensor xg = x.gather(1, global.view({B, 1, 1}).expand({B, 1, D}));                           // {B, 1, D}
  torch::Tensor qg = products::linear(xg, w[0], b[0]).view({B, 1, H, Dh}).transpose(1, 2);                 // {B, H, 1, Dh}
  torch::Tensor kg = products::linear(x, w[1], b[1]).view({B, L, H, Dh}).transpose(1, 2);                  // {B, H, L, Dh}
  torch::Tensor vg = products::linear(x, w[2], b[2]).view({B, L, H, Dh}).transpose(1, 2);
  torch::Tensor keys = attention::key_valid(ctx.mask, B, L, x.options()).view({B, 1, 1, L});
  torch::Tensor row_probs;
  torch::Tensor yg = attention::dense(qg, kg, vg, keys, drop, probs ? &row_probs : nullptr);  // {B, H, 1, Dh}
  y = y.scatter(2, global.view({B, 1, 1, 1}).expand({B, H, 1, Dh}), yg);
  if (probs) *probs = probs->scatter(2, global.view({B, 1, 1, 1}).expand({B, H, 1, L}), row_probs);
  return y;
}

// ---------------------------------------------------------------------------------------------
FeedForwardImpl::FeedForwardImpl(int64_t d_model, int64_t d_ffn, double dropout) {
  fc1 = register_module("fc1", make_linear(d_model, d_ffn, true));
  fc2 = register_module("fc2", make_linear(d_ffn, d_model, true));
  drop = register_module("drop", KeyedDropout(dropout));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) { return drop(fc2(F::gelu(fc1(x)))); }

// ---------------------------------------------------------------------------------------------
ScanBranchImpl::ScanBranchImpl(const ModelConfig& cfg)
    : d_state(cfg.d_state),
      dt_rank(cfg.resolved_dt_rank()),
      d_conv(cfg.d_conv),
      conv_back(cfg.conv == "centred" ? (cfg.d_conv - 1) / 2 : cfg.d_conv - 1) {
  const int64_t C = cfg.d_inner();
  // Depth-wise conv; its padding (causal or centred, mirrored for the reverse scan) is applied by hand in forward.
  conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(C, C, d_conv).groups(C).bias(true)));
  x_proj = register_module("x_proj", make_linear(C, dt_rank + 2 * d_state, false));
  dt_proj = register_module("dt_proj", Affine(torch::nn::LinearOptions(dt_rank, C).bias(true)));

  torch::NoGradGuard guard;
  // Reference Mamba initialisation: W_Δ ~ U(±R^−½); b_Δ = softplus⁻¹(dt), dt log-uniform in
  // [dt_min, dt_max] with a floor, so Δ starts in a useful range whatever the width.
  const double std_dt = 1.0 / std::sqrt(static_cast<double>(dt_rank));
  dt_proj->weight.uniform_(-std_dt, std_dt);
  torch::Tensor dt = torch::exp(torch::rand({C}) * (std::log(cfg.dt_max) - std::log(cfg.dt_min)) + std::log(cfg.dt_min))
                         .clamp_min(cfg.dt_init_floor);
  dt_proj->bias.copy_(dt + torch::log(-torch::expm1(-dt)));
  // S4D-real: A[c, n] = −(n + 1).
  A_log = register_parameter("A_log", torch::log(torch::arange(1, d_state + 1, torch::kFloat)).repeat({C, 1}));
  D = register_parameter("D", torch::ones({C}));
}

torch::Tensor ScanBranchImpl::forward(const torch::Tensor& x, const torch::Tensor& z, const torch::Tensor& mask,
                                      bool reverse, kernels::ScanImpl scan, torch::Tensor* states, torch::Tensor* delta) {
  // The conv looks back conv_back steps and ahead d_conv − 1 − conv_back (0 when causal); the
  // reverse direction is the mirror image. The fused CPU path unless the model asked for the
  // reference scan (then the whole core runs as the oracle).
  const auto conv_impl = scan == kernels::ScanImpl::Ref ? kernels::ConvImpl::Ref : kernels::ConvImpl::Auto;
  torch::Tensor xc = kernels::conv_silu(x, conv->weight.squeeze(1), conv->bias, conv_back, reverse, conv_impl);  // {B, L, C}
  torch::Tensor dbl = x_proj(xc);                                                 // {B, L, R + 2N}
  auto pieces = dbl.split_with_sizes({dt_rank, d_state, d_state}, -1);
  torch::Tensor dt = products::matmul(pieces[0], dt_proj->weight.t());               // {B, L, C}, bias in the scan

  // The scan's {B, C, L} arguments as transposed views of the time-major rows (read in place).
  kernels::ScanInputs in;
  in.u = xc.transpose(1, 2);
  in.delta = dt.transpose(1, 2);
  in.A = -torch::exp(A_log);
  in.B = pieces[1].transpose(1, 2);  // {B, N, L}
  in.C = pieces[2].transpose(1, 2);
  in.D = D;
  in.z = z.transpose(1, 2);
  in.delta_bias = dt_proj->bias;
  in.mask = mask;
  kernels::ScanOptions opt;
  opt.delta_softplus = true;
  opt.reverse = reverse;
  opt.return_states = states != nullptr;
  opt.prefer = scan;
  kernels::ScanOutputs out = kernels::selective_scan(in, opt);
  if (states) *states = out.states.detach();
  if (delta) *delta = out.delta.detach();
  return out.y.transpose(1, 2);  // {B, L, C}
}

// ---------------------------------------------------------------------------------------------
SsmCoreImpl::SsmCoreImpl(const ModelConfig& cfg, bool bidirectional_) : bidirectional(bidirectional_) {
  in_proj = register_module("in_proj", make_linear(cfg.d_model, 2 * cfg.d_inner(), false));
  fwd = register_module("fwd", ScanBranch(cfg));
  if (bidirectional) bwd = register_module("bwd", ScanBranch(cfg));
  out_proj = register_module("out_proj", make_linear(cfg.d_inner(), cfg.d_model, false));
}

torch::Tensor SsmCoreImpl::forward(const torch::Tensor& u, const torch::Tensor& state_mask, kernels::ScanImpl scan,
                                   LayerTrace* trace) {
  const torch::Tensor xz = in_proj(u);  // {B, L, 2C}: the input and the gate, used in place
  const int64_t C = xz.size(2) / 2;
  const torch::Tensor x_in = xz.narrow(2, 0, C), z_in = xz.narrow(2, C, C);
  const bool want = trace && trace->want_ssm;
  // The gate SiLU(z) is applied inside the scan; for B layers (y_f + y_b)·g = y_f·g + y_b·g.
  torch::Tensor y = fwd(x_in, z_in, state_mask, false, scan, want ? &trace->ssm_states : nullptr,
                        want ? &trace->ssm_delta : nullptr);
  if (bidirectional)
    y = y + bwd(x_in, z_in, state_mask, true, scan, want ? &trace->ssm_states_rev : nullptr,
                want ? &trace->ssm_delta_rev : nullptr);
  return out_proj(y);  // {B, L, D}
}

// ---------------------------------------------------------------------------------------------
TransformerLayer::TransformerLayer(const ModelConfig& cfg, LayerKind kind, uint64_t seed) {
  norm1 = register_module("norm1", make_norm(cfg));
  attn = register_module("attn", SelfAttention(cfg, kind, seed));
  norm2 = register_module("norm2", make_norm(cfg));
  ffn = register_module("ffn", FeedForward(cfg.d_model, cfg.d_ffn, cfg.dropout));
  drop = register_module("drop", KeyedDropout(cfg.dropout));
}

torch::Tensor TransformerLayer::forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) {
  torch::Tensor* probs = trace && trace->want_attention ? &trace->attention : nullptr;
  torch::Tensor h1 = h + drop(attn(norm1(h), ctx, probs));
  return h1 + ffn(norm2(h1));
}

// ---------------------------------------------------------------------------------------------
MambaLayer::MambaLayer(const ModelConfig& cfg, bool bidirectional) {
  norm1 = register_module("norm1", make_norm(cfg));
  ssm = register_module("ssm", SsmCore(cfg, bidirectional));
  norm2 = register_module("norm2", make_norm(cfg));
  ffn = register_module("ffn", FeedForward(cfg.d_model, cfg.d_ffn, cfg.dropout));
  drop = register_module("drop", KeyedDropout(cfg.dropout));
}

torch::Tensor MambaLayer::forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) {
  torch::Tensor x = norm1(h);
  if (ctx.psm_pre && ctx.mask3.defined()) x = x * ctx.mask3;  // Eq. 2: SSM(LN(H) ⊙ m)
  torch::Tensor h1 = h + drop(ssm(x, ctx.psm_state ? ctx.mask : torch::Tensor(), ctx.scan, trace));
  torch::Tensor h2 = h1 + ffn(norm2(h1));
  if (ctx.psm_post && ctx.mask3.defined()) h2 = h2 * ctx.mask3;  // Eq. 3
  return h2;
}

// ---------------------------------------------------------------------------------------------
ParallelLayer::ParallelLayer(const ModelConfig& cfg) {
  norm1 = register_module("norm1", make_norm(cfg));
  attn = register_module("attn", SelfAttention(cfg, LayerKind::Transformer));
  ssm = register_module("ssm", SsmCore(cfg, false));
  norm2 = register_module("norm2", make_norm(cfg));
  ffn = register_module("ffn", FeedForward(cfg.d_model, cfg.d_ffn, cfg.dropout));
  drop = register_module("drop", KeyedDropout(cfg.dropout));
}

torch::Tensor ParallelLayer::forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) {
  torch::Tensor x = norm1(h);
  torch::Tensor* probs = trace && trace->want_attention ? &trace->attention : nullptr;
  torch::Tensor a = attn(x, ctx, probs);
  torch::Tensor xs = ctx.psm_pre && ctx.mask3.defined() ? x * ctx.mask3 : x;
  torch::Tensor s = ssm(xs, ctx.psm_state ? ctx.mask : torch::Tensor(), ctx.scan, trace);
  torch::Tensor h1 = h + drop(0.5 * (a + s));
  torch::Tensor h2 = h1 + ffn(norm2(h1));
  if (ctx.psm_post && ctx.mask3.defined()) h2 = h2 * ctx.mask3;
  return h2;
}

std::shared_ptr<EncoderLayer> make_layer(LayerKind kind, const ModelConfig& cfg, int64_t index) {
  switch (kind) {
    case LayerKind::Transformer:
    case LayerKind::Longformer:
    case LayerKind::BigBird:
    case LayerKind::DeBERTa: return std::make_shared<TransformerLayer>(cfg, kind, static_cast<uint64_t>(index));
    case LayerKind::Mamba: return std::make_shared<MambaLayer>(cfg, false);
    case LayerKind::BiMamba: return std::make_shared<MambaLayer>(cfg, true);
    case LayerKind::Parallel: return std::make_shared<ParallelLayer>(cfg);
  }
  throw ConfigError("unknown layer kind");
}

}  // namespace mabert

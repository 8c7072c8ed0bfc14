// Building blocks of the MaBERT encoder (SPEC §1). Shapes follow the legend in layers.h.
#include "model/layers.h"

#include "selective_scan/selective_scan.h"

#include <torch/torch.h>

#include <cmath>

namespace mabert {
namespace F = torch::nn::functional;
namespace {

// BERT-style initialisation for projections: N(0, 0.02), zero bias.
void init_linear(torch::nn::Linear& lin) {
  torch::NoGradGuard guard;
  lin->weight.normal_(0.0, 0.02);
  if (lin->bias.defined()) lin->bias.zero_();
}

torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias) {
  torch::nn::Linear lin(torch::nn::LinearOptions(in, out).bias(bias));
  init_linear(lin);
  return lin;
}

torch::nn::LayerNorm make_norm(const ModelConfig& cfg) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.d_model}).eps(cfg.layer_norm_eps));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
EmbeddingsImpl::EmbeddingsImpl(const ModelConfig& cfg) : max_len(cfg.max_len) {
  tok = register_module("tok", torch::nn::Embedding(cfg.vocab_size, cfg.d_model));
  if (cfg.position == "learned") pos = register_module("pos", torch::nn::Embedding(cfg.max_len, cfg.d_model));
  if (cfg.type_vocab_size > 0) seg = register_module("seg", torch::nn::Embedding(cfg.type_vocab_size, cfg.d_model));
  norm = register_module("norm", make_norm(cfg));
  drop = register_module("drop", torch::nn::Dropout(cfg.dropout));
  torch::NoGradGuard guard;
  for (auto& p : {tok, pos, seg})
    if (p) p->weight.normal_(0.0, 0.02);
}

torch::Tensor EmbeddingsImpl::forward(const torch::Tensor& ids, const torch::Tensor& segments,
                                      const torch::Tensor& mask) {
  const int64_t L = ids.size(1);
  torch::Tensor x = tok(ids);  // {B, L, D}
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
  return drop(norm(x));
}

// ---------------------------------------------------------------------------------------------
SelfAttentionImpl::SelfAttentionImpl(int64_t d_model, int64_t n_heads_, double dropout)
    : n_heads(n_heads_), dropout_p(dropout) {
  qkv = register_module("qkv", make_linear(d_model, 3 * d_model, true));
  out = register_module("out", make_linear(d_model, d_model, true));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& attn_bias, torch::Tensor* probs) {
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), Dh = D / n_heads;
  // {B, L, 3D} → 3 × {B, H, L, Dh}
  auto parts = qkv(x).view({B, L, 3, n_heads, Dh}).permute({2, 0, 3, 1, 4}).unbind(0);
  const torch::Tensor &q = parts[0], &k = parts[1], &v = parts[2];
  const double p = is_training() ? dropout_p : 0.0;
  torch::Tensor bias = attn_bias.defined() ? attn_bias.to(q.scalar_type()) : torch::Tensor();
  torch::Tensor ctx;
  if (probs) {
    torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(Dh));
    if (bias.defined()) scores = scores + bias;
    torch::Tensor a = torch::softmax(scores, -1);
    *probs = a.detach();
    ctx = torch::matmul(F::dropout(a, F::DropoutFuncOptions().p(p).training(is_training())), v);
  } else {
    ctx = at::scaled_dot_product_attention(q, k, v, bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt, p,
                                          /*is_causal=*/false);
  }
  return out(ctx.transpose(1, 2).reshape({B, L, D}));
}

// ---------------------------------------------------------------------------------------------
FeedForwardImpl::FeedForwardImpl(int64_t d_model, int64_t d_ffn, double dropout) {
  fc1 = register_module("fc1", make_linear(d_model, d_ffn, true));
  fc2 = register_module("fc2", make_linear(d_ffn, d_model, true));
  drop = register_module("drop", torch::nn::Dropout(dropout));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) { return drop(fc2(F::gelu(fc1(x)))); }

// ---------------------------------------------------------------------------------------------
ScanBranchImpl::ScanBranchImpl(const ModelConfig& cfg)
    : d_state(cfg.d_state), dt_rank(cfg.resolved_dt_rank()), d_conv(cfg.d_conv) {
  const int64_t C = cfg.d_inner();
  // Depth-wise conv; the causal (or anti-causal) padding is applied by hand in forward.
  conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(C, C, d_conv).groups(C).bias(true)));
  x_proj = register_module("x_proj", make_linear(C, dt_rank + 2 * d_state, false));
  dt_proj = register_module("dt_proj", torch::nn::Linear(torch::nn::LinearOptions(dt_rank, C).bias(true)));

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
                                      bool reverse, torch::Tensor* states, torch::Tensor* delta) {
  // Causal conv looks back K−1 steps; the reverse direction looks ahead, with the kernel flipped.
  torch::Tensor xc;
  if (!reverse) {
    xc = at::conv1d(F::pad(x, F::PadFuncOptions({d_conv - 1, 0})), conv->weight, conv->bias, {1}, torch::IntArrayRef{0}, {1}, x.size(1));
  } else {
    xc = at::conv1d(F::pad(x, F::PadFuncOptions({0, d_conv - 1})), conv->weight.flip(-1), conv->bias, {1},
                    torch::IntArrayRef{0}, {1}, x.size(1));
  }
  xc = F::silu(xc);                                              // {B, C, L}
  torch::Tensor dbl = x_proj(xc.transpose(1, 2));                // {B, L, R + 2N}
  auto pieces = dbl.split_with_sizes({dt_rank, d_state, d_state}, -1);
  torch::Tensor dt = torch::matmul(pieces[0], dt_proj->weight.t()).transpose(1, 2);  // {B, C, L}, bias in the scan

  kernels::ScanInputs in;
  in.u = xc;
  in.delta = dt;
  in.A = -torch::exp(A_log);
  in.B = pieces[1].transpose(1, 2);  // {B, N, L}
  in.C = pieces[2].transpose(1, 2);
  in.D = D;
  in.z = z;
  in.delta_bias = dt_proj->bias;
  in.mask = mask;
  kernels::ScanOptions opt;
  opt.delta_softplus = true;
  opt.reverse = reverse;
  opt.return_states = states != nullptr;
  kernels::ScanOutputs out = kernels::selective_scan(in, opt);
  if (states) *states = out.states.detach();
  if (delta) *delta = out.delta.detach();
  return out.y;  // {B, C, L}
}

// ---------------------------------------------------------------------------------------------
SsmCoreImpl::SsmCoreImpl(const ModelConfig& cfg, bool bidirectional_) : bidirectional(bidirectional_) {
  in_proj = register_module("in_proj", make_linear(cfg.d_model, 2 * cfg.d_inner(), false));
  fwd = register_module("fwd", ScanBranch(cfg));
  if (bidirectional) bwd = register_module("bwd", ScanBranch(cfg));
  out_proj = register_module("out_proj", make_linear(cfg.d_inner(), cfg.d_model, false));
}

torch::Tensor SsmCoreImpl::forward(const torch::Tensor& u, const torch::Tensor& state_mask, LayerTrace* trace) {
  auto xz = in_proj(u).transpose(1, 2).chunk(2, 1);  // 2 × {B, C, L}
  const bool want = trace && trace->want_ssm;
  // The gate SiLU(z) is applied inside the scan; for B layers (y_f + y_b)·g = y_f·g + y_b·g.
  torch::Tensor y = fwd(xz[0], xz[1], state_mask, false, want ? &trace->ssm_states : nullptr,
                        want ? &trace->ssm_delta : nullptr);
  if (bidirectional)
    y = y + bwd(xz[0], xz[1], state_mask, true, want ? &trace->ssm_states_rev : nullptr,
                want ? &trace->ssm_delta_rev : nullptr);
  return out_proj(y.transpose(1, 2));  // {B, L, D}
}

// ---------------------------------------------------------------------------------------------
TransformerLayer::TransformerLayer(const ModelConfig& cfg) {
  norm1 = register_module("norm1", make_norm(cfg));
  attn = register_module("attn", SelfAttention(cfg.d_model, cfg.n_heads, cfg.dropout));
  norm2 = register_module("norm2", make_norm(cfg));
  ffn = register_module("ffn", FeedForward(cfg.d_model, cfg.d_ffn, cfg.dropout));
  drop = register_module("drop", torch::nn::Dropout(cfg.dropout));
}

torch::Tensor TransformerLayer::forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) {
  torch::Tensor* probs = trace && trace->want_attention ? &trace->attention : nullptr;
  torch::Tensor h1 = h + drop(attn(norm1(h), ctx.attn_bias, probs));
  return h1 + ffn(norm2(h1));
}

// ---------------------------------------------------------------------------------------------
MambaLayer::MambaLayer(const ModelConfig& cfg, bool bidirectional) {
  norm1 = register_module("norm1", make_norm(cfg));
  ssm = register_module("ssm", SsmCore(cfg, bidirectional));
  norm2 = register_module("norm2", make_norm(cfg));
  ffn = register_module("ffn", FeedForward(cfg.d_model, cfg.d_ffn, cfg.dropout));
  drop = register_module("drop", torch::nn::Dropout(cfg.dropout));
}

torch::Tensor MambaLayer::forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) {
  torch::Tensor x = norm1(h);
  if (ctx.psm_pre && ctx.mask3.defined()) x = x * ctx.mask3;  // Eq. 2: SSM(LN(H) ⊙ m)
  torch::Tensor h1 = h + drop(ssm(x, ctx.psm_state ? ctx.mask : torch::Tensor(), trace));
  torch::Tensor h2 = h1 + ffn(norm2(h1));
  if (ctx.psm_post && ctx.mask3.defined()) h2 = h2 * ctx.mask3;  // Eq. 3
  return h2;
}

// ---------------------------------------------------------------------------------------------
ParallelLayer::ParallelLayer(const ModelConfig& cfg) {
  norm1 = register_module("norm1", make_norm(cfg));
  attn = register_module("attn", SelfAttention(cfg.d_model, cfg.n_heads, cfg.dropout));
  ssm = register_module("ssm", SsmCore(cfg, false));
  norm2 = register_module("norm2", make_norm(cfg));
  ffn = register_module("ffn", FeedForward(cfg.d_model, cfg.d_ffn, cfg.dropout));
  drop = register_module("drop", torch::nn::Dropout(cfg.dropout));
}

torch::Tensor ParallelLayer::forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) {
  torch::Tensor x = norm1(h);
  torch::Tensor* probs = trace && trace->want_attention ? &trace->attention : nullptr;
  torch::Tensor a = attn(x, ctx.attn_bias, probs);
  torch::Tensor xs = ctx.psm_pre && ctx.mask3.defined() ? x * ctx.mask3 : x;
  torch::Tensor s = ssm(xs, ctx.psm_state ? ctx.mask : torch::Tensor(), trace);
  torch::Tensor h1 = h + drop(0.5 * (a + s));
  torch::Tensor h2 = h1 + ffn(norm2(h1));
  if (ctx.psm_post && ctx.mask3.defined()) h2 = h2 * ctx.mask3;
  return h2;
}

std::shared_ptr<EncoderLayer> make_layer(LayerKind kind, const ModelConfig& cfg) {
  switch (kind) {
    case LayerKind::Transformer: return std::make_shared<TransformerLayer>(cfg);
    case LayerKind::Mamba: return std::make_shared<MambaLayer>(cfg, false);
    case LayerKind::BiMamba: return std::make_shared<MambaLayer>(cfg, true);
    case LayerKind::Parallel: return std::make_shared<ParallelLayer>(cfg);
  }
  throw ConfigError("unknown layer kind");
}

}  // namespace mabert

// The encoder's building blocks: embeddings, attention, FFN, the SSM core, and the four layer
// kinds of a schedule (T, M, B, P), all Pre-LN with padding-safe masking (SPEC §1).
//
// Dimension legend:  B batch, L length, D model width (d_model), E·D inner width (d_inner),
//                    N state size (d_state), R Δ rank (dt_rank), H heads, K conv kernel.
#pragma once

#include "model/config.h"
#include "model/dropout.h"
#include "model/products.h"
#include "selective_scan/selective_scan.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

namespace mabert {

// What a layer needs besides its input: the padding mask in the forms it uses, and which PSM
// levels are on. Built once per forward by the encoder.
// While alive (on this thread), the projections the layers build are initialised N(0, std): the
// model sets ModelConfig::init_std around its construction. BERT's 0.02 outside any scope.
class InitStdScope {
 public:
  explicit InitStdScope(double std);
  ~InitStdScope();
  InitStdScope(const InitStdScope&) = delete;
  InitStdScope& operator=(const InitStdScope&) = delete;

 private:
  double previous_;
};
double scoped_init_std();

// torch::nn::Linear computed by ATen's linear (products::linear: bf16 on a CPU without an engine
// in fp32): the bias is added inside the product (addmm), and under autocast it is cast with the
// operands. The C++ frontend's own forward multiplies, then adds the bias in place — with an fp32
// bias and a bf16 product that add runs through an fp32 copy of the whole product. Same
// parameters, same names.
struct AffineImpl : torch::nn::LinearImpl {
  using torch::nn::LinearImpl::LinearImpl;
  torch::Tensor forward(const torch::Tensor& x) { return products::linear(x, weight, bias); }
};
TORCH_MODULE(Affine);

struct LayerContext {
  torch::Tensor mask;       // {B, L} float, 1 = valid token; undefined = no padding
  torch::Tensor mask3;      // {B, L, 1} float, for broadcasting over D
  torch::Tensor attn_bias;  // {B, 1, 1, L} float, 0 on valid keys, −inf on pad keys; undefined on the CPU without pads
  torch::Tensor rel;        // {2R, D} DeBERTa's relative-position embeddings (normalised), shared by D layers
  bool psm_pre = true, psm_post = true, psm_state = true;
  kernels::ScanImpl scan = kernels::ScanImpl::Auto;  // the model's preferred scan path (self-checked)
};

// Per-layer analysis outputs, filled only when asked for.
struct LayerTrace {
  bool want_attention = false;
  bool want_ssm = false;
  torch::Tensor attention;    // {B, H, L, L} softmax probabilities
  torch::Tensor ssm_states;   // {B, E·D, L, N} (forward scan; for B layers the reverse scan too, in ssm_states_rev)
  torch::Tensor ssm_delta;    // {B, E·D, L} effective Δ_t
  torch::Tensor ssm_states_rev, ssm_delta_rev;
};

struct EmbeddingsImpl : torch::nn::Module {
  explicit EmbeddingsImpl(const ModelConfig& cfg);
  // ids, segments: {B, L} int64; mask: {B, L} float or undefined  →  {B, L, D}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& segments, const torch::Tensor& mask);

  int64_t max_len;
  torch::nn::Embedding tok{nullptr}, pos{nullptr}, seg{nullptr};  // in the embedding width (ALBERT: ≠ D)
  torch::nn::LayerNorm norm{nullptr};
  Affine proj{nullptr};  // embedding width → D, only when they differ
  Affine shift{nullptr};  // token_shift: the previous token's embedding, mapped
  KeyedDropout drop{nullptr};
};
TORCH_MODULE(Embeddings);

// Multi-head self-attention in one of four patterns: T dense (LibTorch's fused SDPA), L sliding
// window + global [CLS] (separate global projections, as Longformer), S BigBird block-sparse, D
// DeBERTa disentangled. Pad keys are masked in every pattern.
struct SelfAttentionImpl : torch::nn::Module {
  // `seed` fixes S layers' random blocks (the layer index).
  SelfAttentionImpl(const ModelConfig& cfg, LayerKind variant, uint64_t seed = 0);
  // x: {B, L, D}  →  {B, L, D}. With `probs`, the attention probabilities {B, H, L, L} are computed
  // explicitly (the dense reference of the pattern) and stored there.
  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx, torch::Tensor* probs = nullptr);

  LayerKind variant;
  int64_t n_heads;
  KeyedDropout attn_drop{nullptr};  // on the attention probabilities
  int64_t window_radius, block, n_random, rel_range;
  uint64_t seed;
  Affine qkv{nullptr}, out{nullptr};
  Affine global_qkv{nullptr};  // L: the global token's query, and keys/values for its row

 private:
  torch::Tensor longformer(const torch::Tensor& x, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           const LayerContext& ctx, torch::Tensor* probs);
};
TORCH_MODULE(SelfAttention);

struct FeedForwardImpl : torch::nn::Module {
  FeedForwardImpl(int64_t d_model, int64_t d_ffn, double dropout);
  torch::Tensor forward(const torch::Tensor& x);  // {B, L, D} → {B, L, D}

  Affine fc1{nullptr}, fc2{nullptr};
  KeyedDropout drop{nullptr};
};
TORCH_MODULE(FeedForward);

// The parameters of one scan direction: depth-wise conv, x_proj (δ, B, C), dt_proj, A_log, D.
struct ScanBranchImpl : torch::nn::Module {
  explicit ScanBranchImpl(const ModelConfig& cfg);
  // x, z: {B, L, E·D} time-major slices of in_proj's output (the input and the gate); mask: {B, L}
  // or undefined  →  {B, L, E·D}. Nothing is transposed or copied on the way: conv + SiLU
  // (kernels/conv_silu), x_proj and dt_proj read and write time-major rows, and the scan reads
  // them in place.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& z, const torch::Tensor& mask, bool reverse,
                        kernels::ScanImpl scan, torch::Tensor* states, torch::Tensor* delta);

  int64_t d_state, dt_rank, d_conv;
  int64_t conv_back;  // tokens the forward direction's conv looks back (d_conv − 1 causal; (d_conv − 1) / 2 centred)
  torch::nn::Conv1d conv{nullptr};
  Affine x_proj{nullptr}, dt_proj{nullptr};
  torch::Tensor A_log, D;
};
TORCH_MODULE(ScanBranch);

// SSM core (Eqs. 4–9): in_proj → [x; z], per-direction conv + selective scan, gate, out_proj.
struct SsmCoreImpl : torch::nn::Module {
  SsmCoreImpl(const ModelConfig& cfg, bool bidirectional);
  // u: {B, L, D}; state_mask: {B, L} (psm_state) or undefined  →  {B, L, D}
  torch::Tensor forward(const torch::Tensor& u, const torch::Tensor& state_mask, kernels::ScanImpl scan, LayerTrace* trace);

  bool bidirectional;
  Affine in_proj{nullptr}, out_proj{nullptr};
  ScanBranch fwd{nullptr}, bwd{nullptr};
};
TORCH_MODULE(SsmCore);

// A layer of a schedule. Each kind implements forward with the same contract.
struct EncoderLayer : torch::nn::Module {
  // h: {B, L, D}  →  {B, L, D}
  virtual torch::Tensor forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) = 0;
  virtual LayerKind kind() const = 0;
};

// T and the attention baselines' letters (L S D): Pre-LN attention + FFN.
struct TransformerLayer : EncoderLayer {
  TransformerLayer(const ModelConfig& cfg, LayerKind kind = LayerKind::Transformer, uint64_t seed = 0);
  torch::Tensor forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) override;
  LayerKind kind() const override { return attn->variant; }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  SelfAttention attn{nullptr};
  FeedForward ffn{nullptr};
  KeyedDropout drop{nullptr};
};

// `M` (forward scan) and `B` (bidirectional) layers.
struct MambaLayer : EncoderLayer {
  MambaLayer(const ModelConfig& cfg, bool bidirectional);
  torch::Tensor forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) override;
  LayerKind kind() const override { return ssm->bidirectional ? LayerKind::BiMamba : LayerKind::Mamba; }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  SsmCore ssm{nullptr};
  FeedForward ffn{nullptr};
  KeyedDropout drop{nullptr};
};

struct ParallelLayer : EncoderLayer {
  explicit ParallelLayer(const ModelConfig& cfg);
  torch::Tensor forward(const torch::Tensor& h, const LayerContext& ctx, LayerTrace* trace) override;
  LayerKind kind() const override { return LayerKind::Parallel; }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  SelfAttention attn{nullptr};
  SsmCore ssm{nullptr};
  FeedForward ffn{nullptr};
  KeyedDropout drop{nullptr};
};

// `index` is the layer's position in the schedule (it seeds S layers' random blocks).
std::shared_ptr<EncoderLayer> make_layer(LayerKind kind, const ModelConfig& cfg, int64_t index = 0);

}  // namespace mabert

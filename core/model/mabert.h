// The MaBERT encoder: embeddings → schedule of layers → final LayerNorm → pooling, plus the MLM
// head (decoder tied to the token embeddings) and an optional classification/regression head.
// One forward returns everything the analysis views need, so nothing is run twice.
//
// Dimension legend: B batch, L length, D model width, V vocabulary, H heads, N state size.
#pragma once

#include "model/config.h"
#include "model/layers.h"
#include "util/rng.h"  // rng_mutex(): held while seeding and building a model

#include <torch/nn/modules/container/modulelist.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mabert {

struct ForwardOptions {
  bool hidden_states = false;  // keep the output of the embeddings and of every layer
  bool attentions = false;     // attention probabilities of every T/P layer
  int ssm_trace_layer = -1;    // layer index whose SSM states h_t and Δ_t are returned; −1 = none
};

struct EncoderOutput {
  torch::Tensor hidden;        // {B, L, D} after the final LayerNorm
  torch::Tensor pooled;        // {B, D}
  torch::Tensor pool_weights;  // {B, L} the weights the pooling used (MAP: α; exactly 0 on pads)
  torch::Tensor logits;        // task head: {B, k} classification, {B} regression; undefined without a head
  std::vector<torch::Tensor> hidden_states;  // L+1 entries when asked: embeddings, then each layer
  std::vector<torch::Tensor> attentions;     // one per layer; {B, H, L, L} for T/P layers, undefined otherwise
  LayerTrace ssm_trace;                      // states and Δ of ForwardOptions::ssm_trace_layer
};

// The task head's output for one example's logits (a row of EncoderOutput::logits): the class
// probabilities (softmax) for a classification head, the one score for a regression head.
std::vector<double> head_outputs(Head head, const torch::Tensor& logits_row);

// Mask-aware attention pooling (Eqs. 11–13) and the ablation's alternatives.
struct PoolingImpl : torch::nn::Module {
  PoolingImpl(PoolingKind kind, int64_t d_model);
  // h: {B, L, D}; mask: {B, L} float or undefined  →  pooled {B, D}, weights {B, L}
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& h, const torch::Tensor& mask);

  PoolingKind kind;
  Affine score{nullptr};  // map / attn only
};
TORCH_MODULE(Pooling);

// BERT-style MLM transform; the decoder weight is the token embedding matrix.
struct MlmHeadImpl : torch::nn::Module {
  explicit MlmHeadImpl(const ModelConfig& cfg);
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& tok_weight);  // {.., D} → {.., V}

  Affine dense{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::Tensor bias;
};
TORCH_MODULE(MlmHead);

struct MaBertImpl : torch::nn::Module {
  explicit MaBertImpl(const ModelConfig& cfg);

  // ids: {B, L} int64; mask: {B, L} (1 = valid), any dtype, or undefined for no padding;
  // segments: {B, L} int64 or undefined.
  EncoderOutput forward(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& segments = {},
                        const ForwardOptions& opt = {});

  // MLM logits for hidden states {.., D} → {.., V}.
  torch::Tensor mlm_logits(const torch::Tensor& hidden);

  // Switch padding-safe masking at run time (padding-drift analysis uses the same weights).
  void set_psm(bool pre, bool post, bool state);
  // The selective-scan path this model's M/B/P layers ask for (self-checked before first use; the
  // reference when it fails). A property of this model only: other models and threads are unaffected.
  // Layer knock-out (an analysis on a loaded model): a layer marked true is skipped — its residual
  // block passes its input through unchanged. Indices are the schedule's, 0-based; empty = none.
  // Throws std::invalid_argument for an index outside the schedule.
  void set_knock_out(const std::vector<int64_t>& layers);
  const std::vector<bool>& knocked_out() const { return knocked_out_; }
  void set_scan_impl(kernels::ScanImpl impl) { scan_impl_ = impl; }
  // Training: the key of the dropout masks the next forwards draw (model/dropout.h), so that they
  // do not depend on how the global batch is split over ranks; std::nullopt: LibTorch's generator.
  void set_dropout_key(std::optional<DropoutKey> key) { dropout_stream_->key = key; }
  kernels::ScanImpl scan_impl() const { return scan_impl_; }
  // bf16 inference on the CPU: every Linear's weight held in `dtype`, so autocast does not cast it
  // again on every call (10 % of an all-T forward at 1,024 tokens, with the allocations the casts
  // bring); everything else stays fp32 — LayerNorm, embeddings, the conv, A, D, biases. For a
  // model that is run, not trained or saved afterwards: the weights are rounded.
  void hold_matrix_weights_in(torch::ScalarType dtype);

  const ModelConfig& config() const { return cfg_; }
  // One entry per schedule letter; with share_layers, entries of one letter are the same layer.
  const std::vector<std::shared_ptr<EncoderLayer>>& layers() const { return layers_; }

  Embeddings embeddings{nullptr};
  torch::nn::ModuleList layer_list{nullptr};  // owns the layers (parameter names "layers.<i>.")
  torch::nn::LayerNorm final_norm{nullptr};
  Pooling pooling{nullptr};
  MlmHead mlm{nullptr};
  Affine task_head{nullptr};
  KeyedDropout head_drop{nullptr};
  torch::nn::Embedding rel_embeddings{nullptr};  // D layers only: {2·rel_range, D}
  torch::nn::LayerNorm rel_norm{nullptr};

 private:
  ModelConfig cfg_;
  std::vector<std::shared_ptr<EncoderLayer>> layers_;
  kernels::ScanImpl scan_impl_ = kernels::ScanImpl::Auto;
  std::vector<bool> knocked_out_;
  std::shared_ptr<DropoutStream> dropout_stream_ = std::make_shared<DropoutStream>();  // every KeyedDropout's
};
TORCH_MODULE(MaBert);

// Parameter count of a module (every registered parameter once; the tied decoder is not counted twice).
int64_t count_parameters(const torch::nn::Module& m);

// Positional extension for long inputs (the paper's Table A3): a copy of `model` whose learned
// absolute position table has `max_len` rows, filled by 1-D linear interpolation of the old table
// (its first and last rows are kept), and whose DeBERTa relative table covers ±`rel_range`
// (interpolated about the centre). 0 keeps a value. Every other weight is copied unchanged.
MaBert extend_positions(MaBert& model, int64_t max_len, int64_t rel_range = 0);

// A model of `cfg` initialised from `seed`: seeding and building under rng_mutex(), so a model
// built on another thread at the same time cannot take this one's draws (the one way to make one).
MaBert seeded_model(const ModelConfig& cfg, uint64_t seed);

// Saves config.json and model.safetensors into `dir` (created if needed), each atomically.
void save_model(MaBert& model, const std::string& dir);
// Loads a model saved by save_model. Errors name the file and the tensor at fault.
MaBert load_model(const std::string& dir);

}  // namespace mabert

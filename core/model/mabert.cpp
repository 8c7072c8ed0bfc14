// The MaBERT encoder, its pooling and heads, parameter counting and save/load.
#include "model/mabert.h"

#include "io/safetensors.h"

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <set>

namespace mabert {
namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
PoolingImpl::PoolingImpl(PoolingKind kind_, int64_t d_model) : kind(kind_) {
  if (has_score_layer(kind)) {
    score = register_module("score", Affine(d_model, 1));
    torch::NoGradGuard guard;
    score->weight.normal_(0.0, scoped_init_std());
    score->bias.zero_();
  }
}

std::pair<torch::Tensor, torch::Tensor> PoolingImpl::forward(const torch::Tensor& h, const torch::Tensor& mask) {
  const int64_t B = h.size(0), L = h.size(1);
  const torch::Tensor m = mask.defined() ? mask.to(h.scalar_type()) : torch::ones({B, L}, h.options());
  torch::Tensor w;
  if (has_score_layer(kind)) {
    torch::Tensor s = score(h).squeeze(-1).to(torch::kFloat);  // {B, L}
    // −Λ on pads: exp underflows to exactly 0 in fp32 while a row of only pads stays finite.
    if (kind == PoolingKind::Map) s = s.masked_fill(m.to(torch::kFloat) == 0, -1e30);
    w = torch::softmax(s, -1).to(h.scalar_type());
  } else if (kind == PoolingKind::Cls) {
    // The first *valid* token carries [CLS], also under left padding.
    w = F::one_hot(m.argmax(1), L).to(h.scalar_type());
  } else if (kind == PoolingKind::Mean) {
    w = torch::full({B, L}, 1.0 / static_cast<double>(L), h.options());
  } else {  // masked_mean
    w = m / m.sum(1, true).clamp_min(1.0);
  }
  torch::Tensor pooled = products::matmul(w.unsqueeze(1), h).squeeze(1);  // {B, D}
  return {pooled, w};
}

// ---------------------------------------------------------------------------------------------
MlmHeadImpl::MlmHeadImpl(const ModelConfig& cfg) {
  // D → embedding width, so the decoder can be the (possibly factorised) token embedding matrix.
  const int64_t E = cfg.resolved_embed_dim();
  dense = register_module("dense", Affine(cfg.d_model, E));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({E}).eps(cfg.layer_norm_eps)));
  bias = register_parameter("bias", torch::zeros({cfg.vocab_size}));
  torch::NoGradGuard guard;
  dense->weight.normal_(0.0, cfg.init_std);
  dense->bias.zero_();
}

torch::Tensor MlmHeadImpl::forward(const torch::Tensor& h, const torch::Tensor& tok_weight) {
  return products::linear(norm(F::gelu(dense(h))), tok_weight, bias);
}

// ---------------------------------------------------------------------------------------------
MaBertImpl::MaBertImpl(const ModelConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  const InitStdScope init(cfg_.init_std);
  embeddings = register_module("embeddings", Embeddings(cfg_));
  layer_list = register_module("layers", torch::nn::ModuleList());
  // With share_layers, the first layer of each letter owns the weights and later ones reuse it
  // (ALBERT's cross-layer sharing); only owners are registered, so parameters count once.
  std::map<LayerKind, std::shared_ptr<EncoderLayer>> owners;
  const auto kinds = cfg_.layers();
  for (size_t i = 0; i < kinds.size(); ++i) {
    auto found = owners.find(kinds[i]);
    if (cfg_.share_layers && found != owners.end()) {
      layers_.push_back(found->second);
      continue;
    }
    layers_.push_back(make_layer(kinds[i], cfg_, static_cast<int64_t>(i)));
    layer_list->push_back(layers_.back());
    owners.emplace(kinds[i], layers_.back());
  }
  // DeBERTa's relative-position embeddings: one table for all D layers (as DeBERTa v2/v3).
  for (LayerKind k : kinds)
    if (k == LayerKind::DeBERTa && !rel_embeddings) {
      rel_embeddings = register_module("rel_embeddings", torch::nn::Embedding(2 * cfg_.rel_range, cfg_.d_model));
      rel_norm = register_module("rel_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg_.d_model}).eps(cfg_.layer_norm_eps)));
      torch::NoGradGuard guard;
      rel_embeddings->weight.normal_(0.0, cfg_.init_std);
    }
  final_norm = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg_.d_model}).eps(cfg_.layer_norm_eps)));
  pooling = register_module("pooling", Pooling(cfg_.pooling, cfg_.d_model));
  mlm = register_module("mlm", MlmHead(cfg_));
  if (cfg_.head != Head::None) {
    const int64_t out = cfg_.head == Head::Regression ? 1 : cfg_.num_labels;
    task_head = register_module("head", Affine(cfg_.d_model, out));
    head_drop = register_module("head_drop", KeyedDropout(cfg_.dropout));
    torch::NoGradGuard guard;
    task_head->weight.normal_(0.0, cfg_.init_std);
    task_head->bias.zero_();
  }
  for (const auto& m : modules(/*include_self=*/false))
    if (auto* d = dynamic_cast<KeyedDropoutImpl*>(m.get())) d->stream = dropout_stream_;
}

void MaBertImpl::set_psm(bool pre, bool post, bool state) {
  cfg_.psm_pre = pre;
  cfg_.psm_post = post;
  cfg_.psm_state = state;
}

void MaBertImpl::hold_matrix_weights_in(torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  for (const auto& m : modules(/*include_self=*/false))
    if (auto* lin = dynamic_cast<torch::nn::LinearImpl*>(m.get())) lin->weight.set_data(lin->weight.to(dtype));
}

void MaBertImpl::set_knock_out(const std::vector<int64_t>& layers) {
  std::vector<bool> off(layers_.size(), false);
  for (int64_t i : layers) {
    if (i < 0 || i >= static_cast<int64_t>(layers_.size()))
      throw std::invalid_argument("knock-out: layer " + std::to_string(i) + " is not in the schedule " + cfg_.schedule +
                                  " (layers 0.." + std::to_string(layers_.size() - 1) + ")");
    off[static_cast<size_t>(i)] = true;
  }
  knocked_out_ = layers.empty() ? std::vector<bool>() : off;
}

EncoderOutput MaBertImpl::forward(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& segments,
                                  const ForwardOptions& opt) {
  if (ids.dim() != 2) throw std::invalid_argument("input ids must be {batch, length}");
  if (mask.defined() && mask.sizes() != ids.sizes()) throw std::invalid_argument("padding mask must have the shape of the input ids");
  LayerContext ctx;
  ctx.psm_pre = cfg_.psm_pre;
  ctx.psm_post = cfg_.psm_post;
  ctx.psm_state = cfg_.psm_state;
  ctx.scan = scan_impl_;
  dropout_stream_->draws = 0;  // a keyed mask's place in this forward
  torch::Tensor h = embeddings(ids, segments, mask);  // {B, L, D}
  if (mask.defined()) {
    ctx.mask = mask.to(h.scalar_type());
    ctx.mask3 = ctx.mask.unsqueeze(-1);
    // Attention needs the pad bias only where a key is a pad: without one, adding zeros to every
    // score (a pass over B·H·L² of them per layer) would change nothing. On the CPU that is
    // checked here; on CUDA the check would wait for the device, so the bias is always built.
    const torch::Tensor pads = mask == 0;
    if (!mask.device().is_cpu() || pads.any().item<bool>())
      ctx.attn_bias = torch::zeros(mask.sizes(), h.options().dtype(torch::kFloat))
                          .masked_fill(pads, -std::numeric_limits<float>::infinity())
                          .view({ids.size(0), 1, 1, ids.size(1)});
  }

  if (rel_embeddings) ctx.rel = rel_norm(rel_embeddings->weight);

  EncoderOutput out;
  if (opt.hidden_states) out.hidden_states.push_back(h.detach());
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerTrace trace;
    trace.want_attention = opt.attentions;
    trace.want_ssm = static_cast<int>(i) == opt.ssm_trace_layer;
    if (knocked_out_.empty() || !knocked_out_[i]) h = layers_[i]->forward(h, ctx, &trace);
    if (opt.hidden_states) out.hidden_states.push_back(h.detach());
    if (opt.attentions) out.attentions.push_back(trace.attention);
    if (trace.want_ssm) out.ssm_trace = std::move(trace);
  }
  out.hidden = final_norm(h);
  std::tie(out.pooled, out.pool_weights) = pooling(out.hidden, ctx.mask);
  if (task_head) {
    out.logits = task_head(head_drop(out.pooled));
    if (cfg_.head == Head::Regression) out.logits = out.logits.squeeze(-1);
  }
  return out;
}

std::vector<double> head_outputs(Head head, const torch::Tensor& logits_row) {
  torch::Tensor l = logits_row.to(torch::kCPU, torch::kDouble).reshape({-1});
  if (head != Head::Regression) l = torch::softmax(l, -1);
  l = l.contiguous();
  return {l.data_ptr<double>(), l.data_ptr<double>() + l.numel()};
}

torch::Tensor MaBertImpl::mlm_logits(const torch::Tensor& hidden) { return mlm(hidden, embeddings->tok->weight); }

// ---------------------------------------------------------------------------------------------
int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

void save_model(MaBert& model, const std::string& dir) {
  std::filesystem::create_directories(dir);
  model->config().save(dir + "/config.json");
  NamedTensors tensors;
  for (const auto& item : model->named_parameters()) tensors.emplace_back(item.key(), item.value());
  save_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}, {"producer", "mabert-studio"}});
}

MaBert load_model(const std::string& dir) {
  MaBert model(ModelConfig::load(dir + "/config.json"));
  const std::string path = dir + "/model.safetensors";
  SafetensorsFile file = load_safetensors(path);
  auto params = model->named_parameters();
  std::set<std::string> seen;
  torch::NoGradGuard guard;
  for (auto& [name, t] : file.tensors) {
    torch::Tensor* p = params.find(name);
    if (!p) throw std::runtime_error(path + ": tensor '" + name + "' is not a parameter of this model (schedule " + model->config().schedule + ")");
    if (p->sizes() != t.sizes())
      throw std::runtime_error(path + ": tensor '" + name + "' has shape " + c10::str(t.sizes()) + ", the model expects " + c10::str(p->sizes()));
    p->copy_(t);
    seen.insert(name);
  }
  for (const auto& item : params)
    if (!seen.count(item.key())) throw std::runtime_error(path + ": tensor '" + item.key() + "' is missing");
  return model;
}

MaBert seeded_model(const ModelConfig& cfg, uint64_t seed) {
  std::lock_guard<std::mutex> lock(rng_mutex());
  torch::manual_seed(seed);
  return MaBert(cfg);
}

MaBert extend_positions(MaBert& model, int64_t max_len, int64_t rel_range) {
  ModelConfig cfg = model->config();
  if (max_len > 0) cfg.max_len = max_len;
  if (rel_range > 0) cfg.rel_range = rel_range;
  cfg.validate("extend_positions");
  MaBert out{nullptr};
  {
    std::lock_guard<std::mutex> lock(rng_mutex());
    out = MaBert(cfg);
  }
  out->to(model->parameters().front().device());
  // Rows of `table` {n, D} resampled to `rows` by linear interpolation with aligned end points.
  const auto resample = [](const torch::Tensor& table, int64_t rows) {
    if (table.size(0) == rows) return table.clone();
    return F::interpolate(table.t().unsqueeze(0).to(torch::kFloat),
                          F::InterpolateFuncOptions().size(std::vector<int64_t>{rows}).mode(torch::kLinear).align_corners(true))
        .squeeze(0)
        .t()
        .to(table.scalar_type());
  };
  auto src = model->named_parameters();
  torch::NoGradGuard guard;
  for (auto& item : out->named_parameters()) {
    const torch::Tensor& old = src[item.key()];
    if (item.key() == "embeddings.pos.weight" || item.key() == "rel_embeddings.weight")
      item.value().copy_(resample(old, item.value().size(0)));
    else
      item.value().copy_(old);
  }
  return out;
}

}  // namespace mabert

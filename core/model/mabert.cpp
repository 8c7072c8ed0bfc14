// The MaBERT encoder, its pooling and heads, parameter counting and save/load.
#include "model/mabert.h"

#include "io/safetensors.h"

#include <torch/torch.h>

#include <filesystem>
#include <set>

namespace mabert {
namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
PoolingImpl::PoolingImpl(const std::string& kind_, int64_t d_model) : kind(kind_) {
  if (kind == "map" || kind == "attn") {
    score = register_module("score", torch::nn::Linear(d_model, 1));
    torch::NoGradGuard guard;
    score->weight.normal_(0.0, 0.02);
    score->bias.zero_();
  }
}

std::pair<torch::Tensor, torch::Tensor> PoolingImpl::forward(const torch::Tensor& h, const torch::Tensor& mask) {
  const int64_t B = h.size(0), L = h.size(1);
  const torch::Tensor m = mask.defined() ? mask.to(h.scalar_type()) : torch::ones({B, L}, h.options());
  torch::Tensor w;
  if (kind == "map" || kind == "attn") {
    torch::Tensor s = score(h).squeeze(-1).to(torch::kFloat);  // {B, L}
    // −Λ on pads: exp underflows to exactly 0 in fp32 while a row of only pads stays finite.
    if (kind == "map") s = s.masked_fill(m.to(torch::kFloat) == 0, -1e30);
    w = torch::softmax(s, -1).to(h.scalar_type());
  } else if (kind == "cls") {
    // The first *valid* token carries [CLS], also under left padding.
    w = F::one_hot(m.argmax(1), L).to(h.scalar_type());
  } else if (kind == "mean") {
    w = torch::full({B, L}, 1.0 / static_cast<double>(L), h.options());
  } else {  // masked_mean
    w = m / m.sum(1, true).clamp_min(1.0);
  }
  torch::Tensor pooled = torch::bmm(w.unsqueeze(1), h).squeeze(1);  // {B, D}
  return {pooled, w};
}

// ---------------------------------------------------------------------------------------------
MlmHeadImpl::MlmHeadImpl(const ModelConfig& cfg) {
  dense = register_module("dense", torch::nn::Linear(cfg.d_model, cfg.d_model));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.d_model}).eps(cfg.layer_norm_eps)));
  bias = register_parameter("bias", torch::zeros({cfg.vocab_size}));
  torch::NoGradGuard guard;
  dense->weight.normal_(0.0, 0.02);
  dense->bias.zero_();
}

torch::Tensor MlmHeadImpl::forward(const torch::Tensor& h, const torch::Tensor& tok_weight) {
  return F::linear(norm(F::gelu(dense(h))), tok_weight, bias);
}

// ---------------------------------------------------------------------------------------------
MaBertImpl::MaBertImpl(const ModelConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  embeddings = register_module("embeddings", Embeddings(cfg_));
  layer_list = register_module("layers", torch::nn::ModuleList());
  for (LayerKind kind : cfg_.layers()) {
    layers_.push_back(make_layer(kind, cfg_));
    layer_list->push_back(layers_.back());
  }
  final_norm = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg_.d_model}).eps(cfg_.layer_norm_eps)));
  pooling = register_module("pooling", Pooling(cfg_.pooling, cfg_.d_model));
  mlm = register_module("mlm", MlmHead(cfg_));
  if (cfg_.head != "none") {
    const int64_t out = cfg_.head == "regression" ? 1 : cfg_.num_labels;
    task_head = register_module("head", torch::nn::Linear(cfg_.d_model, out));
    head_drop = register_module("head_drop", torch::nn::Dropout(cfg_.dropout));
    torch::NoGradGuard guard;
    task_head->weight.normal_(0.0, 0.02);
    task_head->bias.zero_();
  }
}

void MaBertImpl::set_psm(bool pre, bool post, bool state) {
  cfg_.psm_pre = pre;
  cfg_.psm_post = post;
  cfg_.psm_state = state;
}

EncoderOutput MaBertImpl::forward(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& segments,
                                  const ForwardOptions& opt) {
  if (ids.dim() != 2) throw std::invalid_argument("input ids must be {batch, length}");
  if (mask.defined() && mask.sizes() != ids.sizes()) throw std::invalid_argument("padding mask must have the shape of the input ids");
  LayerContext ctx;
  ctx.psm_pre = cfg_.psm_pre;
  ctx.psm_post = cfg_.psm_post;
  ctx.psm_state = cfg_.psm_state;
  torch::Tensor h = embeddings(ids, segments, mask);  // {B, L, D}
  if (mask.defined()) {
    ctx.mask = mask.to(h.scalar_type());
    ctx.mask3 = ctx.mask.unsqueeze(-1);
    ctx.attn_bias = torch::zeros(mask.sizes(), h.options().dtype(torch::kFloat))
                        .masked_fill(mask == 0, -std::numeric_limits<float>::infinity())
                        .view({ids.size(0), 1, 1, ids.size(1)});
  }

  EncoderOutput out;
  if (opt.hidden_states) out.hidden_states.push_back(h.detach());
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerTrace trace;
    trace.want_attention = opt.attentions;
    trace.want_ssm = static_cast<int>(i) == opt.ssm_trace_layer;
    h = layers_[i]->forward(h, ctx, &trace);
    if (opt.hidden_states) out.hidden_states.push_back(h.detach());
    if (opt.attentions) out.attentions.push_back(trace.attention);
    if (trace.want_ssm) out.ssm_trace = std::move(trace);
  }
  out.hidden = final_norm(h);
  std::tie(out.pooled, out.pool_weights) = pooling(out.hidden, ctx.mask);
  if (task_head) {
    out.logits = task_head(head_drop(out.pooled));
    if (cfg_.head == "regression") out.logits = out.logits.squeeze(-1);
  }
  return out;
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

std::mutex& init_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace mabert

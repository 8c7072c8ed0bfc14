#include "analysis/inspect.h"

#include "data/batching.h"

#include <torch/torch.h>

namespace mabert::analysis {

namespace {
std::vector<int> layers_where(const ModelConfig& cfg, bool (*has)(LayerKind)) {
  std::vector<int> out;
  const auto kinds = cfg.layers();
  for (size_t i = 0; i < kinds.size(); ++i)
    if (has(kinds[i])) out.push_back(static_cast<int>(i));
  return out;
}
}  // namespace

std::vector<int> attention_layers(const ModelConfig& cfg) { return layers_where(cfg, has_attention); }
std::vector<int> ssm_layers(const ModelConfig& cfg) { return layers_where(cfg, has_ssm); }

namespace {

void check_layer(const std::vector<int>& allowed, int layer, const char* what, const ModelConfig& cfg) {
  if (layer < 0) return;
  for (int i : allowed)
    if (i == layer) return;
  throw std::invalid_argument(std::string("layer ") + std::to_string(layer) + " (counted from 0) of schedule " + cfg.schedule +
                              " has no " + what);
}

}  // namespace

Inspection inspect(MaBert& model, const Tokenizer& tok, const std::string& a, const std::string* b,
                   const InspectOptions& opt) {
  const ModelConfig& cfg = model->config();
  check_layer(attention_layers(cfg), opt.attention_layer, "attention (pick a T or P layer)", cfg);
  check_layer(ssm_layers(cfg), opt.ssm_layer, "SSM (pick an M, B or P layer)", cfg);
  if (opt.pads < 0) throw std::invalid_argument("pads must be >= 0");

  const int64_t room = std::min(opt.max_len, cfg.max_len);
  if (room - opt.pads < (b ? 4 : 3))
    throw std::invalid_argument(std::to_string(opt.pads) + " pads leave no room for the text: the model takes at most " +
                                std::to_string(room) + " tokens");
  Encoding enc = tok.encode(a, b, room - opt.pads);
  const int64_t n = static_cast<int64_t>(enc.ids.size()), L = n + opt.pads;
  if (L > cfg.max_len)
    throw std::invalid_argument("sentence plus pads is " + std::to_string(L) + " tokens; the model's maximum is " +
                                std::to_string(cfg.max_len));
  Inspection out;
  out.truncated = enc.truncated;
  out.max_len = room;
  const data::Batch batch = data::collate({&enc}, {L, opt.left_pad});
  out.ids.assign(batch.ids.data_ptr<int64_t>(), batch.ids.data_ptr<int64_t>() + L);
  const auto valid = batch.mask.accessor<float, 2>();
  for (int64_t i = 0; i < L; ++i) out.valid.push_back(valid[0][i] > 0 ? 1 : 0);
  out.tokens = tok.pieces(out.ids);
  for (int64_t i = 0; i < L; ++i)
    if (!out.valid[i]) out.tokens[i] = "[PAD]";

  torch::NoGradGuard guard;
  const bool was_training = model->is_training();
  model->eval();
  const torch::Device dev = model->parameters().front().device();
  auto ids = batch.ids.to(dev), seg = batch.segments.to(dev), mask = batch.mask.to(dev);
  ForwardOptions fo;
  fo.attentions = opt.attention_layer >= 0;
  fo.ssm_trace_layer = opt.ssm_layer;
  EncoderOutput r = model->forward(ids, mask, seg, fo);
  if (was_training) model->train();

  auto w = r.pool_weights[0].to(torch::kCPU, torch::kDouble).contiguous();
  out.pool_weights.assign(w.data_ptr<double>(), w.data_ptr<double>() + L);
  out.regression = model->config().head == Head::Regression;
  if (r.logits.defined()) out.head_outputs = head_outputs(model->config().head, r.logits[0]);
  for (size_t i = 0; opt.answer_token >= 0 && i < out.ids.size(); ++i) {
    if (out.ids[i] != opt.answer_token || !out.valid[i]) continue;
    const torch::Tensor p = torch::softmax(model->mlm_logits(r.hidden[0][static_cast<int64_t>(i)]).to(torch::kFloat), -1);
    const auto top = p.topk(3);
    SlotAnswer a;
    a.position = static_cast<int64_t>(i);
    for (int64_t k = 0; k < 3; ++k)
      a.top.emplace_back(tok.piece(std::get<1>(top)[k].item<int64_t>()), std::get<0>(top)[k].item<double>());
    out.answers.push_back(std::move(a));
  }
  // A knocked-out layer computes nothing: its attention stays undefined (the view says so).
  if (opt.attention_layer >= 0 && r.attentions[opt.attention_layer].defined()) {
    out.attention = r.attentions[opt.attention_layer][0].to(torch::kCPU, torch::kFloat).contiguous();
    out.attention_mean = out.attention.mean(0).contiguous();
  }
  if (opt.ssm_layer >= 0 && r.ssm_trace.ssm_states.defined()) {
    // {1, C, L, N} → {L, C, N}
    out.states = r.ssm_trace.ssm_states[0].permute({1, 0, 2}).to(torch::kCPU, torch::kFloat).contiguous();
    out.state_norms = out.states.norm(2, {2});
    out.delta = r.ssm_trace.ssm_delta[0].transpose(0, 1).to(torch::kCPU, torch::kFloat).contiguous();
    out.delta_mean = out.delta.mean(1).contiguous();
    const torch::Tensor top = std::get<1>(out.state_norms[L - 1].topk(std::min<int64_t>(4, out.state_norms.size(1)))).contiguous();
    out.top_channels.assign(top.data_ptr<int64_t>(), top.data_ptr<int64_t>() + top.numel());
    // Principal axes of the valid positions' states; every position projected on them.
    torch::Tensor flat = out.states.reshape({L, -1}).to(torch::kDouble);
    torch::Tensor vmask = torch::tensor(std::vector<int64_t>(out.valid.begin(), out.valid.end())).to(torch::kBool);
    torch::Tensor valid_rows = flat.index({vmask});
    torch::Tensor mean = valid_rows.mean(0, true);
    auto [U, S, Vh] = torch::linalg_svd(valid_rows - mean, /*full_matrices=*/false);
    const int64_t k = std::min<int64_t>(2, Vh.size(0));
    torch::Tensor proj = torch::zeros({L, 2}, torch::kDouble);
    proj.narrow(1, 0, k).copy_(torch::matmul(flat - mean, Vh.narrow(0, 0, k).t()));
    out.path2d = proj.to(torch::kFloat);
    const double total = (S * S).sum().item<double>();
    for (int64_t i = 0; i < k; ++i) out.path_variance.push_back(total > 0 ? (S[i] * S[i]).item<double>() / total : 0.0);
  }
  return out;
}

}  // namespace mabert::analysis

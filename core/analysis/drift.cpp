#include "analysis/drift.h"

#include "data/batching.h"

#include <torch/torch.h>

namespace mabert::analysis {

std::vector<MaskConfig> mask_configs() {
  return {{"none", false, false, false},
          {"pre", true, false, false},
          {"post", false, true, false},
          {"pre+post", true, true, false},
          {"pre+post+state", true, true, true}};
}

MaskConfig mask_config(const std::string& name) {
  std::string names;
  for (const MaskConfig& c : mask_configs()) {
    if (c.name == name) return c;
    names += (names.empty() ? "" : ", ") + c.name;
  }
  throw std::invalid_argument("unknown masking configuration '" + name + "' (one of: " + names + ")");
}

std::vector<Encoding> make_probes(const Tokenizer& tok, const std::vector<std::string>& sentences, size_t count,
                                  int64_t max_len) {
  std::vector<Encoding> out;
  for (const std::string& s : sentences) {
    if (out.size() >= count) break;
    if (s.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    out.push_back(tok.encode(s, nullptr, max_len));
  }
  return out;
}

namespace {

double cosine_distance(const torch::Tensor& a, const torch::Tensor& b) {
  const auto x = a.to(torch::kDouble), y = b.to(torch::kDouble);
  const double denom = (x.norm() * y.norm()).item<double>();
  if (denom == 0) return 0;
  return 1.0 - (x * y).sum().item<double>() / denom;
}

// Representations of one probe padded with k pads: ([CLS] vector, valid-token mean).
std::pair<torch::Tensor, torch::Tensor> represent(MaBert& model, const Encoding& e, int64_t k, bool left,
                                                  const torch::Device& dev) {
  const int64_t n = static_cast<int64_t>(e.ids.size()), off = left ? k : 0;
  const data::Batch b = data::collate({&e}, {n + k, left});
  EncoderOutput r = model->forward(b.ids.to(dev), b.mask.to(dev), b.segments.to(dev));
  torch::Tensor valid = r.hidden[0].narrow(0, off, n);  // {n, D}
  return {valid[0].cpu(), valid.mean(0).cpu()};
}

}  // namespace

std::vector<DriftCurve> padding_drift(MaBert& model, const std::vector<Encoding>& probes, const DriftOptions& opt,
                                      const std::atomic<bool>* stop) {
  if (probes.empty()) throw std::invalid_argument("padding drift needs at least one probe sentence");
  torch::NoGradGuard guard;
  const bool was_training = model->is_training();
  const ModelConfig saved = model->config();
  const torch::Device dev = model->parameters().front().device();
  model->eval();
  std::vector<DriftCurve> curves;
  try {
    for (const MaskConfig& c : opt.configs) {
      model->set_psm(c.pre, c.post, c.state);
      DriftCurve curve;
      curve.config = c.name;
      std::vector<std::pair<torch::Tensor, torch::Tensor>> ref;
      for (const Encoding& e : probes) ref.push_back(represent(model, e, 0, opt.left, dev));
      for (int64_t k : opt.pads) {
        if (stop && stop->load()) break;
        double s_cls = 0, s_mean = 0, m_cls = 0, m_mean = 0;
        int64_t used = 0;
        for (size_t p = 0; p < probes.size(); ++p) {
          if (static_cast<int64_t>(probes[p].ids.size()) + k > saved.max_len) continue;
          auto [cls, mean] = represent(model, probes[p], k, opt.left, dev);
          const double dc = cosine_distance(ref[p].first, cls), dm = cosine_distance(ref[p].second, mean);
          s_cls += dc, s_mean += dm, m_cls = std::max(m_cls, dc), m_mean = std::max(m_mean, dm);
          ++used;
        }
        if (used == 0) continue;
        curve.pads.push_back(k);
        curve.cls.push_back(s_cls / used);
        curve.mean.push_back(s_mean / used);
        curve.cls_max.push_back(m_cls);
        curve.mean_max.push_back(m_mean);
      }
      curves.push_back(std::move(curve));
    }
  } catch (...) {
    model->set_psm(saved.psm_pre, saved.psm_post, saved.psm_state);
    if (was_training) model->train();
    throw;
  }
  model->set_psm(saved.psm_pre, saved.psm_post, saved.psm_state);
  if (was_training) model->train();
  return curves;
}

}  // namespace mabert::analysis

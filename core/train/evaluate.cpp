// Evaluation and prediction on a fine-tuned model.
#include "train/evaluate.h"

#include "train/loop.h"
#include "train/metrics.h"

#include <torch/torch.h>

#include <algorithm>

namespace mabert::train {

std::vector<Encoding> encode_split(const Tokenizer& tok, const data::GlueSplit& split, int64_t max_len) {
  std::vector<Encoding> out;
  out.reserve(split.examples.size());
  for (const auto& ex : split.examples) out.push_back(tok.encode(ex.a, split.task.pair ? &ex.b : nullptr, max_len));
  return out;
}

std::vector<double> predict_range(MaBert& model, const std::vector<Encoding>& enc, int64_t begin, int64_t end,
                                  int64_t batch_size, bool left_padding, std::vector<Prediction>* predictions,
                                  const std::atomic<bool>* stop) {
  torch::NoGradGuard guard;
  const bool was_training = model->is_training();
  model->eval();
  const auto device = model->parameters().front().device();
  const bool regression = model->config().head == Head::Regression;
  std::vector<double> preds;
  for (int64_t s = begin; s < end && !(stop && stop->load()); s += batch_size) {
    std::vector<const Encoding*> items;
    for (int64_t i = s; i < std::min(end, s + batch_size); ++i) items.push_back(&enc[static_cast<size_t>(i)]);
    data::Batch b = to_device(data::collate(items, {0, left_padding}), device);
    EncoderOutput out = model->forward(b.ids, b.mask, b.segments);
    const torch::Tensor logits = out.logits.to(torch::kFloat).cpu();
    const torch::Tensor probs = regression ? logits : torch::softmax(logits, -1);
    const torch::Tensor weights = out.pool_weights.to(torch::kFloat).cpu();
    for (size_t k = 0; k < items.size(); ++k) {
      const auto i = static_cast<int64_t>(k);
      const double p = regression ? logits[i].item<double>() : logits[i].argmax().item<double>();
      preds.push_back(p);
      if (!predictions) continue;
      Prediction pr;
      pr.label = p;
      if (!regression) {
        auto row = probs[i].contiguous();
        pr.probabilities.assign(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
      }
      const int64_t n = static_cast<int64_t>(items[k]->ids.size());
      auto w = weights[i].narrow(0, 0, n).contiguous();
      pr.map_weights.assign(w.data_ptr<float>(), w.data_ptr<float>() + n);
      predictions->push_back(std::move(pr));
    }
  }
  if (was_training) model->train();
  return preds;
}

std::map<std::string, double> evaluate(MaBert& model, const Tokenizer& tok, const data::GlueSplit& split, int64_t max_len,
                                       int64_t batch_size, std::vector<Prediction>* predictions, bool left_padding) {
  return *evaluate_encoded(model, split, encode_split(tok, split, max_len), batch_size, predictions, left_padding);
}

std::optional<std::map<std::string, double>> evaluate_encoded(MaBert& model, const data::GlueSplit& split,
                                                              const std::vector<Encoding>& enc, int64_t batch_size,
                                                              std::vector<Prediction>* predictions, bool left_padding,
                                                              const std::atomic<bool>* stop) {
  const std::vector<double> preds =
      predict_range(model, enc, 0, static_cast<int64_t>(enc.size()), batch_size, left_padding, predictions, stop);
  if (preds.size() < enc.size()) return std::nullopt;  // stopped
  if (!split.labelled) return std::map<std::string, double>{};
  return glue_metrics(split.task.name, split_labels(split), preds);
}

std::vector<double> split_labels(const data::GlueSplit& split) {
  std::vector<double> labels;
  for (const auto& e : split.examples) labels.push_back(e.label);
  return labels;
}

Prediction predict(MaBert& model, const Tokenizer& tok, const std::string& a, const std::string* b, int64_t max_len) {
  torch::NoGradGuard guard;
  model->eval();
  const Encoding e = tok.encode(a, b, max_len);
  data::Batch batch = to_device(data::collate({&e}), model->parameters().front().device());
  EncoderOutput out = model->forward(batch.ids, batch.mask, batch.segments);
  Prediction p;
  p.pieces = tok.pieces(e.ids);
  auto w = out.pool_weights[0].to(torch::kFloat).cpu().contiguous();
  p.map_weights.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
  if (out.logits.defined()) {
    const std::vector<double> o = head_outputs(model->config().head, out.logits[0]);
    if (model->config().head == Head::Regression) {
      p.label = o.at(0);
    } else {
      p.probabilities = o;
      p.label = static_cast<double>(std::max_element(o.begin(), o.end()) - o.begin());
    }
  }
  return p;
}

}  // namespace mabert::train

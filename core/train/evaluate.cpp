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

std::map<std::string, double> evaluate(MaBert& model, const Tokenizer& tok, const data::GlueSplit& split, int64_t max_len,
                                       int64_t batch_size, std::vector<Prediction>* predictions, bool left_padding) {
  torch::NoGradGuard guard;
  const bool was_training = model->is_training();
  model->eval();
  const auto device = model->parameters().front().device();
  const auto enc = encode_split(tok, split, max_len);
  std::vector<double> labels, preds;
  for (size_t s = 0; s < enc.size(); s += static_cast<size_t>(batch_size)) {
    std::vector<const Encoding*> items;
    for (size_t i = s; i < std::min(enc.size(), s + static_cast<size_t>(batch_size)); ++i) items.push_back(&enc[i]);
    data::Batch b = to_device(data::collate(items, {0, left_padding}), device);
    EncoderOutput out = model->forward(b.ids, b.mask, b.segments);
    const torch::Tensor logits = out.logits.to(torch::kFloat).cpu();
    const torch::Tensor probs = model->config().head == Head::Regression ? logits : torch::softmax(logits, -1);
    const torch::Tensor weights = out.pool_weights.to(torch::kFloat).cpu();
    for (size_t k = 0; k < items.size(); ++k) {
      const auto i = static_cast<int64_t>(k);
      const double p = model->config().head == Head::Regression ? logits[i].item<double>() : logits[i].argmax().item<double>();
      preds.push_back(p);
      labels.push_back(split.examples[s + k].label);
      if (predictions) {
        Prediction pr;
        pr.label = p;
        if (model->config().head != Head::Regression) {
          auto row = probs[i].contiguous();
          pr.probabilities.assign(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
        }
        const int64_t n = static_cast<int64_t>(items[k]->ids.size());
        auto w = weights[i].narrow(0, 0, n).contiguous();
        pr.map_weights.assign(w.data_ptr<float>(), w.data_ptr<float>() + n);
        predictions->push_back(std::move(pr));
      }
    }
  }
  if (was_training) model->train();
  if (!split.labelled) return {};
  return glue_metrics(split.task.name, labels, preds);
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

// Text to vectors (encode.h).
#include "interop/encode.h"

#include "data/batching.h"
#include "io/safetensors.h"
#include "train/run_folder.h"
#include "util/files.h"

#include <torch/torch.h>

#include <sstream>

namespace mabert::interop {

EncodeResult encode_file(const EncodeJob& job) {
  if (job.batch < 1) throw std::invalid_argument("encode: batch must be at least 1");
  const std::string text = read_file(job.input);
  std::vector<Encoding> encodings;
  EncodeResult r;
  train::LoadedRun run = train::load_run(job.run_dir, job.best);
  std::istringstream lines(text);
  std::string line;
  for (int64_t n = 1; std::getline(lines, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (job.pairs) {
      const size_t tab = line.find('\t');
      if (tab == std::string::npos)
        throw std::runtime_error(job.input + ": line " + std::to_string(n) + ": expected two sentences separated by a tab");
      const std::string b = line.substr(tab + 1);
      encodings.push_back(run.tokenizer.encode(line.substr(0, tab), &b, job.max_len));
    } else {
      encodings.push_back(run.tokenizer.encode(line, nullptr, job.max_len));
    }
    r.truncated += encodings.back().truncated > 0;
  }
  if (encodings.empty()) throw std::runtime_error(job.input + ": no sentences (the file is empty)");
  for (const auto& e : encodings) r.length = std::max<int64_t>(r.length, static_cast<int64_t>(e.ids.size()));
  r.sentences = static_cast<int64_t>(encodings.size());

  MaBert& model = run.model;
  torch::NoGradGuard no_grad;
  ForwardOptions fo;
  fo.hidden_states = job.layers;
  std::vector<torch::Tensor> ids, mask, seg, hidden, pooled, weights, logits, mlm;
  std::vector<std::vector<torch::Tensor>> layers;
  for (size_t i = 0; i < encodings.size(); i += static_cast<size_t>(job.batch)) {
    std::vector<const Encoding*> items;
    for (size_t j = i; j < std::min(encodings.size(), i + static_cast<size_t>(job.batch)); ++j) items.push_back(&encodings[j]);
    data::Batch b = data::collate(items, data::Padding{r.length, job.left_padding});
    EncoderOutput o = model->forward(b.ids, b.mask, b.segments, fo);
    ids.push_back(b.ids);
    mask.push_back(b.mask.to(torch::kLong));
    seg.push_back(b.segments);
    hidden.push_back(o.hidden);
    pooled.push_back(o.pooled);
    weights.push_back(o.pool_weights);
    if (o.logits.defined()) logits.push_back(o.logits);
    if (job.mlm_logits) mlm.push_back(model->mlm_logits(o.hidden));
    layers.resize(o.hidden_states.size());
    for (size_t k = 0; k < o.hidden_states.size(); ++k) layers[k].push_back(o.hidden_states[k]);
  }
  NamedTensors out = {{"input_ids", torch::cat(ids)},           {"attention_mask", torch::cat(mask)},
                      {"token_type_ids", torch::cat(seg)},      {"last_hidden_state", torch::cat(hidden)},
                      {"pooler_output", torch::cat(pooled)},    {"pool_weights", torch::cat(weights)}};
  if (!logits.empty()) out.emplace_back("logits", torch::cat(logits));
  if (!mlm.empty()) out.emplace_back("mlm_logits", torch::cat(mlm));
  for (size_t k = 0; k < layers.size(); ++k) out.emplace_back("hidden_states." + std::to_string(k), torch::cat(layers[k]));
  save_safetensors(job.out, out, {{"producer", "mabert-studio"}, {"run", job.run_dir}, {"padding", job.left_padding ? "left" : "right"}});
  return r;
}

}  // namespace mabert::interop

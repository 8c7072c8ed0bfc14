// Shared helpers for model tests: a micro config, random sentences, and padded batches built
// exactly as a data loader would build them (right or left padding with extra pad tokens).
#pragma once

#include "model/mabert.h"

#include <torch/torch.h>

#include <vector>

namespace mabert::test {

inline ModelConfig micro_config(const std::string& schedule) {
  ModelConfig c;
  c.schedule = schedule;
  c.vocab_size = 97;
  c.d_model = 32;
  c.n_heads = 4;
  c.d_ffn = 64;
  c.d_state = 8;
  c.max_len = 160;
  c.dropout = 0.0;
  return c;
}

// Random token ids (never 0, the pad id) for each requested length.
inline std::vector<torch::Tensor> random_sentences(const std::vector<int64_t>& lengths, int64_t vocab, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> out;
  for (int64_t n : lengths) out.push_back(torch::randint(5, vocab, {n}, torch::kLong));
  return out;
}

struct PaddedBatch {
  torch::Tensor ids, mask;            // {B, L}
  std::vector<torch::Tensor> valid;   // per row: positions of its valid tokens
};

// Pads every sentence to the longest one plus `extra` pad tokens, on the right or the left.
inline PaddedBatch pad_batch(const std::vector<torch::Tensor>& sents, int64_t extra, bool left) {
  int64_t longest = 0;
  for (const auto& s : sents) longest = std::max(longest, s.size(0));
  const int64_t L = longest + extra, B = static_cast<int64_t>(sents.size());
  PaddedBatch b;
  b.ids = torch::zeros({B, L}, torch::kLong);
  b.mask = torch::zeros({B, L}, torch::kFloat);
  for (int64_t i = 0; i < B; ++i) {
    const int64_t n = sents[i].size(0), start = left ? L - n : 0;
    b.ids[i].narrow(0, start, n).copy_(sents[i]);
    b.mask[i].narrow(0, start, n).fill_(1.0);
    b.valid.push_back(torch::arange(start, start + n, torch::kLong));
  }
  return b;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

}  // namespace mabert::test

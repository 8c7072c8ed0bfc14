// Collation, batch order and MLM masking.
#include "data/batching.h"

#include "util/mix.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace mabert::data {

HeldOutSplit held_out_split(int64_t n, double fraction, int64_t max_held) {
  HeldOutSplit s;
  const auto want = static_cast<int64_t>(static_cast<double>(n) * fraction);
  const int64_t n_held = n < 2 ? 0 : std::min(max_held, std::max<int64_t>(1, want));
  const int64_t stride = n_held == 0 ? 1 : n / n_held;
  for (int64_t i = 0; i < n; ++i) {
    if (static_cast<int64_t>(s.held.size()) < n_held && i % stride == stride / 2)
      s.held.push_back(i);
    else
      s.trained.push_back(i);
  }
  return s;
}

uint64_t step_seed(uint64_t seed, int64_t step) {
  // splitmix64 of the pair: well-mixed, and stable across platforms.
  return splitmix64(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step) + 0x632BE59BD9B4E019ull);
}

Batch collate(const std::vector<const Encoding*>& items, const Padding& pad) {
  int64_t L = pad.length;
  for (const auto* e : items) L = std::max<int64_t>(L, static_cast<int64_t>(e->ids.size()));
  const int64_t B = static_cast<int64_t>(items.size());
  Batch b;
  b.ids = torch::zeros({B, L}, torch::kLong);
  b.segments = torch::zeros({B, L}, torch::kLong);
  b.mask = torch::zeros({B, L}, torch::kFloat);
  auto ids = b.ids.accessor<int64_t, 2>();
  auto seg = b.segments.accessor<int64_t, 2>();
  auto mask = b.mask.accessor<float, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const auto& e = *items[static_cast<size_t>(i)];
    const int64_t off = pad.left ? L - static_cast<int64_t>(e.ids.size()) : 0;
    for (size_t t = 0; t < e.ids.size(); ++t) {
      ids[i][off + static_cast<int64_t>(t)] = e.ids[t];
      seg[i][off + static_cast<int64_t>(t)] = t < e.segments.size() ? e.segments[t] : 0;
      mask[i][off + static_cast<int64_t>(t)] = 1.0f;
    }
    b.tokens += static_cast<int64_t>(e.ids.size());
  }
  return b;
}

double pads_per_example(const std::vector<int64_t>& lengths, int64_t batch_size) {
  if (lengths.empty()) return 0;
  const size_t B = static_cast<size_t>(std::max<int64_t>(1, batch_size));
  int64_t pads = 0;
  for (size_t s = 0; s < lengths.size(); s += B) {
    const size_t e = std::min(lengths.size(), s + B);
    const int64_t longest = *std::max_element(lengths.begin() + static_cast<std::ptrdiff_t>(s), lengths.begin() + static_cast<std::ptrdiff_t>(e));
    for (size_t i = s; i < e; ++i) pads += longest - lengths[i];
  }
  return static_cast<double>(pads) / static_cast<double>(lengths.size());
}

void apply_mlm_masking(Batch& batch, const MlmMasking& m, std::mt19937_64& rng) {
  batch.labels = torch::full(batch.ids.sizes(), -100, torch::kLong);
  auto ids = batch.ids.accessor<int64_t, 2>();
  auto labels = batch.labels.accessor<int64_t, 2>();
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::uniform_int_distribution<int64_t> random_token(Tokenizer::kNumSpecial, std::max<int64_t>(Tokenizer::kNumSpecial, m.vocab_size - 1));
  std::vector<std::pair<int64_t, int64_t>> candidates;
  int64_t selected = 0;
  auto select = [&](int64_t i, int64_t t) {
    labels[i][t] = ids[i][t];
    const double r = u01(rng);
    if (r < m.to_mask) ids[i][t] = Tokenizer::kMask;
    else if (r < m.to_mask + m.to_random) ids[i][t] = random_token(rng);
    ++selected;
  };
  for (int64_t i = 0; i < batch.ids.size(0); ++i)
    for (int64_t t = 0; t < batch.ids.size(1); ++t) {
      if (ids[i][t] < Tokenizer::kNumSpecial) continue;  // pads and specials are never masked
      candidates.emplace_back(i, t);
      if (u01(rng) < m.select) select(i, t);
    }
  if (selected == 0 && !candidates.empty()) {
    const auto [i, t] = candidates[std::uniform_int_distribution<size_t>(0, candidates.size() - 1)(rng)];
    select(i, t);
  }
}

std::vector<std::vector<int64_t>> epoch_batches(const std::vector<int64_t>& lengths, int64_t batch_size, uint64_t seed,
                                                int64_t epoch, bool shuffle, bool bucket) {
  const int64_t n = static_cast<int64_t>(lengths.size());
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(step_seed(seed, -1 - epoch));
  if (shuffle) std::shuffle(order.begin(), order.end(), rng);
  if (bucket) {
    const int64_t window = batch_size * 50;
    for (int64_t s = 0; s < n; s += window) {
      auto b = order.begin() + s, e = order.begin() + std::min(n, s + window);
      std::stable_sort(b, e, [&](int64_t x, int64_t y) { return lengths[x] < lengths[y]; });
    }
  }
  std::vector<std::vector<int64_t>> batches;
  for (int64_t s = 0; s < n; s += batch_size)
    batches.emplace_back(order.begin() + s, order.begin() + std::min(n, s + batch_size));
  if (bucket && shuffle) std::shuffle(batches.begin(), batches.end(), rng);
  return batches;
}

BatchOrder::BatchOrder(std::vector<int64_t> lengths, int64_t batch_size, uint64_t seed, bool bucket)
    : lengths_(std::move(lengths)), batch_size_(batch_size), seed_(seed), bucket_(bucket) {
  if (batch_size_ <= 0) throw std::invalid_argument("batch size must be positive");
  per_epoch_ = (static_cast<int64_t>(lengths_.size()) + batch_size_ - 1) / batch_size_;
  if (per_epoch_ == 0) throw std::invalid_argument("no examples to batch");
}

const std::vector<int64_t>& BatchOrder::at(int64_t micro_step) {
  const int64_t epoch = micro_step / per_epoch_;
  if (epoch != epoch_) {
    order_ = epoch_batches(lengths_, batch_size_, seed_, epoch, true, bucket_);
    epoch_ = epoch;
  }
  return order_[static_cast<size_t>(micro_step % per_epoch_)];
}

}  // namespace mabert::data

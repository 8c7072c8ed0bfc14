// Collation, batch order and MLM masking.
#include "data/batching.h"

#include "util/mix.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace mabert::data {

HeldOutRule::HeldOutRule(int64_t n_, double fraction, int64_t max_held) : n(n_) {
  const auto want = static_cast<int64_t>(static_cast<double>(n) * fraction);
  held = n < 2 ? 0 : std::min(max_held, std::max<int64_t>(1, want));
  stride = held == 0 ? 1 : n / held;
}

int64_t HeldOutRule::trained_at(int64_t t) const {
  if (held == 0) return t;
  // Each of the first `held` strides holds one example out, at stride / 2; the rest are all trained.
  const int64_t per = stride - 1, k = t / per;
  if (k >= held) return held * stride + (t - held * per);
  const int64_t r = t % per;
  return k * stride + (r < stride / 2 ? r : r + 1);
}

HeldOutSplit held_out_split(int64_t n, double fraction, int64_t max_held) {
  const HeldOutRule rule(n, fraction, max_held);
  HeldOutSplit s;
  for (int64_t k = 0; k < rule.held; ++k) s.held.push_back(rule.held_at(k));
  for (int64_t t = 0; t < rule.trained(); ++t) s.trained.push_back(rule.trained_at(t));
  return s;
}

SeededPermutation::SeededPermutation(int64_t n, uint64_t key) : n_(n), key_(key) {
  if (n < 1) throw std::invalid_argument("a permutation of no elements");
  int bits = 2;
  while ((int64_t{1} << bits) < n) bits += 2;
  half_ = bits / 2;
  mask_ = (uint64_t{1} << half_) - 1;
}

int64_t SeededPermutation::operator()(int64_t i) const {
  if (i < 0 || i >= n_) throw std::out_of_range("permutation index " + std::to_string(i) + " of " + std::to_string(n_));
  auto x = static_cast<uint64_t>(i);
  do {  // cycle-walking: at most a few rounds, since n > 2^(bits - 2)
    uint64_t l = x >> half_, r = x & mask_;
    for (uint64_t round = 0; round < 4; ++round) {
      const uint64_t f = splitmix64(key_ ^ (round * 0x9E3779B97F4A7C15ull) ^ r) & mask_;
      const uint64_t next = l ^ f;
      l = r, r = next;
    }
    x = (l << half_) | r;
  } while (x >= static_cast<uint64_t>(n_));
  return static_cast<int64_t>(x);
}

void apply_mlm_masking_rows(Batch& batch, const MlmMasking& m, uint64_t seed, int64_t step, int64_t first_row) {
  batch.labels = torch::full(batch.ids.sizes(), -100, torch::kLong);
  auto ids = batch.ids.accessor<int64_t, 2>();
  auto labels = batch.labels.accessor<int64_t, 2>();
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::uniform_int_distribution<int64_t> random_token(Tokenizer::kNumSpecial, std::max<int64_t>(Tokenizer::kNumSpecial, m.vocab_size - 1));
  const uint64_t base = step_seed(seed, step);
  for (int64_t i = 0; i < batch.ids.size(0); ++i) {
    std::mt19937_64 rng(splitmix64(base ^ splitmix64(static_cast<uint64_t>(first_row + i) + 0x5851F42D4C957F2Dull)));
    for (int64_t t = 0; t < batch.ids.size(1); ++t) {
      if (ids[i][t] < Tokenizer::kNumSpecial || u01(rng) >= m.select) continue;  // pads and specials are never masked
      labels[i][t] = ids[i][t];
      const double r = u01(rng);
      if (r < m.to_mask) ids[i][t] = Tokenizer::kMask;
      else if (r < m.to_mask + m.to_random) ids[i][t] = random_token(rng);
    }
  }
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

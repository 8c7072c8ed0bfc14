// Batches: dynamic padding to the longest sequence, optional length bucketing, a seeded order
// that is a pure function of (seed, epoch) so a resumed run sees the same batches, and MLM
// masking (15 % of valid non-special tokens; 80 % [MASK], 10 % random, 10 % kept).
#pragma once

#include "tokenize/tokenizer.h"

#include <torch/types.h>

#include <cstdint>
#include <random>
#include <vector>

namespace mabert::data {

struct Batch {
  torch::Tensor ids, mask, segments;  // {B, L} int64, float, int64
  torch::Tensor labels;               // MLM: {B, L} int64 with −100 where not predicted; task: {B}
  int64_t tokens = 0;                 // valid tokens
  int64_t first_row = 0;              // row 0's place in the global batch it was cut from (a rank's share)
};

// How a batch is padded: to the longest encoding (length 0) or to `length` (at least that), with
// the pads after the tokens or, `left`, before them. Batching, inspection and padding drift all pad
// through this one function.
struct Padding {
  int64_t length = 0;
  bool left = false;
};
// Pads with [PAD] = 0, mask 0, segment 0.
Batch collate(const std::vector<const Encoding*>& items, const Padding& pad = {});

// Pad tokens per example when examples of these lengths are cut, in order, into batches of
// `batch_size`, each padded to its longest (as the evaluations batch a split): 0 at batch 1.
double pads_per_example(const std::vector<int64_t>& lengths, int64_t batch_size);

struct MlmMasking {
  double select = 0.15, to_mask = 0.8, to_random = 0.1;
  int64_t vocab_size = 0;
};

// Replaces ids in place and sets labels. Never selects [PAD] or the special tokens; selects at
// least one token per batch so the loss is defined.
void apply_mlm_masking(Batch& batch, const MlmMasking& m, std::mt19937_64& rng);

// Batches of example indices for one epoch. shuffle: a permutation drawn from (seed, epoch);
// bucket: within windows of 50 batches, examples are sorted by length so batches hold similar
// lengths (less padding), then the batches are shuffled.
std::vector<std::vector<int64_t>> epoch_batches(const std::vector<int64_t>& lengths, int64_t batch_size, uint64_t seed,
                                                int64_t epoch, bool shuffle, bool bucket);

// The example indices of any micro-step of a run: epoch = step / batches per epoch, each
// epoch's order from epoch_batches. Keeps only the current epoch's order.
class BatchOrder {
 public:
  BatchOrder(std::vector<int64_t> lengths, int64_t batch_size, uint64_t seed, bool bucket);
  const std::vector<int64_t>& at(int64_t micro_step);
  int64_t per_epoch() const { return per_epoch_; }

 private:
  std::vector<int64_t> lengths_;
  int64_t batch_size_, per_epoch_, epoch_ = -1;
  uint64_t seed_;
  bool bucket_;
  std::vector<std::vector<int64_t>> order_;
};

// A held-out split of n examples: every k-th example, `fraction` of them (at least one, at most
// `max_held`; none when n < 2), spread over the whole corpus; `trained` is the rest, in order.
struct HeldOutSplit {
  std::vector<int64_t> held, trained;
};
HeldOutSplit held_out_split(int64_t n, double fraction = 0.02, int64_t max_held = 256);

// The same split as a rule, in constant memory (token shards of any size): held example k and
// the t-th trained example computed, not listed.
struct HeldOutRule {
  int64_t n = 0, held = 0, stride = 1;
  HeldOutRule(int64_t n, double fraction = 0.02, int64_t max_held = 256);
  int64_t trained() const { return n - held; }
  int64_t held_at(int64_t k) const { return k * stride + stride / 2; }
  int64_t trained_at(int64_t t) const;
};

// A bijection of [0, n) drawn from a key, in constant memory: a 4-round Feistel network on the
// smallest even number of bits that covers n, walking the cycle until the value falls inside.
class SeededPermutation {
 public:
  SeededPermutation(int64_t n, uint64_t key);
  int64_t operator()(int64_t i) const;
  int64_t size() const { return n_; }

 private:
  int64_t n_;
  uint64_t key_;
  int half_ = 1;
  uint64_t mask_ = 1;
};

// MLM masking of rows [first_row, first_row + B) of a global batch, each row from its own
// generator keyed by (seed, step, its global row): a rank masks its rows exactly as one process
// masks the whole batch, without building the others. (Unlike apply_mlm_masking, no token is
// forced when a batch selects none: the loss of such a batch counts zero tokens.)
void apply_mlm_masking_rows(Batch& batch, const MlmMasking& m, uint64_t seed, int64_t step, int64_t first_row);

// A seed for step-specific randomness (masking) derived from the run seed.
uint64_t step_seed(uint64_t seed, int64_t step);

}  // namespace mabert::data

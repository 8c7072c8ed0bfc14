// The attention patterns of the paper's baselines (Longformer, BigBird, DeBERTa), each as a fast
// path that never forms the L×L matrix where the original does not, beside a dense reference that
// applies the equivalent L×L mask. Tests compare the two; the analysis views use the dense form
// (it yields the probabilities) on the short inputs they show.
//
// Shapes: q, k, v {B, H, L, Dh}; key_mask {B, L} float, 1 = valid token, or undefined.
// Masked scores are filled with −1e30 (scores are computed in fp32), so a pad key's weight is
// exactly 0 and a row whose keys are all masked stays finite.
#pragma once

#include "model/dropout.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace mabert::attention {

// Which keys are real tokens: {B, L} bool from the padding mask (all true without one).
at::Tensor key_valid(const at::Tensor& key_mask, int64_t batch, int64_t length, const at::TensorOptions& opt);

// Masked softmax over fp32 scores {.., Lq, Lk}, dropout, then the weighted sum of v. Every
// pattern takes its dropout on the probabilities as a `Dropout` ({}: none; keyed masks when its
// stream has a key: see model/dropout.h).
at::Tensor attend(at::Tensor scores, const at::Tensor& allowed, const at::Tensor& v, const Dropout& drop,
                  at::Tensor* probs = nullptr);

// Softmax attention over the keys `allowed` marks ({B or 1, 1 or H, L, L} bool), with dropout on
// the probabilities. `probs` (optional) receives them, detached.
at::Tensor dense(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& allowed,
                 const Dropout& drop, at::Tensor* probs = nullptr);

// --- Full attention in bf16 on a CPU whose bf16 engine is AVX512-BF16 without AMX. LibTorch's
// CPU flash kernel runs its two products in fp32 there (its bf16 tiles need AMX): measured on an
// AMD EPYC (Zen 4), 35 % of a bf16 all-T forward at 1,024 tokens was MKL's sgemm inside it. This
// path is exact softmax attention in query chunks: S = (q·scale)·kᵀ and P·V as bf16 products
// (fp32 accumulation, the result rounded to bf16, as autocast's matmul gives), the softmax
// computed in fp32 and stored in bf16; memory per chunk ~chunk_elements scores, never L×L when L
// is long. q, k, v {B, H, L, Dh} bf16; bias {B, 1, 1, L} additive (0 / −inf on pad keys) or
// undefined. The dense reference is `dense` (tests compare the two).
at::Tensor chunked_bf16(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                        const Dropout& drop, int64_t chunk_elements = int64_t{1} << 22);
// Whether the layer uses chunked_bf16 for bf16 q on this device: a CPU with AVX512-BF16 and no AMX,
// when training only up to B·H·L² = 2^24 (the saved scores and probabilities, 64 MB a layer);
// MABERT_CPU_ATTENTION=sdpa keeps LibTorch's kernel, =chunked forces this path (A/B, tests).
bool use_chunked_bf16(const at::Tensor& q);

// --- Longformer: sliding window of `radius` tokens each side, plus one global token per row (the
// first valid token, [CLS]) that every query attends to. The global token's own row (full
// attention with separate projections) is computed by the layer.
at::Tensor first_valid(const at::Tensor& key_mask, int64_t batch, int64_t length);  // {B} int64
at::Tensor window_allowed(const at::Tensor& key_mask, const at::Tensor& global, int64_t batch, int64_t length,
                          int64_t radius);  // {B, 1, L, L} bool
// Blocked ("sliding chunks"): memory O(L · 3·radius) instead of O(L²).
at::Tensor sliding_window(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& key_mask,
                          const at::Tensor& global, int64_t radius, const Dropout& drop);

// --- BigBird (ITC): blocks of `block` tokens; the first and last blocks are global (attend to
// and are attended by everything); every other query block sees its own and both neighbouring
// blocks, the global blocks and `n_random` random blocks, fixed per (seed, block count).
struct BlockPattern {
  int64_t block = 0, n_blocks = 0;
  std::vector<int64_t> global;                 // global block indices
  std::vector<std::vector<int64_t>> keys;      // per query block: distinct key blocks (empty for global rows)
  at::Tensor slots, slot_valid;                // {nb, S} int64 / bool, padded to a common S (CPU)
};
BlockPattern bigbird_pattern(int64_t length, int64_t block, int64_t n_random, uint64_t seed);
at::Tensor block_allowed(const BlockPattern& p, const at::Tensor& key_mask, int64_t batch, int64_t length);  // {B,1,L,L}
// Gathered key blocks: memory O(L · S·block) instead of O(L²).
at::Tensor block_sparse(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& key_mask,
                        const BlockPattern& p, const Dropout& drop);

// --- DeBERTa: scores = (q·k + q·k_r[δ(i,j)] + k·q_r[δ(j,i)]) / √(3·Dh), δ(i,j) = clamp(i − j, −R, R − 1) + R.
// rel_q, rel_k: {H, 2R, Dh}, the relative embeddings projected by the layer's query and key
// projections. The fast form multiplies by the 2R (at most 2L) embeddings once and gathers.
at::Tensor relative_index(int64_t length, int64_t range, const at::TensorOptions& opt);  // {L, L} int64, δ(i, j)
at::Tensor disentangled_scores(const at::Tensor& q, const at::Tensor& k, const at::Tensor& rel_q,
                               const at::Tensor& rel_k, int64_t range);  // {B, H, L, L}, fp32
// The fused attention: softmax(scores + mask)·v over chunks of `chunk` query rows (0: 64 on
// CPU, 512 on CUDA). c2p and p2c come from skewed strided views of products with only the table
// rows each chunk uses, and c2c is accumulated into them by one batched GEMM: memory per chunk is
// O(chunk·L) apart from one L×L buffer for p2c, and no L×2L product is formed.
at::Tensor disentangled(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& rel_q,
                        const at::Tensor& rel_k, int64_t range, const at::Tensor& allowed, const Dropout& drop, int64_t chunk = 0);
// The reference: the relative embedding of every pair materialised, then contracted.
at::Tensor disentangled_scores_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& rel_q,
                                         const at::Tensor& rel_k, int64_t range);

}  // namespace mabert::attention

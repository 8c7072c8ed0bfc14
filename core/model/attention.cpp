// Attention patterns of the baselines: fast paths and their dense references (see attention.h).
#include "model/attention.h"

#include "model/products.h"
#include "util/cpu_features.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>

namespace mabert::attention {
namespace {

constexpr double kMasked = -1e30;  // fp32 scores: exp underflows to exactly 0, all-masked rows stay finite

}  // namespace

at::Tensor key_valid(const at::Tensor& key_mask, int64_t batch, int64_t length, const at::TensorOptions& opt) {
  if (key_mask.defined()) return key_mask > 0;
  return at::ones({batch, length}, opt.dtype(at::kBool));
}

at::Tensor attend(at::Tensor scores, const at::Tensor& allowed, const at::Tensor& v, const Dropout& drop,
                  at::Tensor* probs) {
  scores = scores.masked_fill(allowed.logical_not(), kMasked);
  at::Tensor a = at::softmax(scores, -1);
  if (probs) *probs = a.detach();
  a = drop(a);
  return products::matmul(a.to(v.scalar_type()), v);
}

at::Tensor dense(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& allowed,
                 const Dropout& drop, at::Tensor* probs) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = products::matmul(q, k.transpose(-2, -1)).to(at::kFloat) * scale;
  return attend(scores, allowed, v, drop, probs);
}

// ---------------------------------------------------------------------------------------------
at::Tensor chunked_bf16(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                        const Dropout& drop, int64_t chunk_elements) {
  // Dtypes are chosen here, not by autocast (which would run the softmax's input in fp32).
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), Lk = k.size(2);
  // bf16 × scalar is computed in fp32 and rounded once: the same values as scaling an fp32 copy.
  const at::Tensor qs = q.to(at::kBFloat16) * (1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  const at::Tensor kt = k.to(at::kBFloat16).transpose(-2, -1), vb = v.to(at::kBFloat16);
  const at::Tensor bb = bias.defined() ? bias.to(at::kBFloat16) : at::Tensor();
  const int64_t rows = std::max<int64_t>(16, std::min<int64_t>(L, chunk_elements / std::max<int64_t>(1, B * H * Lk)));
  // Keyed dropout draws the whole {B, H, L, Lk} noise at once: the chunk size depends on B, the
  // masks must not.
  const at::Tensor noise = drop.keyed_noise_for({B, H, L, Lk}, qs.options());
  std::vector<at::Tensor> parts;
  for (int64_t r = 0; r < L; r += rows) {
    const int64_t c = std::min(rows, L - r);
    at::Tensor s = products::matmul(qs.narrow(2, r, c), kt);  // {B, H, c, Lk} bf16
    if (bb.defined()) s = s + bb;
    at::Tensor p = at::softmax(s, -1);  // fp32 inside, bf16 out
    p = noise.defined() ? p * noise.narrow(2, r, c) : drop(p);
    parts.push_back(products::matmul(p, vb));
  }
  return parts.size() == 1 ? parts[0] : at::cat(parts, 2);
}

bool use_chunked_bf16(const at::Tensor& q) {
  static const std::string choice = [] {
    const char* e = std::getenv("MABERT_CPU_ATTENTION");
    return std::string(e ? e : "");
  }();
  if (q.scalar_type() != at::kBFloat16 || !q.device().is_cpu() || choice == "sdpa") return false;
  if (choice == "chunked") return true;
  const CpuBf16& cpu = cpu_bf16();
  if (!cpu.avx512_bf16 || cpu.amx_bf16) return false;
  // Training keeps each chunk's scores and probabilities for the backward (LibTorch's kernel
  // recomputes them): 4 bytes per query-key pair and head. Above 64 MB a layer, SDPA's memory wins.
  const int64_t pairs = q.size(0) * q.size(1) * q.size(2) * q.size(2);
  return !(at::GradMode::is_enabled() && q.requires_grad()) || pairs <= (int64_t{1} << 24);
}

// ---------------------------------------------------------------------------------------------
at::Tensor first_valid(const at::Tensor& key_mask, int64_t batch, int64_t length) {
  if (!key_mask.defined()) return at::zeros({batch}, at::TensorOptions().dtype(at::kLong));
  return (key_mask > 0).to(at::kFloat).argmax(1);  // the first maximal index: the first valid token
}

at::Tensor window_allowed(const at::Tensor& key_mask, const at::Tensor& global, int64_t batch, int64_t length,
                          int64_t radius) {
  const auto opt = global.options();
  at::Tensor i = at::arange(length, opt).view({length, 1}), j = at::arange(length, opt).view({1, length});
  at::Tensor band = ((i - j).abs() <= radius).unsqueeze(0);                  // {1, L, L}
  at::Tensor valid = key_valid(key_mask, batch, length, opt).unsqueeze(1);    // {B, 1, L}
  at::Tensor is_global = (j.unsqueeze(0) == global.view({batch, 1, 1}));      // {B, 1, L}
  return ((band & valid & is_global.logical_not()) | is_global).unsqueeze(1);  // {B, 1, L, L}
}

at::Tensor sliding_window(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& key_mask,
                          const at::Tensor& global, int64_t radius, const Dropout& drop) {
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), Dh = q.size(3);
  const int64_t w = radius, nb = (L + w - 1) / w, Lp = nb * w;  // chunks of `radius` queries
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  // Query chunk i sees key chunks i−1, i, i+1: 3w keys, positions (i−1)·w + c.
  at::Tensor qp = at::constant_pad_nd(q, {0, 0, 0, Lp - L});
  at::Tensor qb = qp.view({B, H, nb, w, Dh});
  at::Tensor kb = at::constant_pad_nd(k, {0, 0, w, Lp - L + w}).unfold(2, 3 * w, w);                  // {B,H,nb,Dh,3w}
  at::Tensor vb = at::constant_pad_nd(v, {0, 0, w, Lp - L + w}).unfold(2, 3 * w, w).transpose(-1, -2);  // {B,H,nb,3w,Dh}
  at::Tensor scores = products::matmul(qb, kb).to(at::kFloat) * scale;                                       // {B,H,nb,w,3w}

  // Which of the 3w keys each query may see: inside the band, a valid token, and not the global
  // token (it has its own column below, so it is counted once).
  const auto iopt = q.options().dtype(at::kLong);
  at::Tensor a = at::arange(w, iopt).view({w, 1}), c = at::arange(3 * w, iopt).view({1, 3 * w});
  at::Tensor band = ((c - w - a).abs() <= radius).view({1, 1, 1, w, 3 * w});
  at::Tensor local = key_valid(key_mask, B, L, q.options()).to(at::kFloat);
  local = local.scatter(1, global.view({B, 1}), 0.0);
  at::Tensor keys = at::constant_pad_nd(local, {w, Lp - L + w}).unfold(1, 3 * w, w).view({B, 1, nb, 1, 3 * w}) > 0;

  // The global key's column.
  at::Tensor g_idx = global.view({B, 1, 1, 1}).expand({B, H, 1, Dh});
  at::Tensor kg = k.gather(2, g_idx), vg = v.gather(2, g_idx);                              // {B, H, 1, Dh}
  at::Tensor sg = products::matmul(qp, kg.transpose(-1, -2)).to(at::kFloat).view({B, H, nb, w, 1}) * scale;

  scores = at::cat({scores.masked_fill((band & keys).logical_not(), kMasked), sg}, -1);
  at::Tensor p = at::softmax(scores, -1);
  p = drop(p);
  p = p.to(v.scalar_type());
  at::Tensor out = products::matmul(p.narrow(-1, 0, 3 * w), vb) + p.narrow(-1, 3 * w, 1) * vg.view({B, H, 1, 1, Dh});
  return out.reshape({B, H, Lp, Dh}).narrow(2, 0, L);
}

// ---------------------------------------------------------------------------------------------
BlockPattern bigbird_pattern(int64_t length, int64_t block, int64_t n_random, uint64_t seed) {
  if (block <= 0) throw std::invalid_argument("bigbird_pattern: block must be positive");
  BlockPattern p;
  p.block = block;
  p.n_blocks = std::max<int64_t>(1, (length + block - 1) / block);
  const int64_t nb = p.n_blocks;
  p.global = nb > 1 ? std::vector<int64_t>{0, nb - 1} : std::vector<int64_t>{0};
  const auto is_global = [&](int64_t b) { return std::find(p.global.begin(), p.global.end(), b) != p.global.end(); };
  const int64_t S = 3 + static_cast<int64_t>(p.global.size()) + n_random;
  p.keys.resize(nb);
  p.slots = at::zeros({nb, S}, at::kLong);
  p.slot_valid = at::zeros({nb, S}, at::kBool);
  auto slots = p.slots.accessor<int64_t, 2>();
  auto valid = p.slot_valid.accessor<bool, 2>();
  for (int64_t i = 0; i < nb; ++i) {
    if (is_global(i)) continue;  // full rows, computed densely
    std::vector<int64_t> keys;
    for (int64_t b = i - 1; b <= i + 1; ++b)
      if (b >= 0 && b < nb) keys.push_back(b);
    for (int64_t g : p.global)
      if (std::find(keys.begin(), keys.end(), g) == keys.end()) keys.push_back(g);
    std::vector<int64_t> pool;
    for (int64_t b = 0; b < nb; ++b)
      if (std::find(keys.begin(), keys.end(), b) == keys.end()) pool.push_back(b);
    // A partial Fisher–Yates draw from a generator seeded by (seed, nb, i): the same pattern for
    // the same layer and length, on every platform.
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL ^ (static_cast<uint64_t>(nb) << 32) ^ static_cast<uint64_t>(i));
    const int64_t take = std::min<int64_t>(n_random, static_cast<int64_t>(pool.size()));
    for (int64_t t = 0; t < take; ++t) {
      const int64_t pick = t + static_cast<int64_t>(rng() % static_cast<uint64_t>(pool.size() - t));
      std::swap(pool[t], pool[pick]);
      keys.push_back(pool[t]);
    }
    std::sort(keys.begin(), keys.end());
    for (size_t s = 0; s < keys.size(); ++s) slots[i][s] = keys[s], valid[i][s] = true;
    p.keys[i] = std::move(keys);
  }
  return p;
}

at::Tensor block_allowed(const BlockPattern& p, const at::Tensor& key_mask, int64_t batch, int64_t length) {
  const int64_t nb = p.n_blocks;
  at::Tensor blocks = at::zeros({nb, nb}, at::kBool);
  for (int64_t i = 0; i < nb; ++i) {
    if (p.keys[i].empty()) {
      blocks[i].fill_(true);
    } else {
      for (int64_t b : p.keys[i]) blocks[i][b] = true;
    }
  }
  at::Tensor allowed = blocks.repeat_interleave(p.block, 0).repeat_interleave(p.block, 1).narrow(0, 0, length).narrow(1, 0, length);
  const auto dev = key_mask.defined() ? key_mask.device() : at::Device(at::kCPU);
  allowed = allowed.to(dev).unsqueeze(0);                                                             // {1, L, L}
  return (allowed & key_valid(key_mask, batch, length, at::TensorOptions().device(dev)).unsqueeze(1)).unsqueeze(1);
}

at::Tensor block_sparse(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& key_mask,
                        const BlockPattern& p, const Dropout& drop) {
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), Dh = q.size(3);
  const int64_t b = p.block, nb = p.n_blocks, Lp = nb * b, S = p.slots.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  at::Tensor qp = at::constant_pad_nd(q, {0, 0, 0, Lp - L}), kp = at::constant_pad_nd(k, {0, 0, 0, Lp - L}),
             vp = at::constant_pad_nd(v, {0, 0, 0, Lp - L});
  at::Tensor idx = p.slots.to(q.device()).flatten();
  // Each query block's S key blocks, gathered: {B, H, nb, S·b, Dh}.
  at::Tensor kg = kp.view({B, H, nb, b, Dh}).index_select(2, idx).view({B, H, nb, S * b, Dh});
  at::Tensor vg = vp.view({B, H, nb, b, Dh}).index_select(2, idx).view({B, H, nb, S * b, Dh});
  at::Tensor scores = products::matmul(qp.view({B, H, nb, b, Dh}), kg.transpose(-1, -2)).to(at::kFloat) * scale;  // {B,H,nb,b,S·b}
  at::Tensor keys = at::constant_pad_nd(key_valid(key_mask, B, L, q.options()).to(at::kFloat), {0, Lp - L});  // {B, Lp}
  at::Tensor slot_keys = keys.view({B, nb, b}).index_select(1, idx).view({B, nb, S * b}) > 0;
  at::Tensor slot_ok = p.slot_valid.to(q.device()).view({nb, S, 1}).expand({nb, S, b}).reshape({nb, S * b});
  at::Tensor allowed = (slot_keys & slot_ok.unsqueeze(0)).view({B, 1, nb, 1, S * b});
  at::Tensor out = attend(scores, allowed, vg, drop, nullptr);  // {B, H, nb, b, Dh}

  // Global query blocks attend to every key.
  std::vector<at::Tensor> rows;
  for (int64_t g : p.global) {
    at::Tensor qg = qp.narrow(2, g * b, b);  // {B, H, b, Dh}
    at::Tensor sg = products::matmul(qg, kp.transpose(-1, -2)).to(at::kFloat) * scale;
    rows.push_back(attend(sg, (keys > 0).view({B, 1, 1, Lp}), vp, drop, nullptr));
  }
  at::Tensor g_idx = at::tensor(p.global, at::TensorOptions().dtype(at::kLong)).to(q.device());
  out = out.index_copy(2, g_idx, at::stack(rows, 2));
  return out.reshape({B, H, Lp, Dh}).narrow(2, 0, L);
}

// ---------------------------------------------------------------------------------------------
at::Tensor relative_index(int64_t length, int64_t range, const at::TensorOptions& opt) {
  at::Tensor i = at::arange(length, opt.dtype(at::kLong)).view({length, 1});
  at::Tensor j = at::arange(length, opt.dtype(at::kLong)).view({1, length});
  return (i - j).clamp(-range, range - 1) + range;
}

at::Tensor disentangled_scores(const at::Tensor& q, const at::Tensor& k, const at::Tensor& rel_q, const at::Tensor& rel_k,
                               int64_t range) {
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), Dh = q.size(3);
  // Only distances up to L − 1 occur: use the 2·span embeddings around the centre.
  const int64_t span = std::min(range, L);
  at::Tensor rq = rel_q.narrow(1, range - span, 2 * span), rk = rel_k.narrow(1, range - span, 2 * span);  // {H, 2s, Dh}
  // pick(P)[i][j] = P[i][δ(i, j)] for P {B, H, L, 2·span}.
  const auto pick = [&](const at::Tensor& P) {
    if (span == L) {
      // No clipping: δ(i, j) = L + i − j, a skewed diagonal. Mirrored, P'[i][L − 1 − i + j] sits
      // at offset (L − 1) + i·(2L − 1) + j of each {L, 2L} slice: a strided view, no gather.
      at::Tensor m = P.flip(-1).contiguous();
      return m.as_strided({B, H, L, L}, {H * L * 2 * L, L * 2 * L, 2 * L - 1, 1}, m.storage_offset() + L - 1);
    }
    return P.gather(-1, relative_index(L, span, q.options()).expand({B, H, L, L}));
  };
  at::Tensor c2p = pick(products::matmul(q, rk.transpose(-1, -2).unsqueeze(0)));                   // [i][j] = q_i·k_r[δ(i,j)]
  at::Tensor p2c = pick(products::matmul(k, rq.transpose(-1, -2).unsqueeze(0))).transpose(-1, -2);  // [i][j] = k_j·q_r[δ(j,i)]
  const double scale = 1.0 / std::sqrt(3.0 * static_cast<double>(Dh));
  return (products::matmul(q, k.transpose(-1, -2)) + c2p + p2c).to(at::kFloat) * scale;
}

namespace {

// The relative table over every distance −L … L − 1 that L tokens can have (row L + d for
// i − j = d, clipped to ±range as δ is), reversed along its rows, then cut into the window of
// L + chunk − 1 rows that each chunk of `chunk` rows uses: windows[t] serves rows t·chunk …,
// as an {H, Dh, W} view. One unfold: its gradient is one kernel, where a narrow per chunk would
// zero-fill the whole table's gradient once per chunk.
std::vector<at::Tensor> chunk_windows(const at::Tensor& rel, int64_t range, int64_t L, int64_t chunk) {
  at::Tensor t;
  if (range == L) {
    t = rel;
  } else {
    at::Tensor e = at::arange(2 * L, rel.options().dtype(at::kLong));
    t = rel.index_select(1, (e - L).clamp(-range, range - 1) + range);
  }
  t = t.flip(1);  // t[n] = table[2L − 1 − n]
  const int64_t n_chunks = (L + chunk - 1) / chunk, pad = n_chunks * chunk - L;
  if (pad > 0) t = at::constant_pad_nd(t, {0, 0, pad, 0});  // the last, shorter chunk's window starts before row 0
  std::vector<at::Tensor> w = t.unfold(1, L + chunk - 1, chunk).unbind(1);
  std::reverse(w.begin(), w.end());  // chunk t uses the window that starts at row (n_chunks − 1 − t)·chunk
  return w;
}

// [i][j] = x_i · table[L + i0 + i − j] for the rows x of the chunk starting at i0, from one
// product with that chunk's window, read through a skewed strided view (no gather, no L×2L).
// In the window, table[L + i0 + i − j] sits at column chunk − 1 − i + j: offset i·(W − 1) + chunk − 1 + j.
at::Tensor skewed(const at::Tensor& x, const at::Tensor& window, int64_t chunk) {
  const int64_t B = x.size(0), H = x.size(1), rows = x.size(2), W = window.size(2), L = W - chunk + 1;
  at::Tensor P = products::matmul(x, window.unsqueeze(0)).contiguous();  // {B, H, rows, W}
  return P.as_strided({B, H, rows, L}, {H * rows * W, rows * W, W - 1, 1}, P.storage_offset() + chunk - 1);
}

}  // namespace

at::Tensor disentangled(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& rel_q,
                        const at::Tensor& rel_k, int64_t range, const at::Tensor& allowed, const Dropout& drop, int64_t chunk) {
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), Dh = q.size(3);
  if (chunk <= 0) chunk = q.is_cuda() ? 512 : 64;
  chunk = std::min(chunk, L);
  const double scale = 1.0 / std::sqrt(3.0 * static_cast<double>(Dh));
  const std::vector<at::Tensor> qs = (q * scale).split(chunk, 2), ks = (k * scale).split(chunk, 2);
  const std::vector<at::Tensor> rk = chunk_windows(rel_k, range, L, chunk), rq = chunk_windows(rel_q, range, L, chunk);
  // p2c[i][j] = k_j · q_r[δ(j, i)]: its transpose has the c2p form, built by key blocks.
  std::vector<at::Tensor> blocks;
  for (size_t t = 0; t < ks.size(); ++t) blocks.push_back(skewed(ks[t], rq[t], chunk));
  // Split (its gradient is one cat), then each chunk transposed on its own: cache-sized copies.
  const std::vector<at::Tensor> p2c_t = at::cat(blocks, 2).split(chunk, 3);
  const at::Tensor kt = k.reshape({B * H, L, Dh}).transpose(1, 2);
  std::vector<at::Tensor> out;
  for (size_t t = 0; t < qs.size(); ++t) {
    const int64_t c = qs[t].size(2);
    at::Tensor pos = skewed(qs[t], rk[t], chunk) + p2c_t[t].contiguous().transpose(-1, -2);  // c2p + p2c; c2c by the GEMM
    at::Tensor s = products::baddbmm(pos.reshape({B * H, c, L}), qs[t].reshape({B * H, c, Dh}), kt);
    out.push_back(attend(s.view({B, H, c, L}).to(at::kFloat), allowed, v, drop));
  }
  return out.size() == 1 ? out[0] : at::cat(out, 2);
}

at::Tensor disentangled_scores_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& rel_q,
                                         const at::Tensor& rel_k, int64_t range) {
  const int64_t H = q.size(1), L = q.size(2), Dh = q.size(3);
  at::Tensor idx = relative_index(L, range, q.options()).flatten();
  at::Tensor rk = rel_k.index_select(1, idx).view({H, L, L, Dh});  // [h][i][j] = k_r[δ(i, j)]
  at::Tensor rq = rel_q.index_select(1, idx).view({H, L, L, Dh});  // [h][j][i] = q_r[δ(j, i)]
  at::Tensor c2c = products::einsum("bhid,bhjd->bhij", q, k);
  at::Tensor c2p = products::einsum("bhid,hijd->bhij", q, rk);
  at::Tensor p2c = products::einsum("bhjd,hjid->bhij", k, rq);
  return (c2c + c2p + p2c).to(at::kFloat) / std::sqrt(3.0 * static_cast<double>(Dh));
}

}  // namespace mabert::attention

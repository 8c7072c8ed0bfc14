// The fused CPU selective scan, forward and backward, included by one .cpp per ISA and compiled
// with that ISA's flags. Loops over the W lanes of a channel block are the vectorised ones.
//
// Per batch row b, channel c, state n, with t running forward or backward:
//   h_tn = exp(d_t A_n) h_{t−1,n} + d_t u_t B_tn ;  y_t = Σ_n C_tn h_tn + D u_t ;  out_t = y_t · SiLU(z_t)
// The backward recomputes a block's states (and exp(d A)) into a per-thread scratch of 2·L·N·W
// scalars — nothing is stored in global memory between forward and backward — then sweeps t in
// reverse scan order. The scratch slot of step t is free once the sweep has passed it, so it
// then holds that step's lane-wise dB/dC contributions, reduced over lanes afterwards.
#include "scan_cpu.h"
#include "vmath.h"

#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

namespace {


// log(x) for normal x > 0: x = m·2^e with m in [√½, √2), Cephes' polynomial for log(m).
inline float vlog(float x) {
  int bits;
  std::memcpy(&bits, &x, sizeof(bits));
  int e = ((bits >> 23) & 0xff) - 126;
  bits = (bits & 0x807fffff) | 0x3f000000;  // mantissa in [0.5, 1)
  float m;
  std::memcpy(&m, &bits, sizeof(m));
  const bool small = m < 0.707106781186547524f;
  e -= small ? 1 : 0;
  m = (small ? m + m : m) - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  const float fe = static_cast<float>(e);
  y += -2.12194440e-4f * fe - 0.5f * z;
  return m + y + 0.693359375f * fe;
}

// softplus(v) = max(v, 0) + log1p(exp(−|v|)); log1p by Goldberg's correction of log(1 + x),
// accurate for tiny x too. Branch-free.
inline float softplus(float v) {
  const float x = vexp(-std::fabs(v));
  const float u = 1.0f + x;
  const float l1p = u == 1.0f ? x : vlog(u) * (x / (u - 1.0f));
  return std::max(v, 0.0f) + l1p;
}
inline double softplus(double v) { return v > 20.0 ? v : std::log1p(std::exp(v)); }

template <typename S>
inline S sigmoid(S v) {
  return S(1) / (S(1) + vexp(-v));
}

constexpr int64_t kMaxState = 64;
constexpr int64_t kPrefetchSteps = 8;  // rows are a full channel row apart: help the prefetcher

// Prefetches the rows of u, Δ and z that scan step s + kPrefetchSteps will read.
template <typename S, typename T>
inline void prefetch_rows(const mabert::kernels::cpu::ScanParams<S, T>& p, int64_t b, int64_t s, int64_t c0) {
  const int64_t ahead = s + kPrefetchSteps;
  if (ahead >= p.length) return;
  const int64_t t = p.reverse ? p.length - 1 - ahead : ahead;
  const int64_t r = b * p.length + t;
  __builtin_prefetch(p.u + r * p.ld_u + c0);
  __builtin_prefetch(p.delta + r * p.ld_delta + c0);
  if (p.z) __builtin_prefetch(p.z + r * p.ld_z + c0);
}

// W activations of one row in the compute type: the row itself when stored as S, else converted
// into buf. out_row / flush_row: where a row of results is computed, and its store when the
// storage type differs. With T = S both are free, so the fp32 kernels are unchanged.
template <int64_t W, typename S, typename T>
inline const S* row_as_compute(const T* row, S* buf) {
  if constexpr (std::is_same_v<S, T>) {
    return row;
  } else {
    load_row(row, buf, W);
    return buf;
  }
}
template <typename S, typename T>
inline S* out_row(T* row, S* buf) {
  if constexpr (std::is_same_v<S, T>) return row;
  else return buf;
}
template <int64_t W, typename S, typename T>
inline void flush_row(const S* buf, T* row) {
  if constexpr (!std::is_same_v<S, T>) store_row(buf, row, W);
}

}  // namespace

namespace mabert::kernels::cpu {
namespace SCAN_ISA {

// Effective Δ for W lanes at (b, t): softplus(δ + bias) (or δ + bias), 0 on a pad step.
// Also returns softplus′ = sigmoid(δ + bias) for the backward (0 on pads: no gradient there).
template <typename S, typename T, int64_t W>
inline void effective_delta(const ScanParams<S, T>& p, int64_t b, int64_t t, int64_t c0, S* d, S* dslope) {
  const S* raw = row_as_compute<W>(p.delta + (b * p.length + t) * p.ld_delta + c0, d);
  const S keep = (p.mask && p.mask[b * p.length + t] == S(0)) ? S(0) : S(1);
  // Branches hoisted out of the lane loops so that each loop vectorises.
  if (p.bias) {
    const S* bias = p.bias + c0;
#pragma omp simd
    for (int64_t w = 0; w < W; ++w) d[w] = raw[w] + bias[w];
  } else if (raw != d) {
    std::copy(raw, raw + W, d);
  }
  if (p.softplus) {
    if (dslope) {
#pragma omp simd
      for (int64_t w = 0; w < W; ++w) dslope[w] = keep * sigmoid(d[w]);
    }
#pragma omp simd
    for (int64_t w = 0; w < W; ++w) d[w] = keep * softplus(d[w]);
  } else {
    if (dslope) std::fill(dslope, dslope + W, keep);
#pragma omp simd
    for (int64_t w = 0; w < W; ++w) d[w] = keep * d[w];
  }
}

template <typename S, typename T>
void fwd(const ScanParams<S, T>& p) {
  constexpr int64_t W = channel_multiple<S>();
  const int64_t L = p.length, N = p.dstate, Cp = p.channels, blocks = Cp / W;
  at::parallel_for(0, p.batch * blocks, 1, [&](int64_t begin, int64_t end) {
    alignas(64) S h[kMaxState][W];
    alignas(64) S acc[W], d[W], ubuf[W], zbuf[W], ybuf[W];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / blocks, c0 = (task % blocks) * W;
      for (int64_t n = 0; n < N; ++n) std::fill(h[n], h[n] + W, S(0));
      for (int64_t s = 0; s < L; ++s) {
        const int64_t t = p.reverse ? L - 1 - s : s;
        prefetch_rows(p, b, s, c0);
        effective_delta<S, T, W>(p, b, t, c0, d, nullptr);
        const S* u = row_as_compute<W>(p.u + (b * L + t) * p.ld_u + c0, ubuf);
        const S* Bt = p.B + (b * L + t) * N;
        const S* Ct = p.C + (b * L + t) * N;
#pragma omp simd
        for (int64_t w = 0; w < W; ++w) acc[w] = p.D ? p.D[c0 + w] * u[w] : S(0);
        for (int64_t n = 0; n < N; ++n) {
          const S* An = p.A + n * Cp + c0;
          const S bn = Bt[n], cn = Ct[n];
#pragma omp simd
          for (int64_t w = 0; w < W; ++w) {
            h[n][w] = vexp(d[w] * An[w]) * h[n][w] + d[w] * u[w] * bn;
            acc[w] += cn * h[n][w];
          }
        }
        T* const y_row = p.y + (b * L + t) * Cp + c0;
        S* y = out_row(y_row, ybuf);
        if (p.z) {
          const S* z = row_as_compute<W>(p.z + (b * L + t) * p.ld_z + c0, zbuf);
#pragma omp simd
          for (int64_t w = 0; w < W; ++w) y[w] = acc[w] * z[w] * sigmoid(z[w]);
        } else {
          std::copy(acc, acc + W, y);
        }
        flush_row<W>(y, y_row);
        if (p.delta_out) std::copy(d, d + W, p.delta_out + (b * L + t) * Cp + c0);
        if (p.states)
          for (int64_t w = 0; w < W; ++w)
            for (int64_t n = 0; n < N; ++n) p.states[(((b * Cp) + c0 + w) * L + t) * N + n] = h[n][w];
      }
    }
  });
}

template <typename S, typename T>
void bwd(const ScanParams<S, T>& p, const ScanGrads<S, T>& g) {
  constexpr int64_t W = block_width<S>();
  const int64_t L = p.length, N = p.dstate, Cp = p.channels, blocks = Cp / W;
  at::parallel_for(0, p.batch * blocks, 1, [&](int64_t begin, int64_t end) {
    // Per-thread scratch through LibTorch's CPU allocator, so memory measurements see it:
    // hs[s] = state after scan step s (later this step's dC lanes), as[s] = exp(d A) (later dB
    // lanes), and per step the readout before the gate, d, and softplus′.
    c10::DataPtr scratch = c10::GetCPUAllocator()->allocate(sizeof(S) * (2 * L * N * W + 3 * L * W));
    S* const hs = static_cast<S*>(scratch.get());
    S* const as = hs + L * N * W;
    S* const ypre = as + L * N * W;
    S* const ds = ypre + L * W;
    S* const slopes = ds + L * W;
    alignas(64) S h[kMaxState][W], dh[kMaxState][W], dA[kMaxState][W];
    alignas(64) S acc[W], dD[W], dbias[W], dy[W], dd[W], dub[W];
    alignas(64) S ubuf[W], zbuf[W], gobuf[W], dzbuf[W], dubuf[W], ddbuf[W];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / blocks, c0 = (task % blocks) * W;
      // This block's own dB/dC slice: written once, summed over blocks by the caller in a fixed
      // order, so the gradients do not depend on the thread count.
      S* dB = g.dB + ((task % blocks) * p.batch) * L * N;
      S* dC = g.dC + ((task % blocks) * p.batch) * L * N;
      // Recompute the forward for this block.
      for (int64_t n = 0; n < N; ++n) std::fill(h[n], h[n] + W, S(0));
      for (int64_t s = 0; s < L; ++s) {
        const int64_t t = p.reverse ? L - 1 - s : s;
        S* d = ds + s * W;
        prefetch_rows(p, b, s, c0);
        effective_delta<S, T, W>(p, b, t, c0, d, slopes + s * W);
        const S* u = row_as_compute<W>(p.u + (b * L + t) * p.ld_u + c0, ubuf);
        const S* Bt = p.B + (b * L + t) * N;
        const S* Ct = p.C + (b * L + t) * N;
#pragma omp simd
        for (int64_t w = 0; w < W; ++w) acc[w] = p.D ? p.D[c0 + w] * u[w] : S(0);
        for (int64_t n = 0; n < N; ++n) {
          const S* An = p.A + n * Cp + c0;
          S* a_s = as + (s * N + n) * W;
          S* h_s = hs + (s * N + n) * W;
          const S bn = Bt[n], cn = Ct[n];
#pragma omp simd
          for (int64_t w = 0; w < W; ++w) {
            a_s[w] = vexp(d[w] * An[w]);
            h[n][w] = a_s[w] * h[n][w] + d[w] * u[w] * bn;
            h_s[w] = h[n][w];
            acc[w] += cn * h[n][w];
          }
        }
        std::copy(acc, acc + W, ypre + s * W);
      }
      // Reverse sweep.
      for (int64_t n = 0; n < N; ++n) {
        std::fill(dh[n], dh[n] + W, S(0));
        std::fill(dA[n], dA[n] + W, S(0));
      }
      std::fill(dD, dD + W, S(0));
      std::fill(dbias, dbias + W, S(0));
      for (int64_t s = L - 1; s >= 0; --s) {
        const int64_t t = p.reverse ? L - 1 - s : s;
        const int64_t row = (b * L + t) * Cp + c0;
        const S* u = row_as_compute<W>(p.u + (b * L + t) * p.ld_u + c0, ubuf);
        const S* d = ds + s * W;
        const S* go = row_as_compute<W>(g.dy + row, gobuf);
        const S* Bt = p.B + (b * L + t) * N;
        const S* Ct = p.C + (b * L + t) * N;
        if (p.z) {
          const S* z = row_as_compute<W>(p.z + (b * L + t) * p.ld_z + c0, zbuf);
          S* dz = out_row(g.dz + row, dzbuf);
          const S* yp = ypre + s * W;
#pragma omp simd
          for (int64_t w = 0; w < W; ++w) {
            const S sg = sigmoid(z[w]);
            dy[w] = go[w] * z[w] * sg;
            dz[w] = go[w] * yp[w] * sg * (S(1) + z[w] * (S(1) - sg));
          }
          flush_row<W>(dz, g.dz + row);
        } else {
          std::copy(go, go + W, dy);
        }
#pragma omp simd
        for (int64_t w = 0; w < W; ++w) {
          dD[w] += dy[w] * u[w];
          dd[w] = S(0);
          dub[w] = S(0);
        }
        for (int64_t n = 0; n < N; ++n) {
          const S* An = p.A + n * Cp + c0;
          S* a_s = as + (s * N + n) * W;  // exp(d A) → then this step's dB lanes
          S* h_s = hs + (s * N + n) * W;  // h_t     → then this step's dC lanes
          const S* h_p = s > 0 ? hs + ((s - 1) * N + n) * W : nullptr;
          const S bn = Bt[n], cn = Ct[n];
#pragma omp simd
          for (int64_t w = 0; w < W; ++w) {
            const S hp = h_p ? h_p[w] : S(0);
            const S a = a_s[w];
            const S dhn = dh[n][w] + dy[w] * cn;
            const S ahp = a * hp;
            dd[w] += dhn * (An[w] * ahp + u[w] * bn);
            dA[n][w] += dhn * ahp * d[w];
            dub[w] += dhn * bn;
            dh[n][w] = a * dhn;
            h_s[w] = dy[w] * h_s[w];     // dC lane contribution
            a_s[w] = dhn * d[w] * u[w];  // dB lane contribution
          }
        }
        S* du = out_row(g.du + row, dubuf);
        S* ddelta = out_row(g.ddelta + row, ddbuf);
        const S* slope = slopes + s * W;
#pragma omp simd
        for (int64_t w = 0; w < W; ++w) {
          du[w] = dy[w] * (p.D ? p.D[c0 + w] : S(0)) + d[w] * dub[w];
          ddelta[w] = dd[w] * slope[w];
          dbias[w] += ddelta[w];
        }
        flush_row<W>(du, g.du + row);
        flush_row<W>(ddelta, g.ddelta + row);
      }
      // Reduce the lane-wise dB/dC over this block's channels into the block's slice.
      for (int64_t s = 0; s < L; ++s) {
        const int64_t t = p.reverse ? L - 1 - s : s;
        for (int64_t n = 0; n < N; ++n) {
          const S* cb = hs + (s * N + n) * W;
          const S* bb = as + (s * N + n) * W;
          S sc = S(0), sb = S(0);
#pragma omp simd reduction(+ : sc, sb)
          for (int64_t w = 0; w < W; ++w) {
            sc += cb[w];
            sb += bb[w];
          }
          dC[(b * L + t) * N + n] = sc;
          dB[(b * L + t) * N + n] = sb;
        }
      }
      for (int64_t n = 0; n < N; ++n) std::copy(dA[n], dA[n] + W, g.dA + (b * N + n) * Cp + c0);
      std::copy(dD, dD + W, g.dD + b * Cp + c0);
      std::copy(dbias, dbias + W, g.dbias + b * Cp + c0);
    }
  });
}

// The floor the forward is compared with: the same exp and multiply-adds per (t, n, lane),
// on every thread, over data that stays in registers and L1.
template <typename S>
S roofline(int64_t count, int threads) {
  constexpr int64_t W = block_width<S>(), N = 16;
  const int T = std::max(threads, 1);
  std::vector<S> sums(T, S(0));
  const int64_t steps = count / (N * W * T);
  at::parallel_for(0, T, 1, [&](int64_t begin, int64_t end) {
    for (int64_t th = begin; th < end; ++th) {
      alignas(64) S h[N][W] = {}, A[N][W], acc[W] = {}, d[W], u[W];
      for (int64_t n = 0; n < N; ++n)
        for (int64_t w = 0; w < W; ++w) A[n][w] = -S(1) - S(n) - S(w) * S(0.01);
      for (int64_t w = 0; w < W; ++w) d[w] = S(0.01) + S(w) * S(1e-4), u[w] = S(0.5);
      for (int64_t s = 0; s < steps; ++s) {
        const S bn = S(0.001) * S(s & 63), cn = S(0.002) * S(s & 31);
        for (int64_t n = 0; n < N; ++n) {
#pragma omp simd
          for (int64_t w = 0; w < W; ++w) {
            h[n][w] = vexp(d[w] * A[n][w]) * h[n][w] + d[w] * u[w] * bn;
            acc[w] += cn * h[n][w];
          }
        }
      }
      S total = S(0);
      for (int64_t w = 0; w < W; ++w) total += acc[w];
      sums[th] = total;
    }
  });
  S total = S(0);
  for (S s : sums) total += s;
  return total;
}

}  // namespace SCAN_ISA
}  // namespace mabert::kernels::cpu

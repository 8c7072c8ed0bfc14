// The fused CPU depth-wise conv + bias + SiLU, forward and backward, included by one .cpp per ISA
// (CONV_ISA names its namespace) and compiled with that ISA's flags.
//   forward:  a = bias + Σ_k w_k · x[t + s(k − back)] ;  y = a · σ(a)
//   backward: the pre-activation a is recomputed (not stored), dA = dy · σ(a)(1 + a(1 − σ(a)));
//             db = Σ dA, dw_k = Σ dA · x[t + s(k − back)], dx[τ] = Σ_k w_k · dA[τ − s(k − back)].
#include "conv_cpu.h"
#include "vmath.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

namespace CONV_ISA {
using mabert::kernels::conv_cpu::ConvParams;
using mabert::kernels::conv_cpu::kRowsPerPartial;
using mabert::kernels::conv_cpu::partials;

template <typename S>
inline S sigmoid(S a) {
  return S(1) / (S(1) + vexp(-a));
}

// a[c] = bias[c] + Σ_k w[k, c] · x[b, t + s(k − back), c], taps outside [0, L) skipped.
template <typename S, typename T>
inline void preactivation(const ConvParams<S, T>& p, int64_t b, int64_t t, S* __restrict a) {
  const int64_t C = p.channels;
  const S* __restrict bias = p.bias;
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) a[c] = bias[c];
  for (int64_t k = 0; k < p.width; ++k) {
    const int64_t tt = t + p.step * (k - p.back);
    if (tt < 0 || tt >= p.length) continue;
    const T* __restrict xr = p.x + b * p.stride_b + tt * p.stride_t;
    const S* __restrict w = p.wt + k * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) a[c] += w[c] * to_compute(xr[c]);
  }
}

// y = SiLU(a), computed in S; rows stored as T go through a per-thread row of S.
template <typename S, typename T>
void fwd(const ConvParams<S, T>& p, T* y) {
  const int64_t L = p.length, C = p.channels;
  at::parallel_for(0, p.batch * L, 16, [&](int64_t r0, int64_t r1) {
    std::vector<S> row(std::is_same_v<S, T> ? 0 : C);
    for (int64_t r = r0; r < r1; ++r) {
      S* __restrict out;
      if constexpr (std::is_same_v<S, T>) out = y + r * C;
      else out = row.data();
      preactivation(p, r / L, r % L, out);
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) out[c] = out[c] * sigmoid(out[c]);
      if constexpr (!std::is_same_v<S, T>) store_row(out, y + r * C, C);
    }
  });
}

template <typename S, typename T>
void bwd(const ConvParams<S, T>& p, const T* dy, S* dacc, T* dx, S* dw, S* db) {
  const int64_t L = p.length, C = p.channels, K = p.width;
  // Pass 1: dA per row, and each row chunk's share of dw and db.
  const int64_t rows = p.batch * L;
  at::parallel_for(0, partials(rows), 1, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      S* __restrict dwt = dw + q * K * C;
      S* __restrict dbt = db + q * C;
      const int64_t r_end = std::min(rows, (q + 1) * kRowsPerPartial);
      for (int64_t r = q * kRowsPerPartial; r < r_end; ++r) {
        const int64_t b = r / L, t = r % L;
        S* __restrict da = dacc + r * C;
        const T* __restrict g = dy + r * C;
        preactivation(p, b, t, da);
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const S a = da[c], sg = sigmoid(a);
          da[c] = to_compute(g[c]) * sg * (S(1) + a * (S(1) - sg));
          dbt[c] += da[c];
        }
        for (int64_t k = 0; k < K; ++k) {
          const int64_t tt = t + p.step * (k - p.back);
          if (tt < 0 || tt >= L) continue;
          const T* __restrict xr = p.x + b * p.stride_b + tt * p.stride_t;
          S* __restrict w = dwt + k * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) w[c] += da[c] * to_compute(xr[c]);
        }
      }
    }
  });
  // Pass 2: dx[τ] gathers the rows whose taps read τ.
  at::parallel_for(0, p.batch * L, 16, [&](int64_t r0, int64_t r1) {
    std::vector<S> row(std::is_same_v<S, T> ? 0 : C);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / L, tau = r % L;
      S* __restrict out;
      if constexpr (std::is_same_v<S, T>) out = dx + r * C;
      else out = row.data();
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) out[c] = S(0);
      for (int64_t k = 0; k < K; ++k) {
        const int64_t t = tau - p.step * (k - p.back);
        if (t < 0 || t >= L) continue;
        const S* __restrict da = dacc + (b * L + t) * C;
        const S* __restrict w = p.wt + k * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) out[c] += w[c] * da[c];
      }
      if constexpr (!std::is_same_v<S, T>) store_row(out, dx + r * C, C);
    }
  });
}

}  // namespace CONV_ISA

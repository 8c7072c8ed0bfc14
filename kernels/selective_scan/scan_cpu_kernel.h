// The fused CPU selective scan, forward and backward. Included by scan_cpu_avx2.cpp and
// scan_cpu_base.cpp inside different namespaces; each is compiled with its own ISA flags, and
// the loops over the state dimension N are written so the compiler vectorises them.
//
// Per (batch b, channel c), with t running forward or backward:
//   d_t = mask_t · softplus(δ_t + bias_c);   a_tn = exp(d_t A_cn)
//   h_tn = a_tn h_{t−1,n} + d_t u_t B_tn;    y_t = Σ_n C_tn h_tn + D_c u_t;   out_t = y_t · SiLU(z_t)
// The backward recomputes h (and a) for one (b, c) into a per-thread scratch of L·N floats, so
// no state is ever stored in global memory, then sweeps t in reverse scan order.
#include "scan_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace {

// exp(x) for x in [−87, 88]: range reduction to 2^k · e^r, |r| ≤ ln2/2, and Cephes' degree-6
// polynomial (relative error ~2e−7). Branch-free so it vectorises; clamps outside the range.
inline float vexp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float v = x * 1.44269504088896341f;
  const int k = static_cast<int>(v + (v >= 0.0f ? 0.5f : -0.5f));
  const float kf = static_cast<float>(k);
  const float r = (x - kf * 0.693359375f) + kf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int bits = (k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline double vexp(double x) { return std::exp(x); }

template <typename S>
inline S softplus(S v) {
  return v > S(20) ? v : std::log1p(std::exp(v));
}
template <typename S>
inline S sigmoid(S v) {
  return S(1) / (S(1) + std::exp(-v));
}

// Effective Δ for (b, c, t), and the raw pre-softplus value for the backward.
template <typename S>
inline S effective_delta(const mabert::kernels::cpu::ScanParams<S>& p, int64_t b, int64_t c, int64_t t,
                         S* raw = nullptr) {
  if (p.mask && p.mask[b * p.length + t] == S(0)) return S(0);
  S v = p.delta[(b * p.channels + c) * p.length + t] + (p.bias ? p.bias[c] : S(0));
  if (raw) *raw = v;
  return p.softplus ? softplus(v) : v;
}

constexpr int64_t kMaxState = 256;

}  // namespace

namespace mabert::kernels::cpu {

template <typename S>
void scan_fwd_impl(const ScanParams<S>& p) {
  const int64_t L = p.length, N = p.dstate, C = p.channels;
  at::parallel_for(0, p.batch * C, 1, [&](int64_t begin, int64_t end) {
    alignas(64) S h[kMaxState], a[kMaxState];
    for (int64_t bc = begin; bc < end; ++bc) {
      const int64_t b = bc / C, c = bc % C;
      const S* A = p.A + c * N;
      const S* u = p.u + bc * L;
      const S D = p.D ? p.D[c] : S(0);
      std::fill(h, h + N, S(0));
      for (int64_t s = 0; s < L; ++s) {
        const int64_t t = p.reverse ? L - 1 - s : s;
        const S d = effective_delta(p, b, c, t);
        const S du = d * u[t];
        const S* Bt = p.B + (b * L + t) * N;
        const S* Ct = p.C + (b * L + t) * N;
        S acc = S(0);
#pragma omp simd
        for (int64_t n = 0; n < N; ++n) a[n] = vexp(d * A[n]);
#pragma omp simd reduction(+ : acc)
        for (int64_t n = 0; n < N; ++n) {
          h[n] = a[n] * h[n] + du * Bt[n];
          acc += Ct[n] * h[n];
        }
        S y = acc + D * u[t];
        if (p.z) {
          const S z = p.z[bc * L + t];
          y *= z / (S(1) + std::exp(-z));
        }
        p.y[bc * L + t] = y;
        if (p.states) std::copy(h, h + N, p.states + (bc * L + t) * N);
        if (p.delta_out) p.delta_out[bc * L + t] = d;
      }
    }
  });
}

template <typename S>
void scan_bwd_impl(const ScanParams<S>& p, const ScanGrads<S>& g) {
  const int64_t L = p.length, N = p.dstate, C = p.channels, P = g.parts;
  const int64_t per_part = (C + P - 1) / P;
  // One task per (part, batch): it owns dB/dC[part, b], so accumulation needs no atomics.
  at::parallel_for(0, P * p.batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<S> hs((L + 1) * N), as(L * N), ds(L), raws(L), ys(L);
    alignas(64) S dh[kMaxState], dA[kMaxState];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t part = task / p.batch, b = task % p.batch;
      S* dB = g.dB + (part * p.batch + b) * L * N;
      S* dC = g.dC + (part * p.batch + b) * L * N;
      const int64_t c_end = std::min(C, (part + 1) * per_part);
      for (int64_t c = part * per_part; c < c_end; ++c) {
        const int64_t bc = b * C + c;
        const S* A = p.A + c * N;
        const S* u = p.u + bc * L;
        const S D = p.D ? p.D[c] : S(0);
        // Recompute: hs[s+1] = h after scan step s (hs[0] = 0), as[s] = exp(d A), ys = y before the gate.
        std::fill(hs.begin(), hs.begin() + N, S(0));
        for (int64_t s = 0; s < L; ++s) {
          const int64_t t = p.reverse ? L - 1 - s : s;
          raws[s] = S(0);
          const S d = effective_delta(p, b, c, t, &raws[s]);
          ds[s] = d;
          const S du = d * u[t];
          const S* Bt = p.B + (b * L + t) * N;
          const S* Ct = p.C + (b * L + t) * N;
          const S* hp = hs.data() + s * N;
          S* hn = hs.data() + (s + 1) * N;
          S* an = as.data() + s * N;
          S acc = S(0);
#pragma omp simd
          for (int64_t n = 0; n < N; ++n) an[n] = vexp(d * A[n]);
#pragma omp simd reduction(+ : acc)
          for (int64_t n = 0; n < N; ++n) {
            hn[n] = an[n] * hp[n] + du * Bt[n];
            acc += Ct[n] * hn[n];
          }
          ys[s] = acc + D * u[t];
        }
        // Reverse sweep.
        std::fill(dh, dh + N, S(0));
        std::fill(dA, dA + N, S(0));
        S dD = S(0), dbias = S(0);
        for (int64_t s = L - 1; s >= 0; --s) {
          const int64_t t = p.reverse ? L - 1 - s : s;
          const S go = g.dout[bc * L + t];
          S dy = go;
          if (p.z) {
            const S z = p.z[bc * L + t];
            const S sg = S(1) / (S(1) + std::exp(-z));
            dy = go * z * sg;
            g.dz[bc * L + t] = go * ys[s] * sg * (S(1) + z * (S(1) - sg));
          }
          dD += dy * u[t];
          const S d = ds[s];
          const S* Bt = p.B + (b * L + t) * N;
          const S* Ct = p.C + (b * L + t) * N;
          const S* hp = hs.data() + s * N;
          const S* hn = hs.data() + (s + 1) * N;
          const S* an = as.data() + s * N;
          S* dBt = dB + t * N;
          S* dCt = dC + t * N;
          S dd = S(0), dub = S(0);
#pragma omp simd reduction(+ : dd, dub)
          for (int64_t n = 0; n < N; ++n) {
            dCt[n] += dy * hn[n];
            const S dhn = dh[n] + dy * Ct[n];
            const S ahp = an[n] * hp[n];
            dd += dhn * (A[n] * ahp + u[t] * Bt[n]);
            dA[n] += dhn * ahp * d;
            dub += dhn * Bt[n];
            dBt[n] += dhn * d * u[t];
            dh[n] = an[n] * dhn;
          }
          g.du[bc * L + t] = dy * D + d * dub;
          // A pad step has Δ fixed at 0: no gradient flows to δ or the bias there.
          const bool pad = p.mask && p.mask[b * L + t] == S(0);
          const S dv = pad ? S(0) : (p.softplus ? dd * sigmoid(raws[s]) : dd);
          g.ddelta[bc * L + t] = dv;
          dbias += dv;
        }
        std::copy(dA, dA + N, g.dA + bc * N);
        if (g.dD) g.dD[bc] = dD;
        if (g.dbias) g.dbias[bc] = dbias;
      }
    }
  });
}

void SCAN_ISA_NAME(scan_fwd)(const ScanParams<float>& p) { scan_fwd_impl(p); }
void SCAN_ISA_NAME(scan_bwd)(const ScanParams<float>& p, const ScanGrads<float>& g) { scan_bwd_impl(p, g); }
#if SCAN_WITH_DOUBLE
void SCAN_ISA_NAME(scan_fwd)(const ScanParams<double>& p) { scan_fwd_impl(p); }
void SCAN_ISA_NAME(scan_bwd)(const ScanParams<double>& p, const ScanGrads<double>& g) { scan_bwd_impl(p, g); }
#endif

float SCAN_ISA_NAME(roofline_loop)(int64_t count, int threads) {
  // Each thread works on its own 16-float state and 64 in-cache inputs: the same exp and FMA
  // mix as the scan's inner loop, with no memory traffic.
  constexpr int64_t kN = 16, kT = 64;
  std::vector<float> sums(std::max(threads, 1), 0.0f);
  const int64_t per_thread = count / (kN * std::max(threads, 1));
  at::parallel_for(0, std::max(threads, 1), 1, [&](int64_t begin, int64_t end) {
    for (int64_t th = begin; th < end; ++th) {
      alignas(64) float h[kN] = {}, a[kN], A[kN], Bv[kT * kN];
      for (int64_t n = 0; n < kN; ++n) A[n] = -1.0f - static_cast<float>(n);
      for (int64_t i = 0; i < kT * kN; ++i) Bv[i] = 0.001f * static_cast<float>(i % 97);
      float acc = 0.0f;
      for (int64_t s = 0; s < per_thread; ++s) {
        const float d = 0.01f + 1e-7f * static_cast<float>(s & 1023);
        const float* Bt = Bv + (s % kT) * kN;
#pragma omp simd
        for (int64_t n = 0; n < kN; ++n) a[n] = vexp(d * A[n]);
#pragma omp simd reduction(+ : acc)
        for (int64_t n = 0; n < kN; ++n) {
          h[n] = a[n] * h[n] + d * Bt[n];
          acc += Bt[n] * h[n];
        }
      }
      sums[th] = acc;
    }
  });
  float total = 0.0f;
  for (float s : sums) total += s;
  return total;
}

}  // namespace mabert::kernels::cpu

// Branch-free math for the fused CPU kernels (compiled once per ISA with that ISA's flags, so the
// loops that call these vectorise). Shared by selective_scan/ and conv_silu/.
#pragma once

#include "bf16.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

namespace {

// exp(x) for x in [−87, 88]: x = k·ln2 + r with |r| ≤ ln2/2, e^r by Cephes' degree-6 polynomial
// (relative error ~2e−7), 2^k through the exponent bits. Branch-free, so it vectorises.
inline float vexp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // A NaN passes the clamp, and converting NaN to int is undefined (UBSan, in the divergence
  // test): k comes from 0 instead; r below keeps the NaN, so the result is still NaN.
  const float v0 = x * 1.44269504088896341f;
  const float v = v0 == v0 ? v0 : 0.0f;
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
  const int bits = (k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}
inline double vexp(double x) { return std::exp(x); }

// Activations stored as float, double or bf16; the kernels compute in float (double for double).
// bf16 → float is exact (the bits shifted up); float → bf16 rounds to nearest even (NaN stays NaN).
using mabert::kernels::Bf16;
inline float to_compute(float x) { return x; }
inline double to_compute(double x) { return x; }
inline float to_compute(Bf16 x) {
  const uint32_t bits = static_cast<uint32_t>(x.bits) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
inline void store_as(float v, float* dst) { *dst = v; }
inline void store_as(double v, double* dst) { *dst = v; }
inline void store_as(float v, Bf16* dst) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  dst->bits = static_cast<uint16_t>(v != v ? 0x7fc0u : rounded);
}

// n values from compute type to storage. Where the CPU has AVX512-BF16 (this file compiled with
// -mavx512bf16), bf16 rows go through its rounding conversion (VCVTNEPS2BF16, 16 lanes per
// instruction; it treats denormal inputs as zero, the only difference from store_as).
template <typename S, typename T>
inline void store_row(const S* __restrict src, T* __restrict dst, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) store_as(src[i], dst + i);
}
#if defined(__AVX512BF16__)
template <>
inline void store_row<float, Bf16>(const float* __restrict src, Bf16* __restrict dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh packed = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), (__m256i)packed);
  }
  for (; i < n; ++i) store_as(src[i], dst + i);
}
#endif
// n values from storage to compute type.
template <typename T, typename S>
inline void load_row(const T* __restrict src, S* __restrict dst, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] = to_compute(src[i]);
}

}  // namespace

// Branch-free math for the fused CPU kernels (compiled once per ISA with that ISA's flags, so the
// loops that call these vectorise). Shared by selective_scan/ and conv_silu/.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

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

}  // namespace

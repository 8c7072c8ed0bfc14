// Depth-wise convolution along time + bias + SiLU: the first step of the SSM core (SPEC §1,
// Eq. 5), in the time-major layout the input projection produces, so nothing is transposed or
// copied between in_proj, this op, x_proj and the scan. One reference in ATen ops beside one
// fused CPU path with a hand-written backward (which recomputes the pre-activation instead of
// storing it), behind a dispatching entry point.
//
//   x: {B, L, C}, channel stride 1, any row stride (a slice of in_proj's {B, L, 2C} output)
//   weight: {C, K}   bias: {C}   →   y: {B, L, C} contiguous
//   y[b, t, c] = SiLU(bias[c] + Σ_k weight[c, k] · x[b, t + s·(k − back), c]),  x = 0 outside [0, L)
// with s = +1 (forward direction) or −1 (reverse: the mirror image, as B layers' backward scan
// reads its input). back = K − 1 is Mamba's causal conv; back = (K − 1) / 2 the centred one.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace mabert::kernels {

enum class ConvImpl { Auto, Ref, Cpu };

// Auto: the fused CPU path for fp32/fp64 CPU tensors (self-checked against the reference on its
// first use per dtype; the reference when the check fails), the reference otherwise.
at::Tensor conv_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t back, bool reverse,
                     ConvImpl impl = ConvImpl::Auto);

// The oracle: pad + at::conv1d (groups = C) + SiLU on a channel-first copy, differentiable by autograd.
at::Tensor conv_silu_ref(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t back, bool reverse);

// The fused CPU path as it is (tests, benchmarks): fp32 or fp64 CPU tensors.
at::Tensor conv_silu_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t back, bool reverse);

// The first-use check of the fused path: worst error relative to the reference's scale over the
// output and the three gradients, and what it cost. Empty `failure` = passed.
struct ConvSelfCheck {
  std::string dtype, failure;
  double worst_rel = 0, tolerance = 0, ms = 0;
};
ConvSelfCheck self_check_conv(at::ScalarType dtype);

}  // namespace mabert::kernels

// The model's matrix products (linear layers, attention's products, pooling), one place that
// decides how bf16 runs on the CPU.
//
// Under bf16 autocast (or on bf16 tensors) a product's operands are rounded to bf16 and multiplied
// with fp32 accumulation, the result rounded to bf16. Where the CPU has a bf16 matrix engine (AMX,
// AVX512-BF16) ATen's bf16 kernels do that, several times faster than fp32. Without one, ATen
// falls back to a scalar bf16 path 10–100× slower than fp32; these products then compute the same
// roundings in fp32 instead — operands rounded to bf16 and widened back (exact), an fp32 product
// (products of bf16 values are exact in fp32, summed in fp32), the result rounded to bf16 — at
// about fp32 speed. What can differ from the engine: the summation order (as between any two GEMM
// kernels), SDPA's probabilities (fp32 here, rounded to bf16 by the engine's kernel), and a
// weight's gradient over several uses (summed in fp32 here). The backward keeps the widened fp32
// operands, so training takes more memory than with the engine's bf16 (measured: 9–24 % above
// fp32 training at 1,024 tokens). `cpu_bf16_products()` (util/cpu_features.h) says which way
// this CPU goes.
//
// Elsewhere — fp32, CUDA, a CPU with an engine — each function is the ATen call it is named after
// (linear: at::linear, the bias inside the product, as Affine computes it).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace mabert::products {

// True when a bf16 product on `t` (a bf16 tensor, or an fp32 one under CPU bf16 autocast) runs
// in fp32 here (a CPU tensor and no bf16 engine, or MABERT_CPU_BF16_PRODUCTS=fp32).
bool in_fp32(const at::Tensor& t);

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b);
at::Tensor baddbmm(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b);
at::Tensor einsum(const std::string& equation, const at::Tensor& a, const at::Tensor& b);
// at::scaled_dot_product_attention (not causal; `bias` added to the scores where defined).
at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias, double dropout_p);

}  // namespace mabert::products

#include "model/products.h"

#include "util/cpu_features.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <initializer_list>
#include <optional>

namespace mabert::products {
namespace {

bool bf16_here(const at::Tensor& t) {
  if (!t.defined()) return false;
  return t.scalar_type() == at::kBFloat16 ||
         (t.scalar_type() == at::kFloat && at::autocast::is_autocast_enabled(at::kCPU) &&
          at::autocast::get_autocast_dtype(at::kCPU) == at::kBFloat16);
}

// The operand as the engine would see it: rounded to bf16, held in fp32 (exactly).
at::Tensor rounded(const at::Tensor& t) {
  if (!t.defined()) return t;
  return t.scalar_type() == at::kBFloat16 ? t.to(at::kFloat) : t.to(at::kBFloat16).to(at::kFloat);
}

// Whether a product of these operands runs in fp32 here. Outside autocast, operands of different
// floating types go to ATen, which refuses them as it does on every other device.
bool take_fp32(std::initializer_list<at::Tensor> operands) {
  bool any = false;
  std::optional<at::ScalarType> type;
  for (const at::Tensor& t : operands) {
    if (!t.defined()) continue;
    any = any || in_fp32(t);
    if (!at::isFloatingType(t.scalar_type())) continue;
    if (type && *type != t.scalar_type() && !at::autocast::is_autocast_enabled(at::kCPU)) return false;
    type = t.scalar_type();
  }
  return any;
}

// Runs `product` on the rounded operands in fp32, outside autocast, and rounds its result.
template <typename F>
at::Tensor emulated(F&& product) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  return product().to(at::kBFloat16);
}

}  // namespace

bool in_fp32(const at::Tensor& t) {
  return t.defined() && t.device().is_cpu() && bf16_here(t) && cpu_bf16_products() == CpuBf16Products::Fp32;
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!take_fp32({x, weight, bias})) return at::linear(x, weight, bias);
  return emulated([&] { return at::linear(rounded(x), rounded(weight), rounded(bias)); });
}

at::Tensor matmul(const at::Tensor& a, const at::Tensor& b) {
  if (!take_fp32({a, b})) return at::matmul(a, b);
  return emulated([&] { return at::matmul(rounded(a), rounded(b)); });
}

at::Tensor baddbmm(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b) {
  if (!take_fp32({c, a, b})) return at::baddbmm(c, a, b);
  return emulated([&] { return at::baddbmm(rounded(c), rounded(a), rounded(b)); });
}

at::Tensor einsum(const std::string& equation, const at::Tensor& a, const at::Tensor& b) {
  if (!take_fp32({a, b})) return at::einsum(equation, {a, b});
  return emulated([&] { return at::einsum(equation, {rounded(a), rounded(b)}); });
}

at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias, double dropout_p) {
  auto call = [&](const at::Tensor& q_, const at::Tensor& k_, const at::Tensor& v_, const at::Tensor& b_) {
    return at::scaled_dot_product_attention(q_, k_, v_, b_.defined() ? std::optional<at::Tensor>(b_) : std::nullopt,
                                            dropout_p, /*is_causal=*/false);
  };
  if (!take_fp32({q, k, v, bias})) return call(q, k, v, bias);
  // The engine's bf16 kernel keeps scores and softmax in fp32 and rounds the probabilities for
  // the second product; here they stay fp32 (one rounding fewer).
  return emulated([&] { return call(rounded(q), rounded(k), rounded(v), rounded(bias)); });
}

}  // namespace mabert::products

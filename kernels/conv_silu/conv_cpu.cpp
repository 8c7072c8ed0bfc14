// The fused CPU conv + SiLU as an autograd function around the per-ISA kernels, the dispatching
// entry point, and the first-use self-check against the reference.
#include "conv_cpu.h"
#include "conv_silu.h"

#include "partials.h"
#include "selective_scan/scan_cpu.h"  // MABERT_BY_ISA: one ISA choice for every fused kernel

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/util/Logging.h>
#include <torch/autograd.h>

#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <type_traits>

namespace mabert::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void run_fwd(const conv_cpu::ConvParams<float>& p, float* y) {
  MABERT_BY_ISA(conv_cpu::conv_fwd)(p, y);
}
void run_fwd(const conv_cpu::ConvParams<double>& p, double* y) { conv_cpu::conv_fwd_base(p, y); }

void run_bwd(const conv_cpu::ConvParams<float>& p, const float* dy, float* dacc, float* dx, float* dw, float* db) {
  MABERT_BY_ISA(conv_cpu::conv_bwd)(p, dy, dacc, dx, dw, db);
}
void run_bwd(const conv_cpu::ConvParams<double>& p, const double* dy, double* dacc, double* dx, double* dw, double* db) {
  conv_cpu::conv_bwd_base(p, dy, dacc, dx, dw, db);
}
void run_fwd(const conv_cpu::ConvParams<float, Bf16>& p, Bf16* y) { MABERT_BY_ISA_BF16(conv_cpu::conv_fwd_bf16)(p, y); }
void run_bwd(const conv_cpu::ConvParams<float, Bf16>& p, const Bf16* dy, float* dacc, Bf16* dx, float* dw, float* db) {
  MABERT_BY_ISA_BF16(conv_cpu::conv_bwd_bf16)(p, dy, dacc, dx, dw, db);
}

// A tensor's data as the kernels' type (Bf16 is bit-compatible with at::BFloat16).
template <typename S>
S* ptr(const at::Tensor& t) {
  if constexpr (std::is_same_v<S, Bf16>) return reinterpret_cast<Bf16*>(t.data_ptr<at::BFloat16>());
  else return t.data_ptr<S>();
}

// x: {B, L, C} with channel stride 1; wt: {K, C} contiguous; bias: {C} contiguous.
template <typename S, typename T = S>
conv_cpu::ConvParams<S, T> params_of(const at::Tensor& x, const at::Tensor& wt, const at::Tensor& bias, int64_t back,
                                     bool reverse) {
  conv_cpu::ConvParams<S, T> p;
  p.batch = x.size(0), p.length = x.size(1), p.channels = x.size(2), p.width = wt.size(0), p.back = back;
  p.step = reverse ? -1 : 1;
  p.stride_b = x.stride(0), p.stride_t = x.stride(1);
  p.x = ptr<T>(x), p.wt = wt.data_ptr<S>(), p.bias = bias.data_ptr<S>();
  return p;
}

// The kernels for x's dtype: S = T = fp32 or fp64, or S = fp32 with T = bf16 (bf16 activations,
// fp32 weights and accumulation).
template <typename S, typename T = S>
void forward_typed(const at::Tensor& x, const at::Tensor& wt, const at::Tensor& b, int64_t back, bool reverse, at::Tensor& y) {
  run_fwd(params_of<S, T>(x, wt, b, back, reverse), ptr<T>(y));
}
template <typename S, typename T = S>
void backward_typed(const at::Tensor& x, const at::Tensor& wt, const at::Tensor& b, int64_t back, bool reverse,
                    const at::Tensor& dy, at::Tensor& dacc, at::Tensor& dx, at::Tensor& dw, at::Tensor& db) {
  run_bwd(params_of<S, T>(x, wt, b, back, reverse), ptr<T>(dy), dacc.data_ptr<S>(), ptr<T>(dx), dw.data_ptr<S>(),
          db.data_ptr<S>());
}

struct ConvSiluCpu : torch::autograd::Function<ConvSiluCpu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            int64_t back, bool reverse) {
    const at::Tensor wt = weight.t().contiguous(), b = bias.contiguous();
    at::Tensor y = at::empty({x.size(0), x.size(1), x.size(2)}, x.options());
    switch (x.scalar_type()) {
      case at::kDouble: forward_typed<double>(x, wt, b, back, reverse, y); break;
      case at::kBFloat16: forward_typed<float, Bf16>(x, wt, b, back, reverse, y); break;
      default: forward_typed<float>(x, wt, b, back, reverse, y);
    }
    ctx->save_for_backward({x, weight, bias});
    ctx->saved_data["back"] = back;
    ctx->saved_data["reverse"] = reverse;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const at::Tensor &x = s[0], &weight = s[1], &bias = s[2];
    const int64_t back = ctx->saved_data["back"].toInt();
    const bool reverse = ctx->saved_data["reverse"].toBool();
    const at::Tensor wt = weight.t().contiguous(), b = bias.contiguous(), dy = grads[0].to(x.scalar_type()).contiguous();
    const int64_t Q = conv_cpu::partials(x.size(0) * x.size(1)), K = weight.size(1), C = weight.size(0);
    const auto o = weight.options();  // the compute type (x's, or fp32 for bf16 activations)
    at::Tensor dacc = at::empty({x.size(0), x.size(1), C}, o), dx = at::empty({x.size(0), x.size(1), C}, x.options());
    at::Tensor dw = at::zeros({Q, K, C}, o), db = at::zeros({Q, C}, o);  // per row chunk, summed in order
    switch (x.scalar_type()) {
      case at::kDouble: backward_typed<double>(x, wt, b, back, reverse, dy, dacc, dx, dw, db); break;
      case at::kBFloat16: backward_typed<float, Bf16>(x, wt, b, back, reverse, dy, dacc, dx, dw, db); break;
      default: backward_typed<float>(x, wt, b, back, reverse, dy, dacc, dx, dw, db);
    }
    return {dx, sum_partials_in_order(dw).t().contiguous(), sum_partials_in_order(db), at::Tensor(), at::Tensor()};
  }
};

void check_args(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t back) {
  if (x.dim() != 3) throw std::invalid_argument("conv_silu: x must be {batch, length, channels}");
  if (weight.dim() != 2 || weight.size(0) != x.size(2))
    throw std::invalid_argument("conv_silu: weight must be {channels, width} with channels = x.size(2)");
  if (!bias.defined() || bias.dim() != 1 || bias.size(0) != x.size(2)) throw std::invalid_argument("conv_silu: bias must be {channels}");
  if (back < 0 || back >= weight.size(1)) throw std::invalid_argument("conv_silu: back must be in [0, width)");
}

// fp32 or fp64 with weights of the same dtype; or bf16 activations with fp32 or bf16 weights
// (autocast's case: bf16 products, fp32 parameters), computed in fp32.
bool fused_takes(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const auto st = x.scalar_type();
  const auto float_or_bf16 = [](const at::Tensor& t) { return t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16; };
  const bool types = ((st == at::kFloat || st == at::kDouble) && weight.scalar_type() == st && bias.scalar_type() == st) ||
                     (st == at::kBFloat16 && float_or_bf16(weight) && float_or_bf16(bias));
  return types && x.device().is_cpu() && weight.device().is_cpu() && bias.device().is_cpu();
}

}  // namespace

at::Tensor conv_silu_cpu(const at::Tensor& x_in, const at::Tensor& weight, const at::Tensor& bias, int64_t back, bool reverse) {
  check_args(x_in, weight, bias, back);
  if (!fused_takes(x_in, weight, bias))
    throw std::invalid_argument("conv_silu_cpu: CPU tensors, fp32 or fp64 of one dtype, or bf16 x with fp32 or bf16 weights");
  // Channel stride 1 is all the kernel needs; a slice of in_proj's output is read in place.
  const at::Tensor x = x_in.stride(2) == 1 ? x_in : x_in.contiguous();
  if (x.scalar_type() == at::kBFloat16)  // weights in fp32 (a no-op for autocast's fp32 parameters)
    return ConvSiluCpu::apply(x, weight.to(at::kFloat), bias.to(at::kFloat), back, reverse);
  return ConvSiluCpu::apply(x, weight, bias, back, reverse);
}

ConvSelfCheck self_check_conv(at::ScalarType dtype) {
  static std::mutex mutex;
  static std::map<at::ScalarType, ConvSelfCheck> done;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = done.find(dtype); it != done.end()) return it->second;
  const auto t0 = std::chrono::steady_clock::now();
  ConvSelfCheck r;
  r.dtype = c10::toString(dtype);
  r.tolerance = dtype == at::kDouble ? 1e-10 : dtype == at::kBFloat16 ? 3e-2 : 1e-4;
  try {
    at::NoGradGuard no_outer;  // the check's own graph only
    const at::Generator gen = at::detail::createCPUGenerator(4242);
    const auto o = at::TensorOptions().dtype(dtype);
    for (int reverse = 0; reverse < 2; ++reverse)
      for (int64_t back : {3, 1}) {
        at::AutoGradMode grad(true);
        // x as the model passes it: a strided slice of a wider projection.
        const at::Tensor xz = at::randn({2, 37, 2 * 24}, gen, o);
        at::Tensor x1 = xz.narrow(2, 0, 24).detach().requires_grad_(), x2 = xz.narrow(2, 0, 24).detach().requires_grad_();
        at::Tensor w1 = at::randn({24, 4}, gen, o).requires_grad_(), w2 = w1.detach().clone().requires_grad_();
        at::Tensor b1 = at::randn({24}, gen, o).requires_grad_(), b2 = b1.detach().clone().requires_grad_();
        const at::Tensor dy = at::randn({2, 37, 24}, gen, o);
        const at::Tensor y1 = conv_silu_cpu(x1, w1, b1, back, reverse), y2 = conv_silu_ref(x2, w2, b2, back, reverse);
        (y1 * dy).sum().backward();
        (y2 * dy).sum().backward();
        const auto rel = [](const at::Tensor& a, const at::Tensor& b) {
          return (a - b).abs().max().item<double>() / std::max(1e-30, b.abs().max().item<double>());
        };
        r.worst_rel = std::max({r.worst_rel, rel(y1, y2), rel(x1.grad(), x2.grad()), rel(w1.grad(), w2.grad()), rel(b1.grad(), b2.grad())});
      }
    if (!(r.worst_rel <= r.tolerance))
      r.failure = "worst relative error " + std::to_string(r.worst_rel) + " over the tolerance " + std::to_string(r.tolerance);
  } catch (const std::exception& e) {
    r.failure = e.what();
  }
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!r.failure.empty()) LOG(WARNING) << "conv_silu: the fused CPU path failed its self-check (" << r.failure << "); using the reference";
  done[dtype] = r;
  return r;
}

at::Tensor conv_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t back, bool reverse,
                     ConvImpl impl) {
  RECORD_FUNCTION("mabert::conv_silu", std::vector<c10::IValue>({x}));  // named in operator profiles
  check_args(x, weight, bias, back);
  switch (impl) {
    case ConvImpl::Ref: return conv_silu_ref(x, weight, bias, back, reverse);
    case ConvImpl::Cpu: return conv_silu_cpu(x, weight, bias, back, reverse);
    case ConvImpl::Auto: break;
  }
  if (fused_takes(x, weight, bias) && self_check_conv(x.scalar_type()).failure.empty())
    return conv_silu_cpu(x, weight, bias, back, reverse);
  return conv_silu_ref(x, weight, bias, back, reverse);
}

}  // namespace mabert::kernels

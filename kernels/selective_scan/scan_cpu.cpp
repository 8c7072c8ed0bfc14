// The fused CPU path: Δ's bias, softplus and mask, the time-major channel-padded layout and the
// narrowing back are plain ATen ops (vectorised, and differentiated by autograd); the scan
// itself is a torch::autograd::Function around the per-ISA kernels with a hand-written backward.
#include "scan_cpu.h"
#include "scan_paths.h"

#include "partials.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace mabert::kernels {
namespace cpu {

Isa best_isa() {
  static const Isa isa = [] {
    Isa best = Isa::Base;
#if MABERT_HAVE_X86_KERNELS
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::Avx2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) {
      best = Isa::Avx512;
      if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
          __builtin_cpu_supports("avx512bf16"))
        best = Isa::Avx512Bf16;
    }
#endif
    if (const char* cap = std::getenv("MABERT_SCAN_ISA")) {
      if (std::strcmp(cap, "base") == 0) best = Isa::Base;
      if (std::strcmp(cap, "avx2") == 0 && best > Isa::Avx2) best = Isa::Avx2;
      if (std::strcmp(cap, "avx512") == 0 && best > Isa::Avx512) best = Isa::Avx512;
    }
    return best;
  }();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512Bf16: return "avx512+bf16";
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2+fma";
    default: return "baseline";
  }
}

}  // namespace cpu

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void run_fwd(const cpu::ScanParams<float>& p) {
  MABERT_BY_ISA(cpu::scan_fwd)(p);
}
void run_fwd(const cpu::ScanParams<double>& p) { cpu::scan_fwd_base(p); }

void run_bwd(const cpu::ScanParams<float>& p, const cpu::ScanGrads<float>& g) {
  MABERT_BY_ISA(cpu::scan_bwd)(p, g);
}
void run_bwd(const cpu::ScanParams<double>& p, const cpu::ScanGrads<double>& g) { cpu::scan_bwd_base(p, g); }
void run_fwd(const cpu::ScanParams<float, Bf16>& p) { MABERT_BY_ISA_BF16(cpu::scan_fwd_bf16)(p); }
void run_bwd(const cpu::ScanParams<float, Bf16>& p, const cpu::ScanGrads<float, Bf16>& g) {
  MABERT_BY_ISA_BF16(cpu::scan_bwd_bf16)(p, g);
}

// A tensor's data as the kernels' type (Bf16 is bit-compatible with at::BFloat16).
template <typename S>
S* ptr(const at::Tensor& t) {
  if constexpr (std::is_same_v<S, Bf16>) return reinterpret_cast<Bf16*>(t.data_ptr<at::BFloat16>());
  else return t.data_ptr<S>();
}
template <typename S>
const S* cptr(const at::Tensor& t) {
  return t.defined() ? ptr<S>(t) : nullptr;
}
template <typename T>
constexpr at::ScalarType dtype_of() {
  if constexpr (std::is_same_v<T, Bf16>) return at::kBFloat16;
  else if constexpr (std::is_same_v<T, double>) return at::kDouble;
  else return at::kFloat;
}

// Indices into the prepared argument list.
enum Arg { kU, kDelta, kA, kB, kC, kD, kZ, kBias, kMask, kArgs };

template <typename S, typename T>
cpu::ScanParams<S, T> params_of(const variable_list& in, bool reverse, bool softplus) {
  cpu::ScanParams<S, T> p;
  p.batch = in[kU].size(0), p.length = in[kU].size(1), p.channels = in[kU].size(2), p.dstate = in[kA].size(0);
  p.ld_u = in[kU].stride(1), p.ld_delta = in[kDelta].stride(1), p.ld_z = in[kZ].defined() ? in[kZ].stride(1) : 0;
  p.reverse = reverse, p.softplus = softplus;
  p.u = cptr<T>(in[kU]), p.delta = cptr<T>(in[kDelta]), p.A = cptr<S>(in[kA]), p.B = cptr<S>(in[kB]);
  p.C = cptr<S>(in[kC]), p.D = cptr<S>(in[kD]), p.z = cptr<T>(in[kZ]), p.bias = cptr<S>(in[kBias]);
  p.mask = cptr<S>(in[kMask]);
  return p;
}

template <typename S, typename T = S>
at::Tensor forward_impl(const variable_list& in, bool reverse, bool softplus, at::Tensor* states, at::Tensor* delta) {
  cpu::ScanParams<S, T> p = params_of<S, T>(in, reverse, softplus);
  at::Tensor y = at::empty({p.batch, p.length, p.channels}, in[kU].options());
  p.y = ptr<T>(y);
  if (states) {  // fp32 (fp64) whatever the activations
    *states = at::empty({p.batch, p.channels, p.length, p.dstate}, in[kA].options());
    *delta = at::empty({p.batch, p.length, p.channels}, in[kA].options());
    p.states = states->data_ptr<S>();
    p.delta_out = delta->data_ptr<S>();
  }
  run_fwd(p);
  return y;
}

template <typename S, typename T = S>
variable_list backward_impl(const variable_list& in, bool reverse, bool softplus, const at::Tensor& grad) {
  cpu::ScanParams<S, T> p = params_of<S, T>(in, reverse, softplus);
  const int64_t Bsz = p.batch, L = p.length, Cp = p.channels, N = p.dstate, blocks = Cp / cpu::block_width<S>();
  const at::Tensor dy = grad.to(dtype_of<T>()).contiguous();
  const auto o = in[kA].options(), oa = in[kU].options();  // parameters' and activations' dtypes
  at::Tensor du = at::empty({Bsz, L, Cp}, oa), ddelta = at::empty({Bsz, L, Cp}, oa);
  at::Tensor dz = in[kZ].defined() ? at::empty({Bsz, L, Cp}, oa) : at::Tensor();
  at::Tensor dA = at::empty({Bsz, N, Cp}, o), dD = at::empty({Bsz, Cp}, o), dbias = at::empty({Bsz, Cp}, o);
  at::Tensor dB = at::empty({blocks, Bsz, L, N}, o), dC = at::empty({blocks, Bsz, L, N}, o);  // per channel block
  cpu::ScanGrads<S, T> g;
  g.dy = ptr<T>(dy);
  g.du = ptr<T>(du), g.ddelta = ptr<T>(ddelta), g.dz = dz.defined() ? ptr<T>(dz) : nullptr;
  g.dA = dA.data_ptr<S>(), g.dD = dD.data_ptr<S>(), g.dbias = dbias.data_ptr<S>();
  g.dB = dB.data_ptr<S>(), g.dC = dC.data_ptr<S>();
  run_bwd(p, g);
  return {du,
          ddelta,
          sum_partials_in_order(dA),
          sum_partials_in_order(dB),
          sum_partials_in_order(dC),
          in[kD].defined() ? sum_partials_in_order(dD) : at::Tensor(),
          dz,
          in[kBias].defined() ? sum_partials_in_order(dbias) : at::Tensor(),
          at::Tensor(),
          at::Tensor(),
          at::Tensor()};
}

// The kernels for the prepared activations' dtype: fp64, fp32, or bf16 (fp32 state).
at::Tensor forward_any(const variable_list& in, bool reverse, bool softplus, at::Tensor* states, at::Tensor* delta) {
  switch (in[kU].scalar_type()) {
    case at::kDouble: return forward_impl<double>(in, reverse, softplus, states, delta);
    case at::kBFloat16: return forward_impl<float, Bf16>(in, reverse, softplus, states, delta);
    default: return forward_impl<float>(in, reverse, softplus, states, delta);
  }
}

// The scan on prepared tensors (see ScanParams for shapes and layout).
struct CpuScanCore : torch::autograd::Function<CpuScanCore> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                               const at::Tensor& B, const at::Tensor& C, const at::Tensor& D, const at::Tensor& z,
                               const at::Tensor& bias, const at::Tensor& mask, bool reverse, bool softplus) {
    const variable_list in = {u, delta, A, B, C, absent_if_placeholder(D), absent_if_placeholder(z),
                              absent_if_placeholder(bias), absent_if_placeholder(mask)};
    const at::Tensor y = forward_any(in, reverse, softplus, nullptr, nullptr);
    ctx->save_for_backward(in);
    ctx->saved_data["reverse"] = reverse;
    ctx->saved_data["softplus"] = softplus;
    return {y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list in = ctx->get_saved_variables();
    const bool reverse = ctx->saved_data["reverse"].toBool(), softplus = ctx->saved_data["softplus"].toBool();
    switch (in[kU].scalar_type()) {
      case at::kDouble: return backward_impl<double>(in, reverse, softplus, grads[0]);
      case at::kBFloat16: return backward_impl<float, Bf16>(in, reverse, softplus, grads[0]);
      default: return backward_impl<float>(in, reverse, softplus, grads[0]);
    }
  }
};

}  // namespace

ScanOutputs selective_scan_cpu(const ScanInputs& in, const ScanOptions& opt) {
  // st: the compute type (state, parameters, B and C); at: the activations' storage (u, Δ, z and
  // y), bf16 when u, Δ and z all come as bf16 (autocast's products), so they are read in place.
  const auto st = in.u.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const auto bf16 = [](const at::Tensor& t) { return !t.defined() || t.scalar_type() == at::kBFloat16; };
  const auto at_ = bf16(in.u) && bf16(in.delta) && bf16(in.z) ? at::kBFloat16 : st;
  const int64_t C = in.u.size(1), L = in.u.size(2);
  const int64_t W = st == at::kDouble ? cpu::channel_multiple<double>() : cpu::channel_multiple<float>();
  const int64_t pad = (W - C % W) % W;
  // {B, C, L} → time-major {B, L, Cp}. A transposed view of a {B, L, ·} tensor (as the model's
  // Δ and z are) is used in place; anything else is copied, with channels zero-padded to the
  // block width (a zero channel has Δ = 0 after masking... and u = 0, so it contributes nothing).
  auto time_major = [&](const at::Tensor& x) {
    at::Tensor t = x.to(at_).transpose(1, 2);
    const bool in_place = pad == 0 && t.stride(2) == 1 && t.stride(0) == L * t.stride(1);
    if (in_place) return t;
    t = t.contiguous();
    return pad ? at::constant_pad_nd(t, {0, pad}) : t;
  };
  auto padded = [&](const at::Tensor& x) {  // per-channel vectors
    if (!x.defined()) return x;
    const at::Tensor t = x.to(st).contiguous();
    return pad ? at::constant_pad_nd(t, {0, pad}) : t;
  };
  variable_list args(kArgs);
  args[kU] = time_major(in.u);
  args[kDelta] = time_major(in.delta);
  args[kA] = padded(in.A.to(st).t().contiguous());  // {N, Cp}
  args[kB] = in.B.to(st).transpose(1, 2).contiguous();  // {B, L, N}: free for the model's views
  args[kC] = in.C.to(st).transpose(1, 2).contiguous();
  args[kD] = padded(in.D);
  args[kZ] = in.z.defined() ? time_major(in.z) : at::Tensor();
  args[kBias] = padded(in.delta_bias);
  args[kMask] = in.mask.defined() ? in.mask.to(st).contiguous() : at::Tensor();

  ScanOutputs out;
  at::Tensor y_t;
  if (!opt.return_states) {
    auto ph = [&](const at::Tensor& t) { return placeholder_if_absent(t, args[kU]); };
    y_t = CpuScanCore::apply(args[kU], args[kDelta], args[kA], args[kB], args[kC], ph(args[kD]), ph(args[kZ]),
                             ph(args[kBias]), ph(args[kMask]), opt.reverse, opt.delta_softplus)[0];
  } else {
    // Analysis views: states and Δ are returned, no gradient is needed.
    at::NoGradGuard guard;
    at::Tensor states, delta;
    y_t = forward_any(args, opt.reverse, opt.delta_softplus, &states, &delta);
    out.states = pad ? states.narrow(1, 0, C) : states;
    out.delta = (pad ? delta.narrow(2, 0, C) : delta).transpose(1, 2).to(at::kFloat);
  }
  if (pad) y_t = y_t.narrow(2, 0, C);
  out.y = y_t.transpose(1, 2).to(in.u.scalar_type());
  return out;
}

float scan_roofline_cpu(int64_t count) {
  const int threads = at::get_num_threads();
  return MABERT_BY_ISA(cpu::roofline_loop)(count, threads, 0.f);
}

const char* cpu_kernel_isa() { return cpu::isa_name(cpu::best_isa()); }

int cpu_kernel_threads() {
#ifdef INTRA_OP_PARALLEL  // ATen's headers define it when this file is compiled with OpenMP
  return at::get_num_threads();
#else
  return 1;
#endif
}

}  // namespace mabert::kernels

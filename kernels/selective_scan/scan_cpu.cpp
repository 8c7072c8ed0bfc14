// The fused CPU path as a torch::autograd::Function: tensor preparation (fp32, contiguous,
// B and C time-major), the ISA choice, and the reductions the kernel leaves to its caller.
#include "scan_cpu.h"
#include "scan_paths.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

namespace mabert::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool use_avx2() {
#if MABERT_HAVE_AVX2_KERNEL
  static const bool yes = cpu::cpu_has_avx2();
  return yes;
#else
  return false;
#endif
}

void run_fwd(const cpu::ScanParams<float>& p) {
#if MABERT_HAVE_AVX2_KERNEL
  if (use_avx2()) return cpu::scan_fwd_avx2(p);
#endif
  cpu::scan_fwd_base(p);
}
void run_fwd(const cpu::ScanParams<double>& p) { cpu::scan_fwd_base(p); }

void run_bwd(const cpu::ScanParams<float>& p, const cpu::ScanGrads<float>& g) {
#if MABERT_HAVE_AVX2_KERNEL
  if (use_avx2()) return cpu::scan_bwd_avx2(p, g);
#endif
  cpu::scan_bwd_base(p, g);
}
void run_bwd(const cpu::ScanParams<double>& p, const cpu::ScanGrads<double>& g) { cpu::scan_bwd_base(p, g); }

// The kernel computes in fp32, or in fp64 when given double inputs (gradient checks).
at::ScalarType compute_type(const at::Tensor& u) { return u.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

template <typename S>
S* ptr(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<S>() : nullptr;
}

// Prepared fp32 inputs; B and C become {batch, L, N} (free when they are transposed views of
// x_proj's output, as in the model).
struct Prepared {
  at::Tensor u, delta, A, B, C, D, z, bias, mask;
};

Prepared prepare(const ScanInputs& in) {
  const auto st = compute_type(in.u);
  auto conv = [st](const at::Tensor& t) { return t.defined() ? t.to(st).contiguous() : t; };
  Prepared p;
  p.u = conv(in.u);
  p.delta = conv(in.delta);
  p.A = conv(in.A);
  p.B = in.B.to(st).transpose(1, 2).contiguous();
  p.C = in.C.to(st).transpose(1, 2).contiguous();
  p.D = conv(in.D);
  p.z = conv(in.z);
  p.bias = conv(in.delta_bias);
  p.mask = conv(in.mask);
  return p;
}

template <typename S>
cpu::ScanParams<S> params_of(const Prepared& t, const ScanOptions& opt) {
  cpu::ScanParams<S> p;
  p.batch = t.u.size(0);
  p.channels = t.u.size(1);
  p.length = t.u.size(2);
  p.dstate = t.A.size(1);
  p.reverse = opt.reverse;
  p.softplus = opt.delta_softplus;
  p.u = ptr<S>(t.u), p.delta = ptr<S>(t.delta), p.A = ptr<S>(t.A), p.B = ptr<S>(t.B), p.C = ptr<S>(t.C);
  p.D = ptr<S>(t.D), p.z = ptr<S>(t.z), p.bias = ptr<S>(t.bias), p.mask = ptr<S>(t.mask);
  return p;
}

template <typename S>
at::Tensor forward_y(const Prepared& t, const ScanOptions& opt, at::Tensor* states, at::Tensor* delta) {
  cpu::ScanParams<S> p = params_of<S>(t, opt);
  at::Tensor y = at::empty_like(t.u);
  p.y = y.data_ptr<S>();
  if (states) {
    *states = at::empty({p.batch, p.channels, p.length, p.dstate}, t.u.options());
    *delta = at::empty_like(t.u);
    p.states = states->data_ptr<S>();
    p.delta_out = delta->data_ptr<S>();
  }
  run_fwd(p);
  return y;
}

template <typename S>
variable_list backward_impl(const Prepared& t, const ScanOptions& opt, const at::Tensor& grad, at::ScalarType in_dtype) {
  cpu::ScanParams<S> p = params_of<S>(t, opt);
  const int64_t Bsz = p.batch, Ch = p.channels, L = p.length, N = p.dstate;
  const at::Tensor dout = grad.to(t.u.scalar_type()).contiguous();
  // Channel chunks: enough tasks to keep every thread busy, few enough that the per-part
  // dB/dC buffers stay small.
  const int64_t parts = std::min<int64_t>(Ch, std::max<int64_t>(1, (2 * at::get_num_threads() + Bsz - 1) / Bsz));
  const auto opts = t.u.options();
  at::Tensor du = at::empty_like(t.u), ddelta = at::empty_like(t.u);
  at::Tensor dz = t.z.defined() ? at::empty_like(t.u) : at::Tensor();
  at::Tensor dA = at::empty({Bsz, Ch, N}, opts), dD = at::empty({Bsz, Ch}, opts), dbias = at::empty({Bsz, Ch}, opts);
  at::Tensor dB = at::zeros({parts, Bsz, L, N}, opts), dC = at::zeros({parts, Bsz, L, N}, opts);
  cpu::ScanGrads<S> g;
  g.dout = dout.data_ptr<S>();
  g.du = du.data_ptr<S>(), g.ddelta = ddelta.data_ptr<S>(), g.dz = ptr<S>(dz);
  g.dA = dA.data_ptr<S>(), g.dD = dD.data_ptr<S>(), g.dbias = dbias.data_ptr<S>();
  g.dB = dB.data_ptr<S>(), g.dC = dC.data_ptr<S>(), g.parts = parts;
  run_bwd(p, g);
  return {du.to(in_dtype),
          ddelta.to(in_dtype),
          dA.sum(0),
          dB.sum(0).transpose(1, 2),  // {batch, N, L}, as the input
          dC.sum(0).transpose(1, 2),
          t.D.defined() ? dD.sum(0) : at::Tensor(),
          dz.defined() ? dz.to(in_dtype) : at::Tensor(),
          t.bias.defined() ? dbias.sum(0) : at::Tensor(),
          at::Tensor(),
          at::Tensor(),
          at::Tensor()};
}

struct CpuScanFunction : torch::autograd::Function<CpuScanFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                               const at::Tensor& B, const at::Tensor& C, const at::Tensor& D, const at::Tensor& z,
                               const at::Tensor& bias, const at::Tensor& mask, bool reverse, bool softplus) {
    ScanOptions opt;
    opt.reverse = reverse;
    opt.delta_softplus = softplus;
    const Prepared t = prepare({u, delta, A, B, C, absent_if_placeholder(D), absent_if_placeholder(z),
                                absent_if_placeholder(bias), absent_if_placeholder(mask)});
    at::Tensor y = t.u.scalar_type() == at::kDouble ? forward_y<double>(t, opt, nullptr, nullptr)
                                                    : forward_y<float>(t, opt, nullptr, nullptr);
    ctx->save_for_backward({t.u, t.delta, t.A, t.B, t.C, t.D, t.z, t.bias, t.mask});
    ctx->saved_data["reverse"] = reverse;
    ctx->saved_data["softplus"] = softplus;
    ctx->saved_data["dtype"] = static_cast<int64_t>(u.scalar_type());
    return {y.to(u.scalar_type())};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    Prepared t{s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]};
    ScanOptions opt;
    opt.reverse = ctx->saved_data["reverse"].toBool();
    opt.delta_softplus = ctx->saved_data["softplus"].toBool();
    const auto in_dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return t.u.scalar_type() == at::kDouble ? backward_impl<double>(t, opt, grads[0], in_dtype)
                                            : backward_impl<float>(t, opt, grads[0], in_dtype);
  }
};

}  // namespace

ScanOutputs selective_scan_cpu(const ScanInputs& in, const ScanOptions& opt) {
  ScanOutputs out;
  if (!opt.return_states) {
    auto opt_in = [&](const at::Tensor& t) { return placeholder_if_absent(t, in.u); };
    out.y = CpuScanFunction::apply(in.u, in.delta, in.A, in.B, in.C, opt_in(in.D), opt_in(in.z), opt_in(in.delta_bias), opt_in(in.mask), opt.reverse,
                                   opt.delta_softplus)[0];
    return out;
  }
  // Analysis views: states are returned, no gradient is needed.
  at::NoGradGuard guard;
  const Prepared t = prepare(in);
  const at::Tensor y = t.u.scalar_type() == at::kDouble ? forward_y<double>(t, opt, &out.states, &out.delta)
                                                        : forward_y<float>(t, opt, &out.states, &out.delta);
  out.y = y.to(in.u.scalar_type());
  return out;
}

float scan_roofline_cpu(int64_t count) {
  const int threads = at::get_num_threads();
#if MABERT_HAVE_AVX2_KERNEL
  if (use_avx2()) return cpu::roofline_loop_avx2(count, threads);
#endif
  return cpu::roofline_loop_base(count, threads);
}

const char* cpu_kernel_isa() { return use_avx2() ? "avx2+fma" : "baseline"; }

}  // namespace mabert::kernels

// The CUDA path as a torch::autograd::Function: dtype and layout preparation, the launch on
// the current stream, and the saved chunk states that let the backward recompute.
#include "scan_cuda.h"
#include "scan_paths.h"

#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>

namespace mabert::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

cuda::Dtype dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return cuda::Dtype::F32;
    case at::kBFloat16: return cuda::Dtype::BF16;
    case at::kHalf: return cuda::Dtype::F16;
    default: throw std::invalid_argument(std::string("selective_scan CUDA: unsupported dtype ") + c10::toString(t));
  }
}

// Big tensors keep u's dtype (the kernel converts on load); small ones are fp32.
struct Prepared {
  at::Tensor u, delta, A, B, C, D, z, bias, mask;
  at::Tensor B_nl, C_nl;  // {batch, N, L}: what the parallel kernels read (B, C above: the sequential ones)
};

Prepared prepare(const ScanInputs& in) {
  const auto dt = in.u.scalar_type();
  auto big = [&](const at::Tensor& t) { return t.defined() ? t.to(dt).contiguous() : t; };
  auto small = [](const at::Tensor& t) { return t.defined() ? t.to(at::kFloat).contiguous() : t; };
  Prepared p;
  p.u = big(in.u);
  p.delta = big(in.delta);
  p.z = big(in.z);
  p.B = in.B.to(dt).transpose(1, 2).contiguous();  // {batch, L, N}
  p.C = in.C.to(dt).transpose(1, 2).contiguous();
  p.B_nl = big(in.B);
  p.C_nl = big(in.C);
  p.A = small(in.A);
  p.D = small(in.D);
  p.bias = small(in.delta_bias);
  p.mask = small(in.mask);
  return p;
}

template <typename T>
const T* cptr(const at::Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.data_ptr()) : nullptr;
}

cuda::CudaScanParams params_of(const Prepared& t, bool reverse, bool softplus) {
  cuda::CudaScanParams p;
  p.batch = t.u.size(0), p.channels = t.u.size(1), p.length = t.u.size(2), p.dstate = t.A.size(1);
  p.reverse = reverse, p.softplus = softplus;
  p.dtype = dtype_of(t.u.scalar_type());
  p.u = cptr<void>(t.u), p.delta = cptr<void>(t.delta), p.B = cptr<void>(t.B), p.C = cptr<void>(t.C);
  p.z = cptr<void>(t.z);
  p.B_nl = cptr<void>(t.B_nl), p.C_nl = cptr<void>(t.C_nl);
  p.A = cptr<float>(t.A), p.D = cptr<float>(t.D), p.bias = cptr<float>(t.bias), p.mask = cptr<float>(t.mask);
  return p;
}

void* stream() { return at::cuda::getCurrentCUDAStream().stream(); }

struct CudaScanFunction : torch::autograd::Function<CudaScanFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                               const at::Tensor& B, const at::Tensor& C, const at::Tensor& D, const at::Tensor& z,
                               const at::Tensor& bias, const at::Tensor& mask, bool reverse, bool softplus) {
    const c10::cuda::CUDAGuard guard(u.device());
    const Prepared t = prepare({u, delta, A, B, C, absent_if_placeholder(D), absent_if_placeholder(z),
                                absent_if_placeholder(bias), absent_if_placeholder(mask)});
    cuda::CudaScanParams p = params_of(t, reverse, softplus);
    at::Tensor y = at::empty_like(t.u);
    at::Tensor chunk_states =
        at::empty({p.batch, p.channels, cuda::num_chunks(p.length), p.dstate}, t.u.options().dtype(at::kFloat));
    p.y = y.data_ptr();
    p.chunk_states = chunk_states.data_ptr<float>();
    cuda::launch_scan_fwd(p, stream());
    ctx->save_for_backward({t.u, t.delta, t.A, t.B, t.C, t.D, t.z, t.bias, t.mask, chunk_states, t.B_nl, t.C_nl});
    ctx->saved_data["reverse"] = reverse;
    ctx->saved_data["softplus"] = softplus;
    return {y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const Prepared t{s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[10], s[11]};
    const c10::cuda::CUDAGuard guard(t.u.device());
    cuda::CudaScanParams p = params_of(t, ctx->saved_data["reverse"].toBool(), ctx->saved_data["softplus"].toBool());
    p.chunk_states = s[9].data_ptr<float>();
    const at::Tensor dout = grads[0].to(t.u.scalar_type()).contiguous();
    const auto f32 = t.u.options().dtype(at::kFloat);
    at::Tensor du = at::empty_like(t.u), ddelta = at::empty_like(t.u);
    at::Tensor dz = t.z.defined() ? at::empty_like(t.u) : at::Tensor();
    at::Tensor dA = at::zeros({p.channels, p.dstate}, f32), dD = at::zeros({p.channels}, f32),
               dbias = at::zeros({p.channels}, f32);
    at::Tensor dB = at::zeros({p.batch, p.length, p.dstate}, f32), dC = at::zeros({p.batch, p.length, p.dstate}, f32);
    cuda::CudaScanGrads g;
    g.dout = dout.data_ptr();
    g.du = du.data_ptr(), g.ddelta = ddelta.data_ptr(), g.dz = dz.defined() ? dz.data_ptr() : nullptr;
    g.dA = dA.data_ptr<float>(), g.dD = dD.data_ptr<float>(), g.dbias = dbias.data_ptr<float>();
    g.dB = dB.data_ptr<float>(), g.dC = dC.data_ptr<float>();
    cuda::launch_scan_bwd(p, g, stream());
    return {du,
            ddelta,
            dA,
            dB.transpose(1, 2),
            dC.transpose(1, 2),
            t.D.defined() ? dD : at::Tensor(),
            dz,
            t.bias.defined() ? dbias : at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

double cuda_peak_bandwidth_gbs(int device) {
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess) return 0.0;
  if (cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess) return 0.0;
  return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;  // double data rate
}

ScanOutputs selective_scan_cuda(const ScanInputs& in, const ScanOptions& opt) {
  ScanOutputs out;
  if (!opt.return_states) {
    auto opt_in = [&](const at::Tensor& t) { return placeholder_if_absent(t, in.u); };
    out.y = CudaScanFunction::apply(in.u, in.delta, in.A, in.B, in.C, opt_in(in.D), opt_in(in.z), opt_in(in.delta_bias), opt_in(in.mask), opt.reverse,
                                    opt.delta_softplus)[0];
    return out;
  }
  at::NoGradGuard no_grad;
  const c10::cuda::CUDAGuard guard(in.u.device());
  const Prepared t = prepare(in);
  cuda::CudaScanParams p = params_of(t, opt.reverse, opt.delta_softplus);
  at::Tensor y = at::empty_like(t.u);
  const auto f32 = t.u.options().dtype(at::kFloat);
  out.states = at::empty({p.batch, p.channels, p.length, p.dstate}, f32);
  out.delta = at::empty({p.batch, p.channels, p.length}, f32);
  p.y = y.data_ptr();
  p.states = out.states.data_ptr<float>();
  p.delta_out = out.delta.data_ptr<float>();
  cuda::launch_scan_fwd(p, stream());
  out.y = y;
  return out;
}

}  // namespace mabert::kernels

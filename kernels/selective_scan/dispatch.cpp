// Dispatch for the selective scan: input checks, the forced/automatic choice of path, and
// fall-back to the reference with the reason logged once per reason.
#include "selective_scan.h"
#include "scan_paths.h"
#if MABERT_WITH_CUDA
#include "scan_cuda.h"
#endif

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

namespace mabert::kernels {
namespace {


void log_once(const std::string& reason) {
  static std::mutex mu;
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> lock(mu);
  if (seen.insert(reason).second) std::cerr << "[selective_scan] " << reason << '\n';
}

void expect_shape(const at::Tensor& t, const char* name, std::initializer_list<int64_t> shape) {
  if (!t.defined()) return;
  const std::vector<int64_t> want(shape);
  if (t.sizes().vec() != want) {
    std::ostringstream msg;
    msg << "selective_scan: tensor '" << name << "' has shape " << t.sizes() << ", expected "
        << at::IntArrayRef(want);
    throw std::invalid_argument(msg.str());
  }
}

}  // namespace

ScanImpl parse_scan_impl(const std::string& name) {
  if (name == "auto") return ScanImpl::Auto;
  if (name == "ref") return ScanImpl::Ref;
  if (name == "cpu") return ScanImpl::Cpu;
  if (name == "cuda") return ScanImpl::Cuda;
  throw std::invalid_argument("unknown scan implementation '" + name + "' (expected auto, ref, cpu or cuda)");
}

const char* scan_impl_name(ScanImpl impl) {
  switch (impl) {
    case ScanImpl::Auto: return "auto";
    case ScanImpl::Ref: return "ref";
    case ScanImpl::Cpu: return "cpu";
    case ScanImpl::Cuda: return "cuda";
  }
  return "?";
}

void check_scan_inputs(const ScanInputs& in) {
  for (auto [t, name] : {std::pair{&in.u, "u"}, {&in.delta, "delta"}, {&in.A, "A"}, {&in.B, "B"}, {&in.C, "C"}}) {
    if (!t->defined()) throw std::invalid_argument(std::string("selective_scan: required tensor '") + name + "' is missing");
  }
  if (in.u.dim() != 3) throw std::invalid_argument("selective_scan: 'u' must be {B, C, L}");
  if (in.A.dim() != 2) throw std::invalid_argument("selective_scan: 'A' must be {C, N}");
  const int64_t Bsz = in.u.size(0), C = in.u.size(1), L = in.u.size(2), N = in.A.size(1);
  expect_shape(in.delta, "delta", {Bsz, C, L});
  expect_shape(in.A, "A", {C, N});
  expect_shape(in.B, "B", {Bsz, N, L});
  expect_shape(in.C, "C", {Bsz, N, L});
  expect_shape(in.D, "D", {C});
  expect_shape(in.z, "z", {Bsz, C, L});
  expect_shape(in.delta_bias, "delta_bias", {C});
  expect_shape(in.mask, "mask", {Bsz, L});
  const auto dev = in.u.device();
  for (const at::Tensor* t : {&in.delta, &in.A, &in.B, &in.C, &in.D, &in.z, &in.delta_bias, &in.mask}) {
    if (t->defined() && t->device() != dev)
      throw std::invalid_argument("selective_scan: all tensors must be on the device of 'u' (" + dev.str() + ")");
  }
}

namespace {

// Why a fast path cannot take these inputs, or an empty string when it can.
std::string unsupported_reason(ScanImpl impl, const ScanInputs& in) {
  const bool cuda_tensor = in.u.is_cuda();
  if (impl == ScanImpl::Cuda) {
#if !MABERT_WITH_CUDA
    return "the CUDA path is not built (no nvcc at configure time, or MABERT_CUDA=OFF)";
#endif
    if (!cuda_tensor) return "the CUDA path needs CUDA tensors, got " + in.u.device().str();
  }
  if (impl == ScanImpl::Cpu && !in.u.is_cpu()) return "the CPU path needs CPU tensors, got " + in.u.device().str();
  const auto dt = in.u.scalar_type();
  const bool double_ok = impl == ScanImpl::Cpu;  // the CPU kernel also runs in fp64 (gradient checks)
  if (dt != at::kFloat && dt != at::kBFloat16 && dt != at::kHalf && !(double_ok && dt == at::kDouble))
    return std::string("dtype ") + c10::toString(dt) + " is not supported by the '" + scan_impl_name(impl) + "' kernel";
  if (in.A.size(1) > kMaxFastState)
    return "state size " + std::to_string(in.A.size(1)) + " exceeds the fused kernels' maximum of " +
           std::to_string(kMaxFastState);
  if (impl == ScanImpl::Cuda && in.A.size(1) > 32) return "the CUDA kernel takes state sizes up to 32";
  return "";
}

ScanOutputs run_path(ScanImpl impl, const ScanInputs& in, const ScanOptions& opt) {
  switch (impl) {
    case ScanImpl::Cpu: return selective_scan_cpu(in, opt);
#if MABERT_WITH_CUDA
    case ScanImpl::Cuda: return selective_scan_cuda(in, opt);
#endif
    default: return selective_scan_ref(in, opt);
  }
}

const ScanSelfCheck& checked(ScanImpl impl, at::ScalarType dtype, at::Device device, int64_t dstate) {
  return self_check_once(impl, [impl](const ScanInputs& in, const ScanOptions& opt) { return run_path(impl, in, opt); },
                         dtype, device, dstate);
}

ScanImpl resolve(const ScanInputs& in, const ScanOptions& opt) {
  const bool forced_per_call = opt.impl != ScanImpl::Auto;
  ScanImpl impl = forced_per_call ? opt.impl : opt.prefer;
  if (impl == ScanImpl::Auto) impl = in.u.is_cuda() ? ScanImpl::Cuda : ScanImpl::Cpu;
  if (impl == ScanImpl::Ref) return impl;
  const std::string why = unsupported_reason(impl, in);
  if (!why.empty()) {
    log_once(std::string("falling back to the reference for the '") + scan_impl_name(impl) + "' path: " + why);
    return ScanImpl::Ref;
  }
  if (!forced_per_call && scan_self_check_enabled()) {
    const ScanSelfCheck& c = checked(impl, in.u.scalar_type(), in.u.device(), in.A.size(1));
    if (!c.passed()) {
      log_once(std::string("not using the '") + scan_impl_name(impl) + "' path for " + c.dtype + " on " + c.device +
               " (state size " + std::to_string(c.dstate) + "): its self-check failed: " + c.failure +
               "; running the reference instead");
      return ScanImpl::Ref;
    }
  }
  return impl;
}

// Restricts every per-channel input to the given channels (states of a channel depend on
// that channel alone, so the sub-problem's states are exactly the full problem's).
ScanInputs select_channels(const ScanInputs& in, const at::Tensor& idx) {
  ScanInputs s = in;
  s.u = in.u.index_select(1, idx);
  s.delta = in.delta.index_select(1, idx);
  s.A = in.A.index_select(0, idx);
  if (in.D.defined()) s.D = in.D.index_select(0, idx);
  if (in.z.defined()) s.z = in.z.index_select(1, idx);
  if (in.delta_bias.defined()) s.delta_bias = in.delta_bias.index_select(0, idx);
  return s;
}

}  // namespace

ScanSelfCheck self_check_scan_path(ScanImpl impl, at::ScalarType dtype, at::Device device, int64_t dstate) {
  return checked(impl, dtype, device, dstate);
}

bool cuda_path_built() { return MABERT_WITH_CUDA != 0; }

std::string cuda_kernel_variants() {
#if MABERT_WITH_CUDA
  return std::string("forward ") + cuda::cuda_forward_kind() + ", backward " + cuda::cuda_backward_kind();
#else
  return "not built";
#endif
}

#if !MABERT_WITH_CUDA
double cuda_peak_bandwidth_gbs(int) { return 0.0; }
#endif

ScanImpl resolve_scan_impl(const ScanInputs& in, const ScanOptions& opt) {
  check_scan_inputs(in);
  return resolve(in, opt);
}

ScanOutputs selective_scan(const ScanInputs& in, const ScanOptions& opt) {
  RECORD_FUNCTION("mabert::selective_scan", std::vector<c10::IValue>({in.u}));  // named in operator profiles
  check_scan_inputs(in);
  const ScanImpl impl = resolve(in, opt);
  if (!opt.return_states || !opt.state_channels.defined()) return run_path(impl, in, opt);
  // Chosen channels: y from a plain run, states from a run over those channels only.
  ScanOptions plain = opt;
  plain.return_states = false;
  ScanOutputs out = run_path(impl, in, plain);
  at::Tensor idx = opt.state_channels.to(in.u.device(), at::kLong);
  ScanOutputs sub = run_path(impl, select_channels(in, idx), opt);
  out.states = sub.states;
  out.delta = sub.delta;
  return out;
}

}  // namespace mabert::kernels

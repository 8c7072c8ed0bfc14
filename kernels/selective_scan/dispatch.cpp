// Dispatch for the selective scan: input checks, the forced/automatic choice of path, and
// fall-back to the reference with the reason logged once per reason.
#include "selective_scan.h"

#include <ATen/ATen.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

namespace mabert::kernels {
namespace {

std::atomic<ScanImpl> g_default_impl{ScanImpl::Auto};

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

void set_default_scan_impl(ScanImpl impl) { g_default_impl = impl; }
ScanImpl default_scan_impl() { return g_default_impl; }

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

ScanOutputs selective_scan(const ScanInputs& in, const ScanOptions& opt) {
  ScanImpl impl = opt.impl == ScanImpl::Auto ? default_scan_impl() : opt.impl;
  // Until the fused kernels land every request is served by the reference.
  if (impl == ScanImpl::Cpu || impl == ScanImpl::Cuda) {
    log_once(std::string("the '") + scan_impl_name(impl) + "' path is not built yet; using the reference");
  }
  return selective_scan_ref(in, opt);
}

}  // namespace mabert::kernels

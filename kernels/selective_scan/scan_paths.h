// Internal: the fast paths behind selective_scan(), and what each can do (ggml-style
// supports_op), so dispatch can fall back to the reference with a reason.
#pragma once

#include "selective_scan.h"

#include <ATen/ATen.h>

#include <functional>
#include <string>

namespace mabert::kernels {

constexpr int64_t kMaxFastState = 64;  // largest N the fused CPU kernel takes (its per-thread state block)

// autograd::Function::apply records every tensor argument and rejects undefined ones, so the
// optional inputs (D, z, bias, mask) travel as empty placeholders and are restored inside.
inline at::Tensor placeholder_if_absent(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t : at::empty({0}, like.options());
}
inline at::Tensor absent_if_placeholder(const at::Tensor& t) { return t.numel() == 0 ? at::Tensor() : t; }

// Self-checks (self_check.cpp). `path` runs one problem; the check compares it with the reference.
using ScanPathFn = std::function<ScanOutputs(const ScanInputs&, const ScanOptions&)>;
double self_check_tolerance(at::ScalarType dtype);
ScanSelfCheck self_check_scan(const ScanPathFn& path, const std::string& name, at::ScalarType dtype, at::Device device,
                              int64_t dstate);
// Runs the check once per (path, dtype, device, state size) per process and remembers it.
const ScanSelfCheck& self_check_once(ScanImpl impl, const ScanPathFn& path, at::ScalarType dtype, at::Device device,
                                     int64_t dstate);
bool scan_self_check_enabled();  // false when MABERT_SCAN_VERIFY=0

ScanOutputs selective_scan_cpu(const ScanInputs& in, const ScanOptions& opt);

#if MABERT_WITH_CUDA
ScanOutputs selective_scan_cuda(const ScanInputs& in, const ScanOptions& opt);
#endif

}  // namespace mabert::kernels

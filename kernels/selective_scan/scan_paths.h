// Internal: the fast paths behind selective_scan(), and what each can do (ggml-style
// supports_op), so dispatch can fall back to the reference with a reason.
#pragma once

#include "selective_scan.h"

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace mabert::kernels {

constexpr int64_t kMaxFastState = 64;  // largest N the fused CPU kernel takes (its per-thread state block)

// autograd::Function::apply records every tensor argument and rejects undefined ones, so the
// optional inputs (D, z, bias, mask) travel as empty placeholders and are restored inside.
inline at::Tensor placeholder_if_absent(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t : at::empty({0}, like.options());
}
inline at::Tensor absent_if_placeholder(const at::Tensor& t) { return t.numel() == 0 ? at::Tensor() : t; }

// Comparing a path with the reference (self_check.cpp), for the self-checks and the tests.
using ScanPathFn = std::function<ScanOutputs(const ScanInputs&, const ScanOptions&)>;

// y and the gradient of every differentiable input that is defined, named "u", "delta", "A",
// "B", "C", "D", "z", "delta_bias" in that order, for one upstream gradient dy.
struct ScanGradients {
  at::Tensor y;
  std::vector<std::pair<std::string, at::Tensor>> grads;
};
ScanGradients scan_with_grads(const ScanPathFn& path, const ScanInputs& in, bool reverse, const at::Tensor& dy);
// The same through the reference, in fp32 (fp64 for fp64 inputs) on the already-rounded inputs.
ScanGradients reference_with_grads(const ScanInputs& in, bool reverse, const at::Tensor& dy);

// max |got − want|, its mean, and the max relative to max |want| (in double, on the CPU); a
// non-finite `got` is infinitely wrong.
struct ScanError {
  double max_abs = 0, mean_abs = 0, max_rel = 0;
};
ScanError scan_error(const at::Tensor& got, const at::Tensor& want);

// `path` against reference_with_grads on the same inputs and upstream gradient: the error of
// "y", then of every input gradient ("du", "ddelta", ...).
std::vector<std::pair<std::string, ScanError>> compare_scan_with_reference(const ScanPathFn& path, const ScanInputs& in,
                                                                           bool reverse, const at::Tensor& dy);

// The self-checks. `path` runs one problem; the check compares it with the reference.
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

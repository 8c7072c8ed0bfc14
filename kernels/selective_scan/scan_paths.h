// Internal: the fast paths behind selective_scan(), and what each can do (ggml-style
// supports_op), so dispatch can fall back to the reference with a reason.
#pragma once

#include "selective_scan.h"

#include <ATen/ATen.h>

#include <string>

namespace mabert::kernels {

constexpr int64_t kMaxFastState = 64;  // largest N the fused CPU kernel takes (its per-thread state block)

// autograd::Function::apply records every tensor argument and rejects undefined ones, so the
// optional inputs (D, z, bias, mask) travel as empty placeholders and are restored inside.
inline at::Tensor placeholder_if_absent(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t : at::empty({0}, like.options());
}
inline at::Tensor absent_if_placeholder(const at::Tensor& t) { return t.numel() == 0 ? at::Tensor() : t; }

ScanOutputs selective_scan_cpu(const ScanInputs& in, const ScanOptions& opt);

#if MABERT_WITH_CUDA
ScanOutputs selective_scan_cuda(const ScanInputs& in, const ScanOptions& opt);
#endif

}  // namespace mabert::kernels

// Reference depth-wise conv + SiLU in ATen ops: the oracle the fused path is tested against.
#include "conv_silu.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace mabert::kernels {

at::Tensor conv_silu_ref(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t back, bool reverse) {
  const int64_t C = x.size(2), K = weight.size(1), ahead = K - 1 - back;
  // Forward: looks back `back` and ahead `ahead`. Reverse: the mirror image — the kernel flipped,
  // the reach swapped.
  const at::Tensor xc = x.transpose(1, 2);  // {B, C, L}
  const at::Tensor padded = reverse ? at::constant_pad_nd(xc, {ahead, back}) : at::constant_pad_nd(xc, {back, ahead});
  const at::Tensor w = (reverse ? weight.flip(-1) : weight).unsqueeze(1);  // {C, 1, K}
  return at::silu(at::conv1d(padded, w, bias, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, C)).transpose(1, 2).contiguous();
}

}  // namespace mabert::kernels

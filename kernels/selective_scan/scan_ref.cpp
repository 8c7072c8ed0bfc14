// Reference selective scan in plain LibTorch ops: the oracle every fast path is tested against.
#include "selective_scan.h"

#include <ATen/ATen.h>

#include <vector>

namespace mabert::kernels {

ScanOutputs selective_scan_ref(const ScanInputs& in, const ScanOptions& opt) {
  check_scan_inputs(in);
  const auto out_dtype = in.u.scalar_type();
  const int64_t L = in.u.size(2);
  const int64_t C = in.u.size(1);
  const int64_t N = in.A.size(1);

  // All arithmetic in fp32 (the state is always fp32), results cast back to u's dtype.
  at::Tensor u = in.u.to(at::kFloat);
  at::Tensor delta = in.delta.to(at::kFloat);
  if (in.delta_bias.defined()) delta = delta + in.delta_bias.to(at::kFloat).view({1, C, 1});
  if (opt.delta_softplus) delta = at::softplus(delta);
  if (in.mask.defined()) delta = delta * in.mask.to(at::kFloat).unsqueeze(1);

  const at::Tensor A = in.A.to(at::kFloat).view({1, C, 1, N});
  const at::Tensor dA = at::exp(delta.unsqueeze(-1) * A);                        // {B, C, L, N}
  const at::Tensor Bt = in.B.to(at::kFloat).transpose(1, 2).unsqueeze(1);       // {B, 1, L, N}
  const at::Tensor Ct = in.C.to(at::kFloat).transpose(1, 2).unsqueeze(1);       // {B, 1, L, N}
  const at::Tensor dBu = (delta * u).unsqueeze(-1) * Bt;                         // {B, C, L, N}

  // unbind, not select inside the loop: select's backward scatters into a full-size zero
  // tensor per step (quadratic in L), unbind's is one stack.
  const std::vector<at::Tensor> dA_t = dA.unbind(2), dBu_t = dBu.unbind(2), C_t = Ct.unbind(2);
  at::Tensor h = at::zeros({u.size(0), C, N}, u.options());
  std::vector<at::Tensor> ys(L), hs(opt.return_states ? L : 0);
  for (int64_t s = 0; s < L; ++s) {
    const int64_t t = opt.reverse ? L - 1 - s : s;
    h = dA_t[t] * h + dBu_t[t];
    ys[t] = (h * C_t[t]).sum(-1);  // {B, C}
    if (opt.return_states) hs[t] = h;
  }
  at::Tensor y = at::stack(ys, 2);  // {B, C, L}
  if (in.D.defined()) y = y + u * in.D.to(at::kFloat).view({1, C, 1});
  if (in.z.defined()) y = y * at::silu(in.z.to(at::kFloat));

  ScanOutputs out;
  out.y = y.to(out_dtype);
  if (opt.return_states) {
    out.states = at::stack(hs, 2);
    out.delta = delta;
  }
  return out;
}

}  // namespace mabert::kernels

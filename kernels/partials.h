// Partial sums that do not depend on the thread count. The fused CPU backwards accumulate
// parameter gradients into partials indexed by a fixed piece of the work (a channel block, a
// chunk of rows), never by thread; the caller then adds the partials in index order with
// element-wise adds, whose result does not depend on how ATen splits them over threads.
// So a run gives the same gradients with --threads 1 or 16 (and DDP ranks match one process
// up to the all-reduce's own order).
#pragma once

#include <ATen/ATen.h>

namespace mabert::kernels {

// parts: {P, …}  →  parts[0] + parts[1] + … + parts[P − 1], added in that order.
inline at::Tensor sum_partials_in_order(const at::Tensor& parts) {
  at::Tensor acc = parts[0].clone();
  for (int64_t i = 1; i < parts.size(0); ++i) acc.add_(parts[i]);
  return acc;
}

}  // namespace mabert::kernels

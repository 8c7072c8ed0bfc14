// The CUDA selective scan against the reference (fp32 and bf16 inputs), and the model's CUDA
// path end to end. Skips cleanly without a device.
#include "harness.h"
#include "scan_fixtures.h"

#include <torch/cuda.h>

using namespace mabert;
using namespace mabert::test;
using kernels::ScanImpl;

TEST_CASE(cuda_matches_reference) {
  if (!torch::cuda::is_available()) SKIP("no CUDA device");
  for (auto [dtype_, tol_] : {std::pair{at::kFloat, 1e-4}, {at::kBFloat16, 2e-2}}) {
    const at::ScalarType dtype = dtype_;  // C++17 lambdas cannot capture structured bindings
    const double tol = tol_;
    double worst = 0;
    for_each_scan_case([&](ScanCase c) {
      c.channels = 12;
      const kernels::ScanInputs in = make_scan_inputs(c, 200 + c.length, dtype, at::kCUDA);
      at::manual_seed(7);
      const at::Tensor dy = at::randn({c.batch, c.channels, c.length}).to(at::kCUDA);
      const PathComparison r = compare_with_reference(in, ScanImpl::Cuda, c.reverse, dy, tol);
      worst = std::max(worst, r.worst);
      for (const auto& f : r.failures)
        EXPECT_MSG(false, "L=" << c.length << " N=" << c.dstate << " z=" << c.z << " mask=" << c.mask
                                << " reverse=" << c.reverse << " " << f);
    });
    std::printf("    %s: worst max relative error over y and every gradient %.2e\n", c10::toString(dtype), worst);
  }
}

TEST_CASE(cuda_states_and_padding) {
  if (!torch::cuda::is_available()) SKIP("no CUDA device");
  ScanCase c;
  c.length = 40, c.dstate = 16, c.mask = true;
  const kernels::ScanInputs in = make_scan_inputs(c, 3, at::kFloat, at::kCUDA);
  kernels::ScanOptions opt;
  opt.impl = ScanImpl::Cuda;
  opt.return_states = true;
  const kernels::ScanOutputs got = kernels::selective_scan(in, opt);
  opt.impl = ScanImpl::Ref;
  const kernels::ScanOutputs want = kernels::selective_scan(in, opt);
  EXPECT_LE(compare(got.states, want.states).max_rel, 1e-4);
  EXPECT_LE(compare(got.delta, want.delta).max_rel, 1e-5);
}

TEST_MAIN()

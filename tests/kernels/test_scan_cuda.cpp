// The CUDA selective scan against the reference (fp32 and bf16 inputs), and the model's CUDA
// path end to end. Skips cleanly without a device.
#include "harness.h"
#include "scan_fixtures.h"

#include "selective_scan/scan_cuda.h"

#include <torch/cuda.h>

#include <cstdlib>

using namespace mabert;
using namespace mabert::test;
using kernels::ScanImpl;

// The time-parallel kernels (the default) and the chunk-sequential ones, forward and backward.
// Lengths include 1037 (two passes of the parallel kernel, a partial last chunk) and 3000.
TEST_CASE(cuda_matches_reference) {
  if (!torch::cuda::is_available()) SKIP("no CUDA device");
  for (const char* kind : {"parallel", "sequential"})
  for (auto [dtype_, tol_] : {std::pair{at::kFloat, 1e-4}, {at::kBFloat16, 2e-2}}) {
    setenv("MABERT_SCAN_CUDA_FWD", kind, 1);
    setenv("MABERT_SCAN_CUDA_BWD", kind, 1);
#if MABERT_WITH_CUDA
    REQUIRE(std::string(kernels::cuda::cuda_forward_kind()) == kind);
    REQUIRE(std::string(kernels::cuda::cuda_backward_kind()) == kind);
#endif
    const at::ScalarType dtype = dtype_;  // C++17 lambdas cannot capture structured bindings
    const double tol = tol_;
    double worst = 0;
    std::vector<ScanCase> cases;
    for_each_scan_case([&](ScanCase c) { cases.push_back(c); });
    for (bool rev : {false, true}) {
      ScanCase longer;
      longer.length = 3000, longer.dstate = 16, longer.mask = true, longer.reverse = rev;
      cases.push_back(longer);
    }
    for (ScanCase c : cases) {
      c.channels = 12;
      const kernels::ScanInputs in = make_scan_inputs(c, 200 + c.length, dtype, at::kCUDA);
      at::manual_seed(7);
      const at::Tensor dy = at::randn({c.batch, c.channels, c.length}).to(at::kCUDA);
      const PathComparison r = compare_with_reference(in, ScanImpl::Cuda, c.reverse, dy, tol);
      worst = std::max(worst, r.worst);
      for (const auto& f : r.failures)
        EXPECT_MSG(false, "L=" << c.length << " N=" << c.dstate << " z=" << c.z << " mask=" << c.mask
                                << " reverse=" << c.reverse << " " << f);
    }
    std::printf("    %s kernels, %s: worst max relative error over y and every gradient %.2e\n", kind,
                c10::toString(dtype), worst);
  }
  unsetenv("MABERT_SCAN_CUDA_FWD");
  unsetenv("MABERT_SCAN_CUDA_BWD");
}

// The self-check automatic dispatch runs on this device passes, for each dtype the model uses.
TEST_CASE(cuda_self_check_passes) {
  if (!torch::cuda::is_available()) SKIP("no CUDA device");
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    const kernels::ScanSelfCheck c = kernels::self_check_scan_path(ScanImpl::Cuda, dt, at::kCUDA, 16);
    std::printf("    cuda %s N=16: worst relative error %.2e (tolerance %.0e)\n", c.dtype.c_str(), c.worst_rel, c.tolerance);
    EXPECT_MSG(c.passed(), c.failure);
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

// The fused CPU selective scan against the reference: outputs and every gradient over a grid of
// lengths, state sizes, gate, mask and direction; the backward against finite differences in
// double precision; padding properties; chosen-channel states; fall-back.
#include "harness.h"
#include "scan_fixtures.h"

using namespace mabert;
using namespace mabert::test;
using kernels::ScanImpl;

namespace {

// Compares the forced path with the reference on one case; returns the worst relative error.
double check_against_ref(const ScanCase& c, ScanImpl impl, at::ScalarType dtype, double tol, at::Device dev) {
  const kernels::ScanInputs in = make_scan_inputs(c, 100 + c.length, dtype, dev);
  at::manual_seed(7);
  const at::Tensor dy = at::randn({c.batch, c.channels, c.length}).to(dev);
  const PathComparison r = compare_with_reference(in, impl, c.reverse, dy, tol);
  for (const auto& f : r.failures)
    EXPECT_MSG(false, "L=" << c.length << " N=" << c.dstate << " z=" << c.z << " mask=" << c.mask << " reverse=" << c.reverse << " " << f);
  return r.worst;
}

}  // namespace

TEST_CASE(cpu_matches_reference_fp32) {
  double worst = 0;
  int cases = 0;
  for_each_scan_case([&](ScanCase c) {
    c.channels = c.length > 500 ? 4 : 6;
    worst = std::max(worst, check_against_ref(c, ScanImpl::Cpu, at::kFloat, 1e-4, at::kCPU));
    ++cases;
  });
  std::printf("    %d cases (L 1..1037, N 4/16, z, mask, reverse): worst max relative error over y and 8 gradients %.2e\n",
              cases, worst);
}

TEST_CASE(cpu_reads_model_layouts_in_place) {
  // Δ and z as the model passes them: transposed views of {B, L, ·} projections (z strided).
  ScanCase c;
  c.channels = 32, c.length = 50, c.dstate = 16, c.mask = true;
  for (bool reverse : {false, true}) {
    c.reverse = reverse;
    kernels::ScanInputs in = make_scan_inputs(c, 12);
    in.delta = in.delta.transpose(1, 2).contiguous().transpose(1, 2);
    at::Tensor xz = at::randn({c.batch, c.length, 2 * c.channels});
    in.z = xz.narrow(2, c.channels, c.channels).transpose(1, 2);
    at::manual_seed(3);
    const at::Tensor dy = at::randn({c.batch, c.channels, c.length});
    const PathComparison r = compare_with_reference(in, ScanImpl::Cpu, reverse, dy, 1e-4);
    for (const auto& f : r.failures) EXPECT_MSG(false, "reverse=" << reverse << " " << f);
  }
}

// The fused kernels split channel blocks (scan) and rows (conv) over the intra-op threads; each
// block keeps its own dB/dC slice, summed afterwards in block order (kernels/partials.h). Without
// OpenMP at::parallel_for is a serial loop, which once made the kernels single-threaded
// unnoticed: check they do split, and that one thread and three give bitwise-equal results.
TEST_CASE(cpu_kernels_split_across_threads_with_the_same_results) {
  const int saved = at::get_num_threads();
#if !defined(__SANITIZE_THREAD__)
  at::set_num_threads(3);
  EXPECT_MSG(kernels::cpu_kernel_threads() == 3, "the CPU kernels run on " << kernels::cpu_kernel_threads()
                                                   << " thread(s) with 3 intra-op threads: built without OpenMP?");
#endif
  ScanCase c;
  c.batch = 2, c.channels = 200, c.length = 300, c.dstate = 16, c.mask = true;
  int compared = 0;
  for (bool reverse : {false, true}) {
    c.reverse = reverse;
    const kernels::ScanInputs in = make_scan_inputs(c, 77);
    at::manual_seed(5);
    const at::Tensor dy = at::randn({c.batch, c.channels, c.length});
    at::set_num_threads(1);
    const ScanResult one = run_with_grads(in, ScanImpl::Cpu, reverse, dy);
    at::set_num_threads(3);
    const ScanResult three = run_with_grads(in, ScanImpl::Cpu, reverse, dy);
    EXPECT_MSG(at::equal(one.y, three.y), "reverse=" << reverse << ": y differs between 1 and 3 threads");
    for (size_t i = 0; i < one.grads.size(); ++i) {
      EXPECT_MSG(at::equal(one.grads[i].second, three.grads[i].second),
                 "reverse=" << reverse << " " << one.grads[i].first << " differs between 1 and 3 threads by "
                            << compare(three.grads[i].second, one.grads[i].second).max_rel);
      ++compared;
    }
  }
  at::set_num_threads(saved);
  std::printf("    scan, 1 vs 3 threads: y and %d gradients bitwise equal\n", compared);
}

TEST_CASE(cpu_accepts_bf16_inputs) {
  double worst = 0;
  for (bool reverse : {false, true}) {
    ScanCase c;
    c.length = 200, c.dstate = 16, c.mask = true, c.reverse = reverse;
    worst = std::max(worst, check_against_ref(c, ScanImpl::Cpu, at::kBFloat16, 2e-2, at::kCPU));
  }
  std::printf("    bf16 inputs (fp32 state): worst max relative error %.2e\n", worst);
}

TEST_CASE(cpu_backward_matches_finite_differences_in_double) {
  for (bool reverse : {false, true}) {
    ScanCase c;
    c.batch = 2, c.channels = 3, c.length = 9, c.dstate = 4, c.mask = true, c.reverse = reverse;
    kernels::ScanInputs in = make_scan_inputs(c, 5, at::kDouble);
    for (at::Tensor* t : {&in.A, &in.D, &in.delta_bias, &in.mask}) *t = t->to(at::kDouble);
    at::manual_seed(9);
    const at::Tensor dy = at::randn({c.batch, c.channels, c.length}, at::kDouble);
    const ScanResult analytic = run_with_grads(in, ScanImpl::Cpu, reverse, dy);
    REQUIRE(analytic.y.scalar_type() == at::kDouble);
    kernels::ScanOptions opt;
    opt.reverse = reverse;
    opt.impl = ScanImpl::Cpu;
    const double eps = 1e-6;
    double worst = 0;
    std::vector<at::Tensor*> leaves = {&in.u, &in.delta, &in.A, &in.B, &in.C, &in.D, &in.z, &in.delta_bias};
    at::NoGradGuard guard;
    for (size_t k = 0; k < leaves.size(); ++k) {
      at::Tensor& x = *leaves[k];
      at::Tensor flat = x.view({-1});
      at::Tensor numeric = at::zeros_like(flat);
      for (int64_t i = 0; i < flat.numel(); ++i) {
        const double keep = flat[i].item<double>();
        flat[i] = keep + eps;
        const double plus = (kernels::selective_scan(in, opt).y * dy).sum().item<double>();
        flat[i] = keep - eps;
        const double minus = (kernels::selective_scan(in, opt).y * dy).sum().item<double>();
        flat[i] = keep;
        numeric[i] = (plus - minus) / (2 * eps);
      }
      const Err e = compare(analytic.grads[k].second.reshape({-1}), numeric);
      worst = std::max(worst, e.max_rel);
      EXPECT_MSG(e.max_rel <= 1e-6, "reverse=" << reverse << " d" << analytic.grads[k].first << ": max rel err " << e.max_rel);
    }
    std::printf("    reverse=%d: worst relative error of 8 analytic gradients vs central differences %.2e\n", reverse, worst);
  }
}

TEST_CASE(masked_steps_leave_state_unchanged_cpu) {
  ScanCase c;
  c.length = 12, c.dstate = 16, c.mask = true;
  const kernels::ScanInputs in = make_scan_inputs(c, 3);
  kernels::ScanOptions opt;
  opt.impl = ScanImpl::Cpu;
  opt.return_states = true;
  const kernels::ScanOutputs out = kernels::selective_scan(in, opt);
  REQUIRE(out.states.sizes() == at::IntArrayRef({2, 6, 12, 16}));
  // Row 0: right pads at t = 8..11 repeat h_7; row 1: left pads at t = 0..3 keep the zero state.
  for (int64_t t = 8; t < 12; ++t) EXPECT_EQ((out.states[0].select(1, t) - out.states[0].select(1, 7)).abs().max().item<double>(), 0.0);
  EXPECT_EQ(out.states[1].narrow(1, 0, 4).abs().max().item<double>(), 0.0);
  EXPECT_EQ(out.delta[0].narrow(1, 8, 4).abs().max().item<double>(), 0.0);
}

TEST_CASE(padded_inputs_give_valid_tokens_unpadded_outputs) {
  // A sentence of 10 steps, alone and with 5 pad steps of arbitrary content on either side.
  ScanCase c;
  c.batch = 1, c.length = 10, c.dstate = 16;
  for (ScanImpl impl : {ScanImpl::Ref, ScanImpl::Cpu})
    for (bool reverse : {false, true})
      for (bool left : {false, true}) {
        const kernels::ScanInputs alone = make_scan_inputs(c, 4);
        ScanCase pc = c;
        pc.length = 15;
        kernels::ScanInputs padded = make_scan_inputs(pc, 44);  // pads get random, nonzero values
        const int64_t start = left ? 5 : 0;
        for (auto [dst, src] : {std::pair{&padded.u, &alone.u}, {&padded.delta, &alone.delta}, {&padded.B, &alone.B},
                                {&padded.C, &alone.C}, {&padded.z, &alone.z}})
          dst->narrow(-1, start, 10).copy_(*src);
        padded.A = alone.A, padded.D = alone.D, padded.delta_bias = alone.delta_bias;
        padded.mask = at::zeros({1, 15});
        padded.mask.narrow(1, start, 10).fill_(1);
        kernels::ScanOptions opt;
        opt.impl = impl;
        opt.reverse = reverse;
        const at::Tensor y0 = kernels::selective_scan(alone, opt).y;
        const at::Tensor y1 = kernels::selective_scan(padded, opt).y.narrow(-1, start, 10);
        const double diff = (y0 - y1).abs().max().item<double>();
        EXPECT_MSG(diff <= 1e-5, kernels::scan_impl_name(impl) << " reverse=" << reverse << " left=" << left << ": " << diff);
      }
}

TEST_CASE(chosen_channel_states_match_all_states) {
  ScanCase c;
  c.length = 33, c.dstate = 8, c.mask = true, c.reverse = true;
  const kernels::ScanInputs in = make_scan_inputs(c, 6);
  for (ScanImpl impl : {ScanImpl::Ref, ScanImpl::Cpu}) {
    kernels::ScanOptions all;
    all.impl = impl;
    all.reverse = true;
    all.return_states = true;
    const kernels::ScanOutputs full = kernels::selective_scan(in, all);
    kernels::ScanOptions some = all;
    some.state_channels = at::tensor({4, 1}, at::kLong);
    const kernels::ScanOutputs chosen = kernels::selective_scan(in, some);
    REQUIRE(chosen.states.sizes() == at::IntArrayRef({2, 2, 33, 8}));
    EXPECT_LE((chosen.states - full.states.index_select(1, some.state_channels)).abs().max().item<double>(), 1e-6);
    EXPECT_LE((chosen.y - full.y).abs().max().item<double>(), 1e-6);
  }
}

TEST_CASE(dispatch_picks_and_falls_back) {
  ScanCase c;
  const kernels::ScanInputs in = make_scan_inputs(c, 8);
  kernels::ScanOptions opt;
  EXPECT(kernels::resolve_scan_impl(in, opt) == ScanImpl::Cpu);  // auto on CPU tensors
  opt.impl = ScanImpl::Cuda;                                      // impossible for CPU tensors
  EXPECT(kernels::resolve_scan_impl(in, opt) == ScanImpl::Ref);
  const at::Tensor y = kernels::selective_scan(in, opt).y;
  opt.impl = ScanImpl::Ref;
  EXPECT_LE((y - kernels::selective_scan(in, opt).y).abs().max().item<double>(), 0.0);
  kernels::ScanInputs big = in;
  big.A = -at::ones({c.channels, 300});
  big.B = at::randn({c.batch, 300, c.length});
  big.C = at::randn({c.batch, 300, c.length});
  opt.impl = ScanImpl::Cpu;
  EXPECT(kernels::resolve_scan_impl(big, opt) == ScanImpl::Ref);  // N beyond the kernel's limit
  kernels::ScanInputs ints = in;
  ints.u = in.u.to(at::kLong);
  EXPECT(kernels::resolve_scan_impl(ints, opt) == ScanImpl::Ref);
}

// The self-check automatic dispatch runs before trusting a fast path: it passes the real CPU
// kernel, and catches a wrong output and a wrong gradient (each named) in kernels built to fail.
TEST_CASE(self_check_passes_real_kernels_and_names_wrong_ones) {
  const kernels::ScanPathFn cpu = forced(ScanImpl::Cpu);
  for (int64_t N : {4, 16}) {
    const kernels::ScanSelfCheck c = kernels::self_check_scan(cpu, "cpu", at::kFloat, at::kCPU, N);
    std::printf("    cpu fp32 N=%lld: worst relative error %.2e (tolerance %.0e), %.1f ms\n", (long long)N, c.worst_rel,
                c.tolerance, c.ms);
    EXPECT_MSG(c.passed(), c.failure);
    EXPECT_LE(c.worst_rel, 1e-5);
  }
  const kernels::ScanSelfCheck bf = kernels::self_check_scan(cpu, "cpu", at::kBFloat16, at::kCPU, 16);
  std::printf("    cpu bf16 N=16: worst relative error %.2e (tolerance %.0e)\n", bf.worst_rel, bf.tolerance);
  EXPECT_MSG(bf.passed(), bf.failure);

  const kernels::ScanPathFn off_by_a_bit = [&](const kernels::ScanInputs& in, const kernels::ScanOptions& opt) {
    kernels::ScanOutputs out = cpu(in, opt);
    out.y = out.y * 1.001;  // 0.1 %: ten times the fp32 tolerance
    return out;
  };
  const kernels::ScanSelfCheck wrong_y = kernels::self_check_scan(off_by_a_bit, "broken", at::kFloat, at::kCPU, 16);
  EXPECT(!wrong_y.passed());
  EXPECT_MSG(wrong_y.failure.rfind("y differs", 0) == 0, wrong_y.failure);

  // Same forward values, but B's gradient is halved (B enters through a half-strength path).
  const kernels::ScanPathFn wrong_dB = [&](const kernels::ScanInputs& in, const kernels::ScanOptions& opt) {
    kernels::ScanInputs x = in;
    x.B = in.B.detach() + 0.5 * (in.B - in.B.detach());
    return cpu(x, opt);
  };
  const kernels::ScanSelfCheck bad_grad = kernels::self_check_scan(wrong_dB, "broken", at::kFloat, at::kCPU, 16);
  EXPECT(!bad_grad.passed());
  EXPECT_MSG(bad_grad.failure.rfind("dB differs", 0) == 0, bad_grad.failure);

  const kernels::ScanPathFn throws = [](const kernels::ScanInputs&, const kernels::ScanOptions&) -> kernels::ScanOutputs {
    throw std::runtime_error("launch failed: no kernel image is available\nbacktrace...");
  };
  const kernels::ScanSelfCheck threw = kernels::self_check_scan(throws, "broken", at::kFloat, at::kCPU, 16);
  EXPECT_EQ(threw.failure, std::string("threw: launch failed: no kernel image is available"));
}

// Automatic dispatch checks a path once per (dtype, device, state size), records it, leaves the
// global RNG where it was, and works under NoGradGuard; a per-call forced path is not checked.
TEST_CASE(automatic_dispatch_checks_each_path_once) {
  ScanCase c;
  c.dstate = 12;  // a state size no other test uses, so this test sees its own check
  const kernels::ScanInputs in = make_scan_inputs(c, 21);
  auto checks_for_12 = [] {
    int n = 0;
    for (const auto& k : kernels::scan_self_checks())
      if (k.dstate == 12) ++n;
    return n;
  };
  kernels::ScanOptions forced;
  forced.impl = ScanImpl::Cpu;
  kernels::selective_scan(in, forced);
  EXPECT_EQ(checks_for_12(), 0);

  at::manual_seed(99);
  const at::Tensor expected_next = at::randn({4});
  at::manual_seed(99);
  {
    at::NoGradGuard no_grad;
    kernels::selective_scan(in, kernels::ScanOptions{});  // auto: the CPU kernel, checked first
  }
  EXPECT_LE((at::randn({4}) - expected_next).abs().max().item<double>(), 0.0);
  EXPECT_EQ(checks_for_12(), 1);
  kernels::selective_scan(in, kernels::ScanOptions{});
  EXPECT_EQ(checks_for_12(), 1);
  for (const auto& k : kernels::scan_self_checks())
    if (k.dstate == 12) {
      EXPECT_EQ(k.path, std::string("cpu"));
      EXPECT_MSG(k.passed(), k.failure);
    }
}

TEST_MAIN()

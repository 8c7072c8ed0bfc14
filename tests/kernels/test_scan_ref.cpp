// The reference selective scan against an independent scalar loop in double precision, plus
// the properties every path must share: masked steps are identities, reverse = flipped forward.
#include "harness.h"

#include "selective_scan/selective_scan.h"

#include <ATen/ATen.h>

#include <cmath>

using namespace mabert::kernels;

namespace {

ScanInputs random_inputs(int64_t B, int64_t C, int64_t L, int64_t N, uint64_t seed, bool with_z, bool with_mask) {
  at::manual_seed(seed);
  ScanInputs in;
  in.u = at::randn({B, C, L});
  in.delta = at::randn({B, C, L}) * 0.5;
  in.A = -at::exp(at::randn({C, N}) * 0.5);
  in.B = at::randn({B, N, L});
  in.C = at::randn({B, N, L});
  in.D = at::randn({C});
  in.delta_bias = at::randn({C}) * 0.1;
  if (with_z) in.z = at::randn({B, C, L});
  if (with_mask) {
    in.mask = at::ones({B, L});
    if (L > 2) in.mask[0].narrow(0, L - 2, 2).zero_();  // right pads in row 0
    if (B > 1 && L > 3) in.mask[1].narrow(0, 0, 3).zero_();  // left pads in row 1
  }
  return in;
}

// The recurrence written out scalar by scalar, in double.
at::Tensor naive_scan(const ScanInputs& in, bool reverse) {
  const int64_t B = in.u.size(0), C = in.u.size(1), L = in.u.size(2), N = in.A.size(1);
  auto u = in.u.to(at::kDouble), dl = in.delta.to(at::kDouble), A = in.A.to(at::kDouble);
  auto Bm = in.B.to(at::kDouble), Cm = in.C.to(at::kDouble), D = in.D.to(at::kDouble), db = in.delta_bias.to(at::kDouble);
  at::Tensor y = at::zeros({B, C, L}, at::kDouble);
  auto ua = u.accessor<double, 3>(), da = dl.accessor<double, 3>();
  auto Aa = A.accessor<double, 2>();
  auto Ba = Bm.accessor<double, 3>(), Ca = Cm.accessor<double, 3>(), ya = y.accessor<double, 3>();
  auto Da = D.accessor<double, 1>(), dba = db.accessor<double, 1>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      std::vector<double> h(N, 0.0);
      for (int64_t s = 0; s < L; ++s) {
        const int64_t t = reverse ? L - 1 - s : s;
        double d = da[b][c][t] + dba[c];
        d = d > 20 ? d : std::log1p(std::exp(d));
        if (in.mask.defined() && in.mask[b][t].item<float>() == 0.f) d = 0;
        double acc = 0;
        for (int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(d * Aa[c][n]) * h[n] + d * Ba[b][n][t] * ua[b][c][t];
          acc += Ca[b][n][t] * h[n];
        }
        double out = acc + Da[c] * ua[b][c][t];
        if (in.z.defined()) {
          const double z = in.z[b][c][t].item<double>();
          out *= z / (1 + std::exp(-z));
        }
        ya[b][c][t] = out;
      }
    }
  return y;
}

}  // namespace

TEST_CASE(reference_matches_scalar_loop) {
  for (bool reverse : {false, true})
    for (bool with_z : {false, true})
      for (bool with_mask : {false, true}) {
        const ScanInputs in = random_inputs(2, 5, 23, 4, 1, with_z, with_mask);
        ScanOptions opt;
        opt.reverse = reverse;
        const at::Tensor y = selective_scan_ref(in, opt).y.to(at::kDouble);
        const at::Tensor want = naive_scan(in, reverse);
        const double err = (y - want).abs().max().item<double>();
        std::printf("    reverse=%d z=%d mask=%d: max|ref-naive| %.2e\n", reverse, with_z, with_mask, err);
        EXPECT_LE(err, 1e-4);
      }
}

TEST_CASE(masked_steps_leave_state_unchanged) {
  const ScanInputs in = random_inputs(2, 4, 16, 8, 2, true, true);
  for (bool reverse : {false, true}) {
    ScanOptions opt;
    opt.reverse = reverse;
    opt.return_states = true;
    const ScanOutputs out = selective_scan_ref(in, opt);
    REQUIRE(out.states.sizes() == at::IntArrayRef({2, 4, 16, 8}));
    // Row 0 has pads at t = 14, 15: forward they repeat h_13; reverse they stay at the zero state.
    const at::Tensor s = out.states[0];
    if (!reverse) {
      EXPECT_EQ((s.select(1, 15) - s.select(1, 13)).abs().max().item<double>(), 0.0);
    } else {
      EXPECT_EQ(s.select(1, 15).abs().max().item<double>(), 0.0);
    }
    EXPECT_EQ((out.delta[0].narrow(1, 14, 2)).abs().max().item<double>(), 0.0);
  }
}

TEST_CASE(reverse_equals_flipped_forward) {
  const ScanInputs in = random_inputs(2, 3, 19, 4, 3, true, false);
  ScanInputs flipped = in;
  for (at::Tensor* t : {&flipped.u, &flipped.delta, &flipped.B, &flipped.C, &flipped.z}) *t = t->flip(-1);
  ScanOptions rev;
  rev.reverse = true;
  const at::Tensor a = selective_scan_ref(in, rev).y;
  const at::Tensor b = selective_scan_ref(flipped, ScanOptions{}).y.flip(-1);
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-6);
}

TEST_CASE(bad_shapes_are_named) {
  ScanInputs in = random_inputs(2, 3, 5, 4, 4, false, false);
  in.B = at::randn({2, 4, 6});
  EXPECT_THROWS_WITH(selective_scan(in, ScanOptions{}), "'B'", "[2, 4, 6]");
  EXPECT_THROWS_WITH(parse_scan_impl("fast"), "'fast'", "ref");
}

TEST_MAIN()

// The fused CPU depth-wise conv + SiLU against its reference (kernels/conv_silu): output and the
// three gradients over lengths 1…1037, both directions, causal and centred reach, kernel widths,
// strided input as the model passes it; the backward against finite differences in double
// precision; and the whole SSM core (M, B, P layers, mask, left/right padding) with the fused
// conv and scan against the all-reference model, outputs and every parameter gradient.
#include "harness.h"
#include "model_fixtures.h"

#include "conv_silu/conv_silu.h"

#include <ATen/ATen.h>

using namespace mabert;
using namespace mabert::test;
using kernels::ConvImpl;

namespace {

struct Grads {
  at::Tensor y, dx, dw, db;
};

Grads run(ConvImpl impl, const at::Tensor& xz, const at::Tensor& w, const at::Tensor& b, const at::Tensor& dy, int64_t back,
          bool reverse) {
  const int64_t C = w.size(0);
  at::Tensor xzv = xz.detach().clone().requires_grad_();
  at::Tensor wv = w.detach().clone().requires_grad_(), bv = b.detach().clone().requires_grad_();
  const at::Tensor y = kernels::conv_silu(xzv.narrow(2, 0, C), wv, bv, back, reverse, impl);  // a strided slice
  (y * dy).sum().backward();
  return {y.detach(), xzv.grad().narrow(2, 0, C), wv.grad(), bv.grad()};
}

double rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-30, b.abs().max().item<double>());
}

}  // namespace

TEST_CASE(fused_matches_reference_fp32) {
  double worst = 0;
  int cases = 0;
  for (int64_t L : {1, 2, 3, 7, 64, 257, 1037})
    for (int64_t K : {2, 4})
      for (int64_t back : {K - 1, (K - 1) / 2})
        for (bool reverse : {false, true}) {
          const int64_t B = 2, C = 40;
          at::manual_seed(L * 31 + K);
          const at::Tensor xz = at::randn({B, L, 2 * C}), w = at::randn({C, K}), b = at::randn({C}), dy = at::randn({B, L, C});
          const Grads f = run(ConvImpl::Cpu, xz, w, b, dy, back, reverse), r = run(ConvImpl::Ref, xz, w, b, dy, back, reverse);
          const double e = std::max({rel(f.y, r.y), rel(f.dx, r.dx), rel(f.dw, r.dw), rel(f.db, r.db)});
          EXPECT_MSG(e <= 1e-5, "L=" << L << " K=" << K << " back=" << back << " reverse=" << reverse << ": " << e);
          EXPECT(f.y.is_contiguous());
          worst = std::max(worst, e);
          ++cases;
        }
  std::printf("    %d cases (L 1..1037, K 2/4, causal/centred, both directions): worst relative error over y, dx, dw, db %.2e\n",
              cases, worst);
}

// Rows are split over the intra-op threads; dW and db are summed from per-chunk partials in
// chunk order (kernels/partials.h): one thread and three agree bit for bit.
TEST_CASE(fused_gives_the_same_results_on_any_thread_count) {
  const int saved = at::get_num_threads();
  const int64_t B = 2, L = 333, C = 64, K = 4;
  at::manual_seed(9);
  const at::Tensor xz = at::randn({B, L, 2 * C}), w = at::randn({C, K}), b = at::randn({C}), dy = at::randn({B, L, C});
  at::set_num_threads(1);
  const Grads one = run(ConvImpl::Cpu, xz, w, b, dy, K - 1, false);
  at::set_num_threads(3);
  const Grads three = run(ConvImpl::Cpu, xz, w, b, dy, K - 1, false);
  at::set_num_threads(saved);
  EXPECT(at::equal(one.y, three.y));
  EXPECT(at::equal(one.dx, three.dx));
  EXPECT_MSG(at::equal(one.dw, three.dw) && at::equal(one.db, three.db),
             "dw/db differ between 1 and 3 threads by " << std::max(rel(three.dw, one.dw), rel(three.db, one.db)));
  std::printf("    conv, 1 vs 3 threads: y, dx, dw, db bitwise equal\n");
}

TEST_CASE(fused_backward_matches_finite_differences_fp64) {
  const int64_t B = 2, L = 9, C = 5, K = 4;
  for (bool reverse : {false, true})
    for (int64_t back : {3, 1}) {
      at::manual_seed(11);
      const auto o = at::TensorOptions().dtype(at::kDouble);
      const at::Tensor xz = at::randn({B, L, 2 * C}, o), w = at::randn({C, K}, o), b = at::randn({C}, o), dy = at::randn({B, L, C}, o);
      const Grads g = run(ConvImpl::Cpu, xz, w, b, dy, back, reverse);
      const auto loss = [&](const at::Tensor& x, const at::Tensor& ww, const at::Tensor& bb) {
        at::NoGradGuard ng;
        return (kernels::conv_silu_cpu(x.narrow(2, 0, C), ww, bb, back, reverse) * dy).sum().item<double>();
      };
      double worst = 0;
      const double h = 1e-6;
      for (int i = 0; i < 12; ++i) {  // a spread of entries of each input
        const int64_t bi = i % B, t = (i * 5) % L, c = (i * 3) % C, k = i % K;
        at::Tensor xp = xz.clone(), xm = xz.clone();
        xp[bi][t][c] += h, xm[bi][t][c] -= h;
        worst = std::max(worst, std::abs((loss(xp, w, b) - loss(xm, w, b)) / (2 * h) - g.dx[bi][t][c].item<double>()));
        at::Tensor wp = w.clone(), wm = w.clone();
        wp[c][k] += h, wm[c][k] -= h;
        worst = std::max(worst, std::abs((loss(xz, wp, b) - loss(xz, wm, b)) / (2 * h) - g.dw[c][k].item<double>()));
        at::Tensor bp = b.clone(), bm = b.clone();
        bp[c] += h, bm[c] -= h;
        worst = std::max(worst, std::abs((loss(xz, w, bp) - loss(xz, w, bm)) / (2 * h) - g.db[c].item<double>()));
      }
      std::printf("    reverse=%d back=%lld: max |analytic − finite difference| %.2e\n", reverse, static_cast<long long>(back), worst);
      EXPECT_LE(worst, 1e-7);
    }
}

// bf16 activations (x, y, dy, dx) with fp32 weights and accumulation, as the model runs under
// --precision bf16: against the fp32 reference on the same bf16-rounded inputs. y and dx are
// rounded once to bf16 at the end (relative error ≤ 2^-8 of the largest entry); dw and db are
// fp32 sums of exactly representable products, so they match the fp32 reference to fp32 rounding.
TEST_CASE(fused_bf16_activations_match_fp32_reference) {
  double worst_out = 0, worst_param = 0;
  for (int64_t L : {1, 5, 64, 257})
    for (int64_t back : {3, 1})
      for (bool reverse : {false, true}) {
        const int64_t B = 2, C = 40, K = 4;
        at::manual_seed(L * 7 + back);
        const at::Tensor xz = at::randn({B, L, 2 * C}).to(at::kBFloat16), dy = at::randn({B, L, C}).to(at::kBFloat16);
        const at::Tensor w = at::randn({C, K}), b = at::randn({C});
        const Grads f = run(ConvImpl::Cpu, xz, w, b, dy, back, reverse);
        const Grads r = run(ConvImpl::Ref, xz.to(at::kFloat), w, b, dy.to(at::kFloat), back, reverse);
        EXPECT(f.y.scalar_type() == at::kBFloat16 && f.dx.scalar_type() == at::kBFloat16);
        EXPECT(f.dw.scalar_type() == at::kFloat && f.db.scalar_type() == at::kFloat);
        const double eo = std::max(rel(f.y.to(at::kFloat), r.y), rel(f.dx.to(at::kFloat), r.dx));
        const double ep = std::max(rel(f.dw, r.dw), rel(f.db, r.db));
        EXPECT_MSG(eo <= 1.0 / 256, "L=" << L << " back=" << back << " reverse=" << reverse << ": y/dx " << eo);
        EXPECT_MSG(ep <= 1e-5, "L=" << L << " back=" << back << " reverse=" << reverse << ": dw/db " << ep);
        worst_out = std::max(worst_out, eo), worst_param = std::max(worst_param, ep);
      }
  std::printf("    bf16 x/dy, fp32 w/b: worst relative error y, dx %.2e (bound 2^-8), dw, db %.2e (bound 1e-5)\n", worst_out,
              worst_param);
}

TEST_CASE(self_check_passes) {
  for (auto dt : {at::kFloat, at::kDouble, at::kBFloat16}) {
    const kernels::ConvSelfCheck c = kernels::self_check_conv(dt);
    std::printf("    %s: worst relative error %.2e (tolerance %.0e), %.1f ms\n", c.dtype.c_str(), c.worst_rel, c.tolerance, c.ms);
    EXPECT_MSG(c.failure.empty(), c.failure);
  }
}

// The SSM core end to end: a model on the fused conv + fused scan against the same weights on
// the reference conv + reference scan, outputs and every parameter's gradient.
TEST_CASE(model_with_fused_core_matches_reference_model) {
  double worst_out = 0, worst_grad = 0;
  for (const char* schedule : {"MTM", "BTB", "PMB"})
    for (const char* conv : {"causal", "centred"})
      for (bool left : {false, true}) {
        ModelConfig cfg = micro_config(schedule);
        cfg.conv = conv;
        cfg.d_model = 64;  // 128 inner channels: the scan reads the time-major rows in place
        cfg.d_ffn = 128;
        MaBert fused(cfg), ref(cfg);
        {
          torch::NoGradGuard ng;
          torch::manual_seed(3);
          for (auto& p : fused->parameters()) p.add_(torch::randn_like(p) * 0.2);
          auto src = fused->named_parameters();
          for (auto& p : ref->named_parameters()) p.value().copy_(src[p.key()]);
        }
        ref->set_scan_impl(kernels::ScanImpl::Ref);
        const PaddedBatch b = pad_batch(random_sentences({40, 17, 33}, cfg.vocab_size, 5), 5, left);
        const at::Tensor gy = at::randn({3, b.ids.size(1), cfg.d_model});
        const at::Tensor out_f = fused->forward(b.ids, b.mask).hidden, out_r = ref->forward(b.ids, b.mask).hidden;
        (out_f * gy).sum().backward();
        (out_r * gy).sum().backward();
        worst_out = std::max(worst_out, (out_f - out_r).abs().max().item<double>());
        auto gr = ref->named_parameters();
        for (const auto& p : fused->named_parameters()) {
          const at::Tensor& a = p.value().grad();
          const at::Tensor& r = gr[p.key()].grad();
          EXPECT_EQ(a.defined(), r.defined());
          if (!a.defined() || !r.defined()) continue;  // the heads: not on the path to `hidden`
          const double e = (a - r).abs().max().item<double>() / std::max(1e-12, r.abs().max().item<double>());
          EXPECT_MSG(e <= 1e-4, schedule << " " << conv << (left ? " left" : " right") << " " << p.key() << ": " << e);
          worst_grad = std::max(worst_grad, e);
        }
      }
  std::printf("    M/B/P, causal/centred, left/right padding: max |Δ| hidden %.2e, worst relative gradient error %.2e\n",
              worst_out, worst_grad);
  EXPECT_LE(worst_out, 1e-4);
}

TEST_MAIN()

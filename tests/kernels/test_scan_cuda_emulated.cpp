// The CUDA selective-scan kernels' own source (scan_cuda_kernels.cuh), executed on the CPU by
// the SIMT emulator and compared with the reference: the time-parallel and the chunk-sequential
// forward and backward, for y and every gradient. This is not a GPU run (see simt_emulator.h for what is and is not modelled); it is
// what shows, on machines without a GPU, that the kernels compute the right numbers.
#include "harness.h"
#include "scan_fixtures.h"

#include <ATen/ATen.h>

#include <type_traits>

#include <c10/util/BFloat16.h>

// The emulator's macros (threadIdx, __shared__, ...) come after every torch header.
#include "selective_scan/scan_cuda.h"
#include "simt_emulator.h"

// bf16 loads and stores as nvcc's (round to nearest even), for the kernels' bf16 instantiations.
namespace mabert::kernels::cuda {
inline float load(const c10::BFloat16* p, int64_t i) { return static_cast<float>(p[i]); }
inline void store(c10::BFloat16* p, int64_t i, float v) { p[i] = c10::BFloat16(v); }
}  // namespace mabert::kernels::cuda

#include "selective_scan/scan_cuda_kernels.cuh"

using namespace mabert;
using namespace mabert::test;
namespace kc = mabert::kernels::cuda;

namespace {

int64_t chunks_of(int64_t length) { return (length + kc::kChunk - 1) / kc::kChunk; }  // as the launch glue

// The glue of scan_cuda.cpp and the launches of scan_cuda.cu, on the CPU. T is the input
// dtype (float or c10::BFloat16); the state and the small tensors are fp32, as on the GPU.
template <typename T>
struct Emulated {
  static constexpr at::ScalarType kType = std::is_same_v<T, float> ? at::kFloat : at::kBFloat16;
  at::Tensor u, delta, A, B, C, B_nl, C_nl, D, z, bias, mask, chunk_states, y;
  kc::CudaScanParams p;

  Emulated(const kernels::ScanInputs& in, bool reverse) {
    auto big = [](const at::Tensor& t) { return t.defined() ? t.to(kType).contiguous() : t; };
    auto small = [](const at::Tensor& t) { return t.defined() ? t.to(at::kFloat).contiguous() : t; };
    u = big(in.u), delta = big(in.delta), z = big(in.z);
    A = small(in.A), D = small(in.D), bias = small(in.delta_bias), mask = small(in.mask);
    B = in.B.to(kType).transpose(1, 2).contiguous(), C = in.C.to(kType).transpose(1, 2).contiguous();
    B_nl = big(in.B), C_nl = big(in.C);
    p.batch = u.size(0), p.channels = u.size(1), p.length = u.size(2), p.dstate = A.size(1);
    p.reverse = reverse, p.softplus = true, p.dtype = kType == at::kFloat ? kc::Dtype::F32 : kc::Dtype::BF16;
    auto ptr = [](const at::Tensor& t) -> void* { return t.defined() ? t.data_ptr() : nullptr; };
    auto fptr = [](const at::Tensor& t) -> float* { return t.defined() ? t.data_ptr<float>() : nullptr; };
    p.u = ptr(u), p.delta = ptr(delta), p.B = ptr(B), p.C = ptr(C), p.z = ptr(z), p.B_nl = ptr(B_nl), p.C_nl = ptr(C_nl);
    p.A = fptr(A), p.D = fptr(D), p.bias = fptr(bias), p.mask = fptr(mask);
    chunk_states = at::full({p.batch, p.channels, chunks_of(p.length), p.dstate}, NAN);
    y = at::full({p.batch, p.channels, p.length}, NAN).to(kType);
    p.chunk_states = chunk_states.data_ptr<float>();
    p.y = y.data_ptr();
  }

  template <int kLanes>
  void sequential_lanes(const kc::CudaScanGrads* g) {
    const SimtDim3 grid{unsigned((p.channels + kc::kChannels - 1) / kc::kChannels), unsigned(p.batch), 1};
    const kc::CudaScanParams params = p;
    if (g) {
      const kc::CudaScanGrads grads = *g;
      simt::launch(grid, kc::kChannels * kLanes, [&] { kc::scan_bwd_kernel<T, kLanes>(params, grads); });
    } else {
      simt::launch(grid, kc::kChannels * kLanes, [&] { kc::scan_fwd_kernel<T, kLanes>(params); });
    }
  }
  void sequential(const kc::CudaScanGrads* g) {
    if (p.dstate <= 8) return sequential_lanes<8>(g);
    if (p.dstate <= 16) return sequential_lanes<16>(g);
    sequential_lanes<32>(g);
  }
  void forward(bool parallel) {
    if (!parallel) return sequential(nullptr);
    const kc::CudaScanParams params = p;
    simt::launch({unsigned(p.channels), unsigned(p.batch), 1}, kc::kThreads,
                 [&] { kc::scan_fwd_parallel_kernel<T>(params); });
  }
  // du, ddelta, dA, dB, dC, dD, dz, dbias in the fixtures' order (only those defined).
  std::vector<at::Tensor> backward(const at::Tensor& dy, bool parallel) {
    const at::Tensor dout = dy.to(kType).contiguous();
    at::Tensor du = at::full_like(u, NAN), ddelta = at::full_like(u, NAN);
    at::Tensor dz = z.defined() ? at::full_like(u, NAN) : at::Tensor();
    at::Tensor dA = at::zeros_like(A), dD = at::zeros({p.channels}), dbias = at::zeros({p.channels});
    at::Tensor dB = at::zeros({p.batch, p.length, p.dstate}), dC = at::zeros({p.batch, p.length, p.dstate});
    kc::CudaScanGrads g;
    g.dout = dout.data_ptr();
    g.du = du.data_ptr(), g.ddelta = ddelta.data_ptr(), g.dz = dz.defined() ? dz.data_ptr() : nullptr;
    g.dA = dA.data_ptr<float>(), g.dD = dD.data_ptr<float>(), g.dbias = dbias.data_ptr<float>();
    g.dB = dB.data_ptr<float>(), g.dC = dC.data_ptr<float>();
    if (parallel) {
      const kc::CudaScanParams params = p;
      simt::launch({unsigned(p.channels), unsigned(p.batch), 1}, kc::kThreads,
                   [&] { kc::scan_bwd_parallel_kernel<T>(params, g); });
    } else {
      sequential(&g);
    }
    std::vector<at::Tensor> out = {du, ddelta, dA, dB.transpose(1, 2), dC.transpose(1, 2), dD};
    if (dz.defined()) out.push_back(dz);
    out.push_back(dbias);
    return out;
  }
};

// Runs one case through the emulated kernels with inputs of type T, against the reference on
// the same (already rounded) inputs. Returns the worst relative error.
struct Kernels {
  bool parallel_forward, parallel_backward;
  std::string name() const {
    return std::string(parallel_forward ? "parallel" : "sequential") + " forward + " +
           (parallel_backward ? "parallel" : "sequential") + " backward";
  }
};
constexpr Kernels kParallel{true, true}, kSequential{false, false};

template <typename T = float>
double check_case(const ScanCase& c, Kernels k, double tol) {
  constexpr at::ScalarType st = Emulated<T>::kType;
  kernels::ScanInputs in = make_scan_inputs(c, 500 + c.length + c.dstate, st);
  at::manual_seed(11);
  const at::Tensor dy = at::randn({c.batch, c.channels, c.length}).to(st);
  const ScanResult want = kernels::reference_with_grads(in, c.reverse, dy);
  Emulated<T> e(in, c.reverse);
  e.forward(k.parallel_forward);
  const std::vector<at::Tensor> grads = e.backward(dy, k.parallel_backward);
  double worst = 0;
  auto expect_close = [&](const std::string& what, const at::Tensor& got, const at::Tensor& ref) {
    const Err err = compare(got, ref);
    const double rel = err.max_rel;  // infinite when `got` is not finite
    worst = std::max(worst, rel);
    EXPECT_MSG(rel <= tol, c10::toString(st) << ", " << k.name() << ", L=" << c.length << " N=" << c.dstate << " z=" << c.z << " mask=" << c.mask
                               << " reverse=" << c.reverse << ": " << what << " max rel err " << rel << " (max abs "
                               << err.max_abs << ")");
  };
  expect_close("y", e.y, want.y);
  REQUIRE(grads.size() == want.grads.size());
  for (size_t i = 0; i < grads.size(); ++i) expect_close("d" + want.grads[i].first, grads[i], want.grads[i].second);
  return worst;
}

}  // namespace

// Both forwards and the backward on the grid the other paths are tested on, at lengths that
// cover one step, a partial 32-step chunk and several chunks.
TEST_CASE(emulated_cuda_kernels_match_reference) {
  for (Kernels k : {kParallel, kSequential}) {
    double worst = 0;
    int cases = 0;
    for_each_scan_case([&](ScanCase c) {
      if (c.length > 64) return;  // the long case is below, on fewer combinations
      // The parallel kernels run a block per channel; the sequential ones 8 channels a block,
      // so 10 gives them one full and one partly empty block.
      c.channels = k.parallel_forward ? 3 : 10;
      worst = std::max(worst, check_case(c, k, 1e-4));
      ++cases;
    });
    std::printf("    %s, %d cases: worst max relative error %.2e\n", k.name().c_str(), cases, worst);
  }
}

// Beyond one pass of the parallel forward (1024 steps): the state carried between passes, a
// partial last pass and a partial last chunk, in both directions, with gate and mask.
TEST_CASE(emulated_cuda_kernels_long_sequences) {
  double worst = 0;
  for (bool reverse : {false, true}) {
    ScanCase c;
    c.length = 1037, c.dstate = 4, c.channels = 3, c.z = true, c.mask = true, c.reverse = reverse;
    worst = std::max(worst, check_case(c, kParallel, 1e-4));
  }
  // Chunk states from the parallel forward feed the sequential backward too.
  ScanCase c;
  c.length = 1037, c.dstate = 4, c.channels = 3, c.z = true, c.mask = true;
  worst = std::max(worst, check_case(c, Kernels{true, false}, 1e-4));
  std::printf("    L=1037, parallel kernels both directions and parallel forward + sequential backward: "
              "worst max relative error %.2e\n", worst);
}

// bf16 inputs and outputs (fp32 state), as the model runs under autocast on a GPU: the
// kernels' bf16 loads and stores, with nvcc's rounding, on a few cases of the grid.
TEST_CASE(emulated_cuda_kernels_bf16) {
  double worst = 0;
  for (Kernels k : {kParallel, kSequential})
    for (bool reverse : {false, true}) {
      ScanCase c;
      c.length = 64, c.dstate = 16, c.channels = k.parallel_forward ? 3 : 10, c.z = true, c.mask = true, c.reverse = reverse;
      worst = std::max(worst, check_case<c10::BFloat16>(c, k, 2e-2));
    }
  std::printf("    bf16, parallel and sequential kernels, L=64: worst max relative error %.2e\n", worst);
}

// The saved chunk states are the reference's states just before each 32-step chunk in scan
// order, from either forward; and the per-step states and Δ of the analysis views agree.
TEST_CASE(emulated_chunk_states_and_analysis_outputs) {
  ScanCase c;
  c.length = 70, c.dstate = 16, c.mask = true, c.channels = 5;
  for (bool reverse : {false, true}) {
    c.reverse = reverse;
    const kernels::ScanInputs in = make_scan_inputs(c, 77);
    kernels::ScanOptions opt;
    opt.impl = kernels::ScanImpl::Ref;
    opt.reverse = reverse;
    opt.return_states = true;
    const kernels::ScanOutputs ref = kernels::selective_scan(in, opt);  // states {B, C, L, N}
    for (bool parallel : {true, false}) {
      Emulated<float> e(in, reverse);
      at::Tensor states = at::full({c.batch, c.channels, c.length, c.dstate}, NAN);
      at::Tensor delta = at::full({c.batch, c.channels, c.length}, NAN);
      e.p.states = states.data_ptr<float>();
      e.p.delta_out = delta.data_ptr<float>();
      e.forward(parallel);
      EXPECT_LE(compare(states, ref.states).max_rel, 1e-5);
      EXPECT_LE(compare(delta, ref.delta).max_rel, 1e-6);
      // Chunk k starts at scan step 32k: the state after scan step 32k − 1 (zero for k = 0).
      for (int64_t k = 0; k < chunks_of(c.length); ++k) {
        const at::Tensor got = e.chunk_states.select(2, k);
        at::Tensor want = at::zeros_like(got);
        if (k > 0) {
          const int64_t s = 32 * k - 1, t = reverse ? c.length - 1 - s : s;
          want = ref.states.select(2, t);
        }
        EXPECT_MSG(compare(got, want).max_abs <= 1e-5, (parallel ? "parallel" : "sequential")
                                                           << " chunk " << k << " reverse=" << reverse);
      }
    }
  }
}

// The emulator itself: a barrier only some threads reach is reported, not hung on.
TEST_CASE(emulator_reports_divergent_barriers) {
  auto divergent = [] {
    simt::launch({1, 1, 1}, 64, [] {
      if (threadIdx.x < 32) __syncthreads();
    });
  };
  EXPECT_THROWS_WITH(divergent(), "divergent barrier");
  // And shuffles exchange what CUDA's do.
  std::vector<float> got(64);
  simt::launch({1, 1, 1}, 64, [&] {
    const float v = float(threadIdx.x);
    got[threadIdx.x] = __shfl_up_sync(0xffffffffu, v, 3) * 1000 + __shfl_xor_sync(0xffffffffu, v, 2, 8);
  });
  for (unsigned t = 0; t < 64; ++t) {
    const unsigned lane = t % 32, up = lane >= 3 ? t - 3 : t, x = (t & ~7u) | ((t & 7u) ^ 2u);
    EXPECT_EQ(got[t], float(up) * 1000 + float(x));
  }
}

TEST_MAIN()

// The machine's matrix-product rate, fp32 against bf16, measured in one run (`mabert bench gemm`):
// the peak a model's achieved FLOP rate is read against, and whether bf16 pays on this machine
// (several times fp32 with AMX / AVX512-BF16 or on a GPU; far below it on a CPU without them).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mabert::bench {

struct GemmShape {
  int64_t m = 1024, n = 1024, k = 1024;  // C{m,n} = A{m,k} B{k,n}
  std::string name;                      // what it stands for ("square", "small FFN up", …)
};

struct GemmRate {
  GemmShape shape;
  double fp32_gflops = 0, bf16_gflops = 0;  // median over the timed runs
  double ratio() const { return fp32_gflops > 0 ? bf16_gflops / fp32_gflops : 0; }
};

// Shapes: a square 1024 product and the products of the small preset's layers at 1024 tokens.
std::vector<GemmShape> default_gemm_shapes();

// Times each shape in fp32 and in bf16 (interleaved, so drift hits both alike) for at least
// `min_seconds` of runs each after one warm-up; `on_line` gets a line per shape as it finishes.
std::vector<GemmRate> gemm_rates(const std::vector<GemmShape>& shapes, const c10::Device& device, double min_seconds,
                                 const std::function<void(const GemmRate&)>& on_line = {});

// One precision's rate on the square 1024 product (median of ≥ 3 runs lasting ≥ `min_seconds`):
// the peak `bench model` reads each model's achieved FLOP rate against. Products run as the model
// runs them (model/products.h): bf16 on a CPU without an engine in fp32; forced onto ATen's scalar
// bf16 path there, on a 256 product (~1 GFLOP/s: the 1024 one would take minutes).
struct GemmPeak {
  double gflops = 0;
  GemmShape shape;  // the product it was measured on
};
GemmPeak gemm_peak_gflops(const c10::Device& device, bool bf16, double min_seconds);

}  // namespace mabert::bench

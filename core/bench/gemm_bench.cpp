#include "bench/gemm_bench.h"

#include "model/products.h"
#include "util/cpu_features.h"
#include "util/device.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

namespace mabert::bench {

std::vector<GemmShape> default_gemm_shapes() {
  // The small preset (d = 256, FFN 1024) at 1024 tokens: the attention projections and the FFN.
  return {{1024, 1024, 1024, "square 1024"},
          {1024, 768, 256, "QKV projection (d 256)"},
          {1024, 1024, 256, "FFN up (d 256)"},
          {1024, 256, 1024, "FFN down (d 256)"}};
}

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Seconds of one product as the model computes it (products::matmul: on a CPU without a bf16
// engine, a bf16 product in fp32), the device synchronised.
double time_mm(const torch::Tensor& a, const torch::Tensor& b, const c10::Device& device) {
  const auto t0 = std::chrono::steady_clock::now();
  (void)products::matmul(a, b);
  synchronize(device);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double product_flops(const GemmShape& s) {
  return 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
}

}  // namespace

GemmPeak gemm_peak_gflops(const c10::Device& device, bool bf16, double min_seconds) {
  torch::NoGradGuard no_grad;
  // ATen's scalar bf16 path (no engine, MABERT_CPU_BF16_PRODUCTS=native) runs at ~1 GFLOP/s: the
  // 1024 product would take over a minute for its three runs, so the peak is read on a 256 one
  // (that rate hardly depends on the shape; the share printed beside it says little there anyway).
  const bool scalar = bf16 && device.is_cpu() && !cpu_bf16().fast() && cpu_bf16_products() == CpuBf16Products::Native;
  const GemmShape s = scalar ? GemmShape{256, 256, 256, "square 256 (bf16 on ATen's scalar path)"} : default_gemm_shapes().front();
  const auto opts = torch::TensorOptions().device(device).dtype(bf16 ? torch::kBFloat16 : torch::kFloat);
  const torch::Tensor a = torch::randn({s.m, s.k}, opts), b = torch::randn({s.k, s.n}, opts);
  time_mm(a, b, device);  // warm-up
  std::vector<double> t;
  double spent = 0;
  while (spent < min_seconds || t.size() < 3) spent += t.emplace_back(time_mm(a, b, device));
  return {product_flops(s) / median(t) / 1e9, s};
}

std::vector<GemmRate> gemm_rates(const std::vector<GemmShape>& shapes, const c10::Device& device, double min_seconds,
                                 const std::function<void(const GemmRate&)>& on_line) {
  torch::NoGradGuard no_grad;
  std::vector<GemmRate> out;
  for (const GemmShape& s : shapes) {
    if (s.m < 1 || s.n < 1 || s.k < 1) throw std::invalid_argument("gemm shape " + s.name + ": sizes must be positive");
    const auto opts = torch::TensorOptions().device(device);
    const torch::Tensor a32 = torch::randn({s.m, s.k}, opts), b32 = torch::randn({s.k, s.n}, opts);
    const torch::Tensor a16 = a32.to(torch::kBFloat16), b16 = b32.to(torch::kBFloat16);
    auto once = [&](const torch::Tensor& a, const torch::Tensor& b) { return time_mm(a, b, device); };
    once(a32, b32), once(a16, b16);  // warm-up: oneDNN builds its kernels on first use
    std::vector<double> t32, t16;
    double spent32 = 0, spent16 = 0;
    while (spent32 < min_seconds || spent16 < min_seconds || t32.size() < 3 || t16.empty()) {
      if (spent32 < min_seconds || t32.size() < 3) spent32 += t32.emplace_back(once(a32, b32));
      if (spent16 < min_seconds || t16.empty()) spent16 += t16.emplace_back(once(a16, b16));
    }
    const double flops = product_flops(s);
    GemmRate r{s, flops / median(t32) / 1e9, flops / median(t16) / 1e9};
    if (on_line) on_line(r);
    out.push_back(r);
  }
  return out;
}

}  // namespace mabert::bench

// What this CPU offers for bf16 matrix products, read once (cpuinfo, through LibTorch): AMX tiles
// (Intel since Sapphire Rapids) and AVX512-BF16 (also AMD Zen 4/5) run bf16 GEMMs several times
// faster than fp32; without either LibTorch falls back to a scalar path that is far slower than
// fp32 (measured on AVX2-only EPYCs: 0.5 against 28 GFLOP/s, 5 against 60), so there the model's
// products compute bf16's roundings in fp32 instead (model/products.h), and say so.
#pragma once

#include <c10/core/Device.h>

#include <functional>
#include <string>

namespace mabert {

struct CpuBf16 {
  bool amx_bf16 = false, avx512_bf16 = false;
  std::string isa;   // LibTorch's kernel level: "AVX512", "AVX2", "DEFAULT", …
  std::string name;  // the CPU's name as cpuinfo reports it
  bool fast() const { return amx_bf16 || avx512_bf16; }
  // "AMD EPYC: AVX2; bf16 matrix engine: none (bf16 products computed in fp32)".
  std::string describe() const;
};
const CpuBf16& cpu_bf16();

// How the model's bf16 products run on this CPU: Native — ATen's bf16 kernels (oneDNN on the
// engine); Fp32 — bf16-rounded operands multiplied in fp32, the result rounded (model/products.h).
// Native where the CPU has an engine, Fp32 where not; MABERT_CPU_BF16_PRODUCTS=native|fp32
// overrides (tests take both branches on any CPU; anything else there is an error).
enum class CpuBf16Products { Native, Fp32 };
CpuBf16Products cpu_bf16_products();

// Runs `fn` with this thread's products going `way`, then back (also when `fn` throws): tests
// compare the two ways on one CPU.
void with_cpu_bf16_products(CpuBf16Products way, const std::function<void()>& fn);

// A note for bf16 on `device` when bf16 is no faster than fp32 there (no bf16 engine, or its
// products forced into fp32); empty otherwise (and on CUDA).
std::string bf16_warning(const c10::Device& device);

}  // namespace mabert

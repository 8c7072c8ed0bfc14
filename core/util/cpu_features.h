// What this CPU offers for bf16 matrix products, read once (cpuinfo, through LibTorch): AMX tiles
// (Intel since Sapphire Rapids) and AVX512-BF16 (also AMD Zen 4/5) run bf16 GEMMs several times
// faster than fp32; without either LibTorch falls back to a scalar path that is far slower than
// fp32 (measured on an AVX2-only EPYC: 0.5 against 28 GFLOP/s), so bf16 there runs, and says so.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace mabert {

struct CpuBf16 {
  bool amx_bf16 = false, avx512_bf16 = false;
  std::string isa;   // LibTorch's kernel level: "AVX512", "AVX2", "DEFAULT", …
  std::string name;  // the CPU's name as cpuinfo reports it
  bool fast() const { return amx_bf16 || avx512_bf16; }
  // "AMD EPYC: AVX2; bf16 matrix engine: none (bf16 is emulated, far slower than fp32)".
  std::string describe() const;
};
const CpuBf16& cpu_bf16();

// A warning for bf16 on `device` when the CPU has no bf16 engine; empty otherwise (and on CUDA).
std::string bf16_warning(const c10::Device& device);

}  // namespace mabert

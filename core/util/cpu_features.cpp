#include "util/cpu_features.h"

#include <ATen/Version.h>
#include <ATen/cpu/Utils.h>

#include <cstdlib>
#include <optional>
#include <stdexcept>

namespace mabert {

const CpuBf16& cpu_bf16() {
  static const CpuBf16 info = [] {
    CpuBf16 c;
    const auto caps = at::cpu::get_cpu_capabilities();
    auto flag = [&caps](const char* key) {
      const auto it = caps.find(key);
      return it != caps.end() && it->second.isBool() && it->second.toBool();
    };
    c.amx_bf16 = flag("amx_bf16");
    c.avx512_bf16 = flag("avx512_bf16");
    const auto name = caps.find("cpu_name");
    c.name = name != caps.end() && name->second.isString() ? name->second.toStringRef() : "unknown CPU";
    c.isa = at::get_cpu_capability();
    return c;
  }();
  return info;
}

std::string CpuBf16::describe() const {
  std::string engine = amx_bf16 && avx512_bf16 ? "AMX + AVX512-BF16"
                       : amx_bf16              ? "AMX"
                       : avx512_bf16           ? "AVX512-BF16"
                                               : "none";
  std::string products;
  try {
    if (cpu_bf16_products() == CpuBf16Products::Fp32) products = " (bf16 products computed in fp32)";
    else if (!fast()) products = " (bf16 products on ATen's scalar path, far slower than fp32)";
  } catch (const std::invalid_argument& e) {  // a bad override: said here, raised by the first bf16 product
    products = std::string(" (") + e.what() + ")";
  }
  return name + ": " + isa + "; bf16 matrix engine: " + engine + products;
}

namespace {
thread_local std::optional<CpuBf16Products> scoped_way;
}

void with_cpu_bf16_products(CpuBf16Products way, const std::function<void()>& fn) {
  const std::optional<CpuBf16Products> previous = scoped_way;
  scoped_way = way;
  try {
    fn();
  } catch (...) {
    scoped_way = previous;
    throw;
  }
  scoped_way = previous;
}

CpuBf16Products cpu_bf16_products() {
  if (scoped_way) return *scoped_way;
  static const CpuBf16Products way = [] {
    const char* e = std::getenv("MABERT_CPU_BF16_PRODUCTS");
    const std::string v = e ? e : "";
    if (v == "native") return CpuBf16Products::Native;
    if (v == "fp32") return CpuBf16Products::Fp32;
    if (!v.empty())
      throw std::invalid_argument("MABERT_CPU_BF16_PRODUCTS: '" + v + "' is not one of native, fp32 (or unset: by the CPU)");
    return cpu_bf16().fast() ? CpuBf16Products::Native : CpuBf16Products::Fp32;
  }();
  return way;
}

std::string bf16_warning(const c10::Device& device) {
  if (!device.is_cpu()) return "";
  const bool fp32 = cpu_bf16_products() == CpuBf16Products::Fp32;
  std::string what;
  if (cpu_bf16().fast()) {
    if (!fp32) return "";
    what = "no faster than fp32 (MABERT_CPU_BF16_PRODUCTS=fp32); unset it to use the engine";
  } else {
    what = fp32 ? "the same roundings at about fp32 speed, no faster; bf16 pays on CPUs with AMX or AVX512-BF16"
                : "it runs, but far slower than fp32; use fp32 here, bf16 on CPUs with AMX or AVX512-BF16";
  }
  return "bf16 on this CPU (" + cpu_bf16().describe() + "): " + what;
}

}  // namespace mabert

#include "util/cpu_features.h"

#include <ATen/Version.h>
#include <ATen/cpu/Utils.h>

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
                                               : "none (bf16 is emulated, far slower than fp32)";
  return name + ": " + isa + "; bf16 matrix engine: " + engine;
}

std::string bf16_warning(const c10::Device& device) {
  if (!device.is_cpu() || cpu_bf16().fast()) return "";
  return "bf16 on this CPU (" + cpu_bf16().describe() +
         "): it runs, but slower than fp32; use fp32 here, bf16 on CPUs with AMX or AVX512-BF16";
}

}  // namespace mabert

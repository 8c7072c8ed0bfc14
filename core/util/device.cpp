#include "util/device.h"

#include <torch/cuda.h>
#if MABERT_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <stdexcept>

namespace mabert {

const char* to_string(DeviceKind d) { return d == DeviceKind::Cuda ? "cuda" : "cpu"; }

DeviceKind parse_device(const std::string& name) {
  if (name == "cpu") return DeviceKind::Cpu;
  if (name == "cuda") return DeviceKind::Cuda;
  throw std::invalid_argument("device must be cpu or cuda, got '" + name + "'");
}

c10::Device torch_device(DeviceKind d, int index) {
  if (d == DeviceKind::Cpu) return c10::Device(c10::kCPU);
  if (!torch::cuda::is_available()) throw std::runtime_error("--device cuda: no CUDA device is available");
  if (index < 0 || index >= static_cast<int>(torch::cuda::device_count()))
    throw std::runtime_error("--device cuda: GPU " + std::to_string(index) + " is not there (this machine has " +
                             std::to_string(torch::cuda::device_count()) + ")");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void synchronize(const c10::Device& d) {
#if MABERT_WITH_CUDA
  if (d.is_cuda()) c10::cuda::device_synchronize();
#else
  (void)d;
#endif
}

}  // namespace mabert

// Where a job runs. The string forms ("cpu", "cuda") exist only at the edges: JSON, CLI, GUI.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace mabert {

enum class DeviceKind { Cpu, Cuda };

const char* to_string(DeviceKind d);
// "cpu" | "cuda"; throws std::invalid_argument naming the value otherwise.
DeviceKind parse_device(const std::string& name);
// The device to put tensors on (CUDA: GPU `index`). Throws std::runtime_error when CUDA is asked
// for and that GPU is not there.
c10::Device torch_device(DeviceKind d, int index = 0);
// Waits for the device's queued work (CUDA); nothing on the CPU. Every timing stops its clock after it.
void synchronize(const c10::Device& d);

}  // namespace mabert

// libFuzzer target: MaBERT Studio project files (core/project: project::load).
// The driver and the contract it checks: drivers_project.h, drivers.h.
#include "drivers_project.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mabert::fuzz::drive_project(data, size);
  return 0;
}

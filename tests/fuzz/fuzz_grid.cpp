// libFuzzer target: ablation grid JSON (experiments::Grid::load).
// The driver and the contract it checks: drivers.h.
#include "drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mabert::fuzz::drive_grid(data, size);
  return 0;
}

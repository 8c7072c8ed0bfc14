// libFuzzer target: safetensors headers and bodies (parse_safetensors), then a save/load round trip.
// The driver and the contract it checks: drivers.h.
#include "drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mabert::fuzz::drive_safetensors(data, size);
  return 0;
}

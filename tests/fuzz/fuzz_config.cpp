// libFuzzer target: model config JSON (parse_model_config, what ModelConfig::load does with a file's text).
// The driver and the contract it checks: drivers.h.
#include "drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mabert::fuzz::drive_config(data, size);
  return 0;
}

// libFuzzer target: corpus text, any encoding (data::read_corpus).
// The driver and the contract it checks: drivers.h.
#include "drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mabert::fuzz::drive_corpus(data, size);
  return 0;
}

// libFuzzer target: GLUE TSV files (data::load_glue); byte 0 picks the task, byte 1 the split.
// The driver and the contract it checks: drivers.h.
#include "drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mabert::fuzz::drive_glue(data, size);
  return 0;
}

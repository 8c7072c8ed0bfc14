// libFuzzer target: the run registry: SQLite files and the rows of its runs table (runs::Registry).
// The driver and the contract it checks: drivers.h.
#include "drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mabert::fuzz::drive_registry(data, size);
  return 0;
}

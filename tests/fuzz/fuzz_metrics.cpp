// libFuzzer target: a run's metrics.jsonl (train::read_metrics_log).
// The driver and the contract it checks: drivers.h.
#include "drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mabert::fuzz::drive_metrics(data, size);
  return 0;
}

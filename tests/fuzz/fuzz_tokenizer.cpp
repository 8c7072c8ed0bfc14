// libFuzzer target: SentencePiece .model files (Tokenizer::load), then encoding with the loaded model.
// The driver and the contract it checks: drivers.h.
#include "drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mabert::fuzz::drive_tokenizer(data, size);
  return 0;
}

// Taking a trained model out to the Python ecosystem: a run folder exported as a Hugging Face
// model folder (config.json with model_type "mabert", model.safetensors, the SentencePiece model
// with its tokenizer config, and the Python modeling code that loads with trust_remote_code).
// The Python twin lives in resources/hf/ and is compiled into the library, so export needs no
// files beside the binary.
#pragma once

#include <string>
#include <vector>

namespace mabert::interop {

struct HfExportOptions {
  std::string run_dir;   // a pretraining or fine-tuning run folder
  std::string out_dir;   // created; an existing non-empty folder only with `force`
  bool force = false;
  bool best = true;      // the run's best checkpoint when it has one, else the latest
};

struct HfExportResult {
  std::string out_dir;
  std::string architecture;  // MabertForSequenceClassification (a task head) or MabertForMaskedLM
  std::string checkpoint;    // what was exported: "best" or "checkpoints/step-…"
  std::vector<std::string> files;
  int64_t tensors = 0, parameters = 0;
};

// Throws std::runtime_error naming what is missing or wrong: a folder that is not a run (no
// run.json), a run without config.json, tokenizer.model or a checkpoint, layer letters the
// Python twin does not have (L S D), an existing non-empty `out_dir` without `force`. The folder
// is written beside `out_dir` and renamed into place, so a failure leaves no half export.
HfExportResult export_hf(const HfExportOptions& opt);

// The Python sources written into every export (file name, text).
const std::vector<std::pair<std::string, std::string>>& hf_python_sources();

}  // namespace mabert::interop

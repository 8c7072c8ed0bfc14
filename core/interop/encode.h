// Text to vectors: a run's model over a file of sentences (or tab-separated pairs), every output
// of one forward written to a safetensors file that numpy, PyTorch or the exported Hugging Face
// model's users read directly. The inputs are written too, so another implementation can run
// the very same padded batch (the export parity check does).
#pragma once

#include <string>

namespace mabert::interop {

struct EncodeJob {
  std::string run_dir;
  std::string input;          // UTF-8 text file: one sentence per line, or "a<TAB>b" with `pairs`
  std::string out;            // .safetensors, written atomically
  bool pairs = false;
  bool left_padding = false;  // pads before the tokens instead of after
  bool layers = false;        // also every layer's hidden states (hidden_states.<i>, 0 = embeddings)
  bool mlm_logits = false;    // also the MLM head's logits {S, L, V}
  int64_t max_len = 128;
  int64_t batch = 32;
  bool best = true;
};

struct EncodeResult {
  int64_t sentences = 0, length = 0;  // every row is padded to the longest encoding
  int64_t truncated = 0;              // sentences cut to max_len
};

// Tensors written: input_ids, attention_mask, token_type_ids {S, L} int64; last_hidden_state
// {S, L, D}; pooler_output {S, D}; pool_weights {S, L}; logits ({S, k}, or {S} for regression)
// with a task head; hidden_states.<i> {S, L, D} with `layers`; mlm_logits {S, L, V} with `mlm_logits`. Errors name the file and line.
EncodeResult encode_file(const EncodeJob& job);

}  // namespace mabert::interop

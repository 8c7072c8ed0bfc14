// Synthetic recall tasks (docs/TASKS.md): data sources beside GLUE, generated from a seed, no
// files. Every example is a pure function of (task parameters, stream seed, example index), so a
// batch is the same on any thread or rank count, and a resumed run sees the same examples.
//
//   mqar            multi-query associative recall (Zoology): key–value pairs, then queried keys
//                   each followed by a slot "?" whose answer is the key's value; or the queries
//                   before the pairs (`queries_before`), which a forward scan cannot answer.
//   needle          one queried pair among distractor pairs filling the length; the query at the end.
//   selective-copy  the Mamba paper's: data tokens scattered among noise, then one slot per data
//                   token; the answers are the data tokens in order.
//
// The vocabulary is the task's own, laid out after the five special ids of tokenize/tokenizer.h:
// "?" (the slot), noise n0…, keys k0…, values v0… (selective copy's data tokens are the values).
// recall_tokenizer writes it as a SentencePiece word model, so a recall run folder is a run
// folder like any other (analysis views, predict, the studio read it unchanged).
#pragma once

#include "data/batching.h"
#include "tokenize/tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mabert::data {

enum class RecallKind { Mqar, Needle, SelectiveCopy };
const char* to_string(RecallKind k);  // "mqar" | "needle" | "selective-copy"
// True for a recall task's name (case-insensitive); GLUE names are not.
bool is_recall_task(const std::string& name);
RecallKind parse_recall_kind(const std::string& name);  // throws std::invalid_argument listing the names

struct RecallTask {
  RecallKind kind = RecallKind::Mqar;
  int64_t length = 128;      // tokens per example, [CLS] included (the longest, with min_length)
  int64_t min_length = 0;    // > 0: each example's length is uniform in [min_length, length] (padded batches)
  int64_t pairs = 8;         // key–value pairs (mqar, needle: 0 = as many as fit); data tokens (selective copy)
  int64_t queries = 0;       // mqar: queried keys, 0 = every pair; needle: always 1
  int64_t vocab = 256;       // keys + values (half each); selective copy: data tokens = vocab / 2
  int64_t noise = 4;         // filler tokens
  double gap_power = 0.01;   // mqar: query gaps drawn with p(g) ∝ g^(power − 1) (Zoology's power_a); 1 = uniform
  bool queries_before = false;  // mqar: the queries come before the pairs
  int64_t eval_examples = 512;  // the held-out set
  uint64_t eval_seed = 1000003; // the held-out stream (the same for every training seed)

  int64_t keys() const { return vocab / 2; }
  // A held-out split's stream: "dev" the eval_seed, "test" the next one.
  uint64_t held_out_stream(const std::string& split) const { return eval_seed + (split == "test" ? 1 : 0); }
  int64_t values() const { return vocab - vocab / 2; }
  int64_t resolved_pairs() const;    // needle's 0 = as many as fit
  int64_t resolved_queries() const;  // queries answered per example
  int64_t vocab_size() const { return Tokenizer::kNumSpecial + 1 + noise + vocab; }  // the model's vocabulary
  // The name a grid cell or table column uses: "mqar-L128-P8", "needle-L256", "selective-copy-L128-P16".
  std::string label() const;

  // Refuses parameters that cannot make a valid task, naming the parameter (as its CLI option).
  void validate() const;
  nlohmann::ordered_json to_json() const;
  // Strict: unknown fields and wrong types are errors naming `where` and the field. "task" names the kind.
  static RecallTask from_json(const nlohmann::json& j, const std::string& where);
};

// Token ids of the task vocabulary.
struct RecallVocab {
  int64_t slot, noise0, key0, value0;
  explicit RecallVocab(const RecallTask& t);
};

// One example: token ids ([CLS] first), and the answer at each slot (−100 elsewhere).
struct RecallExample {
  std::vector<int64_t> ids, labels;
};
RecallExample recall_example(const RecallTask& t, uint64_t stream_seed, int64_t index);

// Examples [first, first + count) of a stream, padded into one batch on the given side. labels is
// {B, L} int64 with −100 on every position that is not a slot (pads included).
Batch recall_batch(const RecallTask& t, uint64_t stream_seed, int64_t first, int64_t count, bool left_padding = false);
Batch collate_recall(const std::vector<RecallExample>& examples, bool left_padding);

// The answer a perfect reader gives at each slot, from the ids alone (tests: it scores 1).
std::vector<int64_t> recall_oracle(const RecallTask& t, const std::vector<int64_t>& ids);

// accuracy: slots answered right; sequence_accuracy: examples with every slot right.
struct RecallScore {
  int64_t slot_count = 0, right = 0, sequences = 0, sequences_right = 0;
  // With keep_examples: each example's slots and right answers, in order (prediction files).
  bool keep_examples = false;
  std::vector<int64_t> example_slots, example_right;
  void add(const torch::Tensor& predicted, const torch::Tensor& labels);  // {B, L} ids; labels −100 off the slots
  std::map<std::string, double> metrics() const;
};

// The task vocabulary as a SentencePiece word model at `path` (written atomically): ids 0–4 the
// special tokens, then "?", n0…, k0…, v0…; text such as "k3 v7 k1 v2 k3 ?" encodes to those ids.
std::string recall_tokenizer(const RecallTask& t, const std::string& path);
// A readable sentence for an example (the pieces after [CLS], space-separated).
std::string recall_text(const RecallTask& t, const std::vector<int64_t>& ids);

}  // namespace mabert::data

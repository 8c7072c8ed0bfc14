#include "data/recall.h"

#include "util/files.h"
#include "util/mix.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace mabert::data {
using json = nlohmann::json;

namespace {

constexpr const char* kKindNames[] = {"mqar", "needle", "selective-copy"};
static_assert(std::size(kKindNames) == static_cast<size_t>(RecallKind::SelectiveCopy) + 1, "one name per RecallKind");

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// SplitMix64: the whole stream of an example from one 64-bit state, the same on every platform
// (std:: distributions are not), so a seed means the same data everywhere.
struct Rng {
  uint64_t s;
  uint64_t next() {
    return splitmix64(s += 0x9e3779b97f4a7c15ull);
  }
  int64_t below(int64_t n) {  // uniform in [0, n), without modulo bias
    const uint64_t un = static_cast<uint64_t>(n), limit = UINT64_MAX - UINT64_MAX % un;
    uint64_t x;
    do x = next(); while (x >= limit);
    return static_cast<int64_t>(x % un);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // k distinct values of [0, n) in random order (partial Fisher–Yates).
  std::vector<int64_t> distinct(int64_t n, int64_t k) {
    std::vector<int64_t> all(static_cast<size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    for (int64_t i = 0; i < k; ++i) std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(i + below(n - i))]);
    all.resize(static_cast<size_t>(k));
    return all;
  }
};

Rng example_rng(uint64_t stream_seed, int64_t index) {
  Rng r{stream_seed * 0xd1b54a32d192ed03ull ^ static_cast<uint64_t>(index)};
  r.next();
  return r;
}

// Messages name the command line's option and, where a grid file spells it otherwise, its field.
std::string option_name(const std::string& field) {
  std::string o = field == "vocab" ? "task-vocab" : field;
  std::replace(o.begin(), o.end(), '_', '-');
  return "--" + o + (o == field ? "" : " (\"" + field + "\")");
}
void refuse(const std::string& field, const std::string& why) { throw std::invalid_argument(option_name(field) + ": " + why); }

// Two-token query cells chosen without replacement, cell c with weight (c + 1)^(power − 1)
// (Zoology's power law: most queries close to the pairs they ask about).
std::vector<int64_t> query_cells(Rng& rng, int64_t cells, int64_t q, double power) {
  std::vector<double> w(static_cast<size_t>(cells));
  for (int64_t c = 0; c < cells; ++c) w[static_cast<size_t>(c)] = std::pow(static_cast<double>(c + 1), power - 1.0);
  std::vector<int64_t> chosen;
  for (int64_t k = 0; k < q; ++k) {
    double total = 0;
    for (double x : w) total += x;
    double u = rng.unit() * total;
    int64_t c = 0;
    for (; c < cells - 1; ++c) {
      u -= w[static_cast<size_t>(c)];
      if (u < 0 && w[static_cast<size_t>(c)] > 0) break;
    }
    while (w[static_cast<size_t>(c)] == 0) --c;  // rounding at the end: the last cell still free
    chosen.push_back(c);
    w[static_cast<size_t>(c)] = 0;
  }
  return chosen;
}

}  // namespace

const char* to_string(RecallKind k) { return kKindNames[static_cast<size_t>(k)]; }

bool is_recall_task(const std::string& name) {
  const std::string n = lower(name);
  return std::find(std::begin(kKindNames), std::end(kKindNames), n) != std::end(kKindNames);
}

RecallKind parse_recall_kind(const std::string& name) {
  const std::string n = lower(name);
  for (size_t i = 0; i < std::size(kKindNames); ++i)
    if (n == kKindNames[i]) return static_cast<RecallKind>(i);
  throw std::invalid_argument("unknown recall task '" + name + "' (expected mqar, needle or selective-copy)");
}

int64_t RecallTask::resolved_pairs() const {
  if (kind == RecallKind::Needle && pairs == 0) return std::min(keys(), ((min_length > 0 ? min_length : length) - 3) / 2);
  return pairs;
}

int64_t RecallTask::resolved_queries() const {
  if (kind == RecallKind::Needle) return 1;
  if (kind == RecallKind::SelectiveCopy) return pairs;
  return queries > 0 ? queries : pairs;
}

std::string RecallTask::label() const {
  std::string s = std::string(to_string(kind)) + "-L" + std::to_string(length);
  if (kind != RecallKind::Needle || pairs > 0) s += "-P" + std::to_string(resolved_pairs());
  if (queries_before) s += "-before";
  return s;
}

void RecallTask::validate() const {
  if (length < 4) refuse("length", "must be at least 4 tokens, got " + std::to_string(length));
  if (min_length < 0 || min_length > length)
    refuse("min_length", "must lie in [0, --length " + std::to_string(length) + "], got " + std::to_string(min_length));
  if (vocab < 2) refuse("vocab", "must be at least 2 (keys and values), got " + std::to_string(vocab));
  if (noise < 1) refuse("noise", "needs at least one filler token, got " + std::to_string(noise));
  if (!(gap_power > 0) || gap_power > 1) refuse("gap_power", "must lie in (0, 1], got " + std::to_string(gap_power));
  if (eval_examples < 1) refuse("eval_examples", "must be at least 1, got " + std::to_string(eval_examples));
  if (pairs < 0) refuse("pairs", "must not be negative, got " + std::to_string(pairs));
  if (queries < 0) refuse("queries", "must not be negative, got " + std::to_string(queries));
  const int64_t shortest = min_length > 0 ? min_length : length;
  const std::string fit = "--length " + std::to_string(shortest) + (min_length > 0 ? " (--min-length)" : "");  // the shortest example
  const int64_t p = resolved_pairs();
  switch (kind) {
    case RecallKind::Mqar: {
      if (p < 1) refuse("pairs", "needs at least one key-value pair");
      if (p > keys())
        refuse("pairs", std::to_string(p) + " distinct keys do not fit " + option_name("vocab") + " " + std::to_string(vocab) + " (" +
                            std::to_string(keys()) + " keys, half the vocabulary): raise it to at least " + std::to_string(2 * p));
      const int64_t q = resolved_queries();
      if (q > p) refuse("queries", std::to_string(q) + " queries ask for more keys than the " + std::to_string(p) + " pairs hold");
      const int64_t need = 1 + 2 * p + 2 * q;
      if (need > shortest)
        refuse("pairs", std::to_string(p) + " pairs and " + std::to_string(q) + " queries need " + std::to_string(need) +
                            " tokens with [CLS]; " + fit + " has " + std::to_string(shortest));
      break;
    }
    case RecallKind::Needle:
      if (queries_before) refuse("queries_before", "needle's query is at the end; use mqar for queries before the pairs");
      if (p < 1) refuse("pairs", "needs at least one pair (the needle)");
      if (p > keys()) refuse("pairs", std::to_string(p) + " distinct keys do not fit " + option_name("vocab") + " " + std::to_string(vocab) + " (" + std::to_string(keys()) + " keys)");
      if (1 + 2 * p + 2 > shortest)
        refuse("pairs", std::to_string(p) + " pairs and the query need " + std::to_string(1 + 2 * p + 2) + " tokens; " + fit + " has " + std::to_string(shortest));
      break;
    case RecallKind::SelectiveCopy:
      if (queries_before) refuse("queries_before", "selective copy answers at the end; the option is mqar's");
      if (p < 1) refuse("pairs", "selective copy needs at least one data token to copy (--pairs)");
      if (1 + 2 * p > shortest)
        refuse("pairs", std::to_string(p) + " data tokens and their slots need " + std::to_string(1 + 2 * p) + " tokens; " + fit + " has " + std::to_string(shortest));
      break;
  }
}

nlohmann::ordered_json RecallTask::to_json() const {
  return {{"task", to_string(kind)}, {"length", length}, {"min_length", min_length}, {"pairs", pairs},
          {"queries", queries},      {"vocab", vocab},   {"noise", noise},           {"gap_power", gap_power},
          {"queries_before", queries_before}, {"eval_examples", eval_examples}, {"eval_seed", eval_seed}};
}

RecallTask RecallTask::from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw std::invalid_argument(where + ": expected an object of recall-task fields");
  RecallTask t;
  auto bad = [&](const std::string& field, const std::string& why) { throw std::invalid_argument(where + ": field '" + field + "': " + why); };
  auto integer = [&](const std::string& k, const json& v) {
    if (!v.is_number_integer()) bad(k, "expected an integer, got " + v.dump());
    return v.get<int64_t>();
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "task") {
      if (!v.is_string()) bad(k, "expected a task name");
      try {
        t.kind = parse_recall_kind(v.get<std::string>());
      } catch (const std::invalid_argument& e) {
        bad(k, e.what());
      }
    } else if (k == "length") t.length = integer(k, v);
    else if (k == "min_length") t.min_length = integer(k, v);
    else if (k == "pairs") t.pairs = integer(k, v);
    else if (k == "queries") t.queries = integer(k, v);
    else if (k == "vocab") t.vocab = integer(k, v);
    else if (k == "noise") t.noise = integer(k, v);
    else if (k == "eval_examples") t.eval_examples = integer(k, v);
    else if (k == "eval_seed") {
      if (!v.is_number_unsigned()) bad(k, "expected a non-negative integer, got " + v.dump());
      t.eval_seed = v.get<uint64_t>();
    } else if (k == "gap_power") {
      if (!v.is_number()) bad(k, "expected a number, got " + v.dump());
      t.gap_power = v.get<double>();
    } else if (k == "queries_before") {
      if (!v.is_boolean()) bad(k, "expected true or false, got " + v.dump());
      t.queries_before = v.get<bool>();
    } else {
      bad(k, "unknown (known: task, length, min_length, pairs, queries, vocab, noise, gap_power, queries_before, eval_examples, eval_seed)");
    }
  }
  try {
    t.validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + ": " + e.what());
  }
  return t;
}

RecallVocab::RecallVocab(const RecallTask& t)
    : slot(Tokenizer::kNumSpecial), noise0(slot + 1), key0(noise0 + t.noise), value0(key0 + t.keys()) {}

RecallExample recall_example(const RecallTask& t, uint64_t stream_seed, int64_t index) {
  const RecallVocab v(t);
  Rng rng = example_rng(stream_seed, index);
  const int64_t len = t.min_length > 0 ? t.min_length + rng.below(t.length - t.min_length + 1) : t.length;
  RecallExample ex;
  ex.ids.resize(static_cast<size_t>(len));
  ex.labels.assign(static_cast<size_t>(len), -100);
  for (auto& id : ex.ids) id = v.noise0 + rng.below(t.noise);
  ex.ids[0] = Tokenizer::kCls;
  auto put = [&](int64_t pos, int64_t id) { ex.ids[static_cast<size_t>(pos)] = id; };
  const int64_t p = t.resolved_pairs();

  if (t.kind == RecallKind::SelectiveCopy) {
    // p data tokens at distinct random positions of [1, len − p), in order; then p slots.
    std::vector<int64_t> pos = rng.distinct(len - p - 1, p);
    std::sort(pos.begin(), pos.end());
    for (int64_t i = 0; i < p; ++i) {
      const int64_t data = v.value0 + rng.below(t.values());
      put(1 + pos[static_cast<size_t>(i)], data);
      const int64_t s = len - p + i;
      put(s, v.slot);
      ex.labels[static_cast<size_t>(s)] = data;
    }
    return ex;
  }

  const std::vector<int64_t> keys = rng.distinct(t.keys(), p);
  std::vector<int64_t> values(static_cast<size_t>(p));
  for (auto& x : values) x = rng.below(t.values());
  const int64_t q = t.resolved_queries();
  // The pairs sit at [pairs_at, pairs_at + 2p); the queries fill two-token cells of the region
  // [region, region + 2·cells) on the other side.
  const int64_t region_len = len - 1 - 2 * p;
  int64_t pairs_at = 1, region = 1 + 2 * p;
  if (t.queries_before) pairs_at = len - 2 * p, region = 1;
  for (int64_t i = 0; i < p; ++i) {
    put(pairs_at + 2 * i, v.key0 + keys[static_cast<size_t>(i)]);
    put(pairs_at + 2 * i + 1, v.value0 + values[static_cast<size_t>(i)]);
  }
  const std::vector<int64_t> asked = rng.distinct(p, q);  // which pairs are queried, in query order
  std::vector<int64_t> cells;
  if (t.kind != RecallKind::Needle) {
    cells = query_cells(rng, region_len / 2, q, t.gap_power);
    // Gaps count from the pairs: with the queries before them, cell 0 is the one nearest the pairs.
    if (t.queries_before)
      for (auto& c : cells) c = region_len / 2 - 1 - c;
  }
  for (int64_t i = 0; i < q; ++i) {
    const int64_t at = t.kind == RecallKind::Needle ? len - 2  // the sequence ends with the query
                                                    : region + (t.queries_before ? (region_len % 2) : 0) + 2 * cells[static_cast<size_t>(i)];
    const int64_t pair = asked[static_cast<size_t>(i)];
    put(at, v.key0 + keys[static_cast<size_t>(pair)]);
    put(at + 1, v.slot);
    ex.labels[static_cast<size_t>(at + 1)] = v.value0 + values[static_cast<size_t>(pair)];
  }
  return ex;
}

Batch collate_recall(const std::vector<RecallExample>& examples, bool left_padding) {
  std::vector<Encoding> enc(examples.size());
  std::vector<const Encoding*> items;
  int64_t longest = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    enc[i].ids = examples[i].ids;
    enc[i].segments.assign(examples[i].ids.size(), 0);
    items.push_back(&enc[i]);
    longest = std::max<int64_t>(longest, static_cast<int64_t>(examples[i].ids.size()));
  }
  Batch b = collate(items, {0, left_padding});
  b.labels = torch::full({static_cast<int64_t>(examples.size()), longest}, -100, torch::kLong);
  auto acc = b.labels.accessor<int64_t, 2>();
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto n = static_cast<int64_t>(examples[i].labels.size());
    const int64_t shift = left_padding ? longest - n : 0;
    for (int64_t j = 0; j < n; ++j) acc[static_cast<int64_t>(i)][shift + j] = examples[i].labels[static_cast<size_t>(j)];
  }
  return b;
}

Batch recall_batch(const RecallTask& t, uint64_t stream_seed, int64_t first, int64_t count, bool left_padding) {
  std::vector<RecallExample> ex;
  ex.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) ex.push_back(recall_example(t, stream_seed, first + i));
  return collate_recall(ex, left_padding);
}

std::vector<int64_t> recall_oracle(const RecallTask& t, const std::vector<int64_t>& ids) {
  const RecallVocab v(t);
  std::vector<int64_t> out;
  if (t.kind == RecallKind::SelectiveCopy) {
    std::vector<int64_t> data;
    for (int64_t id : ids)
      if (id >= v.value0) data.push_back(id);
    return data;
  }
  // A key followed by a value is a pair; a key followed by the slot is a query.
  std::map<int64_t, int64_t> value_of;
  for (size_t i = 0; i + 1 < ids.size(); ++i)
    if (ids[i] >= v.key0 && ids[i] < v.value0 && ids[i + 1] >= v.value0) value_of[ids[i]] = ids[i + 1];
  for (size_t i = 1; i < ids.size(); ++i)
    if (ids[i] == v.slot) {
      const auto it = value_of.find(ids[i - 1]);
      out.push_back(it == value_of.end() ? -1 : it->second);
    }
  return out;
}

void RecallScore::add(const torch::Tensor& predicted, const torch::Tensor& labels) {
  const torch::Tensor on = labels.ne(-100);
  const torch::Tensor hit = predicted.eq(labels).logical_and(on);
  const torch::Tensor per_slots = on.sum(1), per_right = hit.sum(1);
  slot_count += on.sum().item<int64_t>();
  right += hit.sum().item<int64_t>();
  sequences += per_slots.gt(0).sum().item<int64_t>();
  sequences_right += per_slots.gt(0).logical_and(per_right.eq(per_slots)).sum().item<int64_t>();
  if (!keep_examples) return;
  const torch::Tensor s = per_slots.to(torch::kLong).contiguous(), r = per_right.to(torch::kLong).contiguous();
  example_slots.insert(example_slots.end(), s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
  example_right.insert(example_right.end(), r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

std::map<std::string, double> RecallScore::metrics() const {
  return {{"accuracy", slot_count ? static_cast<double>(right) / static_cast<double>(slot_count) : 0.0},
          {"sequence_accuracy", sequences ? static_cast<double>(sequences_right) / static_cast<double>(sequences) : 0.0}};
}

// ---- The task vocabulary as a SentencePiece model -------------------------------------------
namespace {

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void field_bytes(std::string& out, int field, const std::string& bytes) {
  varint(out, static_cast<uint64_t>(field) << 3 | 2);
  varint(out, bytes.size());
  out += bytes;
}
void field_varint(std::string& out, int field, uint64_t v) {
  varint(out, static_cast<uint64_t>(field) << 3);
  varint(out, v);
}

// SentencePiece's ModelProto (sentencepiece_model.proto): pieces (1: piece, 2: score, 3: type),
// trainer_spec (3: model_type WORD = 3), normalizer_spec (1: name) — the identity normaliser.
std::string word_model_bytes(const std::vector<std::pair<std::string, int>>& pieces) {
  std::string m;
  for (const auto& [text, type] : pieces) {
    std::string p;
    field_bytes(p, 1, text);
    p += static_cast<char>(2 << 3 | 5);  // score: float 0
    p.append(4, '\0');
    field_varint(p, 3, static_cast<uint64_t>(type));
    field_bytes(m, 1, p);
  }
  std::string trainer;
  field_varint(trainer, 3, 3);  // model_type: WORD
  field_bytes(m, 2, trainer);
  std::string norm;
  field_bytes(norm, 1, "identity");
  field_bytes(m, 3, norm);
  return m;
}

}  // namespace

std::string recall_tokenizer(const RecallTask& t, const std::string& path) {
  enum { kNormal = 1, kUnknown = 2, kControl = 3 };
  std::vector<std::pair<std::string, int>> pieces = {
      {"[PAD]", kControl}, {"[UNK]", kUnknown}, {"[CLS]", kControl}, {"[SEP]", kControl}, {"[MASK]", kControl}, {"\xe2\x96\x81?", kNormal}};
  for (int64_t i = 0; i < t.noise; ++i) pieces.push_back({"\xe2\x96\x81n" + std::to_string(i), kNormal});
  for (int64_t i = 0; i < t.keys(); ++i) pieces.push_back({"\xe2\x96\x81k" + std::to_string(i), kNormal});
  for (int64_t i = 0; i < t.values(); ++i) pieces.push_back({"\xe2\x96\x81v" + std::to_string(i), kNormal});
  write_file_atomic(path, word_model_bytes(pieces));
  return path;
}

std::string recall_text(const RecallTask& t, const std::vector<int64_t>& ids) {
  const RecallVocab v(t);
  std::string s;
  for (int64_t id : ids) {
    std::string w;
    if (id < Tokenizer::kNumSpecial) continue;
    if (id == v.slot) w = "?";
    else if (id < v.key0) w = "n" + std::to_string(id - v.noise0);
    else if (id < v.value0) w = "k" + std::to_string(id - v.key0);
    else w = "v" + std::to_string(id - v.value0);
    s += (s.empty() ? "" : " ") + w;
  }
  return s;
}

}  // namespace mabert::data

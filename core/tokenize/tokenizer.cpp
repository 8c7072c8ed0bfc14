// SentencePiece training (on sentences the corpus reader gives: data::train_tokenizer, so encodings and
// non-UTF-8 files are handled once, in one place), loading and BERT-style encoding.
#include "tokenize/tokenizer.h"

#include "util/files.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <stdexcept>

namespace mabert {
namespace {

class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& v) : v_(v) {}
  bool done() const override { return i_ >= v_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return v_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& v_;
  size_t i_ = 0;
};

// ---- Checking a .model file before SentencePiece sees it ------------------------------------
// SentencePiece (0.1.97, Debian 12) trusts the normalisation map stored in a model file: the
// map's double-array trie is walked without bounds checks and its values index a string table
// unchecked, so a damaged map reads out of bounds while encoding (found by fuzz_tokenizer:
// tests/fuzz/regressions/tokenizer/). The map is found by walking the protobuf wire format just
// far enough: ModelProto fields 3 (normalizer_spec) and 5 (denormalizer_spec), each a
// NormalizerSpec whose field 2 is precompiled_charsmap; as in protobuf, the last one wins.

bool read_varint(std::string_view b, size_t& i, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (i >= b.size()) return false;
    const auto c = static_cast<unsigned char>(b[i++]);
    v |= static_cast<uint64_t>(c & 0x7f) << shift;
    if (c < 0x80) return true;
  }
  return false;
}

// Calls on_field(number, wire type, bytes) for each length-delimited field; false when `b` is
// not a well-formed protobuf message.
template <typename F>
bool for_each_field(std::string_view b, F&& on_field) {
  for (size_t i = 0; i < b.size();) {
    uint64_t key = 0, n = 0;
    if (!read_varint(b, i, key)) return false;
    switch (key & 7) {
      case 0: if (!read_varint(b, i, n)) return false; break;
      case 1: if (b.size() - i < 8) return false; i += 8; break;
      case 5: if (b.size() - i < 4) return false; i += 4; break;
      case 2:
        if (!read_varint(b, i, n) || n > b.size() - i) return false;
        on_field(key >> 3, b.substr(i, n));
        i += n;
        break;
      default: return false;  // groups (3, 4) are not used by SentencePiece; 6, 7 do not exist
    }
  }
  return true;
}

// The layout SentencePiece's Normalizer reads: uint32 trie size, the trie (darts-clone units),
// then NUL-terminated replacement strings that the trie's values index.
std::string check_charsmap(std::string_view blob) {
  if (blob.empty()) return "";  // no normalisation (identity)
  if (blob.size() <= 4) return "shorter than its header";
  uint32_t trie_bytes = 0;
  for (int k = 0; k < 4; ++k) trie_bytes |= static_cast<uint32_t>(static_cast<unsigned char>(blob[k])) << (8 * k);
  if (trie_bytes < 4 || trie_bytes % 4 != 0 || trie_bytes >= blob.size() - 4)
    return "trie size " + std::to_string(trie_bytes) + " does not fit its " + std::to_string(blob.size()) + " bytes";
  const std::string_view strings = blob.substr(4 + trie_bytes);
  if (strings.back() != '\0') return "replacement strings are not NUL-terminated";
  const size_t n = trie_bytes / 4;
  for (size_t i = 0; i < n; ++i) {
    uint32_t unit = 0;
    for (int k = 0; k < 4; ++k) unit |= static_cast<uint32_t>(static_cast<unsigned char>(blob[4 + 4 * i + k])) << (8 * k);
    if (unit >> 31) {  // a value: an offset into the strings
      if ((unit & 0x7fffffffu) >= strings.size()) return "trie value " + std::to_string(unit & 0x7fffffffu) + " lies outside the strings";
    } else {  // a node: its children (any next byte) and leaf sit at (i ^ offset) ^ byte
      const size_t offset = static_cast<size_t>(unit >> 10) << ((unit & (1u << 9)) >> 6);
      if (((i ^ offset) | 0xff) >= n) return "trie node " + std::to_string(i) + " points outside the trie";
    }
  }
  return "";
}

std::string check_model_bytes(std::string_view model) {
  std::string problem[2];  // normalizer_spec, denormalizer_spec: the last map of each counts
  std::string malformed;
  const bool ok = for_each_field(model, [&](uint64_t field, std::string_view spec) {
    if (field != 3 && field != 5) return;
    std::string& p = problem[field == 3 ? 0 : 1];
    const std::string which = field == 3 ? "normalizer" : "denormalizer";
    std::string_view charsmap;
    bool seen = false;
    const bool spec_ok = for_each_field(spec, [&](uint64_t f, std::string_view v) {
      if (f == 2) charsmap = v, seen = true;
    });
    if (!spec_ok) {
      malformed = which + " spec is malformed";
    } else if (seen) {
      const std::string why = check_charsmap(charsmap);
      p = why.empty() ? "" : which + " spec: normalisation map " + why;
    }
  });
  if (!ok) return "malformed protobuf";
  if (!malformed.empty()) return malformed;
  return !problem[0].empty() ? problem[0] : problem[1];
}

}  // namespace

Tokenizer::Tokenizer() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::string Tokenizer::train(const TokenizerTrainOptions& opt, std::vector<std::string> sentences) {
  if (opt.model_prefix.empty()) throw std::invalid_argument("tokenizer training needs an output prefix");
  if (opt.model_type != "unigram" && opt.model_type != "bpe")
    throw std::invalid_argument("tokenizer model type must be unigram or bpe, got '" + opt.model_type + "'");
  if (opt.vocab_size <= kNumSpecial) throw std::invalid_argument("tokenizer vocabulary size must exceed 5");
  if (sentences.empty()) throw std::runtime_error("tokenizer training: the corpus holds no text");
  if (static_cast<int64_t>(sentences.size()) > opt.max_sentences) {
    std::mt19937_64 rng(1234);
    std::shuffle(sentences.begin(), sentences.end(), rng);
    sentences.resize(static_cast<size_t>(opt.max_sentences));
  }
  const std::string args = "--model_prefix=" + opt.model_prefix + " --vocab_size=" + std::to_string(opt.vocab_size) +
                           " --model_type=" + opt.model_type +
                           " --character_coverage=" + std::to_string(opt.character_coverage) +
                           " --num_threads=" + std::to_string(std::max(1, opt.threads)) +
                           " --pad_id=0 --unk_id=1 --bos_id=-1 --eos_id=-1 --pad_piece=[PAD] --unk_piece=[UNK]"
                           " --control_symbols=[CLS],[SEP],[MASK] --max_sentence_length=20000"
                           " --hard_vocab_limit=false --minloglevel=2";
  VectorIterator it(sentences);
  // SentencePiece's trainer keeps global state (flag defaults, logging): one training at a time
  // per process (the studio's two workers can both ask for one).
  static std::mutex train_mutex;
  std::lock_guard<std::mutex> one_at_a_time(train_mutex);
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it);
  if (!status.ok()) throw std::runtime_error("tokenizer training failed: " + status.ToString());
  return opt.model_prefix + ".model";
}

Tokenizer Tokenizer::load(const std::string& path) {
  Tokenizer t;
  const std::string bytes = read_file(path);
  const std::string problem = check_model_bytes(bytes);
  if (!problem.empty()) throw std::runtime_error(path + ": not a SentencePiece model (" + problem + ")");
  sentencepiece::util::Status status;
  try {
    status = t.sp_->LoadFromSerializedProto(bytes);
  } catch (const std::exception& e) {
    // SentencePiece reports most problems as a status, but a malformed model can also make the
    // double-array trie it builds throw (e.g. "failed to insert key: zero-length key").
    throw std::runtime_error(path + ": not a usable SentencePiece model (" + e.what() + ")");
  }
  if (!status.ok()) throw std::runtime_error(path + ": not a SentencePiece model (" + status.ToString() + ")");
  const char* expected[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; i < 5; ++i)
    if (t.sp_->PieceToId(expected[i]) != i || t.sp_->GetPieceSize() <= i)
      throw std::runtime_error(path + ": special token " + expected[i] + " is not at id " + std::to_string(i) +
                               " (train the tokenizer with `mabert tokenizer train`)");
  t.path_ = path;
  return t;
}

int64_t Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

std::vector<int64_t> Tokenizer::encode_pieces(const std::string& text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) throw std::runtime_error("tokenizer: " + status.ToString());
  return {ids.begin(), ids.end()};
}

std::string Tokenizer::piece(int64_t id) const {
  if (id < 0 || id >= vocab_size()) return "<out of range>";
  return sp_->IdToPiece(static_cast<int>(id));
}

std::vector<std::string> Tokenizer::pieces(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  for (int64_t id : ids) out.push_back(piece(id));
  return out;
}

Encoding Tokenizer::encode(const std::string& a, const std::string* b, int64_t max_len) const {
  std::vector<int64_t> pa = encode_pieces(a), pb = b ? encode_pieces(*b) : std::vector<int64_t>();
  const int64_t specials = b ? 3 : 2;
  if (max_len < specials + 1) throw std::invalid_argument("max_len " + std::to_string(max_len) + " leaves no room for text");
  Encoding e;
  // Longest first: drop from the end of the longer part until both fit.
  while (static_cast<int64_t>(pa.size() + pb.size()) + specials > max_len) {
    (pa.size() >= pb.size() ? pa : pb).pop_back();
    ++e.truncated;
  }
  e.ids.push_back(kCls);
  e.ids.insert(e.ids.end(), pa.begin(), pa.end());
  e.ids.push_back(kSep);
  e.segments.assign(e.ids.size(), 0);
  if (b) {
    e.ids.insert(e.ids.end(), pb.begin(), pb.end());
    e.ids.push_back(kSep);
    e.segments.resize(e.ids.size(), 1);
  }
  return e;
}

}  // namespace mabert

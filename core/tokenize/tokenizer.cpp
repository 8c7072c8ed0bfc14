// SentencePiece training (sentences streamed from our corpus reader, so encodings and
// non-UTF-8 files are handled once, in one place), loading and BERT-style encoding.
#include "tokenize/tokenizer.h"

#include "data/corpus.h"

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

}  // namespace

Tokenizer::Tokenizer() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::string Tokenizer::train(const TokenizerTrainOptions& opt) {
  if (opt.model_prefix.empty()) throw std::invalid_argument("tokenizer training needs an output prefix");
  if (opt.model_type != "unigram" && opt.model_type != "bpe")
    throw std::invalid_argument("tokenizer model type must be unigram or bpe, got '" + opt.model_type + "'");
  if (opt.vocab_size <= kNumSpecial) throw std::invalid_argument("tokenizer vocabulary size must exceed 5");
  std::vector<std::string> sentences;
  for (auto& doc : data::read_corpus(opt.inputs))
    for (auto& s : doc.sentences) sentences.push_back(std::move(s));
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
  const auto status = t.sp_->Load(path);
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

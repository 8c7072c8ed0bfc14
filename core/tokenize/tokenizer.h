// SentencePiece tokenizer with BERT-style special tokens. Ids 0–4 are fixed:
// [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 (pad/unk pieces and control symbols of the model),
// so the .model file is a standard SentencePiece model: any SentencePiece user loads it and
// encodes text to the same ids.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace mabert {

struct Encoding {
  std::vector<int64_t> ids;       // [CLS] a [SEP] (b [SEP])
  std::vector<int64_t> segments;  // 0 for [CLS] a [SEP], 1 for b [SEP]
  int64_t truncated = 0;          // pieces dropped to fit max_len
};

struct TokenizerTrainOptions {
  std::vector<std::string> inputs;  // corpus files or folders (data::train_tokenizer reads them)
  std::string model_prefix;         // writes <prefix>.model and <prefix>.vocab
  int vocab_size = 8000;
  std::string model_type = "unigram";  // unigram | bpe
  double character_coverage = 0.9995;
  int64_t max_sentences = 1000000;     // sentences sampled for training
  int threads = 2;
};

class Tokenizer {
 public:
  static constexpr int64_t kPad = 0, kUnk = 1, kCls = 2, kSep = 3, kMask = 4, kNumSpecial = 5;

  // Trains and writes <prefix>.model / <prefix>.vocab; returns the model path.
  // Trains on these sentences (opt.inputs unused: data::train_tokenizer reads a corpus and calls
  // this, so the tokenizer depends on no corpus format).
  static std::string train(const TokenizerTrainOptions& opt, std::vector<std::string> sentences);
  // Loads a .model file; checks the special tokens sit at their fixed ids.
  static Tokenizer load(const std::string& path);

  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  int64_t vocab_size() const;
  const std::string& path() const { return path_; }

  std::vector<int64_t> encode_pieces(const std::string& text) const;  // no special tokens
  std::string piece(int64_t id) const;
  std::vector<std::string> pieces(const std::vector<int64_t>& ids) const;

  // [CLS] a [SEP] or [CLS] a [SEP] b [SEP], truncated to max_len (longest first for pairs).
  Encoding encode(const std::string& a, const std::string* b = nullptr, int64_t max_len = 512) const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string path_;
};

}  // namespace mabert

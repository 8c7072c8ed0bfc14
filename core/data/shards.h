// Token shards (docs/DATA.md): a corpus tokenized once, in parallel, into binary files that
// pretraining reads by memory mapping, so neither a process's memory nor its start-up time grows
// with the corpus, and no rank tokenizes it again. A shard folder holds, per part of the corpus
// (a file, or a piece of one cut at a blank line):
//
//   shard-NNNNN.tok    the sentences' pieces, concatenated: little-endian uint16 (vocabulary
//                      ≤ 65,536) or uint32
//   shard-NNNNN.sent   uint64 per sentence: where it ends in the .tok (so sentence i is
//                      [end[i-1], end[i]))
//   shard-NNNNN.doc    uint64 per document: how many sentences end by its end
//   shard-NNNNN.json   what the shard was made from (source, byte range, its CRC, the tokenizer's
//                      CRC) and holds (counts, sizes, CRCs): written last, it marks the shard done
//   index.json         every shard in order, the sources, the tokenizer, the totals and the
//                      held-out rule; written when every shard is done
//
// Sentences are those read_corpus gives (the same paragraph and sentence rules), each kept when
// it has at least two pieces (as the text path keeps them).
#pragma once

#include "util/mapped_file.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mabert::data {

struct PrepareOptions {
  std::vector<std::string> corpus;  // files or folders (list_corpus_files)
  std::string tokenizer;            // a SentencePiece .model
  std::string out;                  // the shard folder (created)
  int threads = 0;                  // 0: every core
  int64_t chunk_bytes = int64_t{32} << 20;  // text per shard; larger files are cut at blank lines
};

struct PrepareProgress {
  int64_t bytes_done = 0, bytes_total = 0;
  int64_t shards_done = 0, shards_total = 0, shards_reused = 0;
  double seconds = 0;
};

struct PrepareReport {
  bool complete = false;  // false when stopped: a rerun continues (finished shards are kept)
  int64_t shards = 0, reused = 0, sources = 0, bytes = 0, documents = 0, sentences = 0, tokens = 0;
  std::string dtype;      // "uint16" | "uint32"
  double seconds = 0;
  std::vector<std::string> notes;  // e.g. a part read as ISO-8859-1
};

// Tokenizes the corpus into o.out. Resumable: a shard whose .json matches its source bytes (CRC)
// and the tokenizer is kept. Refuses a folder prepared with another tokenizer, naming both.
// `progress` is called from the worker threads (serialised) after each shard.
PrepareReport prepare_shards(const PrepareOptions& o, const std::function<void(const PrepareProgress&)>& progress = {},
                             const std::atomic<bool>* stop = nullptr);

// A prepared folder, memory-mapped. Opening checks the index against every shard's file sizes
// (a truncated shard, a shard of another vocabulary width) and, when `tokenizer` is given, that
// the index was made with it: errors name the file and what differs.
class TokenShards {
 public:
  explicit TokenShards(const std::string& dir, const std::string& tokenizer = "");

  const std::string& dir() const { return dir_; }
  const std::string& tokenizer_path() const { return tokenizer_path_; }  // as the index names it
  int64_t vocab_size() const { return vocab_size_; }
  int64_t sentences() const { return sentences_; }
  int64_t tokens() const { return tokens_; }
  int bytes_per_token() const { return width_; }

  int64_t sentence_length(int64_t i) const;                       // pieces
  void sentence(int64_t i, std::vector<int64_t>* out) const;       // appends its pieces
  void token_range(int64_t begin, int64_t end, std::vector<int64_t>* out) const;  // of the concatenation

 private:
  struct Shard {
    MappedFile tok, sent;
    int64_t first_sentence = 0, first_token = 0, sentences = 0, tokens = 0;
  };
  size_t shard_of_sentence(int64_t i) const;
  size_t shard_of_token(int64_t t) const;
  uint64_t end_of(const Shard& s, int64_t local) const;
  int64_t piece(const Shard& s, int64_t local_token) const;

  std::string dir_, tokenizer_path_;
  int64_t vocab_size_ = 0, sentences_ = 0, tokens_ = 0;
  int width_ = 2;
  std::vector<Shard> shards_;
};

}  // namespace mabert::data

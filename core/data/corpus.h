// Text corpora for MLM pretraining and tokenizer training: files or folders of UTF-8 text with
// blank-line-separated documents. Hard-wrapped lines are joined into paragraphs, paragraphs
// split into sentences of their natural length. A file that is not valid UTF-8 is read as
// ISO-8859-1 (many public-domain texts are) and the fact is reported, never silently skipped.
#pragma once

#include "tokenize/tokenizer.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mabert::data {

struct CorpusDocument {
  std::string source;                  // file it came from
  std::vector<std::string> sentences;  // in order
};

struct CorpusReport {
  int64_t files = 0, documents = 0, sentences = 0, bytes = 0;
  std::vector<std::string> notes;  // e.g. "x.txt: not valid UTF-8 (first at line 12); read as ISO-8859-1"
};

// Lists the text files of `paths` (files, or folders searched recursively for *.txt, *.tokens,
// *.raw), sorted. Throws naming the path when one does not exist or nothing is found.
std::vector<std::string> list_corpus_files(const std::vector<std::string>& paths);

// Reads every document. `report` (optional) receives counts and notes.
std::vector<CorpusDocument> read_corpus(const std::vector<std::string>& paths, CorpusReport* report = nullptr);

// The documents of one text (a file, or a part of one cut at a blank line), in order, to `emit`;
// counts and notes (named by `where`) added to `rep`. read_corpus and token-shard preparation
// both read text through it.
void parse_documents(std::string text, const std::string& where, CorpusReport& rep,
                     const std::function<void(CorpusDocument&&)>& emit);

// A SentencePiece tokenizer trained on the sentences of opt.inputs (read_corpus); returns the
// .model path.
std::string train_tokenizer(const TokenizerTrainOptions& opt);

// Splits one paragraph into sentences at . ! ? followed by a space (not after a single capital
// letter or a common abbreviation), keeping the punctuation.
std::vector<std::string> split_sentences(const std::string& paragraph);

// Returns true when `s` is valid UTF-8; otherwise sets *bad_offset to the first bad byte.
bool valid_utf8(const std::string& s, size_t* bad_offset = nullptr);
std::string latin1_to_utf8(const std::string& s);

}  // namespace mabert::data

// Corpus reading: file listing, encoding checks, documents, paragraphs and sentences.
#include "data/corpus.h"

#include "util/files.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace mabert::data {
namespace fs = std::filesystem;

bool valid_utf8(const std::string& s, size_t* bad_offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xc0) == 0x80;
    if (ok && len == 2) ok = c >= 0xc2;                                           // overlong
    if (ok && len == 3) ok = !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] >= 0xa0);
    if (ok && len == 4) ok = !(c == 0xf0 && p[i + 1] < 0x90) && !(c == 0xf4 && p[i + 1] >= 0x90) && c <= 0xf4;
    if (!ok) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

std::string latin1_to_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (unsigned char c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xc0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    }
  }
  return out;
}

std::vector<std::string> list_corpus_files(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (!fs::exists(p)) throw std::runtime_error(p + ": no such file or folder");
    if (fs::is_directory(p)) {
      for (const auto& e : fs::recursive_directory_iterator(p)) {
        const auto ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".txt" || ext == ".tokens" || ext == ".raw")) files.push_back(e.path().string());
      }
    } else {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  if (files.empty()) throw std::runtime_error("no corpus files (*.txt, *.tokens, *.raw) found in the given paths");
  return files;
}

std::vector<std::string> split_sentences(const std::string& para) {
  static const char* kAbbrev[] = {"Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "vs", "etc", "Mt", "No"};
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i + 1 < para.size(); ++i) {
    const char c = para[i];
    if ((c != '.' && c != '!' && c != '?') || para[i + 1] != ' ') continue;
    // The word that ends here: skip initials ("J. Smith") and abbreviations ("Mr. Knightley").
    size_t w = i;
    while (w > start && para[w - 1] != ' ') --w;
    const std::string word = para.substr(w, i - w);
    bool abbrev = c == '.' && (word.size() == 1 || std::find(std::begin(kAbbrev), std::end(kAbbrev), word) != std::end(kAbbrev));
    if (abbrev) continue;
    out.push_back(para.substr(start, i + 1 - start));
    start = i + 2;
  }
  if (start < para.size()) out.push_back(para.substr(start));
  out.erase(std::remove_if(out.begin(), out.end(), [](const std::string& s) { return s.find_first_not_of(' ') == std::string::npos; }),
            out.end());
  return out;
}

void parse_documents(std::string text, const std::string& where, CorpusReport& rep,
                     const std::function<void(CorpusDocument&&)>& emit) {
  rep.bytes += static_cast<int64_t>(text.size());
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 byte-order mark
  size_t bad = 0;
  if (!valid_utf8(text, &bad)) {
    const int64_t line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
    rep.notes.push_back(where + ": not valid UTF-8 (first at line " + std::to_string(line) + "); read as ISO-8859-1");
    text = latin1_to_utf8(text);
  }
  // Lines → paragraphs (blank line = break) → sentences. A document is a run of paragraphs
  // between blank lines; for wrapped book text each paragraph is its own document.
  CorpusDocument doc;
  doc.source = where;
  std::string para;
  auto flush = [&] {
    if (!para.empty()) {
      for (auto& s : split_sentences(para)) doc.sentences.push_back(std::move(s));
      para.clear();
    }
    if (!doc.sentences.empty()) {
      rep.sentences += static_cast<int64_t>(doc.sentences.size());
      ++rep.documents;
      emit(std::move(doc));
      doc = CorpusDocument{where, {}};
    }
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t b = line.find_first_not_of(" \t"), e = line.find_last_not_of(" \t");
    if (b == std::string::npos) {
      flush();
    } else {
      if (!para.empty()) para.push_back(' ');
      para += line.substr(b, e - b + 1);
    }
    pos = nl + 1;
  }
  flush();
}

std::vector<CorpusDocument> read_corpus(const std::vector<std::string>& paths, CorpusReport* report) {
  CorpusReport rep;
  std::vector<CorpusDocument> docs;
  for (const auto& file : list_corpus_files(paths)) {
    ++rep.files;
    parse_documents(read_file(file), file, rep, [&](CorpusDocument&& d) { docs.push_back(std::move(d)); });
  }
  if (report) *report = rep;
  return docs;
}

std::string train_tokenizer(const TokenizerTrainOptions& opt) {
  std::vector<std::string> sentences;
  for (auto& doc : read_corpus(opt.inputs))
    for (auto& s : doc.sentences) sentences.push_back(std::move(s));
  return Tokenizer::train(opt, std::move(sentences));
}

}  // namespace mabert::data

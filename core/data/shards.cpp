// Token shards: preparation (parallel, resumable) and the memory-mapped reader.
#include "data/shards.h"

#include "data/corpus.h"
#include "tokenize/tokenizer.h"
#include "util/checksum.h"
#include "util/files.h"
#include "util/json_text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace mabert::data {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kFormat = "mabert-token-shards";
constexpr int kVersion = 1;

// A part of one source file: bytes [begin, end), cut at blank lines.
struct Unit {
  std::string file;
  int64_t begin = 0, end = 0, file_bytes = 0;
};

std::string shard_name(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05zu", i);
  return buf;
}

std::string read_range(const std::string& file, int64_t begin, int64_t end) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(file + ": cannot open: " + std::strerror(errno));
  std::string out(static_cast<size_t>(end - begin), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got, begin + static_cast<int64_t>(got));
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error(file + ": read error at byte " + std::to_string(begin + static_cast<int64_t>(got)) +
                               (n == 0 ? " (the file shrank while being read)" : std::string(": ") + std::strerror(e)));
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

// The first position at or after `from` that follows a blank line ("\n\n" or "\n\r\n"), or the
// file's end: documents never straddle it, so each part parses as the whole file would.
int64_t next_cut(const std::string& file, int64_t from, int64_t size) {
  constexpr int64_t kWindow = 1 << 20;
  for (int64_t at = std::max<int64_t>(0, from - 2); at < size; at += kWindow) {
    const std::string w = read_range(file, at, std::min(size, at + kWindow + 2));
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      if (w[i] != '\n') continue;
      const size_t j = w[i + 1] == '\n' ? i + 1 : (w[i + 1] == '\r' && i + 2 < w.size() && w[i + 2] == '\n') ? i + 2 : 0;
      if (j && at + static_cast<int64_t>(j) + 1 >= from) return at + static_cast<int64_t>(j) + 1;
    }
  }
  return size;
}

std::vector<Unit> plan_units(const std::vector<std::string>& files, int64_t chunk_bytes) {
  std::vector<Unit> units;
  for (const auto& f : files) {
    const auto size = static_cast<int64_t>(fs::file_size(f));
    for (int64_t b = 0; b < size || (b == 0 && size == 0);) {
      const int64_t e = size - b <= chunk_bytes ? size : next_cut(f, b + chunk_bytes, size);
      units.push_back({f, b, e, size});
      if (e >= size) break;
      b = e;
    }
  }
  return units;
}

// What a shard's .json records; `matches` decides whether a rerun may keep it.
struct ShardInfo {
  std::string name;
  Unit unit;
  uint32_t source_crc = 0, tokenizer_crc = 0, tok_crc = 0, sent_crc = 0;
  int width = 2;
  int64_t tokens = 0, sentences = 0, documents = 0;
  std::vector<std::string> notes;

  json to_json() const {
    return {{"name", name},           {"source", unit.file},         {"begin", unit.begin},
            {"end", unit.end},        {"source_crc", crc_hex(source_crc)}, {"tokenizer_crc", crc_hex(tokenizer_crc)},
            {"bytes_per_token", width}, {"tokens", tokens},           {"sentences", sentences},
            {"documents", documents}, {"tok_crc", crc_hex(tok_crc)}, {"sent_crc", crc_hex(sent_crc)},
            {"notes", notes}};
  }
};

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts (x86-64, aarch64)
  out.append(b, sizeof(T));
}

// Tokenizes one unit into its shard files; returns what its .json records.
ShardInfo make_shard(const std::string& out, const std::string& name, const Unit& u, const std::string& text,
                     const Tokenizer& tok, int width, uint32_t tokenizer_crc) {
  ShardInfo info;
  info.name = name, info.unit = u, info.width = width, info.tokenizer_crc = tokenizer_crc;
  info.source_crc = crc32(text.data(), text.size());
  const bool whole = u.begin == 0 && u.end == u.file_bytes;
  const std::string where = whole ? u.file : u.file + " (bytes " + std::to_string(u.begin) + "-" + std::to_string(u.end) + ")";
  std::string tokens, ends, docs;
  CorpusReport rep;
  parse_documents(text, where, rep, [&](CorpusDocument&& d) {
    int64_t kept = 0;
    for (const auto& s : d.sentences) {
      const std::vector<int64_t> p = tok.encode_pieces(s);
      if (p.size() < 2) continue;  // as the text path: at least two pieces of text
      for (int64_t id : p) width == 2 ? put(tokens, static_cast<uint16_t>(id)) : put(tokens, static_cast<uint32_t>(id));
      info.tokens += static_cast<int64_t>(p.size());
      put(ends, static_cast<uint64_t>(info.tokens));
      ++kept;
    }
    if (kept == 0) return;
    info.sentences += kept;
    ++info.documents;
    put(docs, static_cast<uint64_t>(info.sentences));
  });
  info.notes = rep.notes;
  info.tok_crc = crc32(tokens.data(), tokens.size());
  info.sent_crc = crc32(ends.data(), ends.size());
  write_file_atomic(out + "/" + name + ".tok", tokens);
  write_file_atomic(out + "/" + name + ".sent", ends);
  write_file_atomic(out + "/" + name + ".doc", docs);
  write_file_atomic(out + "/" + name + ".json", info.to_json().dump(2) + "\n");  // last: the shard is done
  return info;
}

uint32_t parse_crc(const json& j, const std::string& where, const std::string& field) {
  if (!j.contains(field) || !j[field].is_string()) throw std::runtime_error(where + ": field '" + field + "': expected 8 hex digits");
  const std::string s = j[field].get<std::string>();
  char* e = nullptr;
  const unsigned long v = std::strtoul(s.c_str(), &e, 16);
  if (s.size() != 8 || *e) throw std::runtime_error(where + ": field '" + field + "': expected 8 hex digits, got '" + s + "'");
  return static_cast<uint32_t>(v);
}

int64_t get_count(const json& j, const std::string& where, const std::string& field) {
  if (!j.contains(field) || !j[field].is_number_integer() || j[field].get<int64_t>() < 0)
    throw std::runtime_error(where + ": field '" + field + "': expected a non-negative integer");
  return j[field].get<int64_t>();
}

// A finished shard kept by a rerun: its .json matches the unit, the source bytes and the tokenizer,
// and its files have the sizes it records. Anything else is made again.
bool reusable(const std::string& out, const std::string& name, const Unit& u, uint32_t source_crc, uint32_t tokenizer_crc,
              int width, ShardInfo* info) {
  const std::string path = out + "/" + name + ".json";
  if (!fs::exists(path)) return false;
  try {
    const json j = read_json_file(path);
    if (j.value("source", "") != u.file || j.value("begin", int64_t{-1}) != u.begin || j.value("end", int64_t{-1}) != u.end ||
        parse_crc(j, path, "source_crc") != source_crc || parse_crc(j, path, "tokenizer_crc") != tokenizer_crc ||
        j.value("bytes_per_token", 0) != width)
      return false;
    info->name = name, info->unit = u, info->width = width, info->source_crc = source_crc, info->tokenizer_crc = tokenizer_crc;
    info->tokens = get_count(j, path, "tokens"), info->sentences = get_count(j, path, "sentences");
    info->documents = get_count(j, path, "documents");
    info->tok_crc = parse_crc(j, path, "tok_crc"), info->sent_crc = parse_crc(j, path, "sent_crc");
    info->notes = j.value("notes", std::vector<std::string>{});
    return fs::exists(out + "/" + name + ".tok") && static_cast<int64_t>(fs::file_size(out + "/" + name + ".tok")) == info->tokens * width &&
           fs::exists(out + "/" + name + ".sent") && static_cast<int64_t>(fs::file_size(out + "/" + name + ".sent")) == info->sentences * 8;
  } catch (const std::exception&) {
    return false;  // a damaged marker: the shard is made again
  }
}

// A folder prepared with another tokenizer is refused (its shards would mix two vocabularies).
void check_same_tokenizer(const std::string& out, uint32_t crc, const std::string& tokenizer) {
  const std::string index = out + "/index.json";
  if (!fs::exists(index)) return;
  const json j = read_json_file(index);
  if (!j.contains("tokenizer") || !j["tokenizer"].is_object()) throw std::runtime_error(index + ": field 'tokenizer': missing");
  const uint32_t was = parse_crc(j["tokenizer"], index, "crc");
  if (was != crc)
    throw std::runtime_error(index + ": prepared with the tokenizer " + j["tokenizer"].value("file", std::string("?")) + " (CRC " +
                             crc_hex(was) + "), not " + tokenizer + " (CRC " + crc_hex(crc) +
                             "); prepare into a new folder, or pass the tokenizer it was made with");
}

json index_json(const std::vector<ShardInfo>& shards, const std::string& tokenizer, const FileChecksum& tc, int64_t vocab,
                const std::vector<std::string>& files) {
  json sources = json::array();
  for (const auto& f : files) {
    json crcs = json::array();
    for (const auto& s : shards)
      if (s.unit.file == f) crcs.push_back(crc_hex(s.source_crc));
    sources.push_back({{"path", f}, {"bytes", static_cast<int64_t>(fs::file_size(f))}, {"part_crcs", crcs}});
  }
  json list = json::array();
  int64_t tokens = 0, sentences = 0, documents = 0;
  for (const auto& s : shards) {
    list.push_back({{"name", s.name}, {"source", s.unit.file}, {"begin", s.unit.begin}, {"end", s.unit.end},
                    {"tokens", s.tokens}, {"sentences", s.sentences}, {"documents", s.documents},
                    {"tok_crc", crc_hex(s.tok_crc)}, {"sent_crc", crc_hex(s.sent_crc)}});
    tokens += s.tokens, sentences += s.sentences, documents += s.documents;
  }
  const int width = shards.empty() ? 2 : shards.front().width;
  return {{"format", kFormat},
          {"version", kVersion},
          {"dtype", width == 2 ? "uint16" : "uint32"},
          {"bytes_per_token", width},
          {"vocab_size", vocab},
          {"tokenizer", {{"file", fs::absolute(tokenizer).lexically_normal().string()}, {"bytes", tc.size}, {"crc", crc_hex(tc.crc)}}},
          {"sources", sources},
          {"shards", list},
          {"totals", {{"tokens", tokens}, {"sentences", sentences}, {"documents", documents}, {"shards", shards.size()}}},
          {"held_out", {{"fraction", 0.02}, {"max", 256}}}};
}

}  // namespace

PrepareReport prepare_shards(const PrepareOptions& o, const std::function<void(const PrepareProgress&)>& progress,
                             const std::atomic<bool>* stop) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out.empty()) throw std::invalid_argument("data prepare: no output folder");
  if (o.chunk_bytes < 1024) throw std::invalid_argument("data prepare: chunk size must be at least 1 KiB");
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  const FileChecksum tc = file_checksum(o.tokenizer);
  const int64_t vocab = tok.vocab_size();
  const int width = vocab <= 65536 ? 2 : 4;
  const std::vector<std::string> files = list_corpus_files(o.corpus);
  fs::create_directories(o.out);
  check_same_tokenizer(o.out, tc.crc, o.tokenizer);
  const std::vector<Unit> units = plan_units(files, o.chunk_bytes);

  PrepareReport rep;
  rep.dtype = width == 2 ? "uint16" : "uint32";
  rep.sources = static_cast<int64_t>(files.size());
  PrepareProgress prog;
  prog.shards_total = static_cast<int64_t>(units.size());
  for (const auto& u : units) prog.bytes_total += u.end - u.begin;

  std::vector<ShardInfo> infos(units.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i; !failed && !(stop && stop->load()) && (i = next++) < units.size();) {
      try {
        const Unit& u = units[i];
        const std::string name = shard_name(i);
        const std::string text = read_range(u.file, u.begin, u.end);
        const bool kept = reusable(o.out, name, u, crc32(text.data(), text.size()), tc.crc, width, &infos[i]);
        if (!kept) infos[i] = make_shard(o.out, name, u, text, tok, width, tc.crc);
        std::lock_guard<std::mutex> lock(mu);
        prog.bytes_done += u.end - u.begin;
        ++prog.shards_done;
        prog.shards_reused += kept;
        prog.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (progress) progress(prog);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failure) failure = std::current_exception();
        failed = true;
      }
    }
  };
  const int n = std::max(1, std::min<int>(o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency()),
                                          static_cast<int>(units.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);

  rep.shards = prog.shards_done, rep.reused = prog.shards_reused, rep.bytes = prog.bytes_done;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (prog.shards_done < prog.shards_total) return rep;  // stopped: the finished shards stay for a rerun
  for (const auto& s : infos) {
    rep.tokens += s.tokens, rep.sentences += s.sentences, rep.documents += s.documents;
    rep.notes.insert(rep.notes.end(), s.notes.begin(), s.notes.end());
  }
  if (rep.sentences == 0) throw std::runtime_error("data prepare: the corpus gave no sentences of two or more pieces");
  write_file_atomic(o.out + "/index.json", index_json(infos, o.tokenizer, tc, vocab, files).dump(2) + "\n");
  rep.complete = true;
  return rep;
}

// ---- reading ---------------------------------------------------------------------------------

TokenShards::TokenShards(const std::string& dir, const std::string& tokenizer) : dir_(dir) {
  const std::string index = dir + "/index.json";
  if (!fs::exists(index))
    throw std::runtime_error(index + ": not found (a folder made by `mabert data prepare`, complete: index.json is written last)");
  const json j = read_json_file(index);
  auto bad = [&](const std::string& field, const std::string& what) -> std::runtime_error {
    return std::runtime_error(index + ": field '" + field + "': " + what);
  };
  if (j.value("format", "") != kFormat) throw bad("format", std::string("expected \"") + kFormat + "\"");
  if (j.value("version", 0) != kVersion) throw bad("version", "expected " + std::to_string(kVersion));
  const int64_t w = get_count(j, index, "bytes_per_token");
  if (w != 2 && w != 4) throw bad("bytes_per_token", "expected 2 or 4");
  width_ = static_cast<int>(w);
  vocab_size_ = get_count(j, index, "vocab_size");
  if (vocab_size_ > (width_ == 2 ? 65536 : int64_t{1} << 32)) throw bad("vocab_size", "does not fit " + std::to_string(w) + " bytes per token");
  if (!j.contains("tokenizer") || !j["tokenizer"].is_object()) throw bad("tokenizer", "missing");
  tokenizer_path_ = j["tokenizer"].value("file", "");
  if (!tokenizer.empty()) {
    const uint32_t want = parse_crc(j["tokenizer"], index, "crc"), have = file_checksum(tokenizer).crc;
    if (want != have)
      throw std::runtime_error(index + ": made with the tokenizer " + tokenizer_path_ + " (CRC " + crc_hex(want) + "), but " +
                               tokenizer + " has CRC " + crc_hex(have) + ": the ids would mean other pieces");
  }
  if (!j.contains("shards") || !j["shards"].is_array() || j["shards"].empty()) throw bad("shards", "expected a non-empty array");
  for (size_t k = 0; k < j["shards"].size(); ++k) {
    const json& s = j["shards"][k];
    const std::string where = index + ": shards[" + std::to_string(k) + "]";
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string()) throw std::runtime_error(where + ": expected {\"name\": ...}");
    const std::string name = s["name"].get<std::string>();
    if (name.find('/') != std::string::npos || name.find("..") != std::string::npos) throw std::runtime_error(where + ": a bad shard name");
    Shard sh;
    sh.tokens = get_count(s, where, "tokens"), sh.sentences = get_count(s, where, "sentences");
    sh.first_sentence = sentences_, sh.first_token = tokens_;
    sh.tok = MappedFile(dir + "/" + name + ".tok");
    sh.sent = MappedFile(dir + "/" + name + ".sent");
    const auto want_tok = static_cast<size_t>(sh.tokens * width_), want_sent = static_cast<size_t>(sh.sentences * 8);
    if (sh.tok.size() != want_tok)
      throw std::runtime_error(sh.tok.path() + ": " + std::to_string(sh.tok.size()) + " bytes, but the index says " +
                               std::to_string(sh.tokens) + " tokens of " + std::to_string(width_) + " bytes (" +
                               std::to_string(want_tok) + ": " +
                               (sh.tok.size() < want_tok && sh.tok.size() * 2 != want_tok ? "truncated" : "a shard of another vocabulary width?") + ")");
    if (sh.sent.size() != want_sent)
      throw std::runtime_error(sh.sent.path() + ": " + std::to_string(sh.sent.size()) + " bytes, but the index says " +
                               std::to_string(sh.sentences) + " sentences (" + std::to_string(want_sent) + " bytes)");
    if (sh.sentences > 0 && end_of(sh, sh.sentences - 1) != static_cast<uint64_t>(sh.tokens))
      throw std::runtime_error(sh.sent.path() + ": the last sentence ends at " + std::to_string(end_of(sh, sh.sentences - 1)) +
                               ", not at the shard's " + std::to_string(sh.tokens) + " tokens");
    sentences_ += sh.sentences, tokens_ += sh.tokens;
    shards_.push_back(std::move(sh));
  }
}

uint64_t TokenShards::end_of(const Shard& s, int64_t local) const {
  uint64_t v;
  std::memcpy(&v, s.sent.data() + 8 * local, 8);
  return v;
}

int64_t TokenShards::piece(const Shard& s, int64_t t) const {
  int64_t id;
  if (width_ == 2) {
    uint16_t v;
    std::memcpy(&v, s.tok.data() + 2 * t, 2);
    id = v;
  } else {
    uint32_t v;
    std::memcpy(&v, s.tok.data() + 4 * t, 4);
    id = v;
  }
  if (id >= vocab_size_)
    throw std::runtime_error(s.tok.path() + ": token " + std::to_string(t) + " is id " + std::to_string(id) + ", outside the vocabulary of " +
                             std::to_string(vocab_size_) + " (a damaged shard)");
  return id;
}

size_t TokenShards::shard_of_sentence(int64_t i) const {
  if (i < 0 || i >= sentences_) throw std::out_of_range(dir_ + ": sentence " + std::to_string(i) + " of " + std::to_string(sentences_));
  const auto it = std::upper_bound(shards_.begin(), shards_.end(), i, [](int64_t v, const Shard& s) { return v < s.first_sentence; });
  return static_cast<size_t>(it - shards_.begin()) - 1;
}

size_t TokenShards::shard_of_token(int64_t t) const {
  const auto it = std::upper_bound(shards_.begin(), shards_.end(), t, [](int64_t v, const Shard& s) { return v < s.first_token; });
  return static_cast<size_t>(it - shards_.begin()) - 1;
}

int64_t TokenShards::sentence_length(int64_t i) const {
  const Shard& s = shards_[shard_of_sentence(i)];
  const int64_t local = i - s.first_sentence;
  const uint64_t b = local ? end_of(s, local - 1) : 0, e = end_of(s, local);
  if (b > e || e > static_cast<uint64_t>(s.tokens))
    throw std::runtime_error(s.sent.path() + ": sentence " + std::to_string(local) + " spans [" + std::to_string(b) + ", " +
                             std::to_string(e) + "), outside the shard's " + std::to_string(s.tokens) + " tokens (a damaged shard)");
  return static_cast<int64_t>(e - b);
}

void TokenShards::sentence(int64_t i, std::vector<int64_t>* out) const {
  const Shard& s = shards_[shard_of_sentence(i)];
  const int64_t local = i - s.first_sentence, n = sentence_length(i);
  const auto b = static_cast<int64_t>(local ? end_of(s, local - 1) : 0);
  for (int64_t t = b; t < b + n; ++t) out->push_back(piece(s, t));
}

void TokenShards::token_range(int64_t begin, int64_t end, std::vector<int64_t>* out) const {
  if (begin < 0 || end > tokens_ || begin > end)
    throw std::out_of_range(dir_ + ": tokens [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " + std::to_string(tokens_));
  for (int64_t t = begin; t < end;) {
    const Shard& s = shards_[shard_of_token(t)];
    const int64_t stop = std::min(end, s.first_token + s.tokens);
    for (; t < stop; ++t) out->push_back(piece(s, t - s.first_token));
  }
}

}  // namespace mabert::data

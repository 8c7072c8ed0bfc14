// One driver per reader of outside input: it hands the bytes to the reader exactly as a user's
// file would reach it (written to a scratch file when the reader takes a path), and checks the
// reader's contract:
//   - bad input ends in a std::exception whose message names the file (never another exception
//     type: no nlohmann::json::exception, std::out_of_range from .at(), c10::Error, bad_alloc);
//   - good input gives a result that keeps the reader's invariants (checked per reader);
//   - nothing aborts, reads out of bounds or leaks (AddressSanitizer and UBSan watch that).
// A broken contract is a "finding": the fuzz targets (fuzz_<reader>.cpp) abort so libFuzzer
// keeps the input; test_readers (the normal build) turns it into a test failure.
#pragma once

#include "data/corpus.h"
#include "data/glue.h"
#include "experiments/grid.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "runs/registry.h"
#include "tokenize/tokenizer.h"
#include "train/metrics.h"
#include "util/files.h"
#include "util/json_text.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace mabert::fuzz {

struct Finding {
  std::string what;
};

// true in the fuzz targets (abort: libFuzzer saves the input), false in test_readers (throw).
inline bool& abort_on_finding() {
  static bool abort_it = true;
  return abort_it;
}

[[noreturn]] inline void finding(const std::string& what) {
  if (abort_on_finding()) {
    std::fprintf(stderr, "\n*** reader contract broken: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
  }
  throw Finding{what};
}

// A private scratch folder per process, under $MABERT_FUZZ_SCRATCH (scripts/hardening.sh sets
// it and removes it: libFuzzer often ends without running atexit handlers), else in /dev/shm
// (in memory) or /tmp; removed at a normal exit.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* parent = std::getenv("MABERT_FUZZ_SCRATCH");
    std::string tmpl = (parent && *parent ? std::string(parent) : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                       std::string("/mabert-fuzz-XXXXXX");
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    static std::string for_exit = tmpl;
    std::atexit([] { remove_tree(for_exit); });
    return tmpl;
  }();
  return dir;
}

inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

inline std::string head(const std::string& s, size_t n = 300) { return s.size() > n ? s.substr(0, n) + "..." : s; }

// Runs `read` on input that came from `file`. Returns true when it succeeded, false when it
// failed cleanly (a std::exception naming the file); anything else is a finding.
template <typename F>
bool read_cleanly(const std::string& file, F&& read) {
  try {
    read();
    return true;
  } catch (const Finding&) {
    throw;
  } catch (const nlohmann::json::exception& e) {
    finding(std::string("a nlohmann::json exception escaped the reader: ") + e.what());
  } catch (const std::bad_alloc&) {
    finding("std::bad_alloc: the reader tried an allocation sized by the input");
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    if (msg.find(file) == std::string::npos)
      finding(std::string("the error does not name the file ") + file + " (" + typeid(e).name() + "): " + head(msg));
    return false;
  } catch (...) {
    finding("an exception not derived from std::exception escaped the reader");
  }
}

// Every string a reader hands on is shown or written as JSON somewhere.
inline void require_dumpable(const nlohmann::json& j, const std::string& what) {
  try {
    (void)j.dump();
  } catch (const std::exception& e) {
    finding(what + " cannot be written as JSON: " + e.what());
  }
}

// ---- model config JSON ------------------------------------------------------------------------
inline void drive_config(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string file = scratch_dir() + "/config.json";
  ModelConfig c;
  if (!read_cleanly(file, [&] { c = parse_model_config(text, file); })) return;
  // A config that loads is valid and survives a save/load round trip unchanged.
  const std::string saved = c.to_json().dump(2);
  ModelConfig again;
  try {
    c.validate(file);
    (void)c.layers();
    again = parse_model_config(saved, "round-trip");
  } catch (const std::exception& e) {
    finding(std::string("a loaded config does not survive save + load: ") + e.what() + "\n" + head(saved));
  }
  if (again.to_json().dump(2) != saved) finding("save + load changed the config:\n" + head(saved));
}

// ---- ablation grid JSON -------------------------------------------------------------------------
inline void drive_grid(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("grid.json", std::string_view(reinterpret_cast<const char*>(data), size));
  experiments::Grid g;
  if (!read_cleanly(path, [&] { g = experiments::Grid::load(path); })) return;
  // What run_grid does first with a loaded grid: every variant's config and encoder key.
  if (g.variants.empty() || g.tasks.empty() || g.seeds.empty()) finding("a grid loaded without variants, tasks or seeds");
  for (const auto& v : g.variants) {
    try {
      (void)experiments::variant_config(g, v);
      (void)experiments::encoder_key(g, v);
    } catch (const std::exception& e) {
      finding("variant '" + v.name + "' of a loaded grid fails: " + e.what());
    }
  }
  (void)experiments::results_markdown(g, {});
  (void)experiments::results_csv(g, {});
}

// ---- GLUE TSV -----------------------------------------------------------------------------------
// Input: byte 0 picks the task, byte 1 the split, the rest is the file.
inline void drive_glue(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const auto names = data::glue_task_names();
  const data::GlueTask& task = data::glue_task(names[data[0] % names.size()]);
  const std::string split = task.splits[data[1] % task.splits.size()];
  const std::string dir = scratch_dir() + "/glue";
  static const bool made = [&] { return ::mkdir(dir.c_str(), 0755) == 0; }();
  (void)made;
  const std::string file = dir + "/" + split + ".tsv";
  write_scratch("glue/" + split + ".tsv", std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2));
  data::GlueSplit s;
  if (!read_cleanly(file, [&] { s = data::load_glue(task.name, dir, split); })) return;
  int64_t last_line = 0;
  for (const auto& ex : s.examples) {
    if (ex.line <= last_line) finding("example line numbers do not increase");
    last_line = ex.line;
    if (!s.labelled) {
      if (ex.label != -1) finding("an unlabelled split has a label");
    } else if (task.regression) {
      if (!(ex.label >= 0 && ex.label <= 5)) finding("an STS-B score outside [0, 5]: " + std::to_string(ex.label));
    } else if (!(ex.label >= 0 && ex.label < static_cast<double>(task.labels.size()) && ex.label == std::floor(ex.label))) {
      finding("a class label outside the task's labels: " + std::to_string(ex.label));
    }
    if (!task.pair && !ex.b.empty()) finding("a single-sentence task has a second text");
  }
}

// ---- corpus text --------------------------------------------------------------------------------
inline void drive_corpus(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("corpus.txt", std::string_view(reinterpret_cast<const char*>(data), size));
  std::vector<data::CorpusDocument> docs;
  data::CorpusReport rep;
  if (!read_cleanly(path, [&] { docs = data::read_corpus({path}, &rep); })) return;
  if (rep.files != 1 || rep.bytes != static_cast<int64_t>(size)) finding("the report's file or byte count is wrong");
  int64_t sentences = 0;
  for (const auto& d : docs) {
    if (d.sentences.empty()) finding("a document without sentences");
    for (const auto& s : d.sentences) {
      // Whatever the file's encoding, what goes on to the tokenizer is valid UTF-8 text.
      if (!data::valid_utf8(s)) finding("a sentence is not valid UTF-8: " + head(s, 80));
      if (s.find_first_not_of(' ') == std::string::npos) finding("a blank sentence");
    }
    sentences += static_cast<int64_t>(d.sentences.size());
  }
  if (sentences != rep.sentences || static_cast<int64_t>(docs.size()) != rep.documents) finding("the report's counts are wrong");
}

// ---- safetensors --------------------------------------------------------------------------------
inline void drive_safetensors(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string where = scratch_dir() + "/model.safetensors";
  SafetensorsFile f;
  if (!read_cleanly(where, [&] { f = parse_safetensors(bytes, where); })) return;
  uint64_t total = 0;
  for (const auto& [name, t] : f.tensors) total += static_cast<uint64_t>(t.numel()) * t.element_size();
  if (total > size) finding("the tensors hold more bytes than the file");
  // What loads also saves, and loads back to the same names, dtypes, shapes and bytes.
  const std::string path = scratch_dir() + "/round-trip.safetensors";
  SafetensorsFile again;
  try {
    save_safetensors(path, f.tensors, f.metadata);
    again = load_safetensors(path);
  } catch (const std::exception& e) {
    finding(std::string("a file that loads does not survive save + load: ") + e.what());
  }
  if (again.tensors.size() != f.tensors.size() || again.metadata != f.metadata) finding("save + load changed the file");
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    const at::Tensor &a = f.tensors[i].second, &b = again.tensors[i].second;
    if (f.tensors[i].first != again.tensors[i].first || a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes() ||
        (a.numel() > 0 && std::memcmp(a.data_ptr(), b.data_ptr(), static_cast<size_t>(a.numel()) * a.element_size()) != 0))
      finding("save + load changed tensor '" + f.tensors[i].first + "'");
  }
}

// ---- SentencePiece model file -------------------------------------------------------------------
inline void drive_tokenizer(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("tokenizer.model", std::string_view(reinterpret_cast<const char*>(data), size));
  Tokenizer tok;
  if (!read_cleanly(path, [&] { tok = Tokenizer::load(path); })) return;
  // A model that loads encodes text (invalid UTF-8 included) to ids inside its vocabulary.
  const int64_t vocab = tok.vocab_size();
  const std::string a = "The cat sat on the mat. \xC3\xA9t\xC3\xA9, \xFF\xFE broken \xE2\x82";
  const std::string b = "A second sentence, with digits 12345 and [MASK] text.";
  try {
    const Encoding e = tok.encode(a, &b, 64);
    if (e.ids.size() != e.segments.size() || e.ids.size() > 64) finding("encode broke its length contract");
    for (int64_t id : e.ids)
      if (id < 0 || id >= vocab) finding("encode gave id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(vocab));
    for (int64_t id = 0; id < std::min<int64_t>(vocab, 64); ++id) (void)tok.piece(id);
  } catch (const Finding&) {
    throw;
  } catch (const std::exception& e) {
    // Encoding errors are reported by SentencePiece as a status; a loaded model must encode.
    finding(std::string("a model that loads cannot encode: ") + e.what());
  }
}

// ---- run registry (SQLite) ----------------------------------------------------------------------
// Input: a database file (it starts with SQLite's magic), or rows for the runs table: lines of
// 8 tab-separated fields (id kind task status created updated config metrics), where a field
// "\N" is NULL, "\i<n>" an integer, "\f<x>" a real and "\x<bytes>" a blob; anything else is text.
namespace detail {
inline void bind_field(sqlite3_stmt* st, int i, const std::string& f) {
  if (f == "\\N") sqlite3_bind_null(st, i);
  else if (f.rfind("\\i", 0) == 0) sqlite3_bind_int64(st, i, std::strtoll(f.c_str() + 2, nullptr, 10));
  else if (f.rfind("\\f", 0) == 0) sqlite3_bind_double(st, i, std::strtod(f.c_str() + 2, nullptr));
  else if (f.rfind("\\x", 0) == 0) sqlite3_bind_blob(st, i, f.data() + 2, static_cast<int>(f.size() - 2), SQLITE_TRANSIENT);
  else sqlite3_bind_text(st, i, f.data(), static_cast<int>(f.size()), SQLITE_TRANSIENT);
}
}  // namespace detail

// The database lives in memory (SQLite's memdb VFS, shared by every connection of this process
// while one is open): no file, journal or sync per input, the registry's own code unchanged
// (runs::Registry opens the URI). A database-file input is copied into it page for page by
// SQLite's backup API, damaged pages included.
inline void drive_registry(const uint8_t* data, size_t size) {
  const std::string db = "file:/mabert-fuzz-registry?vfs=memdb";
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool db_file = input.rfind(std::string_view("SQLite format 3\0", 16), 0) == 0;
  sqlite3* h = nullptr;  // holds the shared in-memory database for this input
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, nullptr) != SQLITE_OK)
    finding("cannot open the in-memory database");
  struct Close {
    sqlite3* h;
    ~Close() { sqlite3_close(h); }  // the last connection closed frees the database
  } close_it{h};
  if (db_file) {
    sqlite3* src = nullptr;
    sqlite3_open(":memory:", &src);
    auto* copy = static_cast<unsigned char*>(sqlite3_malloc64(size));
    if (!copy) finding("out of memory");
    std::memcpy(copy, data, size);
    const int rc = sqlite3_deserialize(src, "main", copy, static_cast<sqlite3_int64>(size), static_cast<sqlite3_int64>(size),
                                       SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    bool copied = false;
    if (rc == SQLITE_OK) {
      if (sqlite3_backup* b = sqlite3_backup_init(h, "main", src, "main")) {
        copied = sqlite3_backup_step(b, -1) == SQLITE_DONE;
        sqlite3_backup_finish(b);
      }
    }
    sqlite3_close(src);
    if (!copied) return;  // SQLite could not read it as a database at all: nothing to list
  } else {
    try {
      runs::Registry fresh(db);  // creates the schema
    } catch (const std::exception& e) {
      finding(std::string("a new registry cannot be created: ") + e.what());
    }
    sqlite3_exec(h, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(h, "INSERT OR REPLACE INTO runs(id, kind, task, status, created, updated, config, metrics) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
                       -1, &st, nullptr);
    size_t pos = 0;
    for (int row = 0; row < 64 && pos < input.size(); ++row) {
      size_t nl = input.find('\n', pos);
      if (nl == std::string_view::npos) nl = input.size();
      const std::string line(input.substr(pos, nl - pos));
      pos = nl + 1;
      std::vector<std::string> f;
      for (size_t s = 0;;) {
        const size_t tab = line.find('\t', s);
        f.push_back(line.substr(s, tab == std::string::npos ? std::string::npos : tab - s));
        if (tab == std::string::npos) break;
        s = tab + 1;
      }
      f.resize(8, "\\N");
      sqlite3_reset(st);
      for (int i = 0; i < 8; ++i) detail::bind_field(st, i + 1, f[static_cast<size_t>(i)]);
      sqlite3_step(st);  // rows the schema refuses (NULL kind, ...) are simply not there
    }
    sqlite3_finalize(st);
    sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr);
  }
  // What `mabert runs list [--json]` and the studio's history do with the rows.
  std::vector<runs::RunRecord> all;
  std::unique_ptr<runs::Registry> reg;
  if (!read_cleanly(db, [&] {
        reg = std::make_unique<runs::Registry>(db);
        all = reg->list();
        (void)reg->list("pretrain");
      }))
    return;
  for (const auto& r : all) {
    require_dumpable({{"id", r.id}, {"kind", r.kind}, {"task", r.task}, {"status", r.status}, {"created", r.created},
                      {"updated", r.updated}, {"config", r.config}, {"metrics", r.metrics}},
                     "run '" + head(r.id, 80) + "'");
    std::optional<runs::RunRecord> again;
    if (!read_cleanly(db, [&] { again = reg->get(r.id); })) continue;
    // An id is found again unless it holds a NUL or invalid UTF-8 the reader had to replace, or
    // the file is a damaged database (SQLite does not check a table against its index on reads).
    if (!again && !db_file && r.id.find('\0') == std::string::npos && r.id.find("\xEF\xBF\xBD") == std::string::npos)
      finding("a listed run is not found by its id: " + head(r.id, 80));
  }
}

// ---- metrics.jsonl ------------------------------------------------------------------------------
inline void drive_metrics(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("metrics.jsonl", std::string_view(reinterpret_cast<const char*>(data), size));
  train::MetricsLog log;
  if (!read_cleanly(path, [&] { log = train::read_metrics_log(path); })) return;
  int64_t lines = 0;
  for (size_t i = 0; i < size; ++i) lines += data[i] == '\n';
  if (size > 0 && data[size - 1] != '\n') ++lines;
  int64_t last = 0;
  for (const auto& r : log.records) {
    if (r.line <= last || r.line > lines) finding("record line numbers are out of order or past the end");
    last = r.line;
    if (r.step < 0 || r.event.empty()) finding("a record without a step or event");
  }
  for (const auto& n : log.notes)
    if (n.find(path) == std::string::npos) finding("a note does not name the file: " + n);
  if (static_cast<int64_t>(log.records.size() + log.notes.size()) > lines) finding("more records and notes than lines");
}

}  // namespace mabert::fuzz

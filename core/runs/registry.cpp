// SQLite-backed run registry.
#include "runs/registry.h"

#include "util/json_text.h"

#include <sqlite3.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <stdexcept>

namespace mabert::runs {
namespace {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql, const std::string& where) : where_(where) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      throw std::runtime_error(where + ": " + sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  void bind(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.c_str(), -1, SQLITE_TRANSIENT); }
  int step() { return sqlite3_step(s_); }
  int type(int i) const { return sqlite3_column_type(s_, i); }
  // A column as text. The database is a file anyone can write to, so what comes back is made
  // valid UTF-8 (invalid bytes become U+FFFD): every consumer shows it or dumps it as JSON,
  // and nlohmann's dump() throws on invalid UTF-8. Embedded NUL bytes are kept.
  std::string text(int i) const {
    const auto* t = sqlite3_column_text(s_, i);
    if (!t) return "";
    const std::string_view v(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(s_, i)));
    return is_valid_utf8(v) ? std::string(v) : to_valid_utf8(v);
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  std::string where_;
};

// config and metrics columns: JSON as written by upsert. Anything else (hand-edited, another
// program, too deeply nested to dump safely) is kept as the text it is, never an exception.
nlohmann::json parse_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  try {
    return parse_json_text(s);
  } catch (const JsonTextError&) {
    return s;  // keep what is there, as text (already valid UTF-8)
  }
}

// The current row as a record. Columns the schema declares NOT NULL, and the id, can still be
// NULL or a number in a damaged or foreign database: an error naming the file and field.
RunRecord record(const Stmt& s, const std::string& path) {
  static const char* names[] = {"id", "kind", "task", "status", "created", "updated", "config", "metrics"};
  for (int i : {0, 1, 3})
    if (s.type(i) != SQLITE_TEXT)
      throw std::runtime_error(path + ": a run's field '" + names[i] + "' is " + (s.type(i) == SQLITE_NULL ? "NULL" : "not text") +
                               (i == 0 ? "" : " (run '" + printable(s.text(0)) + "')") + "; the run registry is damaged or not ours");
  return RunRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), parse_or_null(s.text(6)), parse_or_null(s.text(7))};
}

}  // namespace

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Registry::default_path() {
  if (const char* p = std::getenv("MABERT_REGISTRY")) return p;
  std::string base;
  if (const char* x = std::getenv("XDG_DATA_HOME")) base = x;
  else if (const char* h = std::getenv("HOME")) base = std::string(h) + "/.local/share";
  else base = ".";
  return base + "/mabert/runs.db";
}

Registry::Registry(const std::string& path) : path_(path) {
  // A SQLite URI ("file:/name?vfs=memdb", an in-memory database several connections share)
  // opens as one; anything else is a file path whose folder is created.
  const bool uri = path.rfind("file:", 0) == 0;
  if (!uri) {
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
  }
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | (uri ? SQLITE_OPEN_URI : 0);
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(path + ": cannot open the run registry: " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  char* err = nullptr;
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS runs ("
      " id TEXT PRIMARY KEY, kind TEXT NOT NULL, task TEXT, status TEXT NOT NULL,"
      " created TEXT NOT NULL, updated TEXT NOT NULL, config TEXT, metrics TEXT);";
  if (sqlite3_exec(db_, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "?";
    sqlite3_free(err);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(path + ": not a usable run registry: " + msg);
  }
}

Registry::~Registry() { sqlite3_close(db_); }

void Registry::upsert(const RunRecord& r) {
  Stmt s(db_,
         "INSERT INTO runs(id, kind, task, status, created, updated, config, metrics) VALUES(?1,?2,?3,?4,?5,?5,?6,?7) "
         "ON CONFLICT(id) DO UPDATE SET kind=?2, task=?3, status=?4, updated=?5, config=?6, metrics=?7",
         path_);
  s.bind(1, r.id);
  s.bind(2, r.kind);
  s.bind(3, r.task);
  s.bind(4, r.status);
  s.bind(5, now_iso8601());
  s.bind(6, r.config.is_null() ? "" : r.config.dump());
  s.bind(7, r.metrics.is_null() ? "" : r.metrics.dump());
  if (s.step() != SQLITE_DONE) throw std::runtime_error(path_ + ": writing run '" + r.id + "' failed: " + sqlite3_errmsg(db_));
}

std::optional<RunRecord> Registry::get(const std::string& id) const {
  Stmt s(db_, "SELECT id, kind, task, status, created, updated, config, metrics FROM runs WHERE id=?1", path_);
  s.bind(1, id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) throw std::runtime_error(path_ + ": reading the run registry failed: " + sqlite3_errmsg(db_));
  return record(s, path_);
}

std::vector<RunRecord> Registry::list(const std::string& kind) const {
  Stmt s(db_,
         kind.empty() ? "SELECT id, kind, task, status, created, updated, config, metrics FROM runs ORDER BY created DESC, id"
                      : "SELECT id, kind, task, status, created, updated, config, metrics FROM runs WHERE kind=?1 ORDER BY created DESC, id",
         path_);
  if (!kind.empty()) s.bind(1, kind);
  std::vector<RunRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(record(s, path_));
  if (rc != SQLITE_DONE) throw std::runtime_error(path_ + ": reading the run registry failed: " + sqlite3_errmsg(db_));
  return out;
}

std::string Placement::text() const {
  return world_size == 1 ? "1" : std::to_string(world_size) + " (" + backend + ")";
}

Placement placement_of(const RunRecord& r) {
  Placement p;
  const nlohmann::json& c = r.config;
  if (!c.is_object()) return p;
  if (c.contains("world_size") && c["world_size"].is_number_integer()) p.world_size = c["world_size"].get<int64_t>();
  if (c.contains("backend") && c["backend"].is_string()) p.backend = c["backend"].get<std::string>();
  return p;
}

}  // namespace mabert::runs

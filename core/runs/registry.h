// The run registry both front ends share: one SQLite database recording every run (kind, task,
// status, configuration, metrics, folder), so runs can be listed and compared later. Safe for
// several processes at once (WAL journal, busy timeout).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace mabert::runs {

struct RunRecord {
  std::string id;       // the run folder's absolute path doubles as its id
  std::string kind;     // pretrain | finetune | eval | ...
  std::string task;
  std::string status;   // running | finished | stopped | early_stopped | diverged | failed
  std::string created, updated;  // ISO-8601 UTC
  nlohmann::json config, metrics;
};

// How many processes trained a run and over which backend ("none" for one process), from its
// row's config; rows written before data parallelism existed read as one process.
struct Placement {
  int64_t world_size = 1;
  std::string backend = "none";
  std::string text() const;  // "1" or "2 (gloo)"
};
Placement placement_of(const RunRecord& r);

class Registry {
 public:
  // Opens (creating if needed) the database: a file path, or a SQLite URI starting "file:"
  // (the fuzz harness uses "file:/name?vfs=memdb", in memory). Errors name the file.
  explicit Registry(const std::string& path);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The default location: $MABERT_REGISTRY, else $XDG_DATA_HOME/mabert/runs.db, else ~/.local/share/mabert/runs.db.
  static std::string default_path();

  void upsert(const RunRecord& r);  // sets `updated`, keeps `created`
  std::optional<RunRecord> get(const std::string& id) const;
  std::vector<RunRecord> list(const std::string& kind = "") const;  // newest first
  const std::string& path() const { return path_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

std::string now_iso8601();

}  // namespace mabert::runs

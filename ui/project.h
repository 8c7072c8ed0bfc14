// Projects: the whole setup (design, data, training options, analysis inputs, selected run) as
// one JSON file, saved atomically; the last session is autosaved and restored on start. Also
// where the studio finds its resources, the shared data and its own data folder.
#pragma once

#include <nlohmann/json.hpp>

#include <QString>

namespace mabert::ui {

inline constexpr const char* kProjectFormat = "mabert-studio-project";
inline constexpr int kProjectVersion = 1;

// Writes atomically (temp file + rename). Throws std::runtime_error naming the file.
void save_project(const QString& path, const nlohmann::json& project);
// Reads and checks the envelope: format, version and the type of each top-level section.
// Throws std::runtime_error naming the file and the field at fault.
nlohmann::json load_project(const QString& path);

// $MABERT_RESOURCES, else the source tree's resources/ (compiled in), else next to the binary.
QString resources_dir();
// The shipped demo corpus.
QString demo_corpus();
// $MABERT_SHARED_DATA, else ../shared/data beside the source tree when present; empty if none.
QString shared_data_dir();
// The studio's own folder for runs and scratch files (per user).
QString studio_data_dir();
// Where the last session is autosaved.
QString autosave_path();

}  // namespace mabert::ui

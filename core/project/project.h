// Studio projects: the whole setup (design, data, training options, analysis inputs, the loaded
// run) as one JSON file, saved atomically. The format lives here, Qt-free, so the studio, the
// tests and the fuzz target read it through one reader.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace mabert::project {

inline constexpr const char* kFormat = "mabert-studio-project";
inline constexpr int kVersion = 1;

// Writes atomically (temp file + rename), with the format and version added; creates the folder.
// Throws std::runtime_error naming the file.
void save(const std::string& path, const nlohmann::json& project);
// Reads and checks the envelope: format, version and the type of each top-level section.
// Throws std::runtime_error naming the file and the field at fault.
nlohmann::json load(const std::string& path);

}  // namespace mabert::project

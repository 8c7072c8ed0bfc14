#include "project/project.h"

#include "util/files.h"
#include "util/json_text.h"

#include <filesystem>
#include <stdexcept>

namespace mabert::project {
namespace fs = std::filesystem;

void save(const std::string& path, const nlohmann::json& project) {
  nlohmann::json j = project;
  j["format"] = kFormat;
  j["version"] = kVersion;
  const fs::path dir = fs::absolute(path).parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw std::runtime_error(path + ": cannot create the folder");
  write_file_atomic(path, j.dump(2) + "\n");
}

nlohmann::json load(const std::string& p) {
  nlohmann::json j = read_json_file(p);
  if (!j.is_object()) throw std::runtime_error(p + ": expected a JSON object");
  if (!j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>() != kFormat)
    throw std::runtime_error(p + ": field 'format': expected \"" + kFormat + "\" (not a MaBERT Studio project)");
  // Compared as the JSON integer it is: get<int>() would wrap 2^32 + 1 into 1.
  const nlohmann::json& version = j.contains("version") ? j["version"] : nlohmann::json();
  if (!version.is_number_unsigned() || version.get<uint64_t>() < 1 || version.get<uint64_t>() > static_cast<uint64_t>(kVersion))
    throw std::runtime_error(p + ": field 'version': expected an integer from 1 to " + std::to_string(kVersion));
  for (const char* section : {"design", "data", "analysis"})
    if (j.contains(section) && !j[section].is_object())
      throw std::runtime_error(p + ": field '" + section + "': expected an object");
  if (j.contains("run") && !j["run"].is_string()) throw std::runtime_error(p + ": field 'run': expected a string");
  return j;
}

}  // namespace mabert::project

// The driver for studio project files (project::load, core/project); see
// drivers.h for the contract it checks.
#pragma once

#include "drivers.h"
#include "project/project.h"

namespace mabert::fuzz {

inline void drive_project(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("session.mabert.json", std::string_view(reinterpret_cast<const char*>(data), size));
  nlohmann::json j;
  if (!read_cleanly(path, [&] { j = project::load(path); })) return;
  // What MainWindow::applyProject relies on after load_project accepted the file.
  if (!j.is_object() || j.value("format", std::string()) != project::kFormat) finding("a project loaded without its format");
  for (const char* section : {"design", "data", "analysis"})
    if (j.contains(section) && !j[section].is_object()) finding(std::string("section '") + section + "' is not an object");
  if (j.contains("run") && !j["run"].is_string()) finding("'run' is not a string");
  require_dumpable(j, "a loaded project");  // autosave writes it back
}

}  // namespace mabert::fuzz

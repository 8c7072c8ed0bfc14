// A Qt-free door to ui::load_project (ui/project.cpp), so the fuzz target and test_readers keep
// the core's precompiled header: code that includes Qt headers must be built with -fPIC, which a
// PCH built without it refuses. This file and project_reader.cpp form mabert_project_io.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace mabert::fuzz {

nlohmann::json load_project_file(const std::string& path);  // ui::load_project(path)
extern const char* const kProjectFormatName;                 // ui::kProjectFormat

}  // namespace mabert::fuzz

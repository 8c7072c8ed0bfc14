#include "project_reader.h"

#include "project.h"

namespace mabert::fuzz {

nlohmann::json load_project_file(const std::string& path) { return ui::load_project(QString::fromStdString(path)); }
const char* const kProjectFormatName = ui::kProjectFormat;

}  // namespace mabert::fuzz

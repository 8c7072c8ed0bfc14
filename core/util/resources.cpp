#include "util/resources.h"

#include <cstdlib>
#include <filesystem>

#ifndef MABERT_RESOURCES_DIR
#define MABERT_RESOURCES_DIR ""
#endif

namespace mabert {

std::string resources_dir() {
  if (const char* e = std::getenv("MABERT_RESOURCES"); e && *e) return e;
  const std::string built = MABERT_RESOURCES_DIR;
  std::error_code ec;
  if (!built.empty() && std::filesystem::exists(built, ec)) return built;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (exe.parent_path() / ".." / "share" / "mabert" / "resources").lexically_normal().string();
}

}  // namespace mabert

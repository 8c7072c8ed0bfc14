#include "util/openmp_wait.h"

#include <cstdlib>
#include <string>
#include <unistd.h>

namespace mabert {

void bound_openmp_spinning(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (setenv("GOMP_SPINCOUNT", std::to_string(kOpenMpSpinCount).c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure
  unsetenv("GOMP_SPINCOUNT");     // this process's libgomp never saw it: do not report it
}

std::string openmp_wait_setting() {
  std::string s;
  for (const char* name : {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"})
    if (const char* v = std::getenv(name)) s += (s.empty() ? "" : ", ") + std::string(name) + "=" + v;
  return s.empty() ? "libgomp's default" : s;
}

}  // namespace mabert

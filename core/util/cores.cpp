#include "util/cores.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace mabert {
namespace {

int affinity_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  return CPU_COUNT(&set);
}

// cgroup v2: "max 100000" (no limit) or "<quota> <period>" in /sys/fs/cgroup/cpu.max.
int cgroup_cores() {
  std::ifstream f("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long period = 0;
  if (!(f >> quota >> period) || quota == "max" || period <= 0) return 0;
  const long q = std::strtol(quota.c_str(), nullptr, 10);
  return q > 0 ? std::max(1, static_cast<int>(std::ceil(static_cast<double>(q) / static_cast<double>(period)))) : 0;
}

int slurm_cores() {
  const char* v = std::getenv("SLURM_CPUS_PER_TASK");
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' && n > 0 && n < (1 << 20) ? static_cast<int>(n) : 0;
}

}  // namespace

int usable_cores() {
  int n = static_cast<int>(std::thread::hardware_concurrency());
  for (int limit : {affinity_cores(), cgroup_cores(), slurm_cores()})
    if (limit > 0) n = n > 0 ? std::min(n, limit) : limit;
  return std::max(1, n);
}

int threads_per_local_rank(int local_ranks) { return std::max(1, usable_cores() / std::max(1, local_ranks)); }

}  // namespace mabert

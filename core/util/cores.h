// How many cores this process may use, as a cluster sets it: the CPU affinity mask (taskset,
// Slurm's binding, numactl), the cgroup's CPU quota (containers: cpu.max), and
// SLURM_CPUS_PER_TASK — the smallest of them; hardware_concurrency() when none says anything.
#pragma once

namespace mabert {

int usable_cores();

// Intra-op threads for one of `local_ranks` processes sharing this machine's usable cores (≥ 1).
int threads_per_local_rank(int local_ranks);

}  // namespace mabert

// How LibTorch's OpenMP threads wait for work. GCC's libgomp spins a waiting thread for about
// 300 000 iterations before it sleeps. On free cores that saves a wake-up; on shared cores (the
// studio's train and analysis workers together, a run beside another job, several ranks on one
// machine) the spinning thread holds the core its partner needs. Measured on the 2-core machine
// beside two busy processes: `mabert drift` 16.9 s at the default, 7.6 s at 10 000 spins; on free
// cores 10 000 spins cost nothing measurable, passive ~20 % (docs/KERNELS.md, "Threads").
// libgomp reads the setting once, when it is loaded, before main(): so it is set by re-executing.
#pragma once

#include <string>

namespace mabert {

constexpr int kOpenMpSpinCount = 10000;

// When the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT: sets GOMP_SPINCOUNT to
// kOpenMpSpinCount and re-executes this program (same arguments and process id), so libgomp
// starts with it. Returns when nothing needed doing, or when the re-exec failed (the program
// then runs on libgomp's default). Call first thing in main(), before any thread starts.
void bound_openmp_spinning(char** argv);

// The wait setting in force, for reports: "GOMP_SPINCOUNT=10000", "OMP_WAIT_POLICY=passive"
// (both when both are set) or "libgomp's default".
std::string openmp_wait_setting();

}  // namespace mabert

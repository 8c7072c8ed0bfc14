// CUDA selective scan, forward and backward, fp32/bf16/fp16 inputs with an fp32 state. The
// kernels are in scan_cuda_kernels.cuh (so the tests' SIMT emulator can run them on a CPU);
// this file launches them.
//
// Time-parallel kernels (the default): a block of kThreads threads owns one channel of one batch
// row and walks time in passes of kThreads·kItems steps; each thread holds kItems consecutive
// steps in registers. For each state n the step h ↦ a h + b (a = exp(Δ A_n), b = Δ u B_n) is
// composed over the thread's items, the block scans those maps (warp shuffles, then the warps'
// totals through shared memory), and each thread replays its items from the state its prefix
// gives. Every input is read once, along time. The forward saves the state at each kChunk
// boundary; the backward walks the passes in reverse, recomputes the states from the saved one,
// and scans the gradient flowing back along time the same way in the other direction.
//
// Chunk-sequential kernels (MABERT_SCAN_CUDA_FWD / _BWD=sequential, kept for A/B): a block owns
// kChannels channels of one batch row; each channel is a group of kLanes threads (one per state
// n) inside a warp, so the readout Σ_n C_n h_n is a shuffle reduction; time runs one step after
// another in chunks of kChunk steps staged in shared memory. The backward recomputes a chunk's
// states into registers from the saved chunk state, then sweeps it backwards.
#include "scan_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "scan_cuda_kernels.cuh"

namespace mabert::kernels::cuda {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("selective_scan CUDA ") + what + ": " + cudaGetErrorString(e));
}

template <typename T, int kLanes>
void launch(const CudaScanParams& p, const CudaScanGrads* g, cudaStream_t stream) {
  const dim3 grid(unsigned((p.channels + kChannels - 1) / kChannels), unsigned(p.batch));
  const dim3 block(kChannels * kLanes);
  if (g)
    scan_bwd_kernel<T, kLanes><<<grid, block, 0, stream>>>(p, *g);
  else
    scan_fwd_kernel<T, kLanes><<<grid, block, 0, stream>>>(p);
  check(cudaGetLastError(), g ? "backward launch" : "forward launch");
}

template <typename T>
void launch_lanes(const CudaScanParams& p, const CudaScanGrads* g, cudaStream_t stream) {
  if (p.dstate <= 8) return launch<T, 8>(p, g, stream);
  if (p.dstate <= 16) return launch<T, 16>(p, g, stream);
  if (p.dstate <= 32) return launch<T, 32>(p, g, stream);
  throw std::invalid_argument("selective_scan CUDA: state size " + std::to_string(p.dstate) + " > 32");
}

// Read per launch (cheap next to one), so tests can switch them.
bool sequential(const char* var) {
  const char* v = std::getenv(var);
  return v && std::strcmp(v, "sequential") == 0;
}
bool sequential_forward() { return sequential("MABERT_SCAN_CUDA_FWD"); }
bool sequential_backward() { return sequential("MABERT_SCAN_CUDA_BWD"); }

template <typename T>
void launch_parallel(const CudaScanParams& p, const CudaScanGrads* g, cudaStream_t stream) {
  if (p.dstate > kMaxN) throw std::invalid_argument("selective_scan CUDA: state size " + std::to_string(p.dstate) + " > 32");
  if (!p.B_nl || !p.C_nl) throw std::invalid_argument("selective_scan CUDA: the parallel kernels need B and C as {batch, N, L}");
  const dim3 grid(unsigned(p.channels), unsigned(p.batch));
  if (g)
    scan_bwd_parallel_kernel<T><<<grid, kThreads, 0, stream>>>(p, *g);
  else
    scan_fwd_parallel_kernel<T><<<grid, kThreads, 0, stream>>>(p);
  check(cudaGetLastError(), g ? "backward launch" : "forward launch");
}

template <typename T>
void launch_typed(const CudaScanParams& p, const CudaScanGrads* g, cudaStream_t stream) {
  if (g ? !sequential_backward() : !sequential_forward()) return launch_parallel<T>(p, g, stream);
  launch_lanes<T>(p, g, stream);
}

void dispatch(const CudaScanParams& p, const CudaScanGrads* g, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (p.dtype) {
    case Dtype::F32: return launch_typed<float>(p, g, s);
    case Dtype::BF16: return launch_typed<__nv_bfloat16>(p, g, s);
    case Dtype::F16: return launch_typed<__half>(p, g, s);
  }
}

}  // namespace

int64_t num_chunks(int64_t length) { return (length + kChunk - 1) / kChunk; }
const char* cuda_forward_kind() { return sequential_forward() ? "sequential" : "parallel"; }
const char* cuda_backward_kind() { return sequential_backward() ? "sequential" : "parallel"; }
void launch_scan_fwd(const CudaScanParams& p, void* stream) { dispatch(p, nullptr, stream); }
void launch_scan_bwd(const CudaScanParams& p, const CudaScanGrads& g, void* stream) { dispatch(p, &g, stream); }

}  // namespace mabert::kernels::cuda

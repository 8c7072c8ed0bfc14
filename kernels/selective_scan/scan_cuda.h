// CUDA selective scan: raw-pointer launch parameters shared by scan_cuda.cu (the kernels,
// which include no torch headers so nvcc stays fast) and scan_cuda.cpp (the torch glue).
#pragma once

#include <cstdint>

namespace mabert::kernels::cuda {

enum class Dtype { F32, BF16, F16 };

// u, delta, z, y (and their grads): {batch, C, L} of `dtype`; B, C: {batch, L, N} of `dtype`,
// and B_nl, C_nl the same values as {batch, N, L} (the time-parallel forward reads them along
// time); A: {C, N}, D, bias: {C}, mask: {batch, L} fp32. Chunk states: {batch, C, chunks, N} fp32.
struct CudaScanParams {
  int64_t batch = 0, channels = 0, length = 0, dstate = 0;
  bool reverse = false, softplus = true;
  Dtype dtype = Dtype::F32;
  const void *u = nullptr, *delta = nullptr, *B = nullptr, *C = nullptr, *z = nullptr;
  const void *B_nl = nullptr, *C_nl = nullptr;
  const float *A = nullptr, *D = nullptr, *bias = nullptr, *mask = nullptr;
  void* y = nullptr;
  float* chunk_states = nullptr;  // state at the start of each chunk, saved for the backward
  float* states = nullptr;        // optional {batch, C, L, N}
  float* delta_out = nullptr;     // optional {batch, C, L}
};

struct CudaScanGrads {
  const void* dout = nullptr;                            // {batch, C, L} of dtype
  void *du = nullptr, *ddelta = nullptr, *dz = nullptr;  // {batch, C, L} of dtype
  float *dA = nullptr, *dD = nullptr, *dbias = nullptr;  // {C, N}, {C}, {C}, zero-initialised, atomically summed
  float *dB = nullptr, *dC = nullptr;                    // {batch, L, N} fp32, zero-initialised, atomically summed
};

constexpr int kChunk = 32;  // time steps staged in shared memory (and registers, in the backward) per pass
int64_t num_chunks(int64_t length);

// Forward and backward are time-parallel (a block scan per channel) unless
// MABERT_SCAN_CUDA_FWD=sequential / MABERT_SCAN_CUDA_BWD=sequential pick the chunk-sequential
// kernels (kept for A/B measurement; they need no B_nl/C_nl). Any forward's chunk states serve
// any backward.
void launch_scan_fwd(const CudaScanParams& p, void* stream);
const char* cuda_forward_kind();   // "parallel" | "sequential"
const char* cuda_backward_kind();  // "parallel" | "sequential"
void launch_scan_bwd(const CudaScanParams& p, const CudaScanGrads& g, void* stream);

}  // namespace mabert::kernels::cuda

// Selective scan (SPEC §1, SSM core): one op with a plain LibTorch reference and fast paths
// behind a single dispatching entry point, so the model never knows which one ran.
//
// Shapes:  B batch, C channels (= E·d), L length, N state size.
//   u, delta, z: {B, C, L}    A: {C, N}    Bm, Cm: {B, N, L}    D, delta_bias: {C}    mask: {B, L}
//   h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t B_t u_t ;   y_t = C_t · h_t + D u_t ;   y ← y ⊙ SiLU(z)
// With a mask, a pad position is an identity step (Δ_t := 0): the state passes unchanged.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace mabert::kernels {

enum class ScanImpl { Auto, Ref, Cpu, Cuda };

ScanImpl parse_scan_impl(const std::string& name);  // "auto" | "ref" | "cpu" | "cuda"
const char* scan_impl_name(ScanImpl impl);

struct ScanInputs {
  at::Tensor u, delta, A, B, C;
  at::Tensor D, z, delta_bias, mask;  // optional: leave undefined to omit
};

struct ScanOptions {
  bool delta_softplus = true;  // Δ ← softplus(Δ + delta_bias)
  bool reverse = false;        // scan from t = L−1 down to 0 (the backward half of `B` layers)
  bool return_states = false;  // also return h_t for every t (analysis views)
  at::Tensor state_channels;   // with return_states: int64 indices of the channels whose states to return; undefined = all
  // Forced path (tests, benchmarks): runs as it is, no self-check. Auto: dispatch chooses.
  ScanImpl impl = ScanImpl::Auto;
  // With impl = Auto, the path to try (self-checked first, the reference when it fails or cannot
  // take the inputs); Auto = the device's fast path. Each model passes its own (MaBert::set_scan_impl),
  // so one thread's choice never changes another's.
  ScanImpl prefer = ScanImpl::Auto;
};

struct ScanOutputs {
  at::Tensor y;       // {B, C, L}, dtype of u
  at::Tensor states;  // {B, C', L, N} fp32 when return_states (C' = chosen channels, or all)
  at::Tensor delta;   // {B, C', L} fp32 effective Δ (bias, softplus and mask applied), when return_states
};

// The entry point the model calls: picks the fastest available path for the tensors' device
// (or the forced one), falling back to the reference with the reason logged once.
ScanOutputs selective_scan(const ScanInputs& in, const ScanOptions& opt);

// The oracle: a loop of LibTorch ops, differentiable by autograd. Slow and memory-hungry.
ScanOutputs selective_scan_ref(const ScanInputs& in, const ScanOptions& opt);

// The path selective_scan() would run for these inputs and options (after any fall-back).
ScanImpl resolve_scan_impl(const ScanInputs& in, const ScanOptions& opt);

// Benchmark support. The roofline loop runs `count` exp + 2 multiply-adds over in-cache data on
// every intra-op thread, with the CPU kernel's exp; returns a checksum.
float scan_roofline_cpu(int64_t count);
const char* cpu_kernel_isa();                 // "avx2+fma" or "baseline"
// Threads the fused CPU kernels (scan, conv) split their work over: the intra-op thread count,
// or 1 where the kernels were built without OpenMP (the ThreadSanitizer build), since
// at::parallel_for is then a serial loop.
int cpu_kernel_threads();
bool cuda_path_built();
// "forward parallel, backward parallel" (or sequential, by MABERT_SCAN_CUDA_FWD/_BWD), or "not built".
std::string cuda_kernel_variants();
double cuda_peak_bandwidth_gbs(int device);   // from the device's memory clock and bus width; 0 without CUDA

// Self-checks. Before automatic dispatch (ScanOptions::impl = Auto) first uses a fast path for a
// (dtype, device, state size), that path runs two small seeded problems against the reference,
// forward and every input gradient; a path that disagrees is not used (the reason is logged
// once and the reference runs instead). A path forced per call (tests, benchmarks) runs as it is.
// MABERT_SCAN_VERIFY=0 turns the checks off.
struct ScanSelfCheck {
  std::string path, dtype, device;
  int64_t dstate = 0;
  double worst_rel = 0;   // worst max-abs error over y and every gradient, relative to the reference's scale
  double tolerance = 0;   // by dtype
  std::string failure;    // empty when the path passed
  double ms = 0;          // what the check cost
  bool passed() const { return failure.empty(); }
};
std::vector<ScanSelfCheck> scan_self_checks();  // those run so far in this process
// Runs (or recalls) the check of `impl` for this dtype, device and state size.
ScanSelfCheck self_check_scan_path(ScanImpl impl, at::ScalarType dtype, at::Device device, int64_t dstate);

// Throws std::invalid_argument naming the tensor when shapes or devices do not agree.
void check_scan_inputs(const ScanInputs& in);

}  // namespace mabert::kernels

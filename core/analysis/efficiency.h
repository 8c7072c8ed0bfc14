// Efficiency profiles (paper §4.5, Tables B5–B7, Fig. 5): for each schedule of one width and
// each sequence length, inference latency and training-step time, each the median of repeated
// runs after warm-up with the device synchronised, and measured peak memory (CUDA: the caching
// allocator's statistics; CPU: the tensor allocator's peak and the resident-set peak).
#pragma once

#include "model/config.h"
#include "util/device.h"

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace mabert::analysis {

// What a profile times: one forward at the batch size (inference), or a training step (forward +
// MLM loss + backward + AdamW step). Files and screens use the names of to_string.
enum class ProfileMode { Inference, Train };
const char* to_string(ProfileMode m);              // "inference" | "train"
ProfileMode parse_profile_mode(const std::string& s);  // throws std::invalid_argument naming the value

struct ProfileOptions {
  std::vector<int64_t> lengths = {128, 256, 512, 1024};
  int64_t batch = 1;        // sequences per timed call
  int repeats = 5;          // timed repeats (the median is reported)
  int warmup = 1;
  ProfileMode mode = ProfileMode::Inference;
  DeviceKind device = DeviceKind::Cpu;
  bool bf16 = false;               // every model in bf16 (else each model's own choice, ProfileModel::bf16)
  std::string scan = "auto";       // the selective-scan path: auto | ref | cpu | cuda
  uint64_t seed = 0;
  // When set: after the timed repeats, three more runs of each model at each length under
  // LibTorch's operator profiler, written as a Chrome trace PREFIX-<model>-<length>.json
  // (scripts/op_profile.py tables its self time per operator). The timings do not include them.
  std::string trace_prefix;
};

struct ProfilePoint {
  std::string schedule;
  int64_t length = 0;
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int64_t peak_bytes = -1;  // tensor allocator peak above the baseline (CPU counter or CUDA allocator)
  int64_t rss_bytes = -1;   // CPU: resident-set peak above the baseline; −1 on CUDA / unsupported
  int64_t params = 0;
  double gflops = 0;        // achieved: the model FLOPs of one call (estimate_flops × batch) per median time
  bool bf16 = false;        // the precision it ran in
  std::string error;        // e.g. out of memory; the timings are then 0
};

// A model to profile: a label (a schedule or a preset name), its configuration and precision.
// bf16 — CUDA: bf16 weights (inference) / autocast (training); CPU: bf16 matrix weights +
// autocast (inference) / autocast with fp32 master weights (training). The same model in both
// precisions is two entries, timed in the same interleaved rounds.
struct ProfileModel {
  std::string name;
  ModelConfig cfg;
  bool bf16 = false;
};

// Each model at each length. Positions are extended to the longest length (learned tables are
// sized to it, DeBERTa's relative range covers it), as the paper's Table A3 does for 4,096.
// At each length the models' timed repeats are interleaved (round r runs each model once, in an
// order rotated by r), so drifting machine speed affects them alike.
std::vector<ProfilePoint> profile(const std::vector<ProfileModel>& models, const ProfileOptions& opt,
                                  const std::function<void(const ProfilePoint&)>& on_point = {},
                                  const std::atomic<bool>* stop = nullptr);

// The same width and sizes as `base`, with each schedule in turn. `on_point` sees each length's results
// once they are measured; `stop` ends the profile early (the points so far are returned).
std::vector<ProfilePoint> profile(const ModelConfig& base, const std::vector<std::string>& schedules,
                                  const ProfileOptions& opt,
                                  const std::function<void(const ProfilePoint&)>& on_point = {},
                                  const std::atomic<bool>* stop = nullptr);

// The points as CSV (header + one row each), with each point's ratio against the point of
// `baseline_schedule` at the same length (empty when that schedule was not profiled).
std::string profile_csv(const std::vector<ProfilePoint>& points, const std::string& baseline_schedule);

// A rough analytic estimate (bytes) of the memory one forward (training: forward + backward +
// AdamW states) needs at batch 1 and length L — for the composer, before anything runs.
int64_t estimate_memory_bytes(const ModelConfig& cfg, int64_t length, bool training);
// Parameter count of a configuration without building the model.
int64_t estimate_parameters(const ModelConfig& cfg);

// Model FLOPs of one sequence of `length` tokens, counted from the configuration (2 per
// multiply-add; docs/KERNELS.md, "Counting FLOPs"): the numerator of an achieved FLOP rate.
struct FlopEstimate {
  double projections = 0;  // every product with a weight: q k v o, FFN, the SSM's in/x/dt/out, MLM head
  double attention = 0;    // scores and the weighted sum of values (DeBERTa: + c2p and p2c)
  double scan = 0;         // the depth-wise conv and the selective scan's recurrence, element-wise
  double forward() const { return projections + attention + scan; }
  double train_step() const { return 3 * forward(); }  // backward ≈ 2 × forward; AdamW not counted
};
// `mlm_positions`: tokens that go through the MLM head (0 for the encoder alone).
FlopEstimate estimate_flops(const ModelConfig& cfg, int64_t length, int64_t mlm_positions = 0);

}  // namespace mabert::analysis

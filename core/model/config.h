// ModelConfig: every hyper-parameter of a MaBERT encoder, its presets, schedule parsing, and
// JSON load/save with validation. Qt-free and torch-free, so it is cheap to include anywhere.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mabert {

// A configuration or schedule error. The message names the file, field or character at fault.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class LayerKind : char {
  Transformer = 'T',  // Pre-LN self-attention + FFN (Eq. 1)
  Mamba = 'M',        // Pre-LN selective SSM + FFN, forward scan (Eqs. 2–10)
  BiMamba = 'B',      // forward and reversed scan of the same input, summed before out_proj
  Parallel = 'P',     // attention and SSM on the same normalised input, averaged, one FFN
  // The paper's attention baselines, as layer letters any schedule can use (Pre-LN, like T):
  Longformer = 'L',   // sliding-window attention (attn_window) + the [CLS] token as global
  BigBird = 'S',      // block-sparse attention: window, global and random blocks (sparse_*)
  DeBERTa = 'D',      // disentangled content/relative-position attention (rel_range)
};

// Layers with an attention sub-layer (T L S D P) and with a selective-scan core (M B P).
bool has_attention(LayerKind kind);
bool has_ssm(LayerKind kind);

const char* layer_kind_name(LayerKind kind);

// Every layer letter, in the order the composer's palette shows them.
const std::string& layer_letters();

// The 0-based indices of the layers of one letter in a schedule ("MTMT", 'T' → 1, 3).
std::vector<int64_t> layers_of_kind(const std::string& schedule, char kind);

// Parses a schedule string such as "MMTMMT". Throws ConfigError naming the offending character
// and its 1-based position; rejects empty strings and schedules longer than max_layers.
std::vector<LayerKind> parse_schedule(const std::string& schedule, int64_t max_layers = 64);

// The task head on the pooled vector. JSON and screens use the strings of to_string.
enum class Head { None, Classification, Regression };
const char* to_string(Head h);
Head parse_head(const std::string& s);  // throws ConfigError naming the value

// How one vector is made from the tokens (Eqs. 11–13 and the ablation's alternatives). JSON and
// screens use the strings of to_string: map | attn | cls | mean | masked_mean.
enum class PoolingKind { Map, Attn, Cls, Mean, MaskedMean };
const char* to_string(PoolingKind p);
PoolingKind parse_pooling(const std::string& s);  // throws ConfigError naming the value
bool has_score_layer(PoolingKind p);              // map and attn learn a score per token

struct ModelConfig {
  // Architecture
  std::string schedule = "MMTMMTMMTMMT";
  int64_t vocab_size = 30522;
  int64_t d_model = 768;
  int64_t n_heads = 12;
  int64_t d_ffn = 3072;
  int64_t max_len = 512;
  std::string position = "learned";  // learned | none
  int64_t type_vocab_size = 2;       // segment ids for sentence pairs; 0 disables them
  double layer_norm_eps = 1e-5;
  double dropout = 0.1;
  // Standard deviation of the normal initialisation of every projection and embedding: BERT's
  // 0.02 by default; small models need more (at width 64, 0.02 leaves the M layers' output ~0.1 %
  // of the residual stream: docs/results/recall.md). Written to JSON only when not 0.02.
  double init_std = 0.02;
  // Token shift: each position's embedding also gets a linear map of the previous token's (a pad
  // contributes nothing) — the previous-token signal an induction circuit needs, which attention
  // alone learns only after thousands of steps (docs/results/recall.md). Off by default; written
  // to JSON only when on.
  bool token_shift = false;
  int64_t max_layers = 64;

  // ALBERT's two savings, usable with any schedule
  int64_t embed_dim = 0;      // factorised embeddings: tokens live in this width, projected to d_model; 0 = d_model
  bool share_layers = false;  // cross-layer sharing: all layers of one letter share one set of weights

  // Attention variants (the baseline letters)
  int64_t attn_window = 512;   // L: tokens in the sliding window (attn_window / 2 each side)
  int64_t sparse_block = 64;   // S: block size
  int64_t sparse_random = 3;   // S: random key blocks per query block
  int64_t rel_range = 256;     // D: relative distances are clipped to ±rel_range (2·rel_range embeddings)

  // SSM core (Mamba-1 "simple" block)
  int64_t d_state = 16;
  int64_t expand = 2;
  int64_t d_conv = 4;
  // The depth-wise convolution's reach: "causal" looks back d_conv − 1 tokens (Mamba's, and what
  // keeps right padding from reaching valid tokens); "centred" looks (d_conv − 1) / 2 back and the
  // rest ahead, as an encoder without a causal constraint might — end padding then leaks into the
  // last valid tokens unless PSM masks it. The reverse scan of B layers mirrors either.
  std::string conv = "causal";
  int64_t dt_rank = 0;  // 0 = ceil(d_model / 16)
  double dt_min = 1e-3;
  double dt_max = 1e-1;
  double dt_init_floor = 1e-4;

  // Padding-safe masking, three independent levels
  bool psm_pre = true;
  bool psm_post = true;
  bool psm_state = true;

  // Pooling and task head
  PoolingKind pooling = PoolingKind::Map;
  Head head = Head::None;       // JSON: "none" | "classification" | "regression"
  int64_t num_labels = 2;       // classes for the classification head

  // Derived values
  int64_t resolved_dt_rank() const { return dt_rank > 0 ? dt_rank : (d_model + 15) / 16; }
  int64_t d_inner() const { return expand * d_model; }
  int64_t resolved_embed_dim() const { return embed_dim > 0 ? embed_dim : d_model; }
  std::vector<LayerKind> layers() const { return parse_schedule(schedule, max_layers); }

  // Throws ConfigError naming `where` (a file name) and the field at fault.
  void validate(const std::string& where = "config") const;

  nlohmann::ordered_json to_json() const;  // fields in a fixed, readable order
  // Strict: unknown fields and wrong types are errors. `where` prefixes messages (a file name).
  static ModelConfig from_json(const nlohmann::json& j, const std::string& where = "config");

  static ModelConfig load(const std::string& path);
  void save(const std::string& path) const;  // atomic: temp file + rename

  // Presets: tiny (d=128, MMTMMT), small (d=256, 12 layers), base (d=768, 12 layers), and the
  // paper's baselines at each size: bert-, albert-, longformer-, bigbird-, deberta-<size>, plus
  // mabert-<size> (= <size>). The baselines' base presets follow the public checkpoints' shapes.
  static ModelConfig preset(const std::string& name);
  static std::vector<std::string> preset_names();
  static std::vector<std::string> baseline_families();  // bert albert longformer bigbird deberta
};

// A config from JSON text (`where` names it in errors): the same checks as ModelConfig::load,
// plus what outside text needs: invalid JSON of any kind (syntax, UTF-8, 1e999) and nesting
// deeper than 64 levels are ConfigErrors with the line and column, never another exception.
ModelConfig parse_model_config(const std::string& text, const std::string& where);

}  // namespace mabert

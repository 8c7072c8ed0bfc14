// Looking inside a model for one typed sentence (or pair): the pooling weights, the attention
// probabilities of a chosen layer, and the SSM state trajectory of a chosen Mamba layer — all
// from one forward pass, returned as plain CPU tensors the GUI and the CLI can draw or export.
// Everything a view shows is computed here (on the worker), so drawing only reads values.
#pragma once

#include "model/mabert.h"
#include "tokenize/tokenizer.h"

#include <string>
#include <vector>

namespace mabert::analysis {

struct InspectOptions {
  int64_t pads = 0;          // extra [PAD] tokens appended (or prepended) to show their weights are 0
  bool left_pad = false;
  int attention_layer = -1;  // index of a T/P layer, −1 = none
  int ssm_layer = -1;        // index of an M/B/P layer, −1 = none
  int64_t max_len = 512;
  int64_t answer_token = -1;  // a recall model's slot id: the MLM decoder's answer at each such token
};

// The model's answer at a slot token (a recall task's "?"): the most likely pieces.
struct SlotAnswer {
  int64_t position = 0;
  std::vector<std::pair<std::string, double>> top;  // piece, probability; likelier first (3)
};

struct Inspection {
  std::vector<std::string> tokens;  // pieces, specials included; pads as "[PAD]"
  std::vector<int64_t> ids;
  std::vector<uint8_t> valid;       // 1 for real tokens, 0 for pads
  std::vector<double> pool_weights; // per token; exactly 0 on pads under MAP
  std::vector<double> head_outputs; // the task head's output: class probabilities, or {score} for
  bool regression = false;          // a regression head; empty without a head (a pretrained encoder)
  torch::Tensor attention;          // {H, L, L} of attention_layer, undefined when not asked or not T/P
  torch::Tensor attention_mean;     // {L, L} the mean over heads
  // SSM trace of ssm_layer (forward scan), over the L positions:
  torch::Tensor state_norms;        // {L, C}  ‖h_t[c, :]‖₂ per channel c = 1..E·D
  torch::Tensor states;             // {L, C, N}
  torch::Tensor delta;              // {L, C}  effective Δ_t (0 on pads under psm_state)
  torch::Tensor delta_mean;         // {L}     Δ_t's mean over channels
  std::vector<int64_t> top_channels;  // the (up to) 4 channels with the largest state norm at the last position
  torch::Tensor path2d;             // {L, 2}  the state path projected on its first two principal axes
  std::vector<double> path_variance;  // share of variance the two axes explain
  std::vector<SlotAnswer> answers;    // at every InspectOptions::answer_token
  int64_t truncated = 0;              // pieces dropped so that text and pads fit the model's max_len
  int64_t max_len = 0;                // the length limit the input was fitted to
};

// Throws std::invalid_argument naming the layer when a requested layer has the wrong kind.
Inspection inspect(MaBert& model, const Tokenizer& tok, const std::string& a, const std::string* b,
                   const InspectOptions& opt);

// Indices of the layers of a kind family: attention layers (T, P) or SSM layers (M, B, P).
std::vector<int> attention_layers(const ModelConfig& cfg);
std::vector<int> ssm_layers(const ModelConfig& cfg);

}  // namespace mabert::analysis

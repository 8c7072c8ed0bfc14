// Evaluation of a fine-tuned model on a GLUE split, and prediction for one sentence (or pair).
#pragma once

#include "data/glue.h"
#include "data/recall.h"
#include "model/mabert.h"
#include "tokenize/tokenizer.h"

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mabert::train {

struct Prediction {
  double label = 0;                  // class index or score
  std::vector<double> probabilities; // classification
  std::vector<double> map_weights;   // per token
  std::vector<std::string> pieces;
};

// Evaluates a split; returns metrics (empty for unlabelled splits) and one prediction per example.
std::map<std::string, double> evaluate(MaBert& model, const Tokenizer& tok, const data::GlueSplit& split, int64_t max_len,
                                       int64_t batch_size, std::vector<Prediction>* predictions = nullptr,
                                       bool left_padding = false);
// The same on the split's encoding (encode_split), for a caller that scores it more than once;
// std::nullopt when `stop` was set before the last batch.
std::optional<std::map<std::string, double>> evaluate_encoded(MaBert& model, const data::GlueSplit& split,
                                                              const std::vector<Encoding>& enc, int64_t batch_size,
                                                              std::vector<Prediction>* predictions = nullptr,
                                                              bool left_padding = false,
                                                              const std::atomic<bool>* stop = nullptr);
// The predictions (class index, or score) for examples [begin, end) of an encoded split, in
// batches of `batch_size` counted from `begin`; with `predictions`, each one's details as well.
// `stop` is looked at before every batch: once set, the predictions so far are returned.
std::vector<double> predict_range(MaBert& model, const std::vector<Encoding>& enc, int64_t begin, int64_t end,
                                  int64_t batch_size, bool left_padding = false,
                                  std::vector<Prediction>* predictions = nullptr,
                                  const std::atomic<bool>* stop = nullptr);
// A labelled split's gold labels, in order.
std::vector<double> split_labels(const data::GlueSplit& split);
Prediction predict(MaBert& model, const Tokenizer& tok, const std::string& a, const std::string* b, int64_t max_len);

// A recall task's held-out split ("dev": the task's eval stream; "test": a second one): accuracy
// over the slots and sequence accuracy (every slot of an example right).
std::map<std::string, double> evaluate_recall(MaBert& model, const data::RecallTask& task, const std::string& split,
                                              int64_t batch_size, bool left_padding = false);
// The same score with each example's slots and right answers kept (RecallScore::keep_examples).
data::RecallScore score_recall(MaBert& model, const data::RecallTask& task, const std::string& split, int64_t batch_size,
                               bool left_padding);
// The model's answer logits {slots, V} at a recall batch's slots (labels ≠ −100), set in *at_slots.
torch::Tensor recall_logits(MaBert& model, const data::Batch& b, torch::Tensor* at_slots);

// The split's examples encoded as the model sees them.
std::vector<Encoding> encode_split(const Tokenizer& tok, const data::GlueSplit& split, int64_t max_len);

}  // namespace mabert::train

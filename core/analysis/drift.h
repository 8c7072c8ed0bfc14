// Padding drift (paper §4.4, Figs. 3–4): how far a sentence's representation moves when k pad
// tokens are added, for each padding-safe-masking configuration, measured with the same weights
// (PSM is switched at run time). Cosine distance 1 − cos(x, x_k) on the final [CLS] (the first
// valid token) and on the mean of the valid tokens, averaged over a probe set.
#pragma once

#include "model/mabert.h"
#include "tokenize/tokenizer.h"

#include <atomic>
#include <string>
#include <vector>

namespace mabert::analysis {

struct MaskConfig {
  std::string name;  // none | pre | post | pre+post | pre+post+state
  bool pre = false, post = false, state = false;
};
// The paper's five configurations, in its order.
std::vector<MaskConfig> mask_configs();
// One of them by name; throws std::invalid_argument listing the names.
MaskConfig mask_config(const std::string& name);

struct DriftOptions {
  std::vector<int64_t> pads = {0, 1, 2, 4, 8, 16, 32, 64};
  bool left = false;                              // pads before the sentence instead of after
  std::vector<MaskConfig> configs = mask_configs();
};

struct DriftCurve {
  std::string config;
  std::vector<int64_t> pads;
  std::vector<double> cls, mean;          // mean over probes of the cosine distance at each pad count
  std::vector<double> cls_max, mean_max;  // the worst probe
};

// `probes`: encoded sentences ([CLS] … [SEP]). The model's own PSM setting and training mode are
// restored afterwards. Pad counts that would exceed the model's max_len are skipped per probe.
std::vector<DriftCurve> padding_drift(MaBert& model, const std::vector<Encoding>& probes, const DriftOptions& opt,
                                      const std::atomic<bool>* stop = nullptr);

// Encodes the first `count` non-empty lines of sentences, at most max_len tokens each.
std::vector<Encoding> make_probes(const Tokenizer& tok, const std::vector<std::string>& sentences, size_t count,
                                  int64_t max_len);

}  // namespace mabert::analysis

#include "train/options.h"

#include <algorithm>

namespace mabert::train {

nlohmann::ordered_json TrainOptions::to_json() const {
  nlohmann::ordered_json j = {{"steps", steps},       {"batch_size", batch_size}, {"grad_accum", grad_accum}, {"max_len", max_len},
          {"lr", lr},             {"weight_decay", weight_decay}, {"adam_eps", adam_eps}, {"beta1", beta1},
          {"beta2", beta2},       {"warmup", warmup},         {"clip", clip},             {"eval_every", eval_every},
          {"save_every", save_every}, {"log_every", log_every}, {"seed", seed},           {"bucket", bucket},
          {"early_stop_metric", early_stop_metric}, {"patience", patience}, {"device", to_string(device)}, {"bf16", bf16}};
  // Only when chosen: grids key their encoders by these options, and earlier runs had no "scan"
  // or "padding".
  if (scan != kernels::ScanImpl::Auto) j["scan"] = kernels::scan_impl_name(scan);
  if (left_padding) j["padding"] = "left";
  if (stop_at > 0) j["stop_at"] = stop_at;
  if (!keyed_dropout) j["dropout_masks"] = "stream";
  return j;
}

double lr_at(const TrainOptions& o, int64_t step) {
  const double warm = o.warmup >= 1 ? o.warmup : o.warmup * static_cast<double>(o.steps);
  if (warm > 0 && step < warm) return o.lr * (step + 1) / warm;
  const double rest = std::max(1.0, static_cast<double>(o.steps) - warm);
  return o.lr * std::max(0.0, (static_cast<double>(o.steps) - step) / rest);
}

}  // namespace mabert::train

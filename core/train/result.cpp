#include "train/result.h"

#include "util/enum_names.h"

#include <stdexcept>

namespace mabert::train {
namespace {

constexpr EnumName<RunStatus> kRunStatusNames[] = {
    {RunStatus::Running, "running"},   {RunStatus::Finished, "finished"}, {RunStatus::Stopped, "stopped"},
    {RunStatus::EarlyStopped, "early_stopped"}, {RunStatus::Diverged, "diverged"}, {RunStatus::Failed, "failed"}};
static_assert(std::size(kRunStatusNames) == 6, "a RunStatus without a name");

}  // namespace

JobKind parse_job_kind(const std::string& s) {
  if (const auto k = job_kind_named(s == "evaluate" ? std::string("eval") : s)) return *k;
  std::string known;
  for (const auto& k : kJobKindNames) known += (known.empty() ? "" : ", ") + std::string(k.name);
  throw std::invalid_argument("unknown job kind '" + s + "' (expected one of " + known + ")");
}

const char* to_string(RunStatus s) { return enum_name(kRunStatusNames, s); }

RunStatus parse_run_status(const std::string& s) {
  if (const auto r = enum_value(kRunStatusNames, s)) return *r;
  throw std::invalid_argument("unknown run status '" + s + "'");
}

nlohmann::ordered_json to_json(const TrainResult& r) {
  return {{"status", to_string(r.status)}, {"steps", r.steps},        {"last_loss", r.last_loss},
          {"final", r.final_metrics},      {"best", r.best_metrics},  {"message", r.message}};
}

}  // namespace mabert::train

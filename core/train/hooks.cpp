#include "train/hooks.h"

#include "util/enum_names.h"

#include <stdexcept>

namespace mabert::train {
namespace {

constexpr EnumName<RunStatus> kRunStatusNames[] = {
    {RunStatus::Running, "running"},   {RunStatus::Finished, "finished"}, {RunStatus::Stopped, "stopped"},
    {RunStatus::EarlyStopped, "early_stopped"}, {RunStatus::Diverged, "diverged"}, {RunStatus::Failed, "failed"}};
static_assert(std::size(kRunStatusNames) == 6, "a RunStatus without a name");

}  // namespace

const char* to_string(RunStatus s) { return enum_name(kRunStatusNames, s); }

RunStatus parse_run_status(const std::string& s) {
  if (const auto r = enum_value(kRunStatusNames, s)) return *r;
  throw std::invalid_argument("unknown run status '" + s + "'");
}

nlohmann::ordered_json to_json(const TrainResult& r) {
  return {{"status", to_string(r.status)}, {"steps", r.steps},        {"last_loss", r.last_loss},
          {"final", r.final_metrics},      {"best", r.best_metrics},  {"message", r.message}};
}

void Control::request_stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void Control::set_paused(bool paused) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = paused;
  }
  cv_.notify_all();
}

void Control::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
  paused_ = false;
}

bool Control::wait_while_paused(const std::function<void()>& on_block) {
  std::unique_lock<std::mutex> lock(mu_);
  if (paused_.load() && !stop_.load() && on_block) on_block();
  cv_.wait(lock, [this] { return !paused_.load() || stop_.load(); });
  return stop_.load();
}

}  // namespace mabert::train

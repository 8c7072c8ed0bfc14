// Fine-tuning as a job (a GLUE task or a recall task): the registry row with the task's fields,
// the run folder's lock, the checks every rank makes; the training itself is train::finetune.
#include "jobs/common.h"

#include "data/recall.h"

namespace mabert::jobs {
using namespace detail;
using json = nlohmann::json;

JobOutcome run(const train::FinetuneJob& job, const Recording& rec, const train::Hooks& hooks) {
  dist::World& world = world_of(job.world);
  check_batch(job.train, world);
  const std::optional<data::RecallTask> recall =
      data::is_recall_task(job.task) ? std::optional(train::recall_task(job)) : std::nullopt;
  const std::string task = recall ? data::to_string(recall->kind) : data::glue_task(job.task).name;
  json fields = {{"task", task}, {"data", job.data_dir}, {"from", job.init}};
  if (recall) fields["recall"] = recall->to_json();
  const json config = row_config(train::resolved_config(job), job.train, fields, rec, world);  // validates the job
  const auto lock = lock_run_folder(job.run_dir, world);
  check_same_job(config, job.run_dir, world);
  JobOutcome out{run_id(job.run_dir), {}, {}};
  out.result = record_run(job.run_dir, JobKind::Finetune, task, config, rec, [&] { return train::finetune(job, hooks); },
                          world.root());
  return out;
}

const std::string& run_dir(const train::FinetuneJob& spec) { return spec.run_dir; }
const train::TrainOptions* training_options(const train::FinetuneJob& spec) { return &spec.train; }

}  // namespace mabert::jobs

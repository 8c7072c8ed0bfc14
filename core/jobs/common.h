// What the job kinds' files (jobs/<kind>.cpp) share: the run's registry id, the process's share
// of a data-parallel job, the checks every rank makes before training, the run folder's lock and
// a registry row's config. Internal to core/jobs (runner.cpp defines them).
#pragma once

#include "jobs/runner.h"
#include "util/files.h"

#include <memory>

namespace mabert::jobs::detail {

// A run's registry id: its folder's absolute path.
std::string run_id(const std::string& dir);
// The job's world, or the one-process world when it has none.
dist::World& world_of(const std::shared_ptr<dist::World>& w);
// --batch is the global batch: each of the W ranks takes batch / W rows of it.
void check_batch(const train::TrainOptions& t, const dist::World& world);
// Every rank must run the same job into the same folder: a hash of the row's config and the folder,
// compared across ranks before anything trains.
void check_same_job(const nlohmann::json& config, const std::string& run_dir, dist::World& world);
// Rank 0 (the rank that writes it) holds the run folder's lock for the whole job: a second job
// into the same folder (a second terminal, the studio and the CLI) is refused, naming the holder.
std::unique_ptr<FolderLock> lock_run_folder(const std::string& run_dir, const dist::World& world);
// A registry row's config: the job's own fields and the recording's (a job without a model: an
// evaluation, a tokenizer); with the resolved model, the training options and where it ran.
nlohmann::json row_config(const nlohmann::json& fields, const Recording& rec);
nlohmann::json row_config(nlohmann::json model, nlohmann::json train, int world_size, const std::string& backend,
                          const nlohmann::json& fields, const Recording& rec);
nlohmann::json row_config(const ModelConfig& resolved, const train::TrainOptions& t, const nlohmann::json& fields,
                          const Recording& rec, const dist::World& world);

}  // namespace mabert::jobs::detail

// Pretraining as a job: the tokenizer when none is given, the registry row, the run folder's lock,
// the checks every rank makes; the training itself is train::pretrain.
#include "jobs/common.h"

#include "data/shards.h"

#include <filesystem>

namespace mabert::jobs {
using namespace detail;
using json = nlohmann::json;
namespace fs = std::filesystem;

JobOutcome run(const PretrainSpec& spec, const Recording& rec, const train::Hooks& hooks) {
  train::PretrainJob job = spec.job;
  const int vocab = spec.vocab;
  dist::World& world = world_of(job.world);
  check_batch(job.train, world);
  const auto lock = lock_run_folder(job.run_dir, world);
  if (job.tokenizer.empty() && !job.shards.empty()) job.tokenizer = data::TokenShards(job.shards).tokenizer_path();
  if (job.tokenizer.empty()) {
    const std::string prefix = job.run_dir + "/tokenizer";
    // On a real corpus this outlasts --dist-timeout: the other ranks wait on the store, not in a collective.
    world.root_first("train the tokenizer", [&] {
      if (!job.train.resume && fs::exists(prefix + ".model")) fs::remove(prefix + ".model");  // a fresh run trains its own
      ensure_tokenizer(job.corpus, prefix, vocab, hooks.on_message);
    });
    job.tokenizer = prefix + ".model";
  }
  const json data = job.shards.empty() ? json{{"corpus", job.corpus}} : json{{"shards", job.shards}};
  const json config = row_config(train::resolved_config(job), job.train, data, rec, world);
  check_same_job(config, job.run_dir, world);
  JobOutcome out{run_id(job.run_dir), {}, {}};
  out.result = record_run(job.run_dir, JobKind::Pretrain, "", config, rec, [&] { return train::pretrain(job, hooks); },
                          world.root());
  return out;
}

const std::string& run_dir(const PretrainSpec& spec) { return spec.job.run_dir; }
const train::TrainOptions* training_options(const PretrainSpec& spec) { return &spec.job.train; }

}  // namespace mabert::jobs

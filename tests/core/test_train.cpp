// The training engine: exact resume, divergence handling, checkpoint atomicity leftovers, and the
// run registry.
#include "harness.h"

#include "io/safetensors.h"
#include "runs/registry.h"
#include "tokenize/tokenizer.h"
#include "train/checkpoint.h"
#include "train/trainer.h"
#include "util/files.h"

#include <torch/torch.h>

#include <filesystem>
#include <unistd.h>

using namespace mabert;
namespace fs = std::filesystem;

namespace {

const std::string kDemo = std::string(MABERT_RESOURCES_DIR) + "/demo/corpus.txt";

std::string temp_dir(const std::string& name) {
  const auto p = fs::temp_directory_path() / ("mabert_test_train_" + std::to_string(::getpid())) / name;
  remove_tree(p.string());
  fs::create_directories(p);
  return p.string();
}

const std::string& tokenizer() {
  static const std::string path = [] {
    TokenizerTrainOptions o;
    o.inputs = {kDemo};
    o.model_prefix = temp_dir("tok") + "/tok";
    o.vocab_size = 800;
    return Tokenizer::train(o);
  }();
  return path;
}

train::PretrainJob small_job(const std::string& dir) {
  train::PretrainJob job;
  job.model = ModelConfig::preset("tiny");
  job.model.d_model = 32, job.model.n_heads = 2, job.model.d_ffn = 64, job.model.d_state = 8, job.model.schedule = "MTB";
  job.corpus = {kDemo};
  job.tokenizer = tokenizer();
  job.run_dir = dir;
  job.max_sentences = 300;
  job.train.steps = 8;
  job.train.batch_size = 8;
  job.train.max_len = 48;
  job.train.lr = 2e-3;
  job.train.log_every = 1;
  return job;
}

NamedTensors final_weights(const std::string& run_dir) {
  const auto ckpt = train::latest_checkpoint(run_dir);
  if (!ckpt) throw std::runtime_error("no checkpoint in " + run_dir);
  return load_safetensors(*ckpt + "/model.safetensors").tensors;
}

}  // namespace

TEST_CASE(resume_gives_identical_weights) {
  const std::string a = temp_dir("straight"), b = temp_dir("resumed");
  const auto ra = train::pretrain(small_job(a));
  EXPECT_EQ(ra.status, std::string("finished"));
  EXPECT_EQ(ra.steps, 8);

  std::atomic<bool> stop{false};
  train::Hooks hooks;
  hooks.stop = &stop;
  hooks.on_step = [&](const train::StepStats& s) { stop = s.step >= 3; };
  const auto rb1 = train::pretrain(small_job(b), hooks);
  EXPECT_EQ(rb1.status, std::string("stopped"));
  EXPECT_EQ(rb1.steps, 3);
  auto job = small_job(b);
  job.train.resume = true;
  const auto rb2 = train::pretrain(job);
  EXPECT_EQ(rb2.status, std::string("finished"));
  EXPECT_EQ(rb2.steps, 8);

  const auto wa = final_weights(a), wb = final_weights(b);
  REQUIRE(wa.size() == wb.size());
  double worst = 0;
  for (size_t i = 0; i < wa.size(); ++i) {
    EXPECT_EQ(wa[i].first, wb[i].first);
    worst = std::max(worst, (wa[i].second - wb[i].second).abs().max().item<double>());
  }
  std::printf("    8 steps straight vs 3 + resume to 8: max |Δw| = %.3g over %zu tensors\n", worst, wa.size());
  EXPECT_EQ(worst, 0.0);
  // The metrics log has one line per step across both sessions.
  const std::string log = read_file(b + "/metrics.jsonl");
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n') >= 8, true);
}

TEST_CASE(divergence_stops_and_keeps_the_last_good_checkpoint) {
  const std::string dir = temp_dir("diverge");
  auto job = small_job(dir);
  job.train.lr = 1e9;
  job.train.clip = 0;
  job.train.steps = 50;
  job.train.save_every = 1;
  job.train.warmup = 0;
  const auto r = train::pretrain(job);
  std::printf("    status %s after %lld steps: %s\n", r.status.c_str(), (long long)r.steps, r.message.c_str());
  EXPECT_EQ(r.status, std::string("diverged"));
  EXPECT(r.message.find("last good checkpoint") != std::string::npos);
  const auto ckpt = train::latest_checkpoint(dir);
  if (r.steps > 0) {
    REQUIRE(ckpt.has_value());
    for (const auto& [name, t] : load_safetensors(*ckpt + "/model.safetensors").tensors)
      EXPECT_MSG(torch::isfinite(t).all().item<bool>(), name << " is not finite in the kept checkpoint");
  }
}

TEST_CASE(interrupted_checkpoint_writes_are_ignored) {
  const std::string dir = temp_dir("partial");
  auto job = small_job(dir);
  job.train.steps = 2;
  train::pretrain(job);
  const auto good = train::latest_checkpoint(dir);
  REQUIRE(good.has_value());
  // A half-written newer checkpoint (no rename happened) and a `latest` pointing at garbage.
  fs::create_directories(dir + "/checkpoints/ckpt-00000099.tmp-12345");
  write_file_atomic(dir + "/checkpoints/ckpt-00000099.tmp-12345/model.safetensors", "partial");
  fs::create_directories(dir + "/checkpoints/ckpt-00000050");  // incomplete: no files
  write_file_atomic(dir + "/checkpoints/latest", "ckpt-00000050\n");
  const auto found = train::latest_checkpoint(dir);
  REQUIRE(found.has_value());
  EXPECT_EQ(*found, *good);
}

TEST_CASE(registry_records_and_lists_runs) {
  const std::string path = temp_dir("registry") + "/runs.db";
  {
    runs::Registry reg(path);
    reg.upsert({"/runs/a", "pretrain", "", "running", "", "", {{"steps", 10}}, nullptr});
    reg.upsert({"/runs/b", "finetune", "CoLA", "finished", "", "", nullptr, {{"mcc", 0.25}}});
    reg.upsert({"/runs/a", "pretrain", "", "finished", "", "", {{"steps", 10}}, {{"mlm_loss", 5.5}}});
  }
  runs::Registry reg(path);  // reopened: persisted
  const auto all = reg.list();
  EXPECT_EQ(all.size(), 2u);
  const auto a = reg.get("/runs/a");
  REQUIRE(a.has_value());
  EXPECT_EQ(a->status, std::string("finished"));
  EXPECT_EQ(a->metrics["mlm_loss"].get<double>(), 5.5);
  EXPECT_EQ(reg.list("finetune").size(), 1u);
  EXPECT(!reg.get("/runs/none").has_value());
  write_file_atomic(temp_dir("bad") + "/runs.db", "this is not a database, just text that is long enough to be read");
  EXPECT_THROWS_WITH(runs::Registry(temp_dir("bad2") + "/../bad/runs.db"), "runs.db");
}

TEST_MAIN()

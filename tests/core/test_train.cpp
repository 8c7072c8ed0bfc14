// The training engine: exact resume, divergence handling, checkpoint atomicity leftovers, and the
// run registry.
#include "harness.h"
#include "fused_adamw_oracle.h"

#include "analysis/efficiency.h"
#include "data/corpus.h"
#include "data/shards.h"
#include "io/safetensors.h"
#include "jobs/runner.h"
#include "runs/registry.h"
#include "tokenize/tokenizer.h"
#include "train/batch_loader.h"
#include "train/checkpoint.h"
#include "train/run_folder.h"
#include "train/trainer.h"
#include "util/cores.h"
#include "util/files.h"
#include "util/json_text.h"

#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>

using namespace mabert;
namespace fs = std::filesystem;

namespace {

const std::string kDemo = std::string(MABERT_RESOURCES_DIR) + "/demo/corpus.txt";

std::string temp_dir(const std::string& name) { return scratch_dir("train", name); }

const std::string& tokenizer() {
  static const std::string path = [] {
    TokenizerTrainOptions o;
    o.inputs = {kDemo};
    o.model_prefix = temp_dir("tok") + "/tok";
    o.vocab_size = 800;
    return data::train_tokenizer(o);
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

// The fused step against LibTorch's AdamW on the CPU (tests/core/fused_adamw_oracle.h; CUDA:
// test_model_cuda).
TEST_CASE(fused_adamw_matches_libtorch_adamw) { test::check_fused_adamw_against_libtorch(torch::kCPU); }

TEST_CASE(resume_gives_identical_weights) {
  const std::string a = temp_dir("straight"), b = temp_dir("resumed");
  const auto ra = train::pretrain(small_job(a));
  EXPECT_EQ(std::string(to_string(ra.status)), std::string("finished"));
  EXPECT_EQ(ra.steps, 8);

  train::Control control;
  train::Hooks hooks;
  hooks.control = &control;
  hooks.on_step = [&](const train::StepStats& s) {
    if (s.step >= 3) control.request_stop();
  };
  const auto rb1 = train::pretrain(small_job(b), hooks);
  EXPECT_EQ(std::string(to_string(rb1.status)), std::string("stopped"));
  EXPECT_EQ(rb1.steps, 3);
  auto job = small_job(b);
  job.train.resume = true;
  const auto rb2 = train::pretrain(job);
  EXPECT_EQ(std::string(to_string(rb2.status)), std::string("finished"));
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

TEST_CASE(batch_loader_gives_batches_in_order_starts_over_and_rethrows) {
  std::atomic<int64_t> made{0};
  train::BatchLoader loader(
      [&](int64_t m) {
        ++made;
        if (m == 7) {  // slow to fail: the thread is still remaking it when get(8) skips it (below)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          throw std::runtime_error("batch 7 is bad");
        }
        data::Batch b;
        b.ids = torch::full({1, 1}, m, torch::kLong);
        return b;
      },
      3);
  for (int64_t m = 0; m < 5; ++m) EXPECT_EQ(loader.get(m).ids.item<int64_t>(), m);
  EXPECT_EQ(loader.get(2).ids.item<int64_t>(), 2);  // back (a resume): starts over there
  EXPECT_EQ(loader.get(3).ids.item<int64_t>(), 3);
  EXPECT_EQ(loader.get(20).ids.item<int64_t>(), 20);  // a jump
  EXPECT_THROWS_WITH(loader.get(7), "batch 7 is bad");
  EXPECT_THROWS_WITH(loader.get(7), "batch 7 is bad");  // made again, not a stale error
  // The thread now remakes 7 (a retry would ask for it); the caller skips it instead. This once
  // hung: judged by the queue's state, get(8) looked in sequence and waited behind 7's error.
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(loader.get(8).ids.item<int64_t>(), 8);
  EXPECT(made.load() >= 12);
}

TEST_CASE(prefetching_batches_changes_no_weight) {
  // The text path and token shards, with the background loader and without: bit for bit.
  const std::string shards = temp_dir("shards");
  data::PrepareOptions po;
  po.corpus = {kDemo}, po.tokenizer = tokenizer(), po.out = shards, po.chunk_bytes = 8192;
  data::prepare_shards(po);
  for (const bool from_shards : {false, true}) {
    NamedTensors w[2];
    for (const int prefetch : {0, 3}) {
      const std::string dir = temp_dir(std::string(from_shards ? "sh" : "txt") + "-prefetch-" + std::to_string(prefetch));
      auto job = small_job(dir);
      job.train.prefetch = prefetch;
      if (from_shards) job.shards = shards, job.corpus.clear();
      const auto r = train::pretrain(job);
      EXPECT_EQ(r.steps, 8);
      w[prefetch ? 1 : 0] = final_weights(dir);
    }
    REQUIRE(w[0].size() == w[1].size());
    for (size_t i = 0; i < w[0].size(); ++i) EXPECT_MSG(torch::equal(w[0][i].second, w[1][i].second), w[0][i].first);
  }
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
  std::printf("    status %s after %lld steps: %s\n", to_string(r.status), (long long)r.steps, r.message.c_str());
  EXPECT_EQ(std::string(to_string(r.status)), std::string("diverged"));
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

// A newest checkpoint damaged on disk (one flipped bit; a file cut short, as a full disk on
// another machine leaves it) fails its checksum: it is named and passed over, never loaded, and a
// resume continues from the previous good one.
TEST_CASE(a_corrupt_newest_checkpoint_is_named_and_passed_over) {
  const std::string dir = temp_dir("corrupt");
  auto job = small_job(dir);
  job.train.steps = 4;
  job.train.save_every = 2;  // ckpt-2, then the final ckpt-4
  train::pretrain(job);
  const std::string c2 = dir + "/checkpoints/ckpt-00000002", c4 = dir + "/checkpoints/ckpt-00000004";
  REQUIRE(train::latest_checkpoint(dir) == std::optional<std::string>(c4));
  REQUIRE(fs::exists(c4 + "/checksums.json"));

  std::string weights = read_file(c4 + "/model.safetensors");
  weights[weights.size() / 2] ^= 0x10;  // one bit, in the tensor data
  write_file_atomic(c4 + "/model.safetensors", weights);
  std::vector<std::string> rejected;
  EXPECT(train::latest_checkpoint(dir, &rejected) == std::optional<std::string>(c2));
  REQUIRE(rejected.size() == 1);
  std::printf("    flipped bit: %s\n", rejected[0].c_str());
  EXPECT(rejected[0].find("ckpt-00000004: model.safetensors fails its checksum") != std::string::npos);
  EXPECT_EQ(train::check_run(dir).rejected.size(), size_t(1));
  EXPECT_EQ(train::check_run(dir).step, 2);

  // The resume says what it passed over and goes on from step 2; its new ckpt-4 verifies.
  std::vector<std::string> said;
  train::Hooks hooks;
  hooks.on_message = [&](const std::string& m) { said.push_back(m); };
  job.train.resume = true;
  const auto r = train::pretrain(job, hooks);
  EXPECT_EQ(std::string(to_string(r.status)), std::string("finished"));
  EXPECT_EQ(r.steps, 4);
  const auto said_that = [&](const std::string& what) {
    return std::any_of(said.begin(), said.end(), [&](const std::string& m) { return m.find(what) != std::string::npos; });
  };
  EXPECT(said_that("checkpoint passed over, not loaded: " + c4 + ": model.safetensors fails its checksum"));
  EXPECT(said_that("resumed from " + c2 + " at step 2"));
  EXPECT_EQ(train::checkpoint_problem(c4), std::string());

  // Cut short: the optimizer state loses its second half.
  const std::string moments = read_file(c4 + "/optimizer.safetensors");
  write_file_atomic(c4 + "/optimizer.safetensors", moments.substr(0, moments.size() / 2));
  const std::string why = train::checkpoint_problem(c4);
  std::printf("    truncated: %s\n", why.c_str());
  EXPECT(why.find("optimizer.safetensors has " + std::to_string(moments.size() / 2) + " bytes, " +
                  std::to_string(moments.size()) + " were written") != std::string::npos);
  EXPECT(train::latest_checkpoint(dir) == std::optional<std::string>(c2));
}

// The registry under concurrent writers (the studio and the CLI, or several grid ranks): two
// processes write 300 runs each (a "running" row, then its "finished" update) into one new
// database at the same moment while this one keeps listing it. No writer sees "database is
// locked", no row is lost.
TEST_CASE(registry_under_concurrent_writers_loses_no_row) {
  const std::string db = temp_dir("concurrent") + "/runs.db";
  constexpr int kRows = 300, kWriters = 2;
  std::vector<pid_t> writers;
  for (int w = 0; w < kWriters; ++w) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // a writer: SQLite only, then _exit
      int code = 0;
      try {
        runs::Registry reg(db);
        for (int i = 0; i < kRows; ++i) {
          runs::RunRecord r;
          r.id = "/runs/writer-" + std::to_string(w) + "/run-" + std::to_string(i);
          r.kind = "pretrain", r.status = "running", r.config = {{"i", i}};
          reg.upsert(r);
          r.status = "finished", r.metrics = {{"loss", 1.0 / (i + 1)}};
          reg.upsert(r);
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", w, e.what());
        code = 1;
      }
      std::fflush(stderr);
      ::_exit(code);
    }
    writers.push_back(pid);
  }
  int lists = 0, failed_lists = 0, alive = kWriters;
  std::vector<int> status(kWriters, -1);
  while (alive > 0) {
    try {
      runs::Registry reg(db);
      (void)reg.list();
      ++lists;
    } catch (const std::exception& e) {
      std::printf("    reader: %s\n", e.what());
      ++failed_lists;
    }
    for (int w = 0; w < kWriters; ++w)
      if (status[w] == -1 && ::waitpid(writers[w], &status[w], WNOHANG) == writers[w]) --alive;
  }
  for (int w = 0; w < kWriters; ++w)
    EXPECT_MSG(WIFEXITED(status[w]) && WEXITSTATUS(status[w]) == 0, "writer " << w << " failed (its message is above)");
  EXPECT_EQ(failed_lists, 0);
  const auto rows = runs::Registry(db).list();
  const auto finished = std::count_if(rows.begin(), rows.end(), [](const runs::RunRecord& r) { return r.status == "finished"; });
  std::printf("    %d writers x %d runs (2 writes each), %d lists beside them: %zu rows, %ld finished\n", kWriters, kRows,
              lists, rows.size(), static_cast<long>(finished));
  EXPECT_EQ(rows.size(), static_cast<size_t>(kWriters * kRows));
  EXPECT_EQ(finished, static_cast<long>(kWriters * kRows));
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

TEST_CASE(a_profile_on_another_thread_leaves_a_training_job_alone) {
  // The efficiency view forces the reference scan and builds and seeds models on its own thread
  // while a job trains. Neither may reach the job: its weights must equal those of the same job
  // trained alone, bit for bit (the fused and reference scans differ in the last bits, and the
  // job's dropout masks would shift with any draw from its stream). One intra-op thread each, so
  // both runs split their work identically.
  auto train_alone = [](const std::string& dir) {
    std::thread t([&] {
      at::set_num_threads(1);
      train::pretrain(small_job(dir));
    });
    t.join();
    return final_weights(dir);
  };
  const auto alone = train_alone(temp_dir("alone"));

  const std::string dir = temp_dir("beside_profile");
  std::atomic<bool> done{false};
  std::atomic<int> profiles{0};
  std::thread job([&] {
    at::set_num_threads(1);
    train::pretrain(small_job(dir));
    done = true;
  });
  std::thread profiler([&] {
    at::set_num_threads(1);
    ModelConfig cfg = ModelConfig::preset("tiny");
    cfg.d_model = 32, cfg.n_heads = 2, cfg.d_ffn = 64, cfg.d_state = 8, cfg.vocab_size = 300;
    analysis::ProfileOptions o;
    o.lengths = {48};
    o.repeats = 1;
    o.warmup = 0;
    o.mode = analysis::ProfileMode::Train;
    o.scan = "ref";
    o.seed = 7;
    while (!done) {
      analysis::profile(cfg, {"MMB"}, o);
      ++profiles;
    }
  });
  job.join();
  profiler.join();
  const auto beside = final_weights(dir);
  REQUIRE(alone.size() == beside.size());
  double worst = 0;
  for (size_t i = 0; i < alone.size(); ++i) worst = std::max(worst, (alone[i].second - beside[i].second).abs().max().item<double>());
  std::printf("    %d reference-scan profiles ran beside the job; max |Δw| vs the job alone = %.3g\n", profiles.load(), worst);
  EXPECT(profiles.load() >= 1);
  EXPECT_EQ(worst, 0.0);

  // The comparison can fail: the same job on the reference scan ends elsewhere.
  const std::string ref_dir = temp_dir("ref_scan");
  std::thread t([&] {
    at::set_num_threads(1);
    train::PretrainJob j = small_job(ref_dir);
    j.train.scan = kernels::ScanImpl::Ref;
    train::pretrain(j);
  });
  t.join();
  const auto on_ref = final_weights(ref_dir);
  double moved = 0;
  for (size_t i = 0; i < alone.size(); ++i) moved = std::max(moved, (alone[i].second - on_ref[i].second).abs().max().item<double>());
  std::printf("    the same job on the reference scan: max |Δw| = %.3g\n", moved);
  EXPECT(moved > 0);
}

TEST_CASE(registry_rows_hold_the_resolved_config) {
  // Runs through the job runner: each row's model equals the run folder's config.json, although
  // the job was given a preset's vocabulary size and no head.
  const std::string root = temp_dir("runner");
  const jobs::Recording rec{root + "/runs.db", {{"source", "test"}}};
  auto pre = small_job(root + "/pre");
  pre.model.vocab_size = 12345;
  const auto p = jobs::run(jobs::PretrainSpec{pre, 800}, rec);
  EXPECT_EQ(std::string(to_string(p.result.status)), std::string("finished"));
  runs::Registry reg(rec.registry);
  auto row = reg.get(p.run_id);
  REQUIRE(row.has_value());
  EXPECT_EQ(row->status, std::string("finished"));
  EXPECT_EQ(row->kind, std::string("pretrain"));
  EXPECT(row->config["model"] == nlohmann::json(ModelConfig::load(root + "/pre/config.json").to_json()));
  EXPECT_EQ(row->config["model"]["vocab_size"].get<int64_t>(), Tokenizer::load(tokenizer()).vocab_size());
  EXPECT_EQ(row->config.value("source", ""), std::string("test"));
  EXPECT_EQ(row->metrics["steps"].get<int64_t>(), 8);

  // A job that fails is recorded as failed with its error, and the error reaches the caller.
  auto bad = small_job(root + "/bad");
  bad.corpus = {root + "/no-such-corpus.txt"};
  EXPECT_THROWS_WITH(jobs::run(jobs::PretrainSpec{bad, 800}, rec), "no-such-corpus");
  row = reg.get(fs::absolute(root + "/bad").lexically_normal().string());
  REQUIRE(row.has_value());
  EXPECT_EQ(row->status, std::string("failed"));
  EXPECT(row->metrics.contains("error"));
}

// Training a tokenizer is a job kind like the others (the studio's Tokenizer button): recorded in
// its run folder with run.json of its kind and a row of its pieces; unrecorded from the CLI (the
// model where the prefix says); a stop before it starts writes no model.
TEST_CASE(a_tokenizer_job_is_recorded_like_the_others) {
  const std::string root = temp_dir("tokenizer-job");
  const jobs::Recording rec{root + "/runs.db", {{"source", "test"}}};
  jobs::TokenizerSpec spec;
  spec.job.inputs = {kDemo};
  spec.job.vocab_size = 600;
  spec.record_dir = root + "/tok-run";
  const jobs::JobSpec as_job = spec;
  EXPECT(jobs::kind_of(as_job) == jobs::JobKind::Tokenizer);
  EXPECT_EQ(jobs::run_dir_of(as_job), spec.record_dir);
  EXPECT(jobs::training_options(as_job) == nullptr);
  std::vector<std::string> said;
  train::Hooks hooks;
  hooks.on_message = [&](const std::string& m) { said.push_back(m); };
  const jobs::JobOutcome out = jobs::run(as_job, rec, hooks);
  EXPECT(out.result.status == train::RunStatus::Finished);
  EXPECT_EQ(Tokenizer::load(spec.record_dir + "/tokenizer.model").vocab_size(), 600);
  EXPECT_EQ(out.result.final_metrics.at("pieces"), 600.0);
  const auto info = read_json_file(spec.record_dir + "/run.json");
  EXPECT(jobs::kind_of_run(info) == jobs::JobKind::Tokenizer);
  runs::Registry reg(rec.registry);
  const auto row = reg.get(out.run_id);
  REQUIRE(row.has_value());
  EXPECT_EQ(row->kind, std::string("tokenizer"));
  EXPECT_EQ(row->status, std::string("finished"));
  EXPECT_EQ(row->config["vocab"].get<int>(), 600);
  EXPECT_EQ(row->config.value("source", ""), std::string("test"));
  EXPECT(!said.empty() && said.back().find("600 pieces") != std::string::npos);

  jobs::TokenizerSpec cli;  // `mabert tokenizer train --out PREFIX`: no folder, no row
  cli.job.inputs = {kDemo};
  cli.job.vocab_size = 500;
  cli.job.model_prefix = root + "/plain/tok";
  fs::create_directories(root + "/plain");
  const jobs::JobOutcome plain = jobs::run(cli, rec);
  EXPECT(plain.run_id.empty());
  EXPECT_EQ(Tokenizer::load(root + "/plain/tok.model").vocab_size(), 500);
  EXPECT_EQ(reg.list().size(), static_cast<size_t>(1));

  train::Control control;
  hooks.control = &control;
  control.request_stop();
  spec.record_dir = root + "/stopped";
  EXPECT(jobs::run(spec, rec, hooks).result.status == train::RunStatus::Stopped);
  EXPECT(!fs::exists(spec.record_dir + "/tokenizer.model"));
  EXPECT_THROWS_WITH(jobs::run(jobs::TokenizerSpec{}, rec), "needs a corpus");
}

TEST_CASE(pause_blocks_the_loop_until_resumed) {
  // The GUI's Pause: the loop waits on the control's condition variable between steps.
  const std::string dir = temp_dir("pause");
  train::Control control;
  train::Hooks hooks;
  hooks.control = &control;
  std::atomic<int64_t> last_step{0};
  hooks.on_step = [&](const train::StepStats& s) {
    last_step = s.step;
    if (s.step == 2) control.set_paused(true);
  };
  train::TrainResult r;
  std::thread t([&] { r = train::pretrain(small_job(dir), hooks); });
  while (!control.paused()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int64_t while_paused = last_step.load();
  control.set_paused(false);
  t.join();
  std::printf("    paused at step %lld for 300 ms; finished at step %lld\n", (long long)while_paused, (long long)r.steps);
  EXPECT_EQ(while_paused, 2);
  EXPECT_EQ(r.steps, 8);
  EXPECT_EQ(std::string(to_string(r.status)), std::string("finished"));
}

// A stop asked for after a job was requested but before its thread began it holds (the studio
// reset the flag when the job began, so a window closed right after Start waited for the whole
// run: GUI monkey, TSan seed 8 and ASan seed 32). Jobs are numbered as they are requested; a stop
// covers those requested before it, not later ones; a stopped job ends before its first step.
TEST_CASE(a_stop_before_the_job_begins_holds) {
  train::Control control;
  const uint64_t first = control.issue(), second = control.issue();
  control.request_stop();  // both are queued: the stop covers them
  const uint64_t third = control.issue();
  control.begin(first);
  EXPECT(control.stop_requested());
  control.begin(second);
  EXPECT(control.stop_requested());
  control.begin(third);
  EXPECT(!control.stop_requested());
  control.begin(0);  // a job nobody numbered begins unstopped
  EXPECT(!control.stop_requested());

  const std::string dir = temp_dir("stop-before");
  train::Hooks hooks;
  hooks.control = &control;
  int steps = 0;
  hooks.on_step = [&](const train::StepStats&) { ++steps; };
  const uint64_t job = control.issue();
  control.request_stop();
  control.begin(job);
  const train::TrainResult r = train::pretrain(small_job(dir), hooks);
  EXPECT(r.status == train::RunStatus::Stopped);
  EXPECT_EQ(r.steps, 0);
  EXPECT_EQ(steps, 0);
  control.begin(control.issue());  // the next job runs
  const train::TrainResult next = train::pretrain(small_job(temp_dir("stop-before-next")), hooks);
  EXPECT(next.status == train::RunStatus::Finished);
  EXPECT_EQ(next.steps, 8);
}

// An evaluation job stops when asked (the studio's window closing mid-Evaluate waited for the whole
// split before: GUI monkey, ASan seed 7): a stop flag already set ends it "stopped", with no
// metrics and no hooks' evaluation; unset, the shipped SST-2 model scores its dev split.
TEST_CASE(an_evaluation_job_stops_when_asked) {
  const std::string run = std::string(MABERT_RESOURCES_DIR) + "/models/mabert-tiny-sst2";
  jobs::EvalSpec spec;
  spec.job.run = run, spec.job.data_dir = std::string(MABERT_SHARED_DATA) + "/glue/SST-2";
  train::Control control;
  train::Hooks hooks;
  hooks.control = &control;
  int evaluations = 0;
  hooks.on_eval = [&](const train::EvalStats&) { ++evaluations; };
  control.request_stop();
  const jobs::JobOutcome stopped = jobs::run(spec, {}, hooks);
  EXPECT(stopped.result.status == train::RunStatus::Stopped);
  EXPECT(stopped.eval && stopped.eval->stopped && stopped.result.final_metrics.empty());
  EXPECT_EQ(evaluations, 0);
  control.reset();
  const jobs::JobOutcome done = jobs::run(spec, {}, hooks);
  EXPECT(done.result.status == train::RunStatus::Finished && !done.eval->stopped);
  EXPECT(done.result.final_metrics.count("accuracy") && done.result.final_metrics.at("accuracy") > 0.6);
  EXPECT_EQ(evaluations, 1);
  std::printf("    stopped before the first batch; then accuracy %.4f on %zu examples\n", done.result.final_metrics.at("accuracy"),
              done.eval->examples);
}

TEST_MAIN()

// Threads follow what a cluster grants, not the machine's core count: SLURM_CPUS_PER_TASK (and
// the affinity mask and cgroup quota) bound usable_cores(); each local rank gets its share, at least 1.
TEST_CASE(usable_cores_follow_slurm_and_affinity) {
  const char* before = std::getenv("SLURM_CPUS_PER_TASK");
  const std::string keep = before ? before : "";
  unsetenv("SLURM_CPUS_PER_TASK");
  const int all = usable_cores();
  EXPECT(all >= 1 && all <= static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  setenv("SLURM_CPUS_PER_TASK", "1", 1);
  EXPECT_EQ(usable_cores(), 1);
  EXPECT_EQ(threads_per_local_rank(4), 1);
  setenv("SLURM_CPUS_PER_TASK", "not-a-number", 1);
  EXPECT_EQ(usable_cores(), all);  // ignored, as an unset one
  if (before) setenv("SLURM_CPUS_PER_TASK", keep.c_str(), 1);
  else unsetenv("SLURM_CPUS_PER_TASK");
  EXPECT_EQ(threads_per_local_rank(1), all);
}

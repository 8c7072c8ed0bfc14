// Training-related subcommands: tokenizer train, tokenize, pretrain, finetune, eval, predict.
// Each records its run in the registry and writes its results atomically.
#include "cli/commands.h"
#include "cli/progress.h"

#include "analysis/drift.h"
#include "analysis/inspect.h"
#include "data/corpus.h"
#include "data/glue.h"
#include "data/recall.h"
#include "dist/world.h"
#include "jobs/runner.h"
#include "tokenize/tokenizer.h"
#include "util/cores.h"
#include "util/files.h"
#include "util/resources.h"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

namespace mabert::cli {
namespace fs = std::filesystem;

namespace {

train::Control g_control;
void on_signal(int) { g_control.request_stop_from_signal(); }

// Ctrl-C asks the loop to stop after the current step and write a checkpoint.
void install_stop_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

struct Common {
  train::TrainOptions t;
  std::string out, registry, preset = "tiny", schedule, config, conv, position, token_shift;
  std::optional<ModelConfig> recipe_model;  // a recall task's recipe, used without --preset / --config
  double init_std = 0;                      // 0: the preset's / config's
  int threads = 0, dist_timeout = 300;
  bool json = false, quiet = false;
};

void add_train_options(CLI::App* c, Common& o) {
  c->add_option("--steps", o.t.steps, "Optimizer steps")->capture_default_str();
  c->add_option("--batch", o.t.batch_size, "Batch size")->capture_default_str();
  c->add_option("--accum", o.t.grad_accum, "Gradient accumulation steps")->capture_default_str();
  c->add_option("--lr", o.t.lr, "Peak learning rate")->capture_default_str();
  c->add_option("--warmup", o.t.warmup, "Warm-up: a fraction of the steps (<1) or a number of steps")->capture_default_str();
  c->add_option("--weight-decay", o.t.weight_decay, "AdamW weight decay")->capture_default_str();
  c->add_option("--clip", o.t.clip, "Gradient-norm clip (0 = off)")->capture_default_str();
  c->add_option("--max-len", o.t.max_len, "Maximum sequence length in tokens")->capture_default_str();
  c->add_option("--padding", o.t.left_padding, "Pad batches after the tokens (right) or before them (left), in training and evaluation")
      ->transform(padding_side())
      ->default_str("right");
  c->add_option("--eval-every", o.t.eval_every, "Evaluate every N steps (0 = at the end)")->capture_default_str();
  c->add_option("--save-every", o.t.save_every, "Checkpoint every N steps (0 = at the end)")->capture_default_str();
  c->add_option("--log-every", o.t.log_every, "Log every N steps")->capture_default_str();
  c->add_option("--patience", o.t.patience, "Stop after N evaluations without improvement (0 = never)")->capture_default_str();
  c->add_option("--stop-at", o.t.stop_at, "Stop once the task's metric reaches this value at an evaluation (0 = never; e.g. 0.99 for a recall task)")
      ->check(CLI::Range(0.0, 1e9));
  c->add_option("--seed", o.t.seed, "Random seed")->capture_default_str();
  c->add_option("--device", o.t.device, "cpu or cuda (default cpu)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, DeviceKind>{{"cpu", DeviceKind::Cpu}, {"cuda", DeviceKind::Cuda}}));
  c->add_option("--dropout-masks", o.t.keyed_dropout,
                "keyed: each example's dropout masks drawn from (seed, step, its place in the global batch), so 1 process and any "
                "number of ranks train the same model; stream: one random stream per rank, as PyTorch DDP")
      ->transform(CLI::CheckedTransformer(std::map<std::string, bool>{{"keyed", true}, {"stream", false}}))
      ->default_str("keyed");
  c->add_option("--overlap-comm", o.t.overlap_comm,
                "Under torchrun: all-reduce gradient buckets during backward as they become ready (on), or all after it (off)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, bool>{{"on", true}, {"off", false}}))
      ->default_str("on");
  c->add_option("--comm-bucket-mb", o.t.comm_bucket_mb, "Gradient bucket size for the all-reduce, in MB")
      ->capture_default_str()->check(CLI::Range(0.01, 1024.0));
  c->add_option("--prefetch", o.t.prefetch, "Batches made ahead on a background thread while the step runs (0: in the step)")
      ->capture_default_str()->check(CLI::Range(0, 64));
  c->add_flag("--bf16", o.t.bf16, "bf16 autocast (CUDA; CPUs: fast with AMX / AVX512-BF16, without, the same roundings computed in fp32, no faster, and says so)");
  c->add_option("--scan", o.t.scan, "Selective-scan path for this run: auto, ref, cpu, cuda (default auto: the device's fast path, self-checked)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, kernels::ScanImpl>{
          {"auto", kernels::ScanImpl::Auto}, {"ref", kernels::ScanImpl::Ref}, {"cpu", kernels::ScanImpl::Cpu}, {"cuda", kernels::ScanImpl::Cuda}}));
  c->add_flag("--resume", o.t.resume, "Continue the run in --out from its latest checkpoint");
  c->add_option("--out", o.out, "Run folder (default runs/<kind>-<time>)");
  c->add_option("--registry", o.registry, "Run registry database (default $MABERT_REGISTRY or ~/.local/share/mabert/runs.db)");
  c->add_option("--threads", o.threads, "Intra-op threads (0 = LibTorch's default; under torchrun, cores / local ranks)");
  c->add_option("--dist-timeout", o.dist_timeout, "Under torchrun: seconds a collective may wait for a peer before failing")
      ->capture_default_str()->check(CLI::Range(1, 24 * 3600));
  c->add_flag("--quiet", o.quiet, "No progress output");
  c->add_flag("--json", o.json, "Print the result as JSON");
}

void add_model_options(CLI::App* c, Common& o) {
  c->add_option("--preset", o.preset, "Preset: tiny, small, base, or a baseline at a size (bert-, albert-, longformer-, bigbird-, deberta-<size>)")->capture_default_str();
  c->add_option("--schedule", o.schedule, "Layer schedule over T M B P L S D (overrides the preset's)");
  c->add_option("--config", o.config, "Model config JSON (instead of a preset)");
  c->add_option("--conv", o.conv, "Depth-wise convolution of M/B/P layers: causal (looks back) or centred (looks both ways; end padding leaks without PSM)")
      ->check(CLI::IsMember({"causal", "centred"}));
  c->add_option("--init-std", o.init_std, "Standard deviation of the weights' normal initialisation (default: the preset's, BERT's 0.02)")
      ->check(CLI::Range(1e-6, 1.0));
  c->add_option("--position", o.position, "Absolute positions: learned, or none (M/B/P layers carry order; default: the preset's, learned; a recall task's recipe: none when a layer scans)")
      ->check(CLI::IsMember({"learned", "none"}));
  c->add_option("--token-shift", o.token_shift, "on: each position also sees a linear map of the previous token's embedding (default: the preset's, off; a recall task's recipe: on)")
      ->check(CLI::IsMember({"on", "off"}));
}

ModelConfig model_config(const Common& o) {
  ModelConfig cfg = o.recipe_model ? *o.recipe_model : o.config.empty() ? ModelConfig::preset(o.preset) : ModelConfig::load(o.config);
  if (!o.schedule.empty()) cfg.schedule = o.schedule;
  if (o.recipe_model) train::recall_positions(cfg);  // the recipe's positions follow the schedule
  if (!o.position.empty()) cfg.position = o.position;
  if (!o.token_shift.empty()) cfg.token_shift = o.token_shift == "on";
  if (!o.conv.empty()) cfg.conv = o.conv;
  if (o.init_std > 0) cfg.init_std = o.init_std;
  cfg.validate();
  return cfg;
}

// The recall tasks' parameters as options (finetune: the task; eval: what to evaluate with instead).
// given() holds only the options on the command line, as run.json's "recall" names them.
struct RecallOptions {
  data::RecallTask t;
  std::vector<std::pair<CLI::Option*, std::string>> opts;
  // overrides: eval's options, which default to what the run was trained with.
  void add(CLI::App* c, bool overrides = false) {
    auto num = [&](const char* flag, int64_t* v, const char* field, const std::string& help) {
      opts.push_back({c->add_option(flag, *v, help + (overrides ? " (recall runs; default: the run's)" : " (recall tasks; default " + std::to_string(*v) + ")")), field});
    };
    num("--length", &t.length, "length", "Tokens per example, [CLS] included");
    num("--min-length", &t.min_length, "min_length", "Shortest example: lengths uniform in [min, --length] (0 = all --length; padded batches)");
    num("--pairs", &t.pairs, "pairs", "Key-value pairs (mqar; needle: 0 = as many as fit) or data tokens (selective-copy)");
    num("--queries", &t.queries, "queries", "mqar: keys queried per example (0 = every pair)");
    num("--task-vocab", &t.vocab, "vocab", "Keys + values, half each");
    num("--noise", &t.noise, "noise", "Filler tokens");
    num("--eval-examples", &t.eval_examples, "eval_examples", "Held-out examples");
    opts.push_back({c->add_option("--gap-power", t.gap_power, "mqar: query gaps p(g) ∝ g^(power-1), Zoology's power_a; 1 = uniform (default 0.01)")
                        ->check(CLI::Range(1e-9, 1.0)), "gap_power"});
    opts.push_back({c->add_flag("--queries-before", t.queries_before, "mqar: the queries before the pairs (a forward scan cannot answer)"), "queries_before"});
  }
  nlohmann::json given() const {
    const nlohmann::json all = t.to_json();
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [o, field] : opts)
      if (o->count() > 0) j[field] = all[field];
    return j;
  }
};

// --knock-out: layer indices (0-based, as `mabert info` numbers them) and kind letters, e.g.
// "3,5" or "T" (every T layer) or "M,5"; "each" (the sweep) is handled by the caller.
std::vector<int64_t> knock_out_layers(const std::string& spec, const std::string& schedule) {
  std::vector<int64_t> out;
  std::stringstream in(spec);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.size() == 1 && std::isalpha(static_cast<unsigned char>(item[0]))) {
      const std::vector<int64_t> of_kind = layers_of_kind(schedule, item[0]);
      out.insert(out.end(), of_kind.begin(), of_kind.end());
      if (of_kind.empty()) throw CLI::ValidationError("--knock-out", "no '" + item + "' layer in the schedule " + schedule);
      continue;
    }
    try {
      size_t used = 0;
      const long long i = std::stoll(item, &used);
      if (used != item.size() || i < 0 || i >= static_cast<long long>(schedule.size())) throw std::invalid_argument(item);
      out.push_back(i);
    } catch (const std::exception&) {
      throw CLI::ValidationError("--knock-out", "'" + item + "' is neither a layer index 0.." + std::to_string(schedule.size() - 1) +
                                                    " nor a layer letter of the schedule " + schedule);
    }
  }
  return out;
}

// This process's share of a data-parallel job when torchrun launched it (one process otherwise):
// the group joined, the GPU of the local rank, intra-op threads shared among the local ranks, and
// after a torchrun restart the run continues from its latest checkpoint.
std::shared_ptr<dist::World> join_world(Common& o) {
  const dist::Launch launch = dist::launch_from_env();
  if (o.threads > 0) at::set_num_threads(o.threads);
  if (!launch.launched) return std::make_shared<dist::World>();
  if (o.out.empty()) throw CLI::ValidationError("--out", "under torchrun every rank must write to the same run folder: give --out");
  if (o.threads == 0)
    at::set_num_threads(threads_per_local_rank(launch.local_world_size));
  o.t.device_index = launch.local_rank;
  if (launch.restart > 0) o.t.resume = true;
  return dist::World::join(launch, o.t.device, std::chrono::seconds(o.dist_timeout));
}

// The hooks a terminal run uses: the progress bar or lines, and Ctrl-C as a stop.
train::Hooks terminal_hooks(Progress& progress) {
  install_stop_handler();
  train::Hooks hooks;
  hooks.on_step = [&](const train::StepStats& s) { progress.step(s); };
  hooks.on_eval = [&](const train::EvalStats& e) {
    std::string m;
    for (const auto& [k, v] : e.metrics) m += " " + k + "=" + std::to_string(v);
    progress.line("eval at step " + std::to_string(e.step) + ":" + m);
  };
  hooks.on_message = [&](const std::string& m) { progress.line(m); };
  hooks.control = &g_control;
  return hooks;
}

// Prints a finished job's outcome (JSON with --json); a diverged run is an error.
void report(const Common& o, const jobs::JobOutcome& out, Progress& progress, const dist::World& world) {
  const train::TrainResult& r = out.result;
  if (!world.root()) {  // rank 0 reports for the job
  } else if (o.json) {
    std::cout << nlohmann::ordered_json({{"run", out.run_id}, {"status", to_string(r.status)}, {"steps", r.steps},
                                         {"last_loss", r.last_loss}, {"final_metrics", r.final_metrics},
                                         {"best_metrics", r.best_metrics}, {"message", r.message},
                                         {"timing", {{"step_s", r.step_s}, {"data_make_s", r.data_make_s},
                                                     {"batches_made", r.batches_made}, {"data_wait_s", r.data_wait_s},
                                                     {"comm_wait_s", r.comm_wait_s}}}})
                     .dump(2)
              << '\n';
  } else {
    progress.line("run " + out.run_id + ": " + to_string(r.status) + " after " + std::to_string(r.steps) + " steps" +
                  (r.message.empty() ? "" : " (" + r.message + ")"));
    for (const auto& [k, v] : r.final_metrics) std::printf("%s\t%.4f\n", k.c_str(), v);
  }
  if (r.status == train::RunStatus::Diverged) throw std::runtime_error(r.message);
}

// A recall task without a model or budget of its own gets the calibrated recipe
// (train::recall_recipe): each option the command line does not set takes the recipe's value.
void apply_recall_recipe(Common& o, CLI::App* c) {
  const train::RecallRecipe r = train::recall_recipe();
  const bool own_model = c->count("--preset") > 0 || c->count("--config") > 0;
  if (!own_model) {
    o.recipe_model = r.model;
  }
  auto take = [&](const char* flag, auto& dst, const auto& value) {
    if (c->count(flag) == 0) dst = value;
  };
  take("--steps", o.t.steps, r.train.steps);
  take("--batch", o.t.batch_size, r.train.batch_size);
  take("--lr", o.t.lr, r.train.lr);
  take("--warmup", o.t.warmup, r.train.warmup);
  take("--weight-decay", o.t.weight_decay, r.train.weight_decay);
  take("--eval-every", o.t.eval_every, r.train.eval_every);
  take("--log-every", o.t.log_every, r.train.log_every);
}

// A training job with the fields every kind takes from the common options.
template <class Job>
Job job_from(Common& a, std::shared_ptr<dist::World> world) {
  Job job;
  job.world = std::move(world);
  job.model = model_config(a);
  job.run_dir = a.out;
  job.train = a.t;
  return job;
}

// mabert tokenizer train
void add_tokenizer_train_command(CLI::App& app) {
  auto opt = std::make_shared<TokenizerTrainOptions>();
  CLI::App* tok = app.add_subcommand("tokenizer", "Tokenizer tools");
  tok->require_subcommand(1);
  CLI::App* c = tok->add_subcommand("train", "Train a SentencePiece tokenizer with [PAD] [UNK] [CLS] [SEP] [MASK]");
  c->add_option("--input", opt->inputs, "Corpus files or folders")->required();
  c->add_option("--out", opt->model_prefix, "Output prefix: writes PREFIX.model and PREFIX.vocab")->required();
  c->add_option("--vocab", opt->vocab_size, "Vocabulary size")->capture_default_str();
  c->add_option("--type", opt->model_type, "unigram or bpe")->capture_default_str();
  c->add_option("--max-sentences", opt->max_sentences, "Sentences sampled for training")->capture_default_str();
  c->callback([opt] {
    const jobs::JobOutcome out = jobs::run(jobs::TokenizerSpec{*opt, ""}, {});  // unrecorded: PREFIX.model is the result
    std::printf("%s.model: %lld pieces\n", opt->model_prefix.c_str(), static_cast<long long>(out.result.final_metrics.at("pieces")));
  });
}

// mabert tokenize
void add_tokenize_command(CLI::App& app) {
  struct Args {
    std::string model, text, file, pair;
    int64_t max_len = 512;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = app.add_subcommand("tokenize", "Encode text: ids and pieces, with [CLS]/[SEP]");
  c->add_option("--model", a->model, "Tokenizer .model file")->required();
  auto* text = c->add_option("--text", a->text, "A sentence");
  auto* file = c->add_option("--file", a->file, "A file: one sentence per line");
  text->excludes(file);
  c->add_option("--pair", a->pair, "Second sentence of a pair (with --text)");
  c->add_option("--max-len", a->max_len, "Truncate to this many tokens")->capture_default_str();
  c->add_flag("--json", a->json, "Machine-readable output");
  c->callback([a] {
    if (a->text.empty() && a->file.empty()) throw CLI::ValidationError("tokenize", "give --text or --file");
    const Tokenizer tok = Tokenizer::load(a->model);
    std::vector<std::string> lines;
    if (!a->text.empty()) lines.push_back(a->text);
    else {
      const std::string all = read_file(a->file);
      size_t p = 0;
      while (p < all.size()) {
        size_t nl = all.find('\n', p);
        if (nl == std::string::npos) nl = all.size();
        lines.push_back(all.substr(p, nl - p));
        p = nl + 1;
      }
    }
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& l : lines) {
      const Encoding e = tok.encode(l, a->pair.empty() ? nullptr : &a->pair, a->max_len);
      const auto pieces = tok.pieces(e.ids);
      if (a->json) {
        out.push_back({{"text", l}, {"ids", e.ids}, {"pieces", pieces}, {"segments", e.segments}, {"truncated", e.truncated}});
      } else {
        for (size_t i = 0; i < e.ids.size(); ++i) std::printf("%s%lld", i ? " " : "", (long long)e.ids[i]);
        std::printf("\n");
        for (size_t i = 0; i < pieces.size(); ++i) std::printf("%s%s", i ? " " : "", pieces[i].c_str());
        std::printf("\n");
      }
    }
    if (a->json) std::cout << (out.size() == 1 ? out[0] : out).dump(2) << '\n';
  });
}

// mabert pretrain
void add_pretrain_command(CLI::App& app) {
  struct Args : Common {
    std::vector<std::string> corpus;
    std::string shards, tokenizer;
    int vocab = 8000;
    int64_t max_sentences = 0;
    bool packed = false, demo = false;
  };
  auto a = std::make_shared<Args>();
  a->t.steps = 1000;
  a->t.batch_size = 32;
  a->t.lr = 5e-4;
  CLI::App* c = app.add_subcommand("pretrain", "MLM pretraining on a text corpus");
  c->add_option("--corpus", a->corpus, "Corpus files or folders");
  c->add_option("--shards", a->shards, "A token-shard folder (mabert data prepare) instead of --corpus: read by memory mapping");
  c->add_option("--tokenizer", a->tokenizer, "Tokenizer .model (default: train one on the corpus into the run folder)");
  c->add_option("--vocab", a->vocab, "Vocabulary size when training the tokenizer")->capture_default_str();
  c->add_option("--max-sentences", a->max_sentences, "Use at most N sentences (0 = all)");
  c->add_flag("--packed", a->packed, "Pack text into blocks of --max-len (default: natural sentences)");
  c->add_flag("--demo", a->demo, "The shipped demo corpus, a tiny MMTMMT model, about two minutes on 2 cores");
  add_model_options(c, *a);
  add_train_options(c, *a);
  c->callback([a] {
    if (a->demo) {
      if (a->corpus.empty()) a->corpus = {resources_dir() + "/demo/corpus.txt"};
      if (a->vocab == 8000) a->vocab = 2000;
      if (a->t.steps == 1000) a->t.steps = 300;
      if (a->t.max_len == 128) a->t.max_len = 64;
      a->t.log_every = std::min<int64_t>(a->t.log_every, 10);
    }
    if (a->corpus.empty() == a->shards.empty()) throw CLI::ValidationError("pretrain", "give --corpus (or --demo) or --shards, one of them");
    const auto world = join_world(*a);
    if (a->out.empty()) a->out = a->demo ? jobs::new_run_dir("runs", "demo") : jobs::new_run_dir("runs", jobs::JobKind::Pretrain);
    auto job = job_from<train::PretrainJob>(*a, world);
    job.corpus = a->corpus, job.shards = a->shards, job.tokenizer = a->tokenizer;
    job.max_sentences = a->max_sentences, job.packed = a->packed;
    Progress progress(a->quiet || a->json || !world->root());
    report(*a, jobs::run(jobs::PretrainSpec{job, a->vocab}, {a->registry, {}}, terminal_hooks(progress)), progress, *world);
  });
}

// mabert finetune
void add_finetune_command(CLI::App& app) {
  struct Args : Common {
    std::string task, data, init, tokenizer;
    int64_t max_train = 0;
    RecallOptions recall;
  };
  auto a = std::make_shared<Args>();
  a->t.steps = 500;
  a->t.batch_size = 32;
  a->t.lr = 1e-4;
  CLI::App* c = app.add_subcommand("finetune", "Fine-tune on a GLUE task (official TSV layout) or a synthetic recall task");
  c->add_option("--task", a->task, "CoLA, SST-2, MRPC, QQP, STS-B, MNLI, QNLI, RTE, WNLI; or mqar, needle, selective-copy (docs/TASKS.md)")->required();
  c->add_option("--data", a->data, "The task's folder, e.g. ../shared/data/glue/CoLA (GLUE tasks)");
  c->add_option("--from", a->init, "A pretraining run folder to start from (default: random initialisation)");
  c->add_option("--tokenizer", a->tokenizer, "Tokenizer .model (needed without --from)");
  c->add_option("--max-train", a->max_train, "Use at most N training examples (0 = all)");
  add_model_options(c, *a);
  add_train_options(c, *a);
  a->recall.add(c);
  c->callback([a, c] {
    const bool recall = data::is_recall_task(a->task);
    if (!recall) {
      try {
        data::glue_task(a->task);
      } catch (const std::exception& e) {
        throw CLI::ValidationError("--task", std::string(e.what()) + "; or a recall task: mqar, needle, selective-copy");
      }
    }
    if (recall) apply_recall_recipe(*a, c);
    else if (a->data.empty()) throw CLI::ValidationError("--data", "a GLUE task needs its folder, e.g. ../shared/data/glue/" + a->task);
    else if (!a->recall.given().empty()) throw CLI::ValidationError("--task", "recall-task options given for the GLUE task " + a->task);
    const auto world = join_world(*a);
    const std::string name = recall ? std::string(data::to_string(data::parse_recall_kind(a->task))) : data::glue_task(a->task).name;
    if (a->out.empty()) a->out = jobs::new_run_dir("runs", jobs::JobKind::Finetune, name);
    auto job = job_from<train::FinetuneJob>(*a, world);
    job.task = a->task, job.data_dir = a->data, job.init = a->init, job.tokenizer = a->tokenizer;
    job.max_train_examples = a->max_train, job.recall = a->recall.t;
    Progress progress(a->quiet || a->json || !world->root());
    report(*a, jobs::run(job, {a->registry, {}}, terminal_hooks(progress)), progress, *world);
  });
}

// mabert eval
void add_eval_command(CLI::App& app) {
  struct Args {
    std::string run, data, split = "dev", predictions, psm, knock_out;
    int64_t max_len = 0, batch = 64;
    int threads = 0;
    bool json = false, last = false, left_padding = false;
    RecallOptions recall;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = app.add_subcommand("eval", "Evaluate a fine-tuned run on a GLUE split or a recall task's held-out set");
  c->add_option("--run", a->run, "Fine-tuning run folder")->required();
  c->add_option("--data", a->data, "The task's folder (default: the one the run was trained on)");
  c->add_option("--split", a->split, "train, dev, test, dev_matched, ... (recall tasks: dev or test, two held-out streams)")->capture_default_str();
  c->add_option("--predictions", a->predictions, "Write one prediction per example, in the task's order (TSV)");
  c->add_option("--max-len", a->max_len, "Maximum sequence length (default: the length the run was trained at)");
  c->add_option("--batch", a->batch, "Batch size")->capture_default_str();
  c->add_flag("--last", a->last, "Use the latest checkpoint instead of the best one");
  CLI::Option* padding = c->add_option("--padding", a->left_padding, "Pad on this side (right, left) instead of the one the run was trained with")
                             ->transform(padding_side());
  c->add_option("--psm", a->psm, "Padding-safe masking to serve with, on the same weights, instead of the trained one")
      ->check(CLI::Validator(
          [](std::string& name) {
            try {
              analysis::mask_config(name);
              return std::string();
            } catch (const std::invalid_argument& e) {
              return std::string(e.what());
            }
          },
          "CONFIG"));
  c->add_option("--knock-out", a->knock_out,
                "Layers switched off: indices as `mabert info` numbers them and layer letters (\"3,5\", \"T\"); "
                "\"each\": the metric with each layer, and each kind, off in turn");
  a->recall.add(c, true);
  c->add_option("--threads", a->threads, "Intra-op threads (0 = LibTorch's default)");
  c->add_flag("--json", a->json, "Machine-readable output");
  c->callback([a, padding] {
    if (a->threads > 0) at::set_num_threads(a->threads);
    jobs::EvalJob job;
    if (padding->count() > 0) job.left_padding = a->left_padding;
    job.psm = a->psm;
    job.run = a->run, job.data_dir = a->data, job.split = a->split, job.max_len = a->max_len, job.batch = a->batch;
    job.best = !a->last, job.predictions = a->predictions;
    job.recall = a->recall.given();
    if (a->knock_out == "each") {
      jobs::EvalOutcome base;
      const auto rows = jobs::knock_out_sweep(job, &base);
      const double ref = rows.front().metrics.at(base.metric);
      if (a->json) {
        nlohmann::ordered_json out = {{"task", base.task}, {"split", a->split}, {"metric", base.metric}, {"rows", nlohmann::ordered_json::array()}};
        for (const auto& r : rows)
          out["rows"].push_back({{"knock_out", r.what}, {"layers", r.layers}, {"metrics", r.metrics}, {"drop", ref - r.metrics.at(base.metric)}});
        std::cout << out.dump(2) << '\n';
        return;
      }
      std::printf("%s %s (%zu examples): %s with layers knocked out\n", base.task.c_str(), a->split.c_str(), base.examples, base.metric.c_str());
      std::printf("%-12s %10s %10s\n", "knocked out", base.metric.c_str(), "drop");
      for (const auto& r : rows) std::printf("%-12s %10.4f %+10.4f\n", r.what.c_str(), r.metrics.at(base.metric), ref - r.metrics.at(base.metric));
      return;
    }
    if (!a->knock_out.empty())
      job.knock_out = knock_out_layers(a->knock_out, ModelConfig::load(a->run + "/config.json").schedule);
    const jobs::EvalOutcome r = *jobs::run(jobs::EvalSpec{job, ""}, {}).eval;  // not recorded
    const std::string& task = r.task;
    const auto& m = r.metrics;
    if (a->json) {
      std::cout << nlohmann::ordered_json({{"task", task}, {"split", a->split}, {"examples", r.examples},
                                           {"padding", r.padding}, {"psm", r.psm}, {"knock_out", job.knock_out}, {"metrics", m}})
                       .dump(2)
                << '\n';
    } else {
      std::string off;
      for (int64_t i : job.knock_out) off += (off.empty() ? ", layers " : ",") + std::to_string(i);
      if (!off.empty()) off += " knocked out";
      std::printf("%s %s (%zu examples, %s padding, PSM %s%s)\n", task.c_str(), a->split.c_str(), r.examples,
                  r.padding.c_str(), r.psm.c_str(), off.c_str());
      for (const auto& [k, v] : m) std::printf("%s\t%.4f\n", k.c_str(), v);
    }
  });
}

// mabert sample: a recall task's examples as text
void add_sample_command(CLI::App& app) {
  struct Args {
    std::string task = "mqar";
    uint64_t seed = 1;
    int64_t count = 2;
    bool json = false;
    RecallOptions recall;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = app.add_subcommand("sample", "Examples of a synthetic recall task as text, with the answer at each slot");
  c->add_option("--task", a->task, "mqar, needle or selective-copy")->capture_default_str();
  c->add_option("--seed", a->seed, "Stream seed")->capture_default_str();
  c->add_option("--count", a->count, "Examples")->capture_default_str()->check(CLI::Range(1, 10000));
  a->recall.add(c);
  c->add_flag("--json", a->json, "Machine-readable output");
  c->callback([a] {
    data::RecallTask t = a->recall.t;
    t.kind = data::parse_recall_kind(a->task);
    t.validate();
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (int64_t i = 0; i < a->count; ++i) {
      const data::RecallExample ex = data::recall_example(t, a->seed, i);
      std::vector<int64_t> answers;
      for (int64_t l : ex.labels)
        if (l != -100) answers.push_back(l);
      const std::string text = data::recall_text(t, ex.ids), said = data::recall_text(t, answers);
      if (a->json) out.push_back({{"ids", ex.ids}, {"text", text}, {"answers", said}});
      else std::printf("%s\n  answers: %s\n", text.c_str(), said.c_str());
    }
    if (a->json) std::cout << nlohmann::ordered_json({{"task", t.to_json()}, {"examples", out}}).dump(2) << '\n';
  });
}

// mabert predict
void add_predict_command(CLI::App& app) {
  struct Args {
    std::string run, text, pair;
    int64_t max_len = 128;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = app.add_subcommand("predict", "Label, probabilities and MAP weight per token for a sentence or pair");
  c->add_option("--run", a->run, "Fine-tuning run folder")->required();
  c->add_option("--text", a->text, "Sentence")->required();
  c->add_option("--pair", a->pair, "Second sentence for pair tasks");
  c->add_option("--max-len", a->max_len, "Maximum sequence length")->capture_default_str();
  c->add_flag("--json", a->json, "Machine-readable output");
  c->callback([a] {
    train::LoadedRun r = train::load_run(a->run);
    const std::string task = r.info.value("task", "");
    if (data::is_recall_task(task)) {  // the answer at each "?" slot, from the MLM decoder
      const data::RecallTask t = data::RecallTask::from_json(r.info.value("recall", nlohmann::json::object()), a->run + "/run.json: recall");
      analysis::InspectOptions o;
      o.answer_token = data::RecallVocab(t).slot;
      o.max_len = r.model->config().max_len;
      const analysis::Inspection in = analysis::inspect(r.model, r.tokenizer, a->text, nullptr, o);
      if (in.answers.empty()) throw CLI::ValidationError("--text", "no slot '?' to answer in \"" + a->text + "\" (e.g. \"k1 v2 k3 v0 k1 ?\")");
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& ans : in.answers) {
        nlohmann::ordered_json top = nlohmann::ordered_json::array();
        for (const auto& [piece, p] : ans.top) top.push_back({{"piece", piece.substr(piece.rfind("\xe2\x96\x81") == 0 ? 3 : 0)}, {"probability", p}});
        out.push_back({{"position", ans.position}, {"answers", top}});
        if (!a->json) {
          std::printf("? at %lld:", static_cast<long long>(ans.position));
          for (const auto& x : top) std::printf(" %s %.4f", x["piece"].get<std::string>().c_str(), x["probability"].get<double>());
          std::printf("\n");
        }
      }
      if (a->json) std::cout << nlohmann::ordered_json({{"task", task}, {"slots", out}}).dump(2) << '\n';
      return;
    }
    const auto p = train::predict(r.model, r.tokenizer, a->text, a->pair.empty() ? nullptr : &a->pair, a->max_len);
    std::string label = std::to_string(p.label);
    if (!task.empty() && !data::glue_task(task).regression) label = data::glue_task(task).labels.at(static_cast<size_t>(p.label));
    if (a->json) {
      std::cout << nlohmann::ordered_json({{"label", label}, {"probabilities", p.probabilities}, {"pieces", p.pieces}, {"map_weights", p.map_weights}}).dump(2) << '\n';
      return;
    }
    std::printf("label: %s\n", label.c_str());
    for (size_t i = 0; i < p.probabilities.size(); ++i) std::printf("p[%zu] = %.4f\n", i, p.probabilities[i]);
    for (size_t i = 0; i < p.pieces.size(); ++i) std::printf("%-16s %.4f\n", p.pieces[i].c_str(), p.map_weights[i]);
  });
}

}  // namespace

void add_train_commands(CLI::App& app) {
  add_tokenizer_train_command(app);
  add_tokenize_command(app);
  add_pretrain_command(app);
  add_finetune_command(app);
  add_eval_command(app);
  add_sample_command(app);
  add_predict_command(app);
}

}  // namespace mabert::cli

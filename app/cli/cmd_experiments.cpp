// Experiments: `mabert ablate` (grids → the paper's tables), `mabert bench model` (efficiency
// against length, ratios against an all-T baseline measured in the same run) and `mabert drift`
// (padding drift over a probe set). Results are written atomically as CSV, Markdown and SVG.
#include "cli/commands.h"

#include "analysis/drift.h"
#include "analysis/efficiency.h"
#include "analysis/profile_compare.h"
#include "bench/gemm_bench.h"
#include "data/corpus.h"
#include "data/glue.h"
#include "dist/world.h"
#include "experiments/grid.h"
#include "train/trainer.h"
#include "util/cores.h"
#include "util/cpu_features.h"
#include "util/files.h"
#include "util/allocator.h"
#include "util/openmp_wait.h"
#include "util/svg_plot.h"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

namespace mabert::cli {
namespace fs = std::filesystem;

namespace {

train::Control g_control;
void on_signal(int) { g_control.request_stop_from_signal(); }

void write_outputs(const std::string& prefix, const std::string& csv, const std::string& md, const std::string& svg) {
  if (prefix.empty()) return;
  if (fs::path(prefix).has_parent_path()) fs::create_directories(fs::path(prefix).parent_path());
  write_file_atomic(prefix + ".csv", csv);
  if (!md.empty()) write_file_atomic(prefix + ".md", md);
  if (!svg.empty()) write_file_atomic(prefix + ".svg", svg);
  std::fprintf(stderr, "wrote %s.csv%s%s\n", prefix.c_str(), md.empty() ? "" : ", .md", svg.empty() ? "" : ", .svg");
}

}  // namespace

// --- bench model ---------------------------------------------------------------------------------
namespace {

// Display names of the baseline families (the paper's tables).
std::string family_label(const std::string& family) {
  if (family == "bert") return "BERT";
  if (family == "albert") return "ALBERT";
  if (family == "longformer") return "Longformer";
  if (family == "bigbird") return "BigBird";
  if (family == "deberta") return "DeBERTa";
  return "MaBERT";
}

// mabert ablate
void add_ablate_command(CLI::App& app) {
  struct Args {
    std::string grid, out, registry;
    int threads = 0, dist_timeout = 6 * 3600;
    bool dry = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = app.add_subcommand("ablate", "Run (or resume) an ablation grid; writes results.md and results.csv. Under "
                                             "torchrun the cells spread over the ranks");
  c->add_option("--grid", a->grid, "Grid JSON (see resources/grids/)")->required();
  c->add_option("--out", a->out, "Output folder (default runs/grid-<name>)");
  c->add_option("--registry", a->registry, "Run registry database");
  c->add_option("--threads", a->threads, "Intra-op threads (0 = LibTorch's default)");
  c->add_flag("--dry-run", a->dry, "Validate the grid and list its encoders and cells");
  c->add_option("--dist-timeout", a->dist_timeout,
                "Under torchrun: seconds a rank may wait for the others between phases (the longest pretraining)")
      ->capture_default_str()->check(CLI::Range(1, 7 * 24 * 3600));
  c->callback([a] {
    const dist::Launch launch = dist::launch_from_env();
    if (a->threads > 0) at::set_num_threads(a->threads);
    else if (launch.distributed())
      at::set_num_threads(threads_per_local_rank(launch.local_world_size));
    const experiments::Grid g = experiments::Grid::load(a->grid);
    const std::string out = a->out.empty() ? "runs/grid-" + g.name : a->out;
    std::set<std::string> encoders;
    if (g.pretraining)
      for (const auto& v : g.variants) encoders.insert(experiments::encoder_key(g, v));
    std::fprintf(stderr, "grid %s: %zu variants, %zu encoders to pretrain, %zu tasks × %zu seeds = %zu fine-tuning cells\n",
                 g.name.c_str(), g.variants.size(), encoders.size(), g.tasks.size(), g.seeds.size(),
                 g.variants.size() * g.tasks.size() * g.seeds.size());
    if (a->dry) {
      for (const auto& v : g.variants)
        std::printf("%-16s encoder %s%s  %s\n", v.name.c_str(),
                    g.pretraining ? experiments::encoder_key(g, v).c_str() : "none (random initialisation)",
                    v.pretrain_seed ? (" (pretraining seed " + std::to_string(*v.pretrain_seed) + ")").c_str() : "",
                    v.overrides.dump().c_str());
      return;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    experiments::GridHooks h;
    h.world = dist::World::join(launch, DeviceKind::Cpu, std::chrono::seconds(a->dist_timeout));
    h.device_index = launch.local_rank;  // each rank's CUDA cells on its own GPU, not all on cuda:0
    const bool root = h.world->root();
    h.control = &g_control;
    h.registry = a->registry;
    h.on_message = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
    h.on_cell = [root](const experiments::CellResult& c) {
      if (!root) return;
      std::fprintf(stderr, "  %-14s %-6s seed %-3llu %.4f%s\n", c.variant.c_str(), c.task.c_str(),
                   static_cast<unsigned long long>(c.seed), c.score, c.reused ? " (done earlier)" : "");
    };
    const auto rep = experiments::run_grid(g, out, h);
    if (!root) return;  // rank 0 reports the grid
    std::cout << experiments::results_markdown(g, rep.cells);
    std::fprintf(stderr, "%s: %d encoders pretrained (%d reused), %d cells fine-tuned (%d reused) in %.0f s\n", out.c_str(),
                 rep.pretrain_runs, rep.pretrain_reused, rep.finetune_runs, rep.finetune_reused, rep.seconds);
    if (g_control.stop_requested()) throw std::runtime_error("stopped; run the same command again to resume");
  });
}

// mabert drift
void add_drift_command(CLI::App& app) {
  struct Args {
    std::string run, task, data, text, out, side = "both";
    std::vector<int64_t> pads = {0, 1, 2, 4, 8, 16, 32, 64};
    size_t count = 64;
    int64_t max_len = 64;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = app.add_subcommand("drift", "Padding drift of a run's encoder over a probe set (paper Figs. 3–4)");
  c->add_option("--run", a->run, "Run folder (pretraining or fine-tuning)")->required();
  c->add_option("--task", a->task, "GLUE task whose dev sentences are the probes");
  c->add_option("--data", a->data, "The task's folder (with --task)");
  c->add_option("--text", a->text, "Or: a text file / corpus whose sentences are the probes");
  c->add_option("--count", a->count, "Probe sentences")->capture_default_str();
  c->add_option("--max-len", a->max_len, "Probe length limit in tokens")->capture_default_str();
  c->add_option("--pads", a->pads, "Pad counts")->delimiter(',')->capture_default_str();
  c->add_option("--side", a->side, "left, right or both")->capture_default_str();
  c->add_option("--out", a->out, "Output prefix: PREFIX.csv and PREFIX-<side>-<cls|mean>.svg");
  c->add_flag("--json", a->json, "Print the curves as JSON");
  c->callback([a] {
    std::vector<std::string> sentences;
    if (!a->task.empty()) {
      if (a->data.empty()) throw CLI::ValidationError("--data", "give the task's folder with --task");
      const auto split = data::load_glue(a->task, a->data, data::glue_task(a->task).name == "MNLI" ? "dev_matched" : "dev");
      for (const auto& e : split.examples) sentences.push_back(e.a);
    } else if (!a->text.empty()) {
      for (const auto& d : data::read_corpus({a->text}))
        for (const auto& s : d.sentences) sentences.push_back(s);
    } else {
      throw CLI::ValidationError("drift", "give --task and --data, or --text");
    }
    if (a->side != "left" && a->side != "right" && a->side != "both")
      throw CLI::ValidationError("--side", "expected left, right or both");
    train::LoadedRun r = train::load_run(a->run);
    const auto probes = analysis::make_probes(r.tokenizer, sentences, a->count, a->max_len);
    std::string csv = "side,config,pads,cls,mean,cls_max,mean_max,probes\n";
    nlohmann::ordered_json js = nlohmann::ordered_json::array();
    for (const std::string side : {"right", "left"}) {
      if (a->side != "both" && a->side != side) continue;
      analysis::DriftOptions o;
      o.pads = a->pads, o.left = side == "left";
      const auto curves = analysis::padding_drift(r.model, probes, o);
      std::vector<PlotSeries> cls, mean;
      for (const auto& cv : curves) {
        PlotSeries sc{cv.config, {}, cv.cls}, sm{cv.config, {}, cv.mean};
        for (size_t k = 0; k < cv.pads.size(); ++k) {
          char line[256];
          std::snprintf(line, sizeof line, "%s,%s,%lld,%.6g,%.6g,%.6g,%.6g,%zu\n", side.c_str(), cv.config.c_str(),
                        static_cast<long long>(cv.pads[k]), cv.cls[k], cv.mean[k], cv.cls_max[k], cv.mean_max[k], probes.size());
          csv += line;
          sc.x.push_back(static_cast<double>(cv.pads[k]));
          sm.x.push_back(static_cast<double>(cv.pads[k]));
        }
        cls.push_back(sc), mean.push_back(sm);
        js.push_back({{"side", side}, {"config", cv.config}, {"pads", cv.pads}, {"cls", cv.cls}, {"mean", cv.mean}});
        if (!a->json)
          std::printf("%-5s %-15s CLS at %lld pads %.3g (worst probe %.3g); mean %.3g\n", side.c_str(), cv.config.c_str(),
                      static_cast<long long>(cv.pads.back()), cv.cls.back(), cv.cls_max.back(), cv.mean.back());
      }
      if (!a->out.empty()) {
        PlotSpec spec;
        spec.x_label = "pads added", spec.y_label = "cosine distance (log; 0 drawn at 1e-9)", spec.log_y = true;
        spec.title = "Padding drift, final [CLS], " + side + " padding";
        write_file_atomic(a->out + "-" + side + "-cls.svg", svg_line_plot(spec, cls));
        spec.title = "Padding drift, valid-token mean, " + side + " padding";
        write_file_atomic(a->out + "-" + side + "-mean.svg", svg_line_plot(spec, mean));
      }
    }
    write_outputs(a->out, csv, "", "");
    if (a->json) std::cout << js.dump(2) << '\n';
  });
}

}  // namespace

namespace {

struct BenchModelArgs {
  std::string preset = "small", config, mode = "both", device = "cpu", scan = "auto", out, trace, precision = "fp32";
  std::vector<std::string> schedules = {"MMTMMTMMTMMT"}, models;
  std::vector<int64_t> lengths = {128, 256, 512, 1024, 2048, 4096};
  int64_t batch = 1, train_batch = 8;
  int repeats = 5, warmup = 1, threads = 0;
  bool bf16 = false, json = false, baselines = false;
};

// What `bench model` compares (see the comment inside).
std::vector<analysis::ProfileModel> models_to_compare(const BenchModelArgs& a, std::string* baseline) {
  // What to compare: schedules of one width (ratio: design / all-T), or whole presets (ratio:
  // the mean of the others / the design, the paper's "reduces time by N×").
  std::vector<analysis::ProfileModel> models;
  if (a.baselines || !a.models.empty()) {
    if (!a.config.empty()) throw CLI::ValidationError("--config", "cannot be combined with --models/--baselines");
    std::vector<std::string> names = a.models;
    if (a.baselines) {
      const std::string size = a.preset.substr(a.preset.find('-') + 1);
      names = {"mabert-" + size};
      for (const auto& f : ModelConfig::baseline_families()) names.push_back(f + "-" + size);
    }
    for (const auto& n : names) {
      const std::string family = n.find('-') == std::string::npos ? "mabert" : n.substr(0, n.find('-'));
      models.push_back({a.baselines ? family_label(family) : n, ModelConfig::preset(n), false});
    }
  } else {
    ModelConfig cfg = a.config.empty() ? ModelConfig::preset(a.preset) : ModelConfig::load(a.config);
    std::vector<std::string> schedules = a.schedules;
    *baseline = std::string(schedules.front().size(), 'T');
    if (std::find(schedules.begin(), schedules.end(), *baseline) == schedules.end()) schedules.push_back(*baseline);
    for (const auto& sc : schedules) {
      models.push_back({sc, cfg, false});
      models.back().cfg.schedule = sc;
    }
  }
  // The precision: every model in bf16, or each model twice — "<name> bf16" after the fp32 ones,
  // timed in the same rounds, so the bf16 speed-up is a ratio within one run.
  const std::string precision = a.bf16 ? "bf16" : a.precision;
  if (precision == "bf16") {
    for (auto& m : models) m.bf16 = true;
  } else if (precision == "both") {
    for (size_t i = 0, n = models.size(); i < n; ++i) {
      analysis::ProfileModel m = models[i];
      m.name += " bf16", m.bf16 = true;
      models.push_back(m);
    }
  } else if (precision != "fp32") {
    throw CLI::ValidationError("--precision", "expected fp32, bf16 or both, got '" + a.precision + "'");
  }
  return models;
}

// This machine's GEMM rate in one precision: the peak each model's FLOP rate is read against.
struct Peak {
  double gflops = 0;
  std::string label;
};
Peak measure_peak(DeviceKind device, bool bf16) {
  const bench::GemmPeak measured = bench::gemm_peak_gflops(torch_device(device), bf16, 1.0);
  const std::string label = std::string(bf16 ? "bf16" : "fp32") + " GEMM " + measured.shape.name + " on this " +
                            (device == DeviceKind::Cuda ? "GPU" : "CPU");
  std::fprintf(stderr, "peak: %s, %.1f GFLOP/s (measured now; model FLOPs as docs/KERNELS.md counts them)\n",
               label.c_str(), measured.gflops);
  return {measured.gflops, label};
}

// `bench model`: profiles the models, prints and writes the tables, plots and JSON.
void run_bench_model(const BenchModelArgs* a) {
  if (a->threads > 0) at::set_num_threads(a->threads);
  std::string baseline;  // schedules mode: the all-T schedule
  const std::vector<analysis::ProfileModel> models = models_to_compare(*a, &baseline);
  if (!a->out.empty() && fs::path(a->out).has_parent_path()) fs::create_directories(fs::path(a->out).parent_path());
  const std::string design = models.front().name;
  std::vector<std::string> names, names_in[2];  // all; by precision (fp32, bf16)
  for (const auto& m : models) names.push_back(m.name), names_in[m.bf16].push_back(m.name);
  const bool any_bf16 = !names_in[1].empty();
  const std::string precision = names_in[0].empty() ? "bf16" : any_bf16 ? "fp32 and bf16" : "fp32";
  using analysis::ProfileMode;
  std::vector<ProfileMode> modes = {ProfileMode::Inference, ProfileMode::Train};
  if (a->mode != "both") {
    try {
      modes = {analysis::parse_profile_mode(a->mode)};
    } catch (const std::invalid_argument&) {
      throw CLI::ValidationError("--mode", "expected inference, train or both, got '" + a->mode + "'");
    }
  }
  std::string csv, md;
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  Peak peaks[2];  // the precisions this run uses
  for (const bool bf16 : {false, true})
    if (!names_in[bf16].empty()) peaks[bf16] = measure_peak(parse_device(a->device), bf16);
  for (const ProfileMode mode : modes) {
    const std::string mode_name = analysis::to_string(mode);
    analysis::ProfileOptions o;
    o.lengths = a->lengths, o.mode = mode, o.repeats = a->repeats, o.warmup = a->warmup;
    o.batch = mode == ProfileMode::Train ? a->train_batch : a->batch;
    o.device = parse_device(a->device), o.scan = a->scan;  // precision: per model
    if (!a->trace.empty()) o.trace_prefix = a->trace + "-" + mode_name;
    std::fprintf(stderr, "%s, batch %lld, %s%s, %d repeats after %d warm-up; d=%lld, %zu models; %d threads, OpenMP wait: %s, %s\n",
                 mode_name.c_str(), static_cast<long long>(o.batch), to_string(o.device), (" " + precision).c_str(), o.repeats,
                 o.warmup, static_cast<long long>(models.front().cfg.d_model), models.size(), at::get_num_threads(),
                 openmp_wait_setting().c_str(), allocator_setting().c_str());
    if (const std::string w = any_bf16 ? bf16_warning(torch_device(o.device)) : ""; !w.empty())
      std::fprintf(stderr, "warning: %s\n", w.c_str());
    const auto pts = analysis::profile(models, o, [&](const analysis::ProfilePoint& p) {
      std::fprintf(stderr, "  %-14s L=%-5lld %9.2f ms  (min %.2f, max %.2f)  peak %8.1f MB  %7.1f GFLOP/s (%.0f %% of peak)  %s\n",
                   p.schedule.c_str(), static_cast<long long>(p.length), p.median_ms, p.min_ms, p.max_ms,
                   p.peak_bytes / 1048576.0, p.gflops, peaks[p.bf16].gflops > 0 ? 100 * p.gflops / peaks[p.bf16].gflops : 0.0,
                   p.error.c_str());
    });
    {
      std::istringstream lines(analysis::profile_csv(pts, baseline.empty() ? design : baseline));
      std::string line;
      std::getline(lines, line);
      if (csv.empty()) csv = "mode," + line + "\n";
      while (std::getline(lines, line)) csv += mode_name + "," + line + "\n";
    }
    analysis::ComparisonTable table{names, baseline, a->lengths, ""};
    table.heading = mode_name + " (batch " + std::to_string(o.batch) + ", " + to_string(o.device) + ", " + precision +
                    ", median of " + std::to_string(o.repeats) + ")";
    md += analysis::comparison_markdown(pts, table);
    for (const bool bf16 : {false, true})
      if (!names_in[bf16].empty())
        md += analysis::flop_rate_markdown(pts, names_in[bf16], a->lengths, peaks[bf16].gflops, peaks[bf16].label);
    if (!names_in[0].empty() && any_bf16) md += analysis::bf16_speedup_markdown(pts, names_in[0], a->lengths);
    std::vector<PlotSeries> series;
    for (const auto& n : names) {
      series.push_back({n, {}, {}});
      for (int64_t L : a->lengths)
        if (const double t = analysis::median_at(pts, n, L); t > 0)
          series.back().x.push_back(static_cast<double>(L)), series.back().y.push_back(t);
    }
    if (!a->out.empty()) {
      PlotSpec spec;
      spec.title = mode == ProfileMode::Train ? "Training-step time" : "Inference latency";
      spec.x_label = "sequence length", spec.y_label = "ms (median)", spec.log_x = true, spec.log_y = true;
      write_file_atomic(a->out + "-" + mode_name + ".svg", svg_line_plot(spec, series));
    }
    for (const auto& p : pts)
      all.push_back({{"mode", mode_name}, {"schedule", p.schedule}, {"length", p.length}, {"median_ms", p.median_ms},
                     {"min_ms", p.min_ms}, {"max_ms", p.max_ms}, {"peak_bytes", p.peak_bytes}, {"rss_bytes", p.rss_bytes},
                     {"params", p.params}, {"gflops", p.gflops}, {"precision", p.bf16 ? "bf16" : "fp32"},
                     {"peak_gflops", peaks[p.bf16].gflops}, {"error", p.error}});
  }
  if (baseline.empty()) {
    md += "\n### parameters\n\n| model | parameters (M) |\n|---|---|\n";
    for (const auto& m : models) {
      char row[96];
      std::snprintf(row, sizeof row, "| %s | %.3f |\n", m.name.c_str(), analysis::estimate_parameters(m.cfg) / 1e6);
      md += row;
    }
  }
  write_outputs(a->out, csv, md, "");
  if (a->json) std::cout << all.dump(2) << '\n';
  else std::cout << md;
}

}  // namespace

void add_bench_model_command(CLI::App* bench) {
  auto a = std::make_shared<BenchModelArgs>();
  CLI::App* c = bench->add_subcommand("model", "Whole-model latency, training-step time and peak memory against length (paper §4.5)");
  c->add_option("--preset", a->preset, "Width preset: tiny, small, base (with --baselines: the size)")->capture_default_str();
  c->add_option("--config", a->config, "Model config JSON instead of a preset");
  c->add_option("--schedules", a->schedules, "Schedules to compare; an all-T baseline of the same depth is added")
      ->delimiter(',')->capture_default_str();
  c->add_option("--models", a->models, "Presets to compare instead of schedules (e.g. bert-small,deberta-small,small); "
                                       "the first is the design, compared with the mean of the others")
      ->delimiter(',');
  c->add_flag("--baselines", a->baselines, "MaBERT at --preset's size against the paper's five baselines at the same size "
                                           "(BERT, ALBERT, Longformer, BigBird, DeBERTa; Tables B5–B7)");
  c->add_option("--lengths", a->lengths, "Sequence lengths")->delimiter(',')->capture_default_str();
  c->add_option("--mode", a->mode, "inference, train or both")->capture_default_str();
  c->add_option("--batch", a->batch, "Inference batch")->capture_default_str();
  c->add_option("--train-batch", a->train_batch, "Training-step batch (fixed across lengths)")->capture_default_str();
  c->add_option("--repeats", a->repeats, "Timed repeats after warm-up (median reported; at least 5)")->capture_default_str()
      ->check(CLI::Range(5, 1000));
  c->add_option("--warmup", a->warmup, "Untimed warm-up runs")->capture_default_str();
  c->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  auto* precision = c->add_option("--precision", a->precision,
                                   "fp32, bf16, or both (each model twice, '<name> bf16' timed in the same rounds as its fp32 "
                                   "self, each against its own precision's GEMM peak)")
                        ->capture_default_str();
  c->add_flag("--bf16", a->bf16, "--precision bf16: CUDA bf16 weights (inference) / autocast (training); CPU bf16 matrix weights + autocast (inference) / autocast (training), fast with AMX / AVX512-BF16; without, the same roundings computed in fp32 (no faster than fp32)")
      ->excludes(precision);
  c->add_option("--scan", a->scan, "Selective-scan path: auto, ref, cpu, cuda")->capture_default_str();
  c->add_option("--out", a->out, "Output prefix: writes PREFIX.csv, PREFIX.md and PREFIX-<mode>.svg");
  c->add_option("--trace", a->trace, "After the timed runs, three more of each point under LibTorch's operator profiler: "
                "Chrome traces PREFIX-<mode>-<model>-<length>.json, spaces in the model name as _ (scripts/op_profile.py tables them)");
  c->add_option("--threads", a->threads, "Intra-op threads (0 = LibTorch's default)");
  c->add_flag("--json", a->json, "Print the points as JSON");
  c->callback([a] { run_bench_model(a.get()); });
}

// --- ablate, drift -------------------------------------------------------------------------------
void add_experiment_commands(CLI::App& app) {
  add_ablate_command(app);
  add_drift_command(app);
}

}  // namespace mabert::cli

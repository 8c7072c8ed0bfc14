// The analyses behind the GUI views and the experiment commands: inspection (MAP weights,
// attention, SSM traces), padding drift under each masking configuration, the efficiency
// profiler's protocol, and the composer's analytic parameter count against the real model.
#include "harness.h"

#include "analysis/drift.h"
#include "analysis/efficiency.h"
#include "analysis/inspect.h"
#include "analysis/profile_compare.h"
#include "data/corpus.h"
#include "tokenize/tokenizer.h"
#include "util/files.h"

#include <torch/torch.h>

#include <filesystem>
#include <unistd.h>

using namespace mabert;
namespace fs = std::filesystem;

namespace {

const std::string kDemo = std::string(MABERT_RESOURCES_DIR) + "/demo/corpus.txt";

const Tokenizer& tokenizer() {
  static const Tokenizer tok = [] {
    const auto dir = fs::temp_directory_path() / ("mabert_test_analysis_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    TokenizerTrainOptions o;
    o.inputs = {kDemo};
    o.model_prefix = (dir / "tok").string();
    o.vocab_size = 600;
    return Tokenizer::load(data::train_tokenizer(o));
  }();
  return tok;
}

MaBert tiny_model(const std::string& schedule, const std::string& pooling = "map") {
  ModelConfig cfg = ModelConfig::preset("tiny");
  cfg.d_model = 32, cfg.n_heads = 2, cfg.d_ffn = 64, cfg.d_state = 8, cfg.max_len = 256;
  cfg.schedule = schedule, cfg.pooling = parse_pooling(pooling), cfg.vocab_size = tokenizer().vocab_size();
  torch::manual_seed(3);
  MaBert m(cfg);
  m->eval();
  return m;
}

const std::vector<std::string> kSentences = {
    "The quiet river ran past the old mill.", "Nobody saw the boat leave at dawn.",
    "She said that the letter had arrived too late.", "A small dog barked twice and then slept."};

}  // namespace

TEST_CASE(estimated_parameters_match_the_built_model) {
  for (const std::string schedule : {"T", "M", "B", "P", "MMTMMT", "TBPM"})
    for (const std::string pooling : {"map", "cls", "mean"}) {
      ModelConfig cfg = ModelConfig::preset("tiny");
      cfg.schedule = schedule, cfg.pooling = parse_pooling(pooling), cfg.vocab_size = 500;
      MaBert m(cfg);
      EXPECT_MSG(analysis::estimate_parameters(cfg) == count_parameters(*m),
                 schedule << "/" << pooling << ": estimate " << analysis::estimate_parameters(cfg) << " vs "
                          << count_parameters(*m));
    }
  ModelConfig base = ModelConfig::preset("base");
  std::printf("    base MMTMMTMMTMMT: %.1f M parameters (paper: 205.3 M with its tokenizer)\n",
              analysis::estimate_parameters(base) / 1e6);
  // The memory estimate grows with length and training needs more than inference.
  EXPECT_GT(analysis::estimate_memory_bytes(base, 1024, false), analysis::estimate_memory_bytes(base, 512, false));
  EXPECT_GT(analysis::estimate_memory_bytes(base, 512, true), analysis::estimate_memory_bytes(base, 512, false));
}

// The FLOP count's products with weights against the built model: every weight matrix a token
// passes through, 2 FLOPs per entry per token (the B layer's two branches each count their own
// x_proj and dt_proj). Attention and the scan against their written formulas.
TEST_CASE(estimated_flops_match_the_built_models_weight_products) {
  for (const std::string schedule : {"T", "M", "B", "P", "L", "S", "MMTMMT", "TBPM"}) {
    ModelConfig cfg = ModelConfig::preset("tiny");
    cfg.schedule = schedule, cfg.vocab_size = 500;
    MaBert m(cfg);
    const int64_t L = 96;
    double products = 0;  // FLOPs of the weight products, from the built model's matrices
    for (const auto& p : m->named_parameters()) {
      const std::string& n = p.key();
      if (n.rfind("layers.", 0) != 0 || p.value().dim() != 2 || n.size() < 7 || n.compare(n.size() - 7, 7, ".weight") != 0)
        continue;
      const double entries = static_cast<double>(p.value().numel());
      // Longformer's global projections: k and v for every token, q for [CLS] alone.
      products += n.find("global_qkv") != std::string::npos ? 2.0 * L * entries * 2 / 3 + 2.0 * entries / 3 : 2.0 * L * entries;
    }
    const analysis::FlopEstimate f = analysis::estimate_flops(cfg, L);
    EXPECT_MSG(std::abs(f.projections - products) < 1e-6 * f.projections,
               schedule << ": projections " << f.projections << " vs the model's weight products " << products);
    EXPECT_EQ(f.train_step(), 3 * f.forward());
  }
  ModelConfig cfg = ModelConfig::preset("tiny");
  const double D = cfg.d_model, E = cfg.d_inner(), N = cfg.d_state, K = cfg.d_conv, L = 200;
  cfg.schedule = "T";
  EXPECT_EQ(analysis::estimate_flops(cfg, 200).attention, 4 * L * L * D);
  EXPECT_EQ(analysis::estimate_flops(cfg, 200).scan, 0.0);
  cfg.schedule = "B";
  EXPECT_EQ(analysis::estimate_flops(cfg, 200).scan, 2 * (2 * L * E * K + 7 * L * E * N + 8 * L * E));
  EXPECT_EQ(analysis::estimate_flops(cfg, 200).attention, 0.0);
  // The MLM head: 2 × (D·W + W·V) per masked token.
  cfg.vocab_size = 500;
  EXPECT_EQ(analysis::estimate_flops(cfg, 200, 30).projections - analysis::estimate_flops(cfg, 200).projections,
            2.0 * 30 * (D * D + D * 500));
  const ModelConfig base = ModelConfig::preset("base");
  std::printf("    base MMTMMTMMTMMT at 512 tokens: %.1f GFLOP forward (attention %.1f %%, scan %.1f %%)\n",
              analysis::estimate_flops(base, 512).forward() / 1e9,
              100 * analysis::estimate_flops(base, 512).attention / analysis::estimate_flops(base, 512).forward(),
              100 * analysis::estimate_flops(base, 512).scan / analysis::estimate_flops(base, 512).forward());
}

TEST_CASE(inspection_map_weights_sum_to_one_with_zero_on_pads) {
  MaBert m = tiny_model("MTM");
  for (bool left : {false, true}) {
    analysis::InspectOptions o;
    o.pads = 5, o.left_pad = left, o.attention_layer = 1, o.ssm_layer = 0;
    const auto r = analysis::inspect(m, tokenizer(), kSentences[0], nullptr, o);
    const size_t L = r.tokens.size();
    REQUIRE(r.pool_weights.size() == L && r.valid.size() == L);
    double sum = 0;
    int pads = 0;
    for (size_t i = 0; i < L; ++i) {
      sum += r.pool_weights[i];
      if (!r.valid[i]) {
        ++pads;
        EXPECT_EQ(r.pool_weights[i], 0.0);
        EXPECT_EQ(r.tokens[i], std::string("[PAD]"));
      }
    }
    EXPECT_EQ(pads, 5);
    EXPECT_LE(std::abs(sum - 1.0), 1e-6);
    EXPECT_EQ(left ? r.valid.front() : r.valid.back(), 0);
    // Attention: {H, L, L}, each row a distribution, no weight on pad keys.
    REQUIRE(r.attention.defined());
    EXPECT_EQ(r.attention.size(0), 2);
    EXPECT_EQ(r.attention.size(1), static_cast<int64_t>(L));
    auto rows = r.attention.sum(-1);
    EXPECT_LE((rows - 1).abs().max().item<double>(), 1e-5);
    for (size_t j = 0; j < L; ++j)
      if (!r.valid[j]) EXPECT_LE(r.attention.select(2, static_cast<int64_t>(j)).abs().max().item<double>(), 0.0);
    // SSM trace: with state masking, a pad step leaves every state unchanged and has Δ = 0.
    REQUIRE(r.states.defined() && r.state_norms.defined() && r.delta.defined() && r.path2d.defined());
    EXPECT_EQ(r.states.size(0), static_cast<int64_t>(L));
    EXPECT_EQ(r.path2d.size(1), 2);
    EXPECT_EQ(r.path_variance.size(), size_t{2});
    for (size_t t = 0; t < L; ++t) {
      if (r.valid[t]) continue;
      EXPECT_EQ(r.delta[static_cast<int64_t>(t)].abs().max().item<double>(), 0.0);
      if (t > 0) {
        const double change = (r.states[static_cast<int64_t>(t)] - r.states[static_cast<int64_t>(t) - 1]).abs().max().item<double>();
        EXPECT_EQ(change, 0.0);
      }
    }
  }
  // Wrong layer kinds are explained.
  analysis::InspectOptions bad;
  bad.attention_layer = 0;
  EXPECT_THROWS_WITH(analysis::inspect(m, tokenizer(), kSentences[0], nullptr, bad), "layer 0 (counted from 0)", "no attention");
}

TEST_CASE(padding_drift_is_flat_only_with_full_masking) {
  // A B layer: its reversed scan carries right-hand pads into the valid tokens too.
  // Freshly initialised SSMs write little into their state (small Δ, small out_proj), so the leak
  // is ~1e-7; arbitrary weights of a larger scale make it plain. Masking must hold for any weights.
  MaBert m = tiny_model("MBTMMT", "map");
  {
    torch::NoGradGuard g;
    for (auto& p : m->named_parameters())
      if (p.key().find("norm") == std::string::npos) p.value().normal_(0, 0.3);
  }
  const auto probes = analysis::make_probes(tokenizer(), kSentences, kSentences.size(), 48);
  REQUIRE(probes.size() == kSentences.size());
  for (bool left : {false, true}) {
    analysis::DriftOptions o;
    o.left = left;
    const auto curves = analysis::padding_drift(m, probes, o);
    REQUIRE(curves.size() == 5);
    for (const auto& c : curves) {
      EXPECT_EQ(c.pads.size(), o.pads.size());
      EXPECT_LE(std::abs(c.cls.front()), 1e-12);  // k = 0 is the reference itself
      std::printf("    %s padding, %-15s CLS at 64 pads %.3g, mean %.3g\n", left ? "left " : "right", c.config.c_str(),
                  c.cls.back(), c.mean.back());
    }
    const auto& full = curves.back();
    EXPECT_EQ(full.config, std::string("pre+post+state"));
    for (size_t k = 0; k < full.pads.size(); ++k) {
      EXPECT_LE(full.cls_max[k], 1e-5);
      EXPECT_LE(full.mean_max[k], 1e-5);
    }
    // Without any masking, pads reach the valid tokens through the scans' states.
    EXPECT_GT(curves.front().mean.back(), 1e-9);
    EXPECT_GT(curves.front().cls.back(), 1e3 * std::max(1e-15, full.cls.back()));
  }
  // The model's own PSM setting is restored.
  EXPECT(m->config().psm_pre && m->config().psm_post && m->config().psm_state);
  EXPECT_THROWS_WITH(analysis::mask_config("pre+state"), "pre+state", "pre+post+state");
}

TEST_CASE(profile_reports_medians_of_repeats_and_measured_memory) {
  ModelConfig cfg = ModelConfig::preset("tiny");
  cfg.d_model = 32, cfg.n_heads = 2, cfg.d_ffn = 64, cfg.d_state = 8, cfg.vocab_size = 300;
  analysis::ProfileOptions o;
  o.lengths = {32, 96};
  o.repeats = 5;
  int seen = 0;
  for (const std::string mode : {"inference", "train"}) {
    o.mode = analysis::parse_profile_mode(mode);
    const auto pts = analysis::profile(cfg, {"MMT", "TTT"}, o, [&](const analysis::ProfilePoint&) { ++seen; });
    REQUIRE(pts.size() == 4);
    for (const auto& p : pts) {
      EXPECT(p.error.empty());
      EXPECT_GT(p.median_ms, 0.0);
      EXPECT_GT(p.gflops, 0.0);
      EXPECT_LE(p.min_ms, p.median_ms);
      EXPECT_LE(p.median_ms, p.max_ms);
      EXPECT_GT(p.peak_bytes, 0);
      EXPECT_GT(p.params, 0);
    }
    // Lengths outer, schedules inner; attention's L×L scores: all-T at 96 needs more than at 32.
    EXPECT(pts[0].schedule == "MMT" && pts[1].schedule == "TTT" && pts[1].length == 32 && pts[3].length == 96);
    EXPECT_GT(pts[3].peak_bytes, pts[1].peak_bytes);
    const std::string csv = analysis::profile_csv(pts, "TTT");
    EXPECT(csv.find("time_vs_TTT") != std::string::npos);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  }
  EXPECT_EQ(seen, 8);
  o.lengths = {};
  EXPECT_THROWS_WITH(analysis::profile(cfg, {"MMT"}, o), "no lengths");
}

TEST_CASE(profile_comparison_ratios_and_crossover) {
  // Made-up medians: the hybrid is slower at 512, faster from 1024 on, but not at 2048 in the
  // second set (the crossover must hold at every longer length).
  auto point = [](const std::string& s, int64_t L, double ms) {
    analysis::ProfilePoint p;
    p.schedule = s, p.length = L, p.median_ms = ms, p.peak_bytes = 1 << 20;
    return p;
  };
  std::vector<analysis::ProfilePoint> pts = {point("MMT", 512, 12), point("TTT", 512, 10), point("MMT", 1024, 18),
                                             point("TTT", 1024, 20), point("MMT", 2048, 30), point("TTT", 2048, 40)};
  const std::vector<int64_t> lengths = {512, 1024, 2048};
  EXPECT_EQ(analysis::time_ratio(pts, "MMT", "TTT", 512), 1.2);
  EXPECT_EQ(analysis::crossover_length(pts, "MMT", "TTT", lengths), 1024);
  EXPECT_EQ(analysis::others_over_design(pts, "MMT", {"TTT"}, 2048), 40.0 / 30.0);
  EXPECT_EQ(analysis::time_ratio(pts, "MMT", "BBB", 512), 0.0);  // not measured
  const std::string md = analysis::comparison_markdown(pts, {{"MMT", "TTT"}, "TTT", lengths, "inference"});
  std::printf("%s", md.c_str());
  EXPECT(md.find("| 1024 | 18.00 | 1.0 | 20.00 | 1.0 | 0.900 |") != std::string::npos);
  EXPECT(md.find("MMT is faster than TTT from 1024 tokens on.") != std::string::npos);
  pts[5].median_ms = 25;  // slower again at the longest length: no crossover
  EXPECT_EQ(analysis::crossover_length(pts, "MMT", "TTT", lengths), int64_t{-1});
  pts[4].error = "out of memory";
  EXPECT_EQ(analysis::median_at(pts, "MMT", 2048), 0.0);
  EXPECT_EQ(analysis::others_over_design(pts, "TTT", {"MMT"}, 2048), 0.0);
}

TEST_MAIN()

// Ablation grids end to end at toy size: two schedules × two seeds × one task (RTE from the
// shared data), the results table's rows, columns and mean ± std, a rerun that does no work,
// and grid files that name the field at fault. Also the shipped paper grids parse.
#include "harness.h"

#include "data/glue.h"
#include "experiments/grid.h"
#include "model/config.h"
#include "runs/registry.h"
#include "train/trainer.h"
#include "util/files.h"
#include "util/json_text.h"
#include "util/svg_plot.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <filesystem>
#include <unistd.h>

using namespace mabert;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string kShared = MABERT_SHARED_DATA;
const std::string kResources = MABERT_RESOURCES_DIR;

std::string temp_dir(const std::string& name) { return scratch_dir("experiments", name); }

json toy_grid() {
  return {{"name", "toy"},
          {"preset", "tiny"},
          {"model", {{"d_model", 32}, {"n_heads", 2}, {"d_ffn", 64}, {"d_state", 8}, {"max_len", 64}}},
          {"variants", {{{"name", "MMT"}, {"schedule", "MMT"}}, {{"name", "TTT"}, {"schedule", "TTT"}}}},
          {"pretrain", {{"corpus", {kResources + "/demo/corpus.txt"}}, {"vocab", 500}, {"steps", 6}, {"batch", 8}, {"max_len", 32}, {"lr", 2e-3}}},
          {"finetune", {{"steps", 6}, {"batch", 8}, {"max_len", 48}, {"lr", 1e-3}, {"max_train", 64}}},
          {"tasks", {"RTE"}},
          {"data", kShared + "/glue"},
          {"seeds", {1, 2}}};
}

}  // namespace

TEST_CASE(toy_grid_runs_end_to_end_and_resumes_without_work) {
  if (!fs::exists(kShared + "/glue/RTE/train.tsv")) SKIP("../shared/data/glue/RTE is not present");
  const std::string out = temp_dir("grid");
  const std::string registry = out + "/runs.db";
  experiments::Grid g = experiments::Grid::from_json(toy_grid(), "toy.json");
  experiments::GridHooks h;
  h.registry = registry;
  const auto first = experiments::run_grid(g, out, h);
  EXPECT_EQ(first.pretrain_runs, 2);  // two schedules → two encoders
  EXPECT_EQ(first.finetune_runs, 4);  // 2 variants × 1 task × 2 seeds
  REQUIRE(first.cells.size() == 4);
  std::printf("    first run: %.1f s\n", first.seconds);

  // The table: one row per schedule in grid order, an RTE column (accuracy) and the average;
  // each cell mean ± sample std over the two seeds.
  const std::string md = read_file(out + "/results.md");
  std::printf("%s", md.c_str());
  EXPECT(md.find("| toy | RTE (accuracy) | avg |") != std::string::npos);
  EXPECT(md.find("| MMT |") < md.find("| TTT |"));
  for (const std::string v : {"MMT", "TTT"}) {
    std::vector<double> s;
    for (const auto& c : first.cells)
      if (c.variant == v) s.push_back(c.score);
    REQUIRE(s.size() == 2);
    const double mean = (s[0] + s[1]) / 2, sd = std::abs(s[0] - s[1]) / std::sqrt(2.0);
    char cell[96];
    std::snprintf(cell, sizeof cell, "| %s | %.3f ± %.3f (2) | %.3f |", v.c_str(), mean, sd, mean);
    EXPECT_MSG(md.find(cell) != std::string::npos, "missing row " << cell);
    for (double x : s) EXPECT(x >= 0 && x <= 1);
  }
  const std::string csv = read_file(out + "/results.csv");
  EXPECT(csv.rfind("variant,task,metric,mean,std,n,scores\n", 0) == 0);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  // Every run is in the registry.
  runs::Registry reg(registry);
  EXPECT_EQ(reg.list("pretrain").size(), size_t{2});
  EXPECT_EQ(reg.list("finetune").size(), size_t{4});
  // Each row records the model as the run folder's config.json holds it (vocabulary, head, pooling resolved).
  for (const auto& r : reg.list()) {
    const json on_disk = ModelConfig::load(r.id + "/config.json").to_json();
    EXPECT_MSG(r.config.contains("model") && r.config["model"] == on_disk, r.id << ": registry model differs from config.json");
    EXPECT_EQ(r.config.value("grid", ""), std::string("toy"));
  }

  // A rerun does no work and gives the same table.
  const auto second = experiments::run_grid(g, out, h);
  EXPECT_EQ(second.pretrain_runs, 0);
  EXPECT_EQ(second.finetune_runs, 0);
  EXPECT_EQ(second.pretrain_reused, 2);
  EXPECT_EQ(second.finetune_reused, 4);
  EXPECT_EQ(read_file(out + "/results.md"), md);
  std::printf("    rerun: %.2f s, nothing trained\n", second.seconds);

  // Variants that differ only in pooling share an encoder; PSM does not.
  json j = toy_grid();
  j["variants"] = {{{"name", "Full"}}, {{"name", "PSM only"}, {"pooling", "cls"}},
                   {{"name", "None"}, {"pooling", "cls"}, {"psm_pre", false}, {"psm_post", false}, {"psm_state", false}}};
  const auto g3 = experiments::Grid::from_json(j, "t3.json");
  EXPECT_EQ(experiments::encoder_key(g3, g3.variants[0]), experiments::encoder_key(g3, g3.variants[1]));
  EXPECT(experiments::encoder_key(g3, g3.variants[0]) != experiments::encoder_key(g3, g3.variants[2]));
}

TEST_CASE(bad_grids_name_the_file_and_field) {
  json j = toy_grid();
  j["seeds"] = "three";
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "g.json", "'seeds'");
  j = toy_grid();
  j["variants"][1]["schedule"] = "MXT";
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "g.json", "variant 'TTT'", "X");
  j = toy_grid();
  j["finetune"]["stepz"] = 3;
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "g.json", "finetune.stepz", "unknown");
  j = toy_grid();
  j["tasks"] = {"GLUEY"};
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "g.json", "'tasks'", "GLUEY");
  j = toy_grid();
  j["variants"][1]["name"] = "MMT";
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "duplicate");
  j = toy_grid();
  j["finetune"]["stop_at"] = -0.5;
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "g.json", "finetune.stop_at");
  j["finetune"]["stop_at"] = 0.99;
  EXPECT_EQ(experiments::Grid::from_json(j, "g.json").finetune.stop_at, 0.99);
  j = toy_grid();
  j["finetune"]["precision"] = "fp8";
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "g.json", "finetune.precision", "fp8", "fp32, bf16");
  j["finetune"]["precision"] = "bf16";
  EXPECT(experiments::Grid::from_json(j, "g.json").finetune.bf16);
  j["finetune"]["precision"] = "fp32";
  EXPECT(!experiments::Grid::from_json(j, "g.json").finetune.bf16);
  j = toy_grid();
  EXPECT(experiments::Grid::from_json(j, "g.json").finetune.keyed_dropout);  // keyed masks unless told
  j["pretrain"]["dropout_masks"] = "streamy";
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "g.json", "pretrain.dropout_masks", "streamy", "keyed, stream");
  j["pretrain"]["dropout_masks"] = "stream";
  EXPECT(!experiments::Grid::from_json(j, "g.json").pretrain.keyed_dropout);
  j = toy_grid();
  j.erase("data");
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "'data'", "missing");
}

TEST_CASE(shipped_paper_grids_parse) {
  for (const std::string name : {"table1-tiny", "table3-tiny", "tableB4-tiny"}) {
    const auto g = experiments::Grid::load(kResources + "/grids/" + name + ".json");
    std::set<std::string> encoders;
    for (const auto& v : g.variants) encoders.insert(experiments::encoder_key(g, v));
    std::printf("    %s: %zu variants, %zu encoders, %zu tasks, %zu seeds\n", name.c_str(), g.variants.size(),
                encoders.size(), g.tasks.size(), g.seeds.size());
    EXPECT_EQ(g.seeds.size(), size_t{3});
    EXPECT(fs::path(g.data_dir).is_absolute() || g.data_dir.find("shared/data/glue") != std::string::npos);
    if (name == "table1-tiny") EXPECT_EQ(encoders.size(), size_t{8});
    if (name == "table3-tiny") EXPECT_EQ(encoders.size(), size_t{2});
    if (name == "tableB4-tiny") EXPECT_EQ(encoders.size(), size_t{1});
  }
}

TEST_CASE(the_recall_grid_has_the_design_its_document_reports) {
  // docs/results/recall.md: all-T, all-M, two placements of attention, all-P and the B form;
  // >= 3 widths, MQAR at >= 4 lengths from 64 to >= 1024 at 1 pair per 16 tokens and the same
  // tokens (query slots) per step at every length, needle at growing length (its own grid, one
  // width, trained at 64 and evaluated up to 2048), >= 3 seeds, the calibrated recipe's model
  // fields, cells that stop when solved.
  const auto g = experiments::Grid::load(kResources + "/grids/recall.json");
  const auto n = experiments::Grid::load(kResources + "/grids/recall-needle.json");
  for (const auto* grid : {&g, &n}) {
    std::set<std::string> schedules, widths;
    for (const auto& v : grid->variants) {
      const ModelConfig c = experiments::variant_config(*grid, v);
      schedules.insert(c.schedule), widths.insert(std::to_string(c.d_model));
      EXPECT_EQ(c.init_std, 0.08);
      EXPECT(c.token_shift);
      EXPECT_EQ(c.position, c.schedule == "TTTT" ? "learned" : "none");
    }
    EXPECT(schedules == (std::set<std::string>{"TTTT", "MMMM", "MTMT", "MMMT", "PPPP", "BTBT"}));
    EXPECT_EQ(widths.size(), size_t{grid == &g ? 3u : 1u});
    EXPECT(grid->seeds.size() >= 3);
    EXPECT_EQ(grid->finetune.stop_at, 0.99);
    EXPECT_EQ(grid->finetune.lr, train::recall_recipe().train.lr);
    for (const auto& [label, t] : grid->recall) {
      const auto b = grid->task_budget.find(label);
      const int64_t batch = b != grid->task_budget.end() ? b->second.batch_size : grid->finetune.batch_size;
      EXPECT_EQ(batch * t.length, int64_t{4096});  // needle: 64 × 64
      // The calibration (docs/results/recall.md): 600 steps up to length 128, 3,000 at 256.
      const int64_t steps = b != grid->task_budget.end() ? b->second.steps : grid->finetune.steps;
      if (grid == &g && t.length <= 256) EXPECT_EQ(steps, t.length == 256 ? int64_t{3000} : int64_t{600});
    }
  }
  std::set<int64_t> mqar, needle;
  for (const auto& [label, t] : g.recall) {
    EXPECT(t.kind == data::RecallKind::Mqar);
    mqar.insert(t.length);
    EXPECT_EQ(t.pairs * 16, t.length);
  }
  // Needle trains at one length with a fixed number of pairs; each cell then evaluates the same
  // weights at growing length (eval_lengths: the filler between the pairs and the query grows).
  for (const auto& [label, t] : n.recall) {
    EXPECT(t.kind == data::RecallKind::Needle);
    EXPECT_EQ(t.pairs, int64_t{4});
    needle.insert(t.length);
    EXPECT(n.eval_lengths.at(label) == (std::vector<int64_t>{64, 128, 256, 512, 1024, 2048}));
  }
  EXPECT(mqar.size() >= 4 && *mqar.begin() == 64 && *mqar.rbegin() >= 1024);
  EXPECT(needle == std::set<int64_t>{64});
}

TEST_CASE(grid_pretraining_seeds_unsorted_batches_and_serving) {
  if (!fs::exists(kShared + "/glue/SST-2/train.tsv")) SKIP("../shared/data/glue/SST-2 is not present");
  json j = toy_grid();
  j["tasks"] = {"SST-2"};  // short sentences of many lengths: unsorted batches pad
  j["variants"] = {{{"name", "PSM p1"}, {"schedule", "MMT"}, {"pretrain_seed", 1}},
                   {{"name", "PSM p2"}, {"schedule", "MMT"}, {"pretrain_seed", 2}}};
  j["pretrain"]["bucket"] = false, j["finetune"]["bucket"] = false, j["finetune"]["padding"] = "left";
  j["serve"] = true;
  j["seeds"] = {1};
  const auto g = experiments::Grid::from_json(j, "fair.json");
  EXPECT(!g.pretrain.bucket && !g.finetune.bucket && g.serve);
  // A pretraining seed makes its own encoder; without one, keys are what they were (earlier grids reuse theirs).
  const std::string k1 = experiments::encoder_key(g, g.variants[0]), k2 = experiments::encoder_key(g, g.variants[1]);
  EXPECT(k1 != k2);
  experiments::Variant plain = g.variants[0];
  plain.pretrain_seed.reset();
  json unseeded = j;
  unseeded["variants"][0].erase("pretrain_seed");
  const auto gu = experiments::Grid::from_json(unseeded, "fair.json");
  EXPECT_EQ(experiments::encoder_key(g, plain), experiments::encoder_key(gu, gu.variants[0]));
  const std::string out = temp_dir("fair");
  experiments::GridHooks h;
  h.registry = out + "/runs.db";
  const auto rep = experiments::run_grid(g, out, h);
  REQUIRE(rep.cells.size() == 2);
  EXPECT_EQ(read_json_file(out + "/encoders/" + k1 + "/run.json")["train"]["seed"], json(1));
  EXPECT_EQ(read_json_file(out + "/encoders/" + k2 + "/run.json")["train"]["seed"], json(2));
  const size_t dev = data::load_glue("SST-2", kShared + "/glue/SST-2", "dev").examples.size();
  for (const auto& c : rep.cells) {
    // Unsorted batches of 8 from SST-2's lengths pad; the cell says how much.
    EXPECT_MSG(c.train_pads > 1, c.variant << ": " << c.train_pads << " pads per training example");
    REQUIRE(c.served.size() == 3);
    EXPECT(c.served.at(experiments::Serving::AsTrained).pads > 1);
    EXPECT_EQ(c.served.at(experiments::Serving::Unpadded).pads, 0.0);
    EXPECT_EQ(c.served.at(experiments::Serving::AsTrained).pads, c.served.at(experiments::Serving::OtherSide).pads);
    const json r = read_json_file(c.run_dir + "/result.json");
    EXPECT_EQ(r["serving"]["as_trained"]["padding"], json("left"));
    EXPECT_EQ(r["serving"]["other_side"]["padding"], json("right"));
    EXPECT_EQ(r["serving"]["unpadded"]["batch"], json(1));
    for (experiments::Serving s : experiments::kServings) {
      const std::string tsv = read_file(c.run_dir + "/predictions-" + experiments::to_string(s) + ".tsv");
      EXPECT_EQ(static_cast<size_t>(std::count(tsv.begin(), tsv.end(), '\n')), dev + 1);  // header + one per example
    }
    // Served as trained at batch 64 is the same evaluation as the cell's own score (batches of 64 there too).
    EXPECT_LE(std::abs(c.served.at(experiments::Serving::AsTrained).score - c.score), 1e-12);
  }
  const std::string csv = read_file(out + "/cells.csv");
  EXPECT(csv.find("train_pads_per_example,as_trained,as_trained_pads,other_side,other_side_pads,unpadded,unpadded_pads\n") !=
         std::string::npos);
  // Read back on a rerun: the same cells, served values included.
  const auto again = experiments::finished_cells(g, out);
  REQUIRE(again.size() == 2);
  EXPECT_EQ(again[0].served.at(experiments::Serving::OtherSide).score, rep.cells[0].served.at(experiments::Serving::OtherSide).score);
  EXPECT_EQ(experiments::cells_csv(again), csv);
  // Bad values name the field.
  j["serve"] = 1;
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "g.json", "'serve'", "true or false");
  j["serve"] = true, j["finetune"]["bucket"] = "no";
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "finetune.bucket", "true or false");
  j["finetune"]["bucket"] = false, j["variants"][0]["pretrain_seed"] = -1;
  EXPECT_THROWS_WITH(experiments::Grid::from_json(j, "g.json"), "variants[0].pretrain_seed", "must be in");
}

TEST_CASE(psm_fair_grids_have_the_design_their_document_reports) {
  // docs/results/psm-fair.md: left and bidir regimes; SST-2 with >= 2 pretraining seeds per arm x
  // >= 4 fine-tuning seeds, MQAR with variable lengths; batches unsorted; PSM on / off at training;
  // every cell served three ways.
  for (const std::string regime : {"left", "bidir"}) {
    const auto s = experiments::Grid::load(kResources + "/grids/psm-fair-" + regime + "-sst2.json");
    const auto m = experiments::Grid::load(kResources + "/grids/psm-fair-" + regime + "-mqar.json");
    for (const auto* g : {&s, &m}) {
      EXPECT(g->serve);
      EXPECT(!g->finetune.bucket);
      EXPECT_EQ(g->finetune.left_padding, regime == "left");
      std::map<bool, int> arms;  // PSM on -> variants
      for (const auto& v : g->variants) {
        const ModelConfig c = experiments::variant_config(*g, v);
        EXPECT(c.psm_pre == c.psm_post && c.psm_post == c.psm_state);
        EXPECT_EQ(c.schedule.find('B') != std::string::npos, regime == "bidir");
        ++arms[c.psm_state];
      }
      EXPECT_EQ(arms[true], arms[false]);
    }
    EXPECT(!s.pretrain.bucket);
    EXPECT_EQ(s.pretrain.left_padding, regime == "left");
    EXPECT(s.seeds.size() >= 4);
    std::set<std::string> encoders;
    for (const auto& v : s.variants) encoders.insert(experiments::encoder_key(s, v));
    EXPECT_EQ(encoders.size(), s.variants.size());  // each arm x pretraining seed its own encoder
    EXPECT(s.variants.size() >= 4);
    EXPECT(m.seeds.size() >= 8);
    for (const auto& [label, t] : m.recall) EXPECT(t.min_length > 0 && t.min_length < t.length);
  }
}

TEST_CASE(svg_plot_writes_every_series) {
  PlotSpec spec;
  spec.title = "t <1>";
  spec.log_y = true;
  const std::string svg = svg_line_plot(spec, {{"none", {0, 1, 2}, {0, 1e-3, 2e-3}}, {"pre+post+state", {0, 1, 2}, {0, 0, 0}}});
  EXPECT(svg.rfind("<svg", 0) == 0);
  EXPECT_EQ(static_cast<int>(std::count(svg.begin(), svg.end(), '\n') > 5), 1);
  EXPECT(svg.find("t &lt;1&gt;") != std::string::npos);
  EXPECT(svg.find("pre+post+state") != std::string::npos);
  size_t lines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++lines;
  EXPECT_EQ(lines, size_t{2});
  EXPECT(svg.find("nan") == std::string::npos && svg.find("inf") == std::string::npos);
}

TEST_CASE(shipped_results_csv_read_back) {
  // The shipped Table 3 results open without their run folders: every seed's score, by variant and task.
  const auto cells = experiments::read_results_csv(std::string(MABERT_RESOURCES_DIR) + "/../docs/results/table3-tiny.csv");
  EXPECT_EQ(cells.size(), size_t{4 * 4 * 3});
  EXPECT_EQ(cells[0].variant, "Full");
  EXPECT_EQ(cells[0].task, "SST-2");
  EXPECT(std::abs(cells[0].score - 0.615826) < 1e-9 && cells[2].seed == 3);
  const std::string bad = fs::temp_directory_path() / ("bad-results-" + std::to_string(::getpid()) + ".csv");
  write_file_atomic(bad, "variant,task,metric,mean,std,n,scores\n\"Full\",SST-2,accuracy,0.5,0,1,\"0.5 x\"\n");
  const std::string at2 = bad + ":2", at1 = bad + ":1";
  EXPECT_THROWS_WITH(experiments::read_results_csv(bad), at2.c_str(), "'x'");
  write_file_atomic(bad, "a,b\n");
  EXPECT_THROWS_WITH(experiments::read_results_csv(bad), at1.c_str(), "not a results.csv");
  fs::remove(bad);
}

TEST_MAIN()

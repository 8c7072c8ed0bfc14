// ModelConfig: presets, schedule parsing, strict JSON load/save and the errors users see.
#include "harness.h"

#include "model/config.h"
#include "util/files.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace mabert;
namespace fs = std::filesystem;

namespace {
std::string temp_dir() { return scratch_dir("config"); }
std::string write(const std::string& name, const std::string& text) {
  const std::string path = temp_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}
}  // namespace

TEST_CASE(presets_are_valid_and_match_spec) {
  for (const auto& name : ModelConfig::preset_names()) ModelConfig::preset(name).validate();
  const auto tiny = ModelConfig::preset("tiny");
  EXPECT_EQ(tiny.d_model, 128);
  EXPECT_EQ(tiny.schedule, std::string("MMTMMT"));
  const auto small = ModelConfig::preset("small");
  EXPECT_EQ(small.d_model, 256);
  EXPECT_EQ(small.layers().size(), 12u);
  const auto base = ModelConfig::preset("base");
  EXPECT_EQ(base.d_model, 768);
  EXPECT_EQ(base.n_heads, 12);
  EXPECT_EQ(base.d_ffn, 3072);
  EXPECT_EQ(base.resolved_dt_rank(), 48);
  EXPECT_THROWS_WITH(ModelConfig::preset("huge"), "unknown preset 'huge'", "tiny");
}

TEST_CASE(schedule_parsing) {
  const auto kinds = parse_schedule("MMTBP");
  REQUIRE(kinds.size() == 5);
  EXPECT(kinds[0] == LayerKind::Mamba);
  EXPECT(kinds[2] == LayerKind::Transformer);
  EXPECT(kinds[3] == LayerKind::BiMamba);
  EXPECT(kinds[4] == LayerKind::Parallel);
  EXPECT_THROWS_WITH(parse_schedule("MMXT"), "'X'", "position 3");
  EXPECT_THROWS_WITH(parse_schedule("mmt"), "'m'", "position 1", "upper case");
  EXPECT_THROWS_WITH(parse_schedule("MM T"), "' '", "position 3");
  EXPECT_THROWS_WITH(parse_schedule(""), "empty");
  EXPECT_THROWS_WITH(parse_schedule("MMMM", 3), "4 layers", "maximum of 3");
  EXPECT_THROWS_WITH(parse_schedule(std::string("MT\tM")), "0x9", "position 3");
}

TEST_CASE(json_round_trip) {
  ModelConfig c = ModelConfig::preset("small");
  c.schedule = "BPTM";
  c.psm_state = false;
  c.pooling = PoolingKind::MaskedMean;
  c.head = Head::Regression;
  c.dropout = 0.25;
  const std::string path = temp_dir() + "/roundtrip.json";
  c.save(path);
  const ModelConfig d = ModelConfig::load(path);
  EXPECT(d.to_json() == c.to_json());
  EXPECT_EQ(d.schedule, std::string("BPTM"));
  EXPECT(!d.psm_state);
  // A partial file keeps the defaults for the fields it leaves out.
  const ModelConfig e = ModelConfig::load(write("partial.json", R"({"d_model": 64, "n_heads": 2, "schedule": "MT"})"));
  EXPECT_EQ(e.d_model, 64);
  EXPECT_EQ(e.d_state, 16);
}

TEST_CASE(bad_config_files_name_the_problem) {
  EXPECT_THROWS_WITH(ModelConfig::load(write("typo.json", R"({"d_modle": 64})")), "typo.json", "unknown field 'd_modle'");
  EXPECT_THROWS_WITH(ModelConfig::load(write("type.json", R"({"d_model": "big"})")), "type.json", "'d_model'", "integer");
  EXPECT_THROWS_WITH(ModelConfig::load(write("neg.json", R"({"d_model": -4})")), "neg.json", "'d_model'", "positive");
  EXPECT_THROWS_WITH(ModelConfig::load(write("sched.json", R"({"schedule": "MMQ"})")), "sched.json", "'Q'", "position 3");
  EXPECT_THROWS_WITH(ModelConfig::load(write("heads.json", R"({"d_model": 100, "n_heads": 3, "schedule": "T"})")),
                    "'n_heads'", "divisible");
  EXPECT_THROWS_WITH(ModelConfig::load(write("pool.json", R"({"pooling": "max"})")), "'pooling'", "'max'", "masked_mean");
  EXPECT_THROWS_WITH(ModelConfig::load(write("psm.json", R"({"psm_pre": 1})")), "'psm_pre'", "true or false");
  EXPECT_THROWS_WITH(ModelConfig::load(write("drop.json", R"({"dropout": 1.5})")), "'dropout'");
  EXPECT_THROWS_WITH(ModelConfig::load(write("syntax.json", "{\n  \"d_model\": 64,\n  \"n_heads\" 2\n}")),
                    "syntax.json", "not valid JSON", "line 3");
  EXPECT_THROWS_WITH(ModelConfig::load(write("array.json", "[1, 2]")), "JSON object");
  EXPECT_THROWS_WITH(ModelConfig::load(temp_dir() + "/missing.json"), "missing.json", "cannot open");
}

TEST_CASE(atomic_write_replaces_whole_file) {
  const std::string path = temp_dir() + "/atomic.txt";
  write_file_atomic(path, "first version");
  write_file_atomic(path, "second");
  EXPECT_EQ(read_file(path), std::string("second"));
  size_t leftovers = 0;
  for (const auto& e : fs::directory_iterator(temp_dir()))
    if (e.path().string().find(".tmp.") != std::string::npos) ++leftovers;
  EXPECT_EQ(leftovers, 0u);
  EXPECT_THROWS_WITH(write_file_atomic("/nonexistent-dir/x.json", "x"), "/nonexistent-dir/x.json");
}

TEST_CASE(init_std_is_written_only_when_set) {
  // BERT's 0.02 stays implicit, so configs written before the field are byte-identical; another
  // value round-trips and is validated.
  ModelConfig c = ModelConfig::preset("tiny");
  EXPECT(!c.to_json().contains("init_std"));
  c.init_std = 0.08;
  EXPECT_EQ(c.to_json()["init_std"].get<double>(), 0.08);
  EXPECT_EQ(ModelConfig::from_json(c.to_json(), "x").init_std, 0.08);
  nlohmann::json bad = c.to_json();
  bad["init_std"] = 0.0;
  EXPECT_THROWS_WITH(ModelConfig::from_json(bad, "cfg.json"), "cfg.json", "init_std");
}

TEST_MAIN()

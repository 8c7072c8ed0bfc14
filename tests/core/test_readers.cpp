// Every reader of outside input against malformed files: each one is a clear exception naming
// the file and the field or line, never a crash. First the fuzzers' seed corpora and every input
// a fuzzer ever broke a reader with (tests/fuzz/seeds, tests/fuzz/regressions), replayed through
// the same drivers and contract checks as the fuzz targets; then hand-written cases per reader.
#include "harness.h"

#include "drivers.h"
#include "drivers_project.h"

#include "util/errors.h"
#include "util/files.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MABERT_HAS_ASAN 1
#endif
#endif
#ifndef MABERT_HAS_ASAN
#define MABERT_HAS_ASAN 0
#endif

using namespace mabert;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string kFuzzDir = MABERT_FUZZ_DIR;

using Driver = void (*)(const uint8_t*, size_t);
const std::map<std::string, Driver>& drivers() {
  static const std::map<std::string, Driver> d = {
      {"config", fuzz::drive_config},       {"grid", fuzz::drive_grid},
      {"glue", fuzz::drive_glue},           {"corpus", fuzz::drive_corpus},
      {"safetensors", fuzz::drive_safetensors}, {"tokenizer", fuzz::drive_tokenizer},
      {"registry", fuzz::drive_registry},   {"metrics", fuzz::drive_metrics},
      {"project", fuzz::drive_project},
  };
  return d;
}

// Runs every file of tests/fuzz/<kind>/<reader>/ through its driver; returns how many ran.
size_t replay(const std::string& kind, const std::string& reader, Driver drive) {
  const fs::path dir = fs::path(kFuzzDir) / kind / reader;
  if (!fs::exists(dir)) return 0;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string bytes = read_file(e.path().string());
    try {
      drive(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const fuzz::Finding& f) {
      EXPECT_MSG(false, e.path().string() << ": " << f.what);
    }
    ++n;
  }
  return n;
}

std::string scratch(const std::string& name, const std::string& bytes) { return fuzz::write_scratch(name, bytes); }

std::string le64(uint64_t n) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return s;
}

// A safetensors file from a header and a data section.
std::string safetensors(const std::string& header, const std::string& body) { return le64(header.size()) + header + body; }

}  // namespace

TEST_CASE(seed_and_regression_inputs_keep_every_reader_contract) {
  fuzz::abort_on_finding() = false;
  for (const auto& [reader, drive] : drivers()) {
    const size_t seeds = replay("seeds", reader, drive);
    const size_t regressions = replay("regressions", reader, drive);
    std::printf("    %-12s %3zu seeds, %2zu regression inputs\n", reader.c_str(), seeds, regressions);
    EXPECT_MSG(seeds > 0, "no seed inputs for " << reader << " in " << kFuzzDir << "/seeds/" << reader);
  }
}

TEST_CASE(config_text_errors_name_the_file_and_position) {
  EXPECT_THROWS_WITH(parse_model_config("{\n  \"dropout\": 1e999\n}", "big.json"), "big.json", "not valid JSON", "1e999");
  EXPECT_THROWS_WITH(parse_model_config(std::string(100000, '[') + std::string(100000, ']'), "deep.json"), "deep.json",
                     "line 1, column 65", "nested deeper than 64");
  EXPECT_THROWS_WITH(parse_model_config("{\"d_model\": " + std::string(5000, '[') + std::string(5000, ']') + "}", "deep2.json"),
                     "deep2.json", "nested deeper");
  EXPECT_THROWS_WITH(parse_model_config("{\"schedule\": \"MT\xff\"}", "utf8.json"), "utf8.json", "not valid JSON", "line 1");
  EXPECT_THROWS_WITH(parse_model_config("{\"d_model\": 64,\n \"n_heads\": [4]}", "type.json"), "type.json", "'n_heads'", "integer");
  EXPECT_EQ(parse_model_config("{\"d_model\": 64, \"n_heads\": 4, \"d_ffn\": 128}", "ok.json").d_model, 64);
}

// The same through ModelConfig::load on files on disk, and sizes no machine could allocate.
TEST_CASE(config_files_on_disk_and_their_size_bounds) {
  const fs::path dir = fs::temp_directory_path() / ("mabert-readers-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  const std::string big = write("big.json", "{\n  \"dropout\": 1e999\n}");
  EXPECT_THROWS_WITH(ModelConfig::load(big), big.c_str(), "not valid JSON", "1e999");
  const std::string deep = write("deep.json", std::string(100000, '[') + std::string(100000, ']'));
  EXPECT_THROWS_WITH(ModelConfig::load(deep), deep.c_str(), "nested deeper than 64");
  const std::string wide = write("wide.json", "{\"d_model\": 1048576, \"n_heads\": 4}");
  EXPECT_THROWS_WITH(ModelConfig::load(wide), wide.c_str(), "'d_model'", "over the limit of 16384");
  const std::string huge = write("huge.json", "{\"vocab_size\": 4000000, \"d_model\": 16384, \"n_heads\": 16, \"max_len\": 512}");
  EXPECT_THROWS_WITH(ModelConfig::load(huge), huge.c_str(), "billion parameters", "limit is 20 billion");
  EXPECT_THROWS_WITH(ModelConfig::load(write("labels.json", "{\"num_labels\": 99999999}")), "labels.json", "'num_labels'");
  EXPECT_EQ(ModelConfig::load(write("ok.json", "{\"d_model\": 64, \"n_heads\": 4, \"d_ffn\": 128}")).d_model, 64);
  remove_tree(dir.string());
}

// Out-of-memory errors reach users as "out of memory" with a hint, LibTorch's errors without
// their C++ backtrace.
TEST_CASE(errors_are_described_without_backtraces_and_oom_is_named) {
  try {
    TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory. Tried to allocate 20.00 GiB.\nallocator statistics");
  } catch (const std::exception& e) {
    const std::string d = describe_error(e);
    EXPECT_MSG(d.rfind("out of GPU memory: CUDA out of memory. Tried to allocate 20.00 GiB.", 0) == 0, d);
    EXPECT_MSG(d.find("statistics") == std::string::npos && d.find("smaller batch") != std::string::npos, d);
    EXPECT(is_out_of_memory(e));
  }
  try {
    (void)torch::matmul(torch::ones({2, 3}), torch::ones({2, 3}));
  } catch (const std::exception& e) {
    const std::string d = describe_error(e);
    EXPECT_MSG(d.find("cannot be multiplied") != std::string::npos && d.find("Exception raised from") == std::string::npos, d);
    EXPECT(!is_out_of_memory(e));
  }
#if !defined(__SANITIZE_ADDRESS__) && !MABERT_HAS_ASAN
  // A real allocation failure of the CPU allocator (32 TiB): AddressSanitizer would abort instead.
  bool thrown = false;
  try {
    (void)torch::empty({int64_t{1} << 45}, torch::kByte);
  } catch (const std::exception& e) {
    thrown = true;
    const std::string d = describe_error(e);
    EXPECT_MSG(d.rfind("out of memory: ", 0) == 0 && d.find("smaller model") != std::string::npos, d);
    EXPECT(is_out_of_memory(e));
  }
  EXPECT(thrown);
#endif
}

TEST_CASE(grid_errors_name_the_file_and_field) {
  const json base = {{"variants", {{{"name", "A"}, {"schedule", "MT"}}}},
                     {"pretrain", {{"corpus", {"c.txt"}}}},
                     {"tasks", {"RTE"}},
                     {"data", "glue"}};
  auto load = [&](const json& j) { return experiments::Grid::load(scratch("g.json", j.dump())); };
  REQUIRE(load(base).variants.size() == 1);
  json j = base;
  j["pretrain"]["steps"] = 1e300;  // get<int64_t>() of this is undefined behaviour
  EXPECT_THROWS_WITH(load(j), "g.json", "'pretrain.steps'", "expected an integer");
  j = base;
  j["pretrain"]["vocab"] = int64_t{1} << 40;  // get<int>() wraps this to 0
  EXPECT_THROWS_WITH(load(j), "g.json", "'pretrain.vocab'", "must be in [6, 1048576]");
  j = base;
  j["finetune"]["batch"] = int64_t{1} << 40;
  EXPECT_THROWS_WITH(load(j), "'finetune.batch'", "must be in [1, 65536]");
  j = base;
  j["finetune"]["accum"] = 0;
  EXPECT_THROWS_WITH(load(j), "'finetune.accum'");
  j = base;
  j["seeds"] = {1, -2};
  EXPECT_THROWS_WITH(load(j), "g.json", "'seeds[1]'", "non-negative");
  j = base;
  j["tasks"] = {"RTE", 7};
  EXPECT_THROWS_WITH(load(j), "'tasks[1]'", "expected a string");
  j = base;
  j["variants"].push_back({{"name", "A "}});  // cells/A-/ for both "A " and "A?"
  j["variants"].push_back({{"name", "A?"}});
  EXPECT_THROWS_WITH(load(j), "g.json", "'variants[2].name'", "share the folder cells/A-");
  j = base;
  j["variants"][0]["name"] = "";
  EXPECT_THROWS_WITH(load(j), "'variants[0].name'", "empty");
  const std::string deep = "{\"variants\": [{\"name\": \"A\", \"x\": " + std::string(200, '[') + std::string(200, ']') + "}]}";
  EXPECT_THROWS_WITH(experiments::Grid::load(scratch("deep.json", deep)), "deep.json", "nested deeper");
  EXPECT_THROWS_WITH(experiments::Grid::load(scratch("num.json", "{\"name\": 1e400}")), "num.json", "not valid JSON");
}

TEST_CASE(glue_errors_name_the_file_and_line) {
  const std::string dir = fuzz::scratch_dir() + "/STS-B";
  fs::create_directories(dir);
  const std::string header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n";
  std::ofstream(dir + "/dev.tsv") << header << "0\tmain\tf\t2012\t1\tnone\tnone\tA man.\tA man.\t5.000\n"
                                  << "1\tmain\tf\t2012\t1\tnone\tnone\tA dog.\tA cat.\t2.5" << '\0' << "x\n";
  EXPECT_THROWS_WITH(data::load_glue("STS-B", dir, "dev"), "dev.tsv:3", "score '2.5\\x00x' is not a number in [0, 5]");
  std::ofstream(dir + "/dev.tsv") << header << "0\tmain\tf\t2012\t1\tnone\tnone\tA man.\tA man.\t5.5\n";
  EXPECT_THROWS_WITH(data::load_glue("STS-B", dir, "dev"), "dev.tsv:2", "'5.5'");
  std::ofstream(dir + "/dev.tsv") << "index\tsentence\n0\tA man.\n";
  EXPECT_THROWS_WITH(data::load_glue("STS-B", dir, "dev"), "dev.tsv:1", "header lacks", "'sentence1'");
  std::ofstream(dir + "/dev.tsv") << "";
  EXPECT_THROWS_WITH(data::load_glue("STS-B", dir, "dev"), "dev.tsv", "empty file");
  const std::string cola = fuzz::scratch_dir() + "/CoLA";
  fs::create_directories(cola);
  std::ofstream(cola + "/train.tsv") << "gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t1\tThe more we study.\n";
  EXPECT_THROWS_WITH(data::load_glue("CoLA", cola, "train"), "train.tsv:2", "expected 4 tab-separated fields, found 3");
}

TEST_CASE(corpus_reads_any_bytes_as_text) {
  // Invalid UTF-8 is read as ISO-8859-1 and reported with its line; NUL bytes, CR-only line
  // ends and a final line without newline are text like any other.
  static const char kText[] = "Caf\xe9 au lait. Tr\xe8s bien!\r\rSecond\x00 part.\nno newline at end";
  const std::string path = scratch("latin.txt", std::string(kText, sizeof kText - 1));
  data::CorpusReport rep;
  const auto docs = data::read_corpus({path}, &rep);
  REQUIRE(rep.notes.size() == 1);
  EXPECT_THROWS_WITH(throw std::runtime_error(rep.notes[0]), "latin.txt", "not valid UTF-8", "line 1", "ISO-8859-1");
  REQUIRE(!docs.empty());
  EXPECT_EQ(docs[0].sentences[0], std::string("Caf\xc3\xa9 au lait."));
  for (const auto& d : docs)
    for (const auto& s : d.sentences) EXPECT(data::valid_utf8(s));
  EXPECT_THROWS_WITH(data::read_corpus({fuzz::scratch_dir() + "/none.txt"}), "none.txt", "no such file");
}

TEST_CASE(safetensors_errors_name_the_file_and_entry) {
  const std::string f = "w.safetensors";
  auto parse = [&](const std::string& bytes) { return parse_safetensors(bytes, f); };
  const std::string ok_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE(parse(safetensors(ok_header, std::string(8, '\0'))).tensors.size() == 1);
  EXPECT_THROWS_WITH(parse("\x01\x02"), f.c_str(), "shorter than the 8-byte header length");
  // A header length of 10^12: an error, not an allocation.
  EXPECT_THROWS_WITH(parse(le64(1000000000000ull) + "{}"), f.c_str(), "header length 1000000000000 exceeds the file size");
  // A shape of 10^12 elements in a 16-byte data section.
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,16]}})", std::string(16, '\0'))),
                     f.c_str(), "tensor 'a'", "shape claims more data than the file holds");
  // A product that overflows 64 bits is caught before it is formed.
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})", "")),
                     f.c_str(), "tensor 'a'", "more data than the file holds");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", std::string(12, '\0'))),
                     f.c_str(), "tensor 'a'", "span 12 bytes but the shape needs 8");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", std::string(8, '\0'))),
                     f.c_str(), "tensor 'a'", "lie outside the data section");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                                       std::string(6, '\0'))),
                     f.c_str(), "tensor 'b'", "overlap");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", std::string(8, '\0'))),
                     f.c_str(), "tensor 'a'", "gap");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", std::string(6, '\0'))),
                     f.c_str(), "cover 4 bytes of the 6-byte data section");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", std::string("\x01\x00\x02", 3))),
                     f.c_str(), "tensor 'a'", "BOOL element 2");
  json rank;
  rank["a"] = {{"dtype", "U8"}, {"shape", std::vector<int>(33, 1)}, {"data_offsets", {0, 1}}};
  EXPECT_THROWS_WITH(parse(safetensors(rank.dump(), "x")), f.c_str(), "33 dimensions");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "x")), f.c_str(), "unsupported dtype 'F8'");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "x")), f.c_str(), "non-negative");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"__metadata__":{"k":1}})", "")), f.c_str(), "metadata 'k' is not a string");
  EXPECT_THROWS_WITH(parse(safetensors(R"({"a":{"dtype":"U8",)", "")), f.c_str(), "header is not valid JSON at line 1");
  EXPECT_THROWS_WITH(parse(safetensors(std::string(1000, '[') + std::string(1000, ']'), "")), f.c_str(), "nested deeper");
  EXPECT_THROWS_WITH(load_safetensors(fuzz::scratch_dir() + "/missing.safetensors"), "missing.safetensors", "cannot open");
}

TEST_CASE(tokenizer_model_errors_name_the_file) {
  EXPECT_THROWS_WITH(Tokenizer::load(scratch("empty.model", "")), "empty.model", "not a SentencePiece model");
  EXPECT_THROWS_WITH(Tokenizer::load(scratch("junk.model", "\x0a\xff\xff\xff\xff\x0f junk")), "junk.model", "not a SentencePiece model");
  // Found by fuzz_tokenizer: a damaged normalisation map (SentencePiece would read out of
  // bounds while encoding) and pieces that make SentencePiece's trie builder throw.
  const auto regressions = fs::path(kFuzzDir) / "regressions" / "tokenizer";
  EXPECT_THROWS_WITH(Tokenizer::load((regressions / "charsmap-trie-out-of-bounds-read.model").string()),
                     "charsmap-trie-out-of-bounds-read.model", "normalizer spec: normalisation map trie node");
  EXPECT_THROWS_WITH(Tokenizer::load((regressions / "darts-zero-length-key-exception.model").string()),
                     "darts-zero-length-key-exception.model", "zero-length key");
  const auto seeds = fs::path(kFuzzDir) / "seeds" / "tokenizer";
  REQUIRE(fs::exists(seeds));
  for (const auto& e : fs::directory_iterator(seeds)) {
    // Every prefix of a real model is an error naming the file (or, rarely, still a model).
    const std::string bytes = read_file(e.path().string());
    for (size_t cut : {size_t{1}, size_t{7}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
      const std::string p = scratch("cut.model", bytes.substr(0, cut));
      try {
        (void)Tokenizer::load(p);
      } catch (const std::exception& ex) {
        EXPECT_MSG(std::string(ex.what()).find("cut.model") != std::string::npos, ex.what());
      }
    }
  }
}

TEST_CASE(registry_rows_come_back_as_valid_utf8_and_json) {
  const std::string db = fuzz::scratch_dir() + "/reg-test.db";
  { runs::Registry create(db); }
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  const std::string deep = std::string(1000, '[') + std::string(1000, ']');
  const std::string sql = "INSERT INTO runs VALUES('/r/a', 'pretrain', X'FF41', 'finished', 'c', 'u', '{\"x\":1}', '{\"loss\": \"\xff\"}'),"
                          "('/r/b', 'finetune', 'RTE', 'running', 'c', 'u', '" + deep + "', 'not json');";
  REQUIRE(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(h);
  runs::Registry reg(db);
  const auto a = reg.get("/r/a");
  REQUIRE(a.has_value());
  EXPECT_EQ(a->task, std::string("\xEF\xBF\xBD" "A"));          // a blob with an invalid byte: U+FFFD
  EXPECT_EQ(a->metrics["loss"].get<std::string>(), std::string("\xEF\xBF\xBD"));  // invalid UTF-8 replaced, then parsed
  EXPECT_EQ(a->config["x"].get<int>(), 1);
  const auto b = reg.get("/r/b");
  REQUIRE(b.has_value());
  EXPECT(b->config.is_string());                                  // too deep to dump safely: kept as text
  EXPECT_EQ(b->metrics.get<std::string>(), std::string("not json"));
  for (const auto& r : reg.list()) EXPECT(!json({{"config", r.config}, {"metrics", r.metrics}, {"task", r.task}}).dump().empty());
  // A database whose runs table is something else: an error naming the file.
  const std::string other = fuzz::scratch_dir() + "/other.db";
  REQUIRE(sqlite3_open(other.c_str(), &h) == SQLITE_OK);
  REQUIRE(sqlite3_exec(h, "CREATE TABLE runs(name TEXT);", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(h);
  EXPECT_THROWS_WITH(runs::Registry(other).list(), "other.db", "no such column");
  EXPECT_THROWS_WITH(runs::Registry(scratch("text.db", std::string(4096, 'x'))), "text.db");
}

TEST_CASE(metrics_log_tolerates_torn_lines_and_names_bad_ones) {
  const std::string good =
      "{\"event\":\"step\",\"step\":10,\"loss\":7.5,\"lr\":0.001,\"grad_norm\":null,\"tokens_per_s\":900,\"elapsed_s\":1}\n"
      "{\"event\":\"eval\",\"step\":10,\"metrics\":{\"accuracy\":0.5,\"mcc\":null}}\n";
  // A torn last line (killed mid-write), and one mid-file after a resume appended to it.
  const std::string torn = scratch("metrics.jsonl", good + "{\"event\":\"st" + good + "{\"event\":\"step\",\"st");
  const auto log = train::read_metrics_log(torn);
  EXPECT_EQ(log.records.size(), 3u);  // lines 1, 2 and 4
  REQUIRE(log.notes.size() == 2);
  EXPECT_THROWS_WITH(throw std::runtime_error(log.notes[0]), "metrics.jsonl:3", "torn");
  EXPECT_THROWS_WITH(throw std::runtime_error(log.notes[1]), "metrics.jsonl:5");
  EXPECT_EQ(log.records[0].values.at("loss"), 7.5);
  EXPECT(std::isnan(log.records[0].values.at("grad_norm")));
  EXPECT_EQ(log.records[1].event, std::string("eval"));
  EXPECT_EQ(log.records[1].values.at("accuracy"), 0.5);
  EXPECT_EQ(log.records[2].line, 4);
  auto bad = [&](const std::string& text) { return train::read_metrics_log(scratch("bad.jsonl", good + text)); };
  EXPECT_THROWS_WITH(bad("{\"event\":\"step\",\"step\":11,\"loss\":\"high\"}\n"), "bad.jsonl:3", "field 'loss'", "number");
  EXPECT_THROWS_WITH(bad("{\"event\":\"step\",\"step\":-1,\"loss\":1}\n"), "bad.jsonl:3", "field 'step'");
  EXPECT_THROWS_WITH(bad("{\"event\":\"step\",\"step\":1.5,\"loss\":1}\n"), "bad.jsonl:3", "field 'step'");
  EXPECT_THROWS_WITH(bad("{\"event\":7,\"step\":1}\n"), "bad.jsonl:3", "field 'event'");
  EXPECT_THROWS_WITH(bad("{\"event\":\"\",\"step\":1}\n"), "bad.jsonl:3", "field 'event'", "non-empty");  // fuzz_metrics
  EXPECT_THROWS_WITH(bad("{\"event\":\"step\",\"step\":1}\n"), "bad.jsonl:3", "field 'loss'", "missing");
  EXPECT_THROWS_WITH(bad("{\"event\":\"eval\",\"step\":1,\"metrics\":[1]}\n"), "bad.jsonl:3", "field 'metrics'");
  EXPECT_THROWS_WITH(bad("{\"event\":\"eval\",\"step\":1,\"metrics\":{\"f1\":\"x\"}}\n"), "bad.jsonl:3", "field 'metrics.f1'");
  EXPECT_THROWS_WITH(bad("[1, 2]\n"), "bad.jsonl:3", "expected a JSON object");
  EXPECT_THROWS_WITH(train::read_metrics_log(fuzz::scratch_dir() + "/no-such.jsonl"), "no-such.jsonl", "cannot open");
}

TEST_CASE(project_errors_name_the_file_and_field) {
  auto load = [](const std::string& text) { return project::load(scratch("p.mabert.json", text)); };
  EXPECT_EQ(load(R"({"format": "mabert-studio-project", "version": 1, "run": "x"})")["run"].get<std::string>(), std::string("x"));
  EXPECT_THROWS_WITH(load(R"({"format": 5, "version": 1})"), "p.mabert.json", "field 'format'");  // was json::type_error
  EXPECT_THROWS_WITH(load(R"({"format": "mabert-studio-project", "version": 4294967297})"), "p.mabert.json", "field 'version'");
  EXPECT_THROWS_WITH(load(R"({"format": "mabert-studio-project", "version": 0})"), "field 'version'", "from 1 to 1");
  EXPECT_THROWS_WITH(load(R"({"format": "mabert-studio-project", "version": 1.0})"), "field 'version'");
  EXPECT_THROWS_WITH(load(R"({"format": "mabert-studio-project", "version": 1, "analysis": []})"), "field 'analysis'");
  EXPECT_THROWS_WITH(load(R"({"format": "mabert-studio-project", "version": 1, "data": {"x": 1e999}})"), "p.mabert.json",
                     "not valid JSON", "1e999");
  EXPECT_THROWS_WITH(load("{\"format\": \"mabert-studio-project\", \"version\": 1, \"design\": " + std::string(500, '[') +
                          std::string(500, ']') + "}"),
                     "p.mabert.json", "nested deeper");
}

TEST_MAIN()

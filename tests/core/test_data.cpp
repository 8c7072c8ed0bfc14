// Tokenizer, corpus and GLUE readers on the real files, MLM masking statistics, batching and
// the GLUE metrics against hand-computed values.
#include "harness.h"

#include "data/batching.h"
#include "data/corpus.h"
#include "data/glue.h"
#include "tokenize/tokenizer.h"
#include "train/metrics.h"
#include "util/files.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

using namespace mabert;
namespace fs = std::filesystem;

namespace {

const std::string kShared = MABERT_SHARED_DATA;
const std::string kDemo = std::string(MABERT_RESOURCES_DIR) + "/demo/corpus.txt";

std::string temp_dir() { return scratch_dir("data"); }

const Tokenizer& demo_tokenizer() {
  static const Tokenizer tok = [] {
    TokenizerTrainOptions o;
    o.inputs = {kDemo};
    o.model_prefix = temp_dir() + "/tok";
    o.vocab_size = 1500;
    return Tokenizer::load(data::train_tokenizer(o));
  }();
  return tok;
}

void need_shared() {
  if (!fs::exists(kShared + "/glue")) SKIP("../shared/data is not beside the checkout");
}

}  // namespace

TEST_CASE(tokenizer_special_ids_round_trip_and_pairs) {
  const Tokenizer& tok = demo_tokenizer();
  EXPECT_EQ(tok.vocab_size(), 1500);
  const char* specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(tok.piece(i), std::string(specials[i]));
  const std::string text = "Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who never took up any book.";
  const auto ids = tok.encode_pieces(text);
  EXPECT_GT(ids.size(), 5u);
  for (int64_t id : ids) EXPECT(id >= Tokenizer::kNumSpecial);  // text never produces special ids
  std::string joined;
  for (const auto& p : tok.pieces(ids)) joined += p;
  std::string decoded;  // SentencePiece marks word starts with U+2581
  for (size_t i = 0; i < joined.size();) {
    if (joined.compare(i, 3, "\xE2\x96\x81") == 0) decoded += ' ', i += 3;
    else decoded += joined[i++];
  }
  EXPECT_EQ(decoded.substr(1), text);

  const std::string b = "He was a baronet.";
  const Encoding e = tok.encode(text, &b, 512);
  EXPECT_EQ(e.ids.front(), Tokenizer::kCls);
  EXPECT_EQ(e.ids.back(), Tokenizer::kSep);
  EXPECT_EQ(std::count(e.ids.begin(), e.ids.end(), Tokenizer::kSep), 2);
  EXPECT_EQ(e.segments.size(), e.ids.size());
  EXPECT_EQ(e.segments.front(), 0);
  EXPECT_EQ(e.segments.back(), 1);
  // Longest-first truncation keeps both parts and the specials.
  const Encoding t = tok.encode(text, &b, 12);
  EXPECT_EQ(t.ids.size(), 12u);
  EXPECT_GT(t.truncated, 0);
  EXPECT_EQ(std::count(t.ids.begin(), t.ids.end(), Tokenizer::kSep), 2);
  EXPECT_GT(std::count(t.segments.begin(), t.segments.end(), 1), 1);
  EXPECT_THROWS_WITH(Tokenizer::load(kDemo), "corpus.txt", "not a SentencePiece model");
}

TEST_CASE(corpus_reader_handles_real_files) {
  need_shared();
  data::CorpusReport rep;
  const auto docs = data::read_corpus({kShared + "/corpus/gutenberg-nltk"}, &rep);
  std::printf("    %lld files, %lld documents, %lld sentences, %lld bytes\n", (long long)rep.files, (long long)rep.documents,
              (long long)rep.sentences, (long long)rep.bytes);
  EXPECT_EQ(rep.files, 13);  // README is not a corpus file
  EXPECT_GT(rep.sentences, 40000);
  bool caesar_noted = false;
  for (const auto& n : rep.notes) caesar_noted |= n.find("shakespeare-caesar.txt") != std::string::npos;
  EXPECT(caesar_noted);  // ISO-8859-1, reported and converted
  for (const auto& d : docs)
    for (const auto& s : d.sentences) {
      EXPECT(data::valid_utf8(s));
      EXPECT(s.find('\r') == std::string::npos);  // Moby Dick's CRLF is gone
    }
  const auto sents = data::split_sentences("Mr. Elliot came. Did he? Yes! J. Smith too.");
  EXPECT_EQ(sents.size(), 4u);
  EXPECT_THROWS_WITH(data::read_corpus({"/nonexistent/corpus"}), "/nonexistent/corpus", "no such file");
}

TEST_CASE(glue_loaders_match_sources_md) {
  need_shared();
  struct Row {
    const char* task;
    const char* split;
    size_t count;
    std::vector<size_t> per_label;  // counts by class index; empty for unlabelled or regression
  };
  const std::vector<Row> rows = {
      {"CoLA", "train", 8551, {2528, 6023}}, {"CoLA", "dev", 1043, {322, 721}},   {"CoLA", "test", 1063, {}},
      {"SST-2", "train", 67349, {29780, 37569}}, {"SST-2", "dev", 872, {428, 444}}, {"SST-2", "test", 1821, {}},
      {"MRPC", "train", 3668, {1194, 2474}}, {"MRPC", "dev", 408, {129, 279}},   {"MRPC", "test", 1725, {}},
      {"RTE", "train", 2490, {1249, 1241}},  {"RTE", "dev", 277, {146, 131}},    {"RTE", "test", 3000, {}},
      {"STS-B", "train", 5749, {}},          {"STS-B", "dev", 1500, {}},         {"STS-B", "test", 1379, {}},
      {"QNLI", "dev", 5463, {2702, 2761}},   {"QNLI", "test", 5463, {}},         {"WNLI", "train", 635, {323, 312}},
      {"WNLI", "dev", 71, {40, 31}},         {"WNLI", "test", 146, {}},
  };
  for (const auto& r : rows) {
    const data::GlueSplit s = data::load_glue(r.task, kShared + "/glue/" + r.task, r.split);
    EXPECT_MSG(s.examples.size() == r.count, r.task << " " << r.split << ": " << s.examples.size() << " rows, SOURCES.md says " << r.count);
    if (!r.per_label.empty()) {
      std::vector<size_t> counts(r.per_label.size(), 0);
      for (const auto& ex : s.examples) ++counts.at(static_cast<size_t>(ex.label));
      EXPECT_MSG(counts == r.per_label, r.task << " " << r.split << ": label counts differ");
    }
    EXPECT_EQ(s.labelled, !std::string(r.split).empty() && std::string(r.split) != "test");
    for (const auto& ex : s.examples) EXPECT(!ex.a.empty());
  }
  const auto stsb = data::load_glue("STS-B", kShared + "/glue/STS-B", "train");
  double sum = 0;
  for (const auto& ex : stsb.examples) sum += ex.label;
  EXPECT_LE(std::abs(sum / static_cast<double>(stsb.examples.size()) - 2.70), 0.01);
  const auto ax = data::load_glue("diagnostic", kShared + "/glue/diagnostic", "diagnostic");
  EXPECT_EQ(ax.examples.size(), 1104u);
  // Quotes are text, never quoting: MRPC train has hundreds of rows with quote characters, and
  // every one of its 3668 rows still reads as one example.
  int64_t quoted = 0;
  for (const auto& ex : data::load_glue("MRPC", kShared + "/glue/MRPC", "train").examples)
    quoted += (ex.a + ex.b).find('"') != std::string::npos;
  std::printf("    MRPC train rows containing quote characters: %lld\n", (long long)quoted);
  EXPECT_GT(quoted, 300);
}

TEST_CASE(malformed_glue_rows_name_file_and_line) {
  const std::string dir = temp_dir() + "/RTE";
  fs::create_directories(dir);
  std::ofstream(dir + "/train.tsv") << "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\n";
  EXPECT_THROWS_WITH(data::load_glue("RTE", dir, "train"), "train.tsv:3", "expected 4");
  std::ofstream(dir + "/train.tsv") << "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n";
  EXPECT_THROWS_WITH(data::load_glue("RTE", dir, "train"), "train.tsv:2", "'maybe'");
  std::ofstream(dir + "/dev.tsv") << "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n\n1\ta\tb\tentailment\n";
  EXPECT_THROWS_WITH(data::load_glue("RTE", dir, "dev"), "dev.tsv:3", "empty line");
  EXPECT_THROWS_WITH(data::load_glue("RTE", dir, "validation"), "no split 'validation'");
  EXPECT_THROWS_WITH(data::load_glue("BoolQ", dir, "dev"), "unknown GLUE task 'BoolQ'");
}

TEST_CASE(glue_layouts_without_shared_files) {
  // MNLI and QQP are too large for ../shared; their official layouts, written out here.
  const std::string dir = temp_dir() + "/layouts";
  fs::create_directories(dir);
  std::ofstream(dir + "/dev_matched.tsv")
      << "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
         "sentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
      << "0\t1\t1n\tgov\t(x)\t(y)\t(X)\t(Y)\tThe cat sat.\tA cat sat.\tneutral\tneutral\tneutral\tneutral\tneutral\tneutral\n"
      << "1\t2\t2e\tgov\t(x)\t(y)\t(X)\t(Y)\tIt \"rained\".\tIt was wet.\tentailment\tentailment\tneutral\tentailment\tentailment\tentailment";
  const auto mnli = data::load_glue("MNLI", dir, "dev_matched");
  REQUIRE(mnli.examples.size() == 2);
  EXPECT_EQ(mnli.examples[0].label, 2.0);  // contradiction, entailment, neutral
  EXPECT_EQ(mnli.examples[1].a, std::string("It \"rained\"."));
  std::ofstream(dir + "/dev.tsv") << "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n7\t1\t2\tWhy?\tHow?\t0\n8\t3\t4\tA?\tA?\t1\n";
  const auto qqp = data::load_glue("QQP", dir, "dev");
  REQUIRE(qqp.examples.size() == 2);
  EXPECT_EQ(qqp.examples[1].label, 1.0);
  EXPECT_EQ(qqp.examples[0].b, std::string("How?"));
  EXPECT(qqp.task.metric == "f1");
}

TEST_CASE(mlm_masking_statistics) {
  // 2000 sequences of 64 tokens with pads and specials: rates within a few tenths of a percent.
  std::mt19937_64 rng(7);
  std::vector<Encoding> enc(2000);
  std::uniform_int_distribution<int64_t> tok(5, 999), len(10, 64);
  for (auto& e : enc) {
    e.ids.push_back(Tokenizer::kCls);
    const int64_t n = len(rng);
    for (int64_t i = 0; i < n; ++i) e.ids.push_back(tok(rng));
    e.ids.push_back(Tokenizer::kSep);
    e.segments.assign(e.ids.size(), 0);
  }
  std::vector<const Encoding*> items;
  for (const auto& e : enc) items.push_back(&e);
  data::Batch b = data::collate(items);
  const torch::Tensor original = b.ids.clone();
  data::MlmMasking m;
  m.vocab_size = 1000;
  data::apply_mlm_masking(b, m, rng);
  const torch::Tensor selected = b.labels.ne(-100);
  const torch::Tensor eligible = original.ge(Tokenizer::kNumSpecial);
  const double n_eligible = eligible.sum().item<double>(), n_sel = selected.sum().item<double>();
  const double masked = (selected & b.ids.eq(Tokenizer::kMask)).sum().item<double>() / n_sel;
  const double kept = (selected & b.ids.eq(original)).sum().item<double>() / n_sel;
  std::printf("    %.0f eligible tokens: selected %.4f, of those [MASK] %.4f, kept %.4f, random %.4f\n", n_eligible,
              n_sel / n_eligible, masked, kept, 1 - masked - kept);
  EXPECT_LE(std::abs(n_sel / n_eligible - 0.15), 0.005);
  EXPECT_LE(std::abs(masked - 0.8), 0.01);
  EXPECT_LE(std::abs(kept - 0.1 - 0.1 * 1.0 / 995), 0.01);  // kept, plus random draws of the same id
  EXPECT_EQ((selected & ~eligible).sum().item<int64_t>(), 0);   // never pads or specials
  EXPECT((b.labels.masked_select(selected) == original.masked_select(selected)).all().item<bool>());
  EXPECT((b.ids.masked_select(~eligible) == original.masked_select(~eligible)).all().item<bool>());
  // Dynamic padding: the batch is as long as its longest sequence.
  EXPECT_EQ(b.ids.size(1), 66);
}

TEST_CASE(collate_pads_right_or_left_to_a_length) {
  Encoding a, b;
  a.ids = {2, 10, 11, 3}, a.segments = {0, 0, 0, 0};
  b.ids = {2, 12, 3}, b.segments = {0, 1, 1};
  const data::Batch right = data::collate({&a, &b});
  EXPECT(right.ids.sizes() == torch::IntArrayRef({2, 4}));
  EXPECT(torch::equal(right.ids[1], torch::tensor({2, 12, 3, 0}, torch::kLong)));
  EXPECT(torch::equal(right.mask[1], torch::tensor({1.f, 1.f, 1.f, 0.f})));
  EXPECT_EQ(right.tokens, int64_t{7});
  const data::Batch left = data::collate({&a, &b}, {6, true});
  EXPECT(left.ids.sizes() == torch::IntArrayRef({2, 6}));
  EXPECT(torch::equal(left.ids[0], torch::tensor({0, 0, 2, 10, 11, 3}, torch::kLong)));
  EXPECT(torch::equal(left.ids[1], torch::tensor({0, 0, 0, 2, 12, 3}, torch::kLong)));
  EXPECT(torch::equal(left.segments[1], torch::tensor({0, 0, 0, 0, 1, 1}, torch::kLong)));
  EXPECT(torch::equal(left.mask[1], torch::tensor({0.f, 0.f, 0.f, 1.f, 1.f, 1.f})));
}

TEST_CASE(batch_order_is_a_function_of_seed_and_epoch) {
  std::vector<int64_t> lengths;
  for (int i = 0; i < 1000; ++i) lengths.push_back(5 + (i * 37) % 90);
  const auto a = data::epoch_batches(lengths, 16, 42, 3, true, true);
  const auto b = data::epoch_batches(lengths, 16, 42, 3, true, true);
  const auto c = data::epoch_batches(lengths, 16, 42, 4, true, true);
  EXPECT(a == b);
  EXPECT(a != c);
  std::set<int64_t> seen;
  double spread = 0;
  for (const auto& batch : a) {
    int64_t lo = 1000, hi = 0;
    for (int64_t i : batch) seen.insert(i), lo = std::min(lo, lengths[i]), hi = std::max(hi, lengths[i]);
    spread += static_cast<double>(hi - lo);
  }
  EXPECT_EQ(seen.size(), 1000u);  // every example exactly once per epoch
  std::printf("    bucketed batches: mean length spread %.1f tokens\n", spread / static_cast<double>(a.size()));
  EXPECT_LE(spread / static_cast<double>(a.size()), 10.0);
}

TEST_CASE(held_out_split_is_spread_disjoint_and_complete) {
  for (int64_t n : {0, 1, 2, 49, 50, 51, 1000, 69045}) {
    const data::HeldOutSplit s = data::held_out_split(n);
    const int64_t want = n < 2 ? 0 : std::min<int64_t>(256, std::max<int64_t>(1, n / 50));
    EXPECT_EQ(static_cast<int64_t>(s.held.size()), want);
    EXPECT_EQ(static_cast<int64_t>(s.held.size() + s.trained.size()), n);
    std::set<int64_t> all(s.held.begin(), s.held.end());
    all.insert(s.trained.begin(), s.trained.end());
    EXPECT_EQ(static_cast<int64_t>(all.size()), n);  // disjoint, and every example in one of them
    EXPECT(std::is_sorted(s.trained.begin(), s.trained.end()));
    if (want > 1) {
      EXPECT_LE(s.held.front(), n / want);     // spread: from the start of the corpus ...
      EXPECT_GT(s.held.back(), n - 2 * (n / want));  // ... to its end
    }
  }
}

TEST_CASE(metrics_match_hand_computed_values) {
  using namespace mabert::train;
  // tp=3 tn=2 fp=1 fn=2: MCC = (6 − 2) / sqrt(4·5·3·4) = 4 / sqrt(240)
  const std::vector<int> t = {1, 1, 1, 1, 1, 0, 0, 0}, p = {1, 1, 1, 0, 0, 0, 0, 1};
  EXPECT_LE(std::abs(matthews_corrcoef(t, p) - 4.0 / std::sqrt(240.0)), 1e-12);
  EXPECT_LE(std::abs(accuracy(t, p) - 5.0 / 8), 1e-12);
  EXPECT_LE(std::abs(f1_binary(t, p) - 6.0 / 9), 1e-12);  // 2·3 / (2·3 + 1 + 2)
  // Degenerate: one class in the labels or constant predictions → MCC 0, not NaN.
  EXPECT_EQ(matthews_corrcoef({1, 1, 1}, {1, 0, 1}), 0.0);
  EXPECT_EQ(matthews_corrcoef({1, 0, 1}, {1, 1, 1}), 0.0);
  EXPECT_EQ(f1_binary({0, 0}, {0, 0}), 0.0);
  EXPECT_LE(std::abs(pearson({1, 2, 3, 4}, {2, 4, 6, 8}) - 1.0), 1e-12);
  EXPECT_LE(std::abs(pearson({1, 2, 3}, {3, 2, 1}) + 1.0), 1e-12);
  EXPECT_EQ(pearson({1, 1, 1}, {1, 2, 3}), 0.0);
  // Spearman with ties: ranks (1.5, 1.5, 3, 4) vs (1, 2, 3, 4) → Pearson of ranks.
  EXPECT_LE(std::abs(spearman({10, 10, 20, 30}, {1, 2, 3, 4}) - pearson({1.5, 1.5, 3, 4}, {1, 2, 3, 4})), 1e-12);
  EXPECT_LE(std::abs(spearman({1, 2, 3, 4, 5}, {5, 6, 7, 8, 100}) - 1.0), 1e-12);
  const auto m = glue_metrics("CoLA", {1, 0, 1, 1}, {1, 0, 0, 1});
  EXPECT(m.count("mcc") && m.count("accuracy"));
  EXPECT_THROWS_WITH(accuracy({}, {}), "empty");
}

TEST_MAIN()

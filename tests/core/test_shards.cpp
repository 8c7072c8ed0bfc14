// Token shards (data/shards.h) and the constant-memory batch order pretraining reads them with:
// the shards hold exactly the sentences the text path reads, however the corpus is cut or
// threaded; a rerun keeps finished shards; damaged or foreign shards are named, not read.
#include "harness.h"

#include "data/batching.h"
#include "data/corpus.h"
#include "data/shards.h"
#include "tokenize/tokenizer.h"
#include "util/files.h"
#include "util/json_text.h"

#include <torch/torch.h>

#include <filesystem>
#include <set>
#include <unistd.h>

using namespace mabert;
namespace fs = std::filesystem;

namespace {

const std::string kDemo = std::string(MABERT_RESOURCES_DIR) + "/demo/corpus.txt";

std::string temp_dir(const std::string& name) { return scratch_dir("shards", name); }

std::string tokenizer(int vocab) {
  static std::map<int, std::string> made;
  if (!made.count(vocab)) {
    TokenizerTrainOptions o;
    o.inputs = {kDemo};
    o.model_prefix = temp_dir("tok" + std::to_string(vocab)) + "/tok";
    o.vocab_size = vocab;
    made[vocab] = data::train_tokenizer(o);
  }
  return made[vocab];
}

// A corpus folder: the demo corpus, a Latin-1 file, and a file with CRLF lines and a BOM.
std::string corpus_dir() {
  const std::string d = temp_dir("corpus");
  fs::copy_file(kDemo, d + "/a-demo.txt");
  write_file_atomic(d + "/b-latin1.txt", "Caf\xE9 au lait is served here. The na\xEFve cook smiled.\n\nA second document follows now.\n");
  write_file_atomic(d + "/c-crlf.txt", "\xEF\xBB\xBF" "First line of a paragraph\r\ncontinues here. Then it ends.\r\n\r\nAnother one starts.\r\n");
  return d;
}

// What the text path trains on, as pieces: every sentence of read_corpus with two or more pieces.
std::vector<std::vector<int64_t>> text_path_sentences(const std::string& corpus, const Tokenizer& tok) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& doc : data::read_corpus({corpus}))
    for (const auto& s : doc.sentences) {
      auto p = tok.encode_pieces(s);
      if (p.size() >= 2) out.push_back(std::move(p));
    }
  return out;
}

std::vector<std::vector<int64_t>> shard_sentences(const data::TokenShards& sh) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t i = 0; i < sh.sentences(); ++i) {
    out.emplace_back();
    sh.sentence(i, &out.back());
    EXPECT_EQ(static_cast<int64_t>(out.back().size()), sh.sentence_length(i));
  }
  return out;
}

}  // namespace

TEST_CASE(shards_hold_the_text_paths_sentences_however_cut) {
  const std::string corpus = corpus_dir(), tok_path = tokenizer(600);
  const Tokenizer tok = Tokenizer::load(tok_path);
  const auto want = text_path_sentences(corpus, tok);
  REQUIRE(want.size() > 100);
  std::string first_tokens;
  for (const auto& [chunk, threads] : std::vector<std::pair<int64_t, int>>{{int64_t{32} << 20, 1}, {4096, 2}, {1024, 3}}) {
    const std::string out = temp_dir("cut-" + std::to_string(chunk));
    data::PrepareOptions o;
    o.corpus = {corpus}, o.tokenizer = tok_path, o.out = out, o.threads = threads, o.chunk_bytes = chunk;
    int64_t calls = 0;
    const auto r = data::prepare_shards(o, [&](const data::PrepareProgress& p) {
      ++calls;
      EXPECT(p.bytes_done <= p.bytes_total && p.shards_done <= p.shards_total);
    });
    EXPECT(r.complete);
    EXPECT_EQ(calls, r.shards);
    EXPECT_EQ(r.dtype, std::string("uint16"));
    EXPECT_EQ(r.sentences, static_cast<int64_t>(want.size()));
    EXPECT_EQ(r.notes.size(), size_t{1});  // the Latin-1 file, named
    if (!r.notes.empty()) EXPECT(r.notes[0].find("b-latin1.txt") != std::string::npos);
    const data::TokenShards sh(out, tok_path);
    EXPECT(shard_sentences(sh) == want);
    // The concatenation read by token range is the sentences back to back (packed blocks).
    std::vector<int64_t> all, range;
    for (const auto& s : want) all.insert(all.end(), s.begin(), s.end());
    sh.token_range(0, sh.tokens(), &range);
    EXPECT(range == all);
    range.clear();
    sh.token_range(17, 1017, &range);
    EXPECT(std::equal(range.begin(), range.end(), all.begin() + 17));
    std::printf("    chunk %lld B, %d threads: %lld shards, %lld sentences, %lld tokens\n", (long long)chunk, threads,
                (long long)r.shards, (long long)sh.sentences(), (long long)sh.tokens());
    if (chunk == 1024) EXPECT(r.shards > 3);  // the demo corpus is cut at blank lines
  }
}

TEST_CASE(prepare_resumes_and_refuses_another_tokenizer) {
  const std::string corpus = corpus_dir(), out = temp_dir("resume");
  data::PrepareOptions o;
  o.corpus = {corpus}, o.tokenizer = tokenizer(600), o.out = out, o.chunk_bytes = 2048;
  const auto first = data::prepare_shards(o);
  const std::string index = read_file(out + "/index.json");
  // A stop part-way leaves no index; finished shards stay and a rerun keeps them.
  fs::remove(out + "/index.json");
  fs::remove(out + "/shard-00002.json");  // as if the process died while writing shard 2
  const auto again = data::prepare_shards(o);
  EXPECT(again.complete);
  EXPECT_EQ(again.reused, first.shards - 1);
  EXPECT_EQ(read_file(out + "/index.json"), index);
  std::atomic<bool> stop{true};
  fs::remove(out + "/index.json");
  const auto stopped = data::prepare_shards(o, {}, &stop);
  EXPECT(!stopped.complete);
  EXPECT(!fs::exists(out + "/index.json"));
  EXPECT(data::prepare_shards(o).complete);
  // Another tokenizer into the same folder: refused, naming both.
  o.tokenizer = tokenizer(700);
  EXPECT_THROWS_WITH(data::prepare_shards(o), "index.json", "prepared with the tokenizer", "new folder");
  // Opening with a tokenizer other than the index's: refused.
  EXPECT_THROWS_WITH(data::TokenShards(out, tokenizer(700)), "index.json", "made with the tokenizer", "other pieces");
  // A source that changed since: its shard is made again, not kept.
  write_file_atomic(corpus + "/c-crlf.txt", "Changed text here now. And more of it.\n");
  o.tokenizer = tokenizer(600);
  const auto changed = data::prepare_shards(o);
  EXPECT_EQ(changed.reused, changed.shards - 1);
}

TEST_CASE(damaged_shards_are_named_not_read) {
  const std::string corpus = corpus_dir(), out = temp_dir("damaged");
  data::PrepareOptions o;
  o.corpus = {corpus}, o.tokenizer = tokenizer(600), o.out = out;
  data::prepare_shards(o);
  const std::string tok0 = read_file(out + "/shard-00000.tok");
  // Truncated (a full disk on another machine).
  write_file_atomic(out + "/shard-00000.tok", tok0.substr(0, tok0.size() - 10));
  EXPECT_THROWS_WITH(data::TokenShards{out}, "shard-00000.tok", "truncated");
  // A shard of another vocabulary width (uint32 ids where the index says uint16).
  write_file_atomic(out + "/shard-00000.tok", tok0 + tok0);
  EXPECT_THROWS_WITH(data::TokenShards{out}, "shard-00000.tok", "another vocabulary width");
  write_file_atomic(out + "/shard-00000.tok", tok0);
  // An index that says uint32 for uint16 shards.
  const std::string index = read_file(out + "/index.json");
  nlohmann::json j = parse_json_text(index);
  j["bytes_per_token"] = 4;
  write_file_atomic(out + "/index.json", j.dump());
  EXPECT_THROWS_WITH(data::TokenShards{out}, "shard-00000.tok", "another vocabulary width");
  // Ids outside the vocabulary (a damaged shard that kept its size) are named where read.
  j["bytes_per_token"] = 2;
  write_file_atomic(out + "/index.json", j.dump());
  std::string bad = tok0;
  bad[0] = '\xff', bad[1] = '\xff';
  write_file_atomic(out + "/shard-00000.tok", bad);
  const data::TokenShards sh(out);
  std::vector<int64_t> p;
  EXPECT_THROWS_WITH(sh.sentence(0, &p), "shard-00000.tok", "outside the vocabulary");
  // No index: not a prepared folder (or a preparation that did not finish).
  fs::remove(out + "/index.json");
  EXPECT_THROWS_WITH(data::TokenShards{out}, "index.json", "not found", "data prepare");
}

TEST_CASE(held_out_rule_is_the_split_and_the_permutation_a_bijection) {
  for (int64_t n : {0, 1, 2, 3, 49, 50, 51, 1000, 69045, 1000003}) {
    const data::HeldOutRule rule(n);
    // The split as it was always drawn: the first `held` examples at i % stride == stride / 2.
    std::vector<int64_t> held, trained;
    for (int64_t i = 0; i < n; ++i)
      (static_cast<int64_t>(held.size()) < rule.held && i % rule.stride == rule.stride / 2 ? held : trained).push_back(i);
    REQUIRE(static_cast<int64_t>(held.size()) == rule.held);
    for (int64_t k = 0; k < rule.held; ++k) EXPECT_EQ(rule.held_at(k), held[static_cast<size_t>(k)]);
    bool same = true;
    for (int64_t t = 0; t < rule.trained(); ++t) same = same && rule.trained_at(t) == trained[static_cast<size_t>(t)];
    EXPECT_MSG(same, "n = " << n);
  }
  for (int64_t n : {1, 2, 3, 5, 64, 1000, 4097}) {
    const data::SeededPermutation a(n, 7), b(n, 8);
    std::set<int64_t> seen;
    int64_t differ = 0;
    for (int64_t i = 0; i < n; ++i) {
      seen.insert(a(i));
      differ += a(i) != b(i);
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), n);
    EXPECT(*seen.begin() == 0 && *seen.rbegin() == n - 1);
    if (n >= 64) EXPECT_GT(differ, n / 2);  // another key, another order
  }
}

TEST_CASE(row_masking_is_the_same_for_any_split_of_the_batch) {
  const Tokenizer tok = Tokenizer::load(tokenizer(600));
  std::vector<Encoding> enc;
  for (const char* s : {"The cat sat on the mat today.", "A longer sentence about the river and the hills.", "Short one.",
                        "Reading books in the evening is pleasant.", "The end of the list is here."})
    enc.push_back(tok.encode(s, nullptr, 64));
  std::vector<const Encoding*> all;
  for (const auto& e : enc) all.push_back(&e);
  data::MlmMasking m;
  m.vocab_size = tok.vocab_size();
  m.select = 0.4;
  data::Batch whole = data::collate(all, {40, false});
  data::apply_mlm_masking_rows(whole, m, 3, 11, 0);
  for (size_t cut = 1; cut < all.size(); ++cut) {
    data::Batch a = data::collate({all.begin(), all.begin() + static_cast<std::ptrdiff_t>(cut)}, {40, false});
    data::Batch b = data::collate({all.begin() + static_cast<std::ptrdiff_t>(cut), all.end()}, {40, false});
    data::apply_mlm_masking_rows(a, m, 3, 11, 0);
    data::apply_mlm_masking_rows(b, m, 3, 11, static_cast<int64_t>(cut));
    EXPECT(torch::equal(torch::cat({a.ids, b.ids}), whole.ids));
    EXPECT(torch::equal(torch::cat({a.labels, b.labels}), whole.labels));
  }
  const int64_t masked = whole.labels.ne(-100).sum().item<int64_t>();
  EXPECT(masked > 0);
  data::Batch other = data::collate(all, {40, false});
  data::apply_mlm_masking_rows(other, m, 3, 12, 0);  // another step, other masks
  EXPECT(!torch::equal(other.labels, whole.labels));
}

TEST_MAIN()

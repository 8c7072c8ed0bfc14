// mabert data prepare | info: token shards (core/data/shards.h) — a corpus tokenized once into
// memory-mapped binary files, which `mabert pretrain --shards` reads.
#include "cli/commands.h"
#include "cli/progress.h"

#include "data/shards.h"
#include "util/checksum.h"
#include "util/json_text.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

namespace mabert::cli {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

void add_prepare_command(CLI::App* data) {
  struct Args {
    data::PrepareOptions o;
    double chunk_mb = 32;
    bool quiet = false, json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = data->add_subcommand("prepare", "Tokenize a corpus once, in parallel, into binary token shards with an index "
                                                "(resumable: rerun the same command after a stop)");
  c->add_option("--corpus", a->o.corpus, "Corpus files or folders (one document per blank-line-separated block)")->required();
  c->add_option("--tokenizer", a->o.tokenizer, "Tokenizer .model (mabert tokenizer train)")->required();
  c->add_option("--out", a->o.out, "The shard folder")->required();
  c->add_option("--threads", a->o.threads, "Worker threads (0 = every core)")->capture_default_str();
  c->add_option("--chunk-mb", a->chunk_mb, "Text per shard in MB; larger files are cut at blank lines")->capture_default_str()->check(CLI::Range(0.01, 4096.0));
  c->add_flag("--quiet", a->quiet, "No progress");
  c->add_flag("--json", a->json, "Print the report as JSON");
  c->callback([a] {
    a->o.chunk_bytes = static_cast<int64_t>(a->chunk_mb * (1 << 20));
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    Progress progress(a->quiet || a->json);
    const data::PrepareReport r = data::prepare_shards(
        a->o,
        [&](const data::PrepareProgress& p) {
          const double frac = p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
          const double rate = p.seconds > 0 ? static_cast<double>(p.bytes_done) / p.seconds : 0;
          char text[160];
          std::snprintf(text, sizeof text, "%lld/%lld shards (%lld kept), %.1f of %.1f MB, %.1f MB/s", (long long)p.shards_done,
                        (long long)p.shards_total, (long long)p.shards_reused, p.bytes_done / 1e6, p.bytes_total / 1e6, rate / 1e6);
          progress.bar(frac, text, rate > 0 ? static_cast<double>(p.bytes_total - p.bytes_done) / rate : 0);
        },
        &g_stop);
    progress.line("");
    for (const auto& n : r.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    if (!r.complete) {
      std::fprintf(stderr, "stopped after %lld shards; rerun the same command to continue\n", (long long)r.shards);
      std::exit(130);
    }
    const double mb_s = r.seconds > 0 ? r.bytes / 1e6 / r.seconds : 0;
    if (a->json) {
      std::printf("%s\n", nlohmann::ordered_json({{"out", a->o.out}, {"shards", r.shards}, {"reused", r.reused}, {"sources", r.sources},
                                                  {"bytes", r.bytes}, {"documents", r.documents}, {"sentences", r.sentences},
                                                  {"tokens", r.tokens}, {"dtype", r.dtype}, {"seconds", r.seconds}, {"mb_per_s", mb_s}})
                                  .dump(2)
                                  .c_str());
      return;
    }
    std::printf("%s: %lld shards (%lld kept from before) from %lld files, %.1f MB of text: %lld documents, %lld sentences, "
                "%lld tokens (%s) in %.1f s, %.1f MB/s\n",
                a->o.out.c_str(), (long long)r.shards, (long long)r.reused, (long long)r.sources, r.bytes / 1e6, (long long)r.documents,
                (long long)r.sentences, (long long)r.tokens, r.dtype.c_str(), r.seconds, mb_s);
  });
}

void add_shard_info_command(CLI::App* data) {
  struct Args {
    std::string dir, tokenizer;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = data->add_subcommand("info", "A shard folder's totals, checked against its files (sizes; --tokenizer: made with it)");
  c->add_option("dir", a->dir, "The shard folder")->required();
  c->add_option("--tokenizer", a->tokenizer, "Check the shards were made with this tokenizer");
  c->callback([a] {
    const data::TokenShards s(a->dir, a->tokenizer);
    std::printf("%s: %lld sentences, %lld tokens, %d bytes per token, vocabulary %lld, tokenizer %s\n", a->dir.c_str(),
                (long long)s.sentences(), (long long)s.tokens(), s.bytes_per_token(), (long long)s.vocab_size(), s.tokenizer_path().c_str());
  });
}

}  // namespace

void add_data_commands(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Corpus preparation: token shards for pretraining at scale");
  data->require_subcommand(1);
  add_prepare_command(data);
  add_shard_info_command(data);
}

}  // namespace mabert::cli

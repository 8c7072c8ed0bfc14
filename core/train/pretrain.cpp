// MLM pretraining: examples from a corpus (natural sentences, or packed blocks), MLM masking drawn
// per micro-step from the seed, held-out MLM loss as the evaluation.
#include "train/trainer.h"

#include "data/corpus.h"
#include "data/shards.h"
#include "train/loop.h"

#include <torch/torch.h>

namespace mabert::train {
namespace {

// Natural sentences (the padded, variable-length case PSM is for) or packed blocks of max_len.
std::vector<Encoding> pretraining_examples(const PretrainJob& job, const Tokenizer& tok) {
  std::vector<Encoding> examples;
  const int64_t body = job.train.max_len - 2;
  std::vector<int64_t> stream;
  for (const auto& doc : data::read_corpus(job.corpus)) {
    for (const auto& s : doc.sentences) {
      if (job.max_sentences > 0 && static_cast<int64_t>(examples.size()) >= job.max_sentences) break;
      if (!job.packed) {
        Encoding e = tok.encode(s, nullptr, job.train.max_len);
        if (e.ids.size() > 3) examples.push_back(std::move(e));  // at least two pieces of text
        continue;
      }
      const auto p = tok.encode_pieces(s);
      stream.insert(stream.end(), p.begin(), p.end());
      while (static_cast<int64_t>(stream.size()) >= body) {
        Encoding e;
        e.ids.push_back(Tokenizer::kCls);
        e.ids.insert(e.ids.end(), stream.begin(), stream.begin() + body);
        e.ids.push_back(Tokenizer::kSep);
        e.segments.assign(e.ids.size(), 0);
        stream.erase(stream.begin(), stream.begin() + body);
        examples.push_back(std::move(e));
      }
    }
  }
  if (examples.empty()) throw std::runtime_error("pretraining: the corpus gave no examples");
  return examples;
}

}  // namespace

ModelConfig resolved_config(const PretrainJob& job) {
  ModelConfig cfg = job.model;
  cfg.vocab_size = Tokenizer::load(job.tokenizer).vocab_size();
  cfg.head = Head::None;
  if (job.train.max_len > cfg.max_len)
    throw std::invalid_argument("max_len " + std::to_string(job.train.max_len) + " exceeds the model's max_len " +
                                std::to_string(cfg.max_len));
  cfg.validate();
  return cfg;
}

namespace {

// Where a run's examples come from: the text path holds them encoded in memory (the demo, the
// studio, small corpora); token shards are read where a batch needs them, in constant memory.
struct PretrainData {
  std::function<int64_t(int64_t)> length;  // example i's tokens, [CLS] and [SEP] included
  std::function<Encoding(int64_t)> at;
  int64_t examples = 0;
  nlohmann::ordered_json info;  // what run.json records about the data
};

PretrainData text_data(const PretrainJob& job, const Tokenizer& tok, std::shared_ptr<std::vector<Encoding>>* keep) {
  *keep = std::make_shared<std::vector<Encoding>>(pretraining_examples(job, tok));
  const auto ex = *keep;
  PretrainData d;
  d.examples = static_cast<int64_t>(ex->size());
  d.length = [ex](int64_t i) { return static_cast<int64_t>((*ex)[static_cast<size_t>(i)].ids.size()); };
  d.at = [ex](int64_t i) { return (*ex)[static_cast<size_t>(i)]; };
  d.info = {{"corpus", job.corpus}};
  return d;
}

// Natural sentences cut at max_len, or packed blocks of max_len − 2 pieces of the concatenation.
PretrainData shard_data(const PretrainJob& job, std::shared_ptr<const data::TokenShards> sh) {
  const int64_t body = job.train.max_len - 2;
  PretrainData d;
  d.info = {{"shards", job.shards}};
  if (job.packed) {
    d.examples = sh->tokens() / body;
    if (d.examples == 0) throw std::runtime_error(job.shards + ": fewer tokens than one block of " + std::to_string(body));
    d.length = [body](int64_t) { return body + 2; };
    d.at = [sh, body](int64_t i) {
      Encoding e;
      e.ids.push_back(Tokenizer::kCls);
      sh->token_range(i * body, (i + 1) * body, &e.ids);
      e.ids.push_back(Tokenizer::kSep);
      e.segments.assign(e.ids.size(), 0);
      return e;
    };
  } else {
    d.examples = job.max_sentences > 0 ? std::min(job.max_sentences, sh->sentences()) : sh->sentences();
    d.length = [sh, body](int64_t i) { return std::min(sh->sentence_length(i), body) + 2; };
    d.at = [sh, body](int64_t i) {
      Encoding e;
      e.ids.push_back(Tokenizer::kCls);
      sh->sentence(i, &e.ids);
      if (static_cast<int64_t>(e.ids.size()) > body + 1) e.ids.resize(static_cast<size_t>(body + 1));
      e.ids.push_back(Tokenizer::kSep);
      e.segments.assign(e.ids.size(), 0);
      return e;
    };
  }
  return d;
}

// The text path as it always was: epochs of a shuffled (and by default length-bucketed) order;
// the whole batch built and masked as one process would, then this rank takes its rows.
std::function<data::Batch(int64_t)> text_batches(const LoopJob& L, const PretrainJob& job, const std::vector<Encoding>& text,
                                                 const PretrainData& d, const data::HeldOutRule& held,
                                                 const data::MlmMasking& masking) {
  std::vector<int64_t> lengths;
  for (int64_t t = 0; t < held.trained(); ++t) lengths.push_back(d.length(held.trained_at(t)));
  auto order = std::make_shared<data::BatchOrder>(lengths, job.train.batch_size, job.train.seed, job.train.bucket);
  return [&L, &job, &text, &held, &masking, order](int64_t micro) {
    std::vector<const Encoding*> items;
    for (int64_t i : order->at(micro)) items.push_back(&text[static_cast<size_t>(held.trained_at(i))]);
    data::Batch b = data::collate(items, {0, job.train.left_padding});
    std::mt19937_64 rng(data::step_seed(job.train.seed, micro));
    data::apply_mlm_masking(b, masking, rng);
    const auto [begin, end] = dist::shard(b.ids.size(0), L.world->rank(), L.world->size());
    return to_device(slice_rows(b, begin, end), L.device);
  };
}

// Shards: global batch m holds positions [m·B, (m+1)·B) of an endless stream of epochs, each a
// permutation drawn from (seed, epoch); this rank reads only its rows (padded to the batch's
// longest, from the lengths alone) and masks each by its global row.
std::function<data::Batch(int64_t)> shard_batches(const LoopJob& L, const PretrainJob& job, const PretrainData& d,
                                                  const data::HeldOutRule& held, const data::MlmMasking& masking) {
  return [&L, &job, &d, &held, &masking](int64_t micro) {
    const int64_t n = held.trained(), B = job.train.batch_size;
    auto example = [&](int64_t row) {
      const int64_t pos = micro * B + row, epoch = pos / n;
      const data::SeededPermutation perm(n, data::step_seed(job.train.seed, -1 - epoch));
      return held.trained_at(perm(pos % n));
    };
    int64_t longest = 0;
    for (int64_t r = 0; r < B; ++r) longest = std::max(longest, d.length(example(r)));
    const auto [begin, end] = dist::shard(B, L.world->rank(), L.world->size());
    std::vector<Encoding> mine;
    for (int64_t r = begin; r < end; ++r) mine.push_back(d.at(example(r)));
    std::vector<const Encoding*> items;
    for (const auto& e : mine) items.push_back(&e);
    data::Batch b = data::collate(items, {longest, job.train.left_padding});
    b.first_row = begin;
    data::apply_mlm_masking_rows(b, masking, job.train.seed, micro, begin);
    return to_device(std::move(b), L.device);
  };
}

// The MLM loss of a batch: summed over the masked positions, with their count.
LossTerms mlm_loss(MaBert& model, const data::Batch& b) {
  EncoderOutput out = model->forward(b.ids, b.mask, b.segments);
  const torch::Tensor sel = b.labels.ne(-100);
  const torch::Tensor logits = model->mlm_logits(out.hidden.index({sel}));
  return {torch::nn::functional::cross_entropy(logits.to(torch::kFloat), b.labels.index({sel}),
                                               torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)),
          sel.sum().item<int64_t>()};
}

// Held-out MLM loss as the evaluation: the held examples in batches (fixed masking per batch),
// one unit per batch, the loss the mean of the batches' mean losses.
void held_out_evaluation(LoopJob& L, const PretrainJob& job, const PretrainData& d, const data::HeldOutRule& held,
                         const data::MlmMasking& masking) {
  const int64_t B = job.train.batch_size;
  L.evaluate.units = (held.held + B - 1) / B;
  L.evaluate.score = [&L, &job, &d, &held, &masking, B](int64_t first, int64_t last) {
    std::vector<double> losses;
    for (int64_t k = first; k < last; ++k) {
      std::vector<Encoding> items_held;
      for (int64_t i = k * B; i < std::min(held.held, (k + 1) * B); ++i) items_held.push_back(d.at(held.held_at(i)));
      std::vector<const Encoding*> items;
      for (const auto& e : items_held) items.push_back(&e);
      data::Batch b = data::collate(items, {0, job.train.left_padding});
      std::mt19937_64 rng(data::step_seed(job.train.seed ^ 0xE7A1u, k * B));
      data::apply_mlm_masking(b, masking, rng);
      const LossTerms t = L.loss_of(to_device(std::move(b), L.device));
      losses.push_back(t.sum.item<double>() / static_cast<double>(std::max<int64_t>(1, t.count)));
    }
    return losses;
  };
  L.evaluate.metrics = [](const std::vector<double>& losses) -> std::map<std::string, double> {
    double total = 0;
    for (double l : losses) total += l;
    const double loss = total / static_cast<double>(std::max<size_t>(1, losses.size()));
    return {{"mlm_loss", loss}, {"neg_mlm_loss", -loss}};
  };
}

}  // namespace

TrainResult pretrain(const PretrainJob& job, const Hooks& hooks) {
  const std::string& tokenizer = job.tokenizer;  // jobs::run resolves it (trained, or the shards')
  const Tokenizer tok = Tokenizer::load(tokenizer);
  const ModelConfig cfg = resolved_config(job);
  std::shared_ptr<std::vector<Encoding>> text;
  const PretrainData d = job.shards.empty() ? text_data(job, tok, &text)
                                            : shard_data(job, std::make_shared<data::TokenShards>(job.shards, tokenizer));
  // Held out for the evaluation (2 % of the examples, at most 256, spread over the corpus), never
  // trained on; a rule, so a corpus of any size costs no memory for it.
  const data::HeldOutRule held(d.examples);

  LoopJob L = new_loop_job(cfg, job.train, job.run_dir, job.world);
  L.model->to(L.device);
  dist::World& world = *L.world;
  nlohmann::ordered_json info = {{"kind", to_string(JobKind::Pretrain)}};
  for (auto it = d.info.begin(); it != d.info.end(); ++it) info[it.key()] = it.value();
  info["examples"] = d.examples, info["held_out"] = held.held, info["train"] = job.train.to_json(), info["model"] = cfg.to_json();
  info["world_size"] = world.size(), info["backend"] = world.backend();
  if (world.root()) prepare_run_dir(job.run_dir, cfg, tokenizer, info);
  world.barrier();
  if (hooks.on_message)
    hooks.on_message(std::to_string(held.trained()) + " training examples, " + std::to_string(held.held) + " held out, " +
                     std::to_string(count_parameters(*L.model)) + " parameters");

  data::MlmMasking masking;
  masking.vocab_size = cfg.vocab_size;
  if (!text && job.train.bucket && hooks.on_message && !job.packed)
    hooks.on_message("token shards: batches follow a seeded permutation, not sorted by length (bucket applies to the text path)");
  L.batch_at = text ? text_batches(L, job, *text, d, held, masking) : shard_batches(L, job, d, held, masking);
  L.loss_of = [&](const data::Batch& b) { return mlm_loss(L.model, b); };
  held_out_evaluation(L, job, d, held, masking);
  L.watch = "neg_mlm_loss";
  return run_loop(L, hooks);
}

}  // namespace mabert::train

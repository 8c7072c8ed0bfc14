// MLM pretraining: examples from a corpus (natural sentences, or packed blocks), MLM masking drawn
// per micro-step from the seed, held-out MLM loss as the evaluation.
#include "train/trainer.h"

#include "data/corpus.h"
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

TrainResult pretrain(const PretrainJob& job, const Hooks& hooks) {
  const Tokenizer tok = Tokenizer::load(job.tokenizer);
  const ModelConfig cfg = resolved_config(job);
  const std::vector<Encoding> examples = pretraining_examples(job, tok);
  // Held out for the evaluation (2 % of the examples, at most 256, spread over the corpus), never
  // trained on.
  const data::HeldOutSplit split = data::held_out_split(static_cast<int64_t>(examples.size()));
  const std::vector<int64_t>&held = split.held, &trained = split.trained;
  std::vector<int64_t> lengths;
  for (int64_t i : trained) lengths.push_back(static_cast<int64_t>(examples[static_cast<size_t>(i)].ids.size()));

  LoopJob L = new_loop_job(cfg, job.train, job.run_dir, job.world);
  L.model->to(L.device);
  dist::World& world = *L.world;
  nlohmann::ordered_json info = {{"kind", "pretrain"}, {"corpus", job.corpus}, {"examples", examples.size()},
                                 {"held_out", held.size()}, {"train", job.train.to_json()}, {"model", cfg.to_json()},
                                 {"world_size", world.size()}, {"backend", world.backend()}};
  if (world.root()) prepare_run_dir(job.run_dir, cfg, job.tokenizer, info);
  world.barrier();
  if (hooks.on_message)
    hooks.on_message(std::to_string(trained.size()) + " training examples, " + std::to_string(held.size()) +
                     " held out, " + std::to_string(count_parameters(*L.model)) + " parameters");

  data::BatchOrder order(lengths, job.train.batch_size, job.train.seed, job.train.bucket);
  data::MlmMasking masking;
  masking.vocab_size = cfg.vocab_size;
  L.batch_at = [&](int64_t micro) {
    std::vector<const Encoding*> items;
    for (int64_t i : order.at(micro)) items.push_back(&examples[static_cast<size_t>(trained[static_cast<size_t>(i)])]);
    // The whole batch is built and masked as one process would, then this rank takes its rows.
    data::Batch b = data::collate(items, {0, job.train.left_padding});
    std::mt19937_64 rng(data::step_seed(job.train.seed, micro));
    data::apply_mlm_masking(b, masking, rng);
    const auto [begin, end] = dist::shard(b.ids.size(0), world.rank(), world.size());
    return to_device(slice_rows(b, begin, end), L.device);
  };
  L.loss_of = [&](const data::Batch& b) -> LossTerms {
    EncoderOutput out = L.model->forward(b.ids, b.mask, b.segments);
    const torch::Tensor sel = b.labels.ne(-100);
    const torch::Tensor logits = L.model->mlm_logits(out.hidden.index({sel}));
    return {torch::nn::functional::cross_entropy(logits.to(torch::kFloat), b.labels.index({sel}),
                                                 torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)),
            sel.sum().item<int64_t>()};
  };
  // Held-out MLM loss as the evaluation: the held examples in batches (fixed masking per batch),
  // one unit per batch, the loss the mean of the batches' mean losses.
  const int64_t held_batch = job.train.batch_size;
  L.evaluate.units = (static_cast<int64_t>(held.size()) + held_batch - 1) / held_batch;
  L.evaluate.score = [&](int64_t first, int64_t last) {
    std::vector<double> losses;
    for (int64_t k = first; k < last; ++k) {
      const size_t s = static_cast<size_t>(k * held_batch);
      std::vector<const Encoding*> items;
      for (size_t i = s; i < std::min(held.size(), s + static_cast<size_t>(held_batch)); ++i)
        items.push_back(&examples[static_cast<size_t>(held[i])]);
      data::Batch b = data::collate(items, {0, job.train.left_padding});
      std::mt19937_64 rng(data::step_seed(job.train.seed ^ 0xE7A1u, static_cast<int64_t>(s)));
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
  L.watch = "neg_mlm_loss";
  return run_loop(L, hooks);
}

}  // namespace mabert::train

// Taking models out: `export` (a run folder as a Hugging Face model folder) and `encode` (text to
// vectors in safetensors). The work is in core/interop/.
#include "cli/commands.h"

#include "interop/encode.h"
#include "interop/hf_export.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

namespace mabert::cli {

void add_export_commands(CLI::App& app) {
  // --- export ---------------------------------------------------------------------------------
  {
    struct Args {
      std::string run, format = "hf", out;
      bool force = false, last = false, json = false;
    };
    auto a = std::make_shared<Args>();
    CLI::App* c = app.add_subcommand("export", "Export a run's model for other tools (hf: a Hugging Face model folder with its Python code)");
    c->add_option("--run", a->run, "Run folder (pretraining or fine-tuning)")->required();
    c->add_option("--format", a->format, "Export format")->check(CLI::IsMember({"hf"}))->capture_default_str();
    c->add_option("--out", a->out, "Output folder (created; an existing non-empty one only with --force)")->required();
    c->add_flag("--force", a->force, "Replace an existing non-empty output folder");
    c->add_flag("--last", a->last, "Export the latest checkpoint instead of the best one");
    c->add_flag("--json", a->json, "Machine-readable output");
    c->callback([a] {
      const interop::HfExportResult r = interop::export_hf({a->run, a->out, a->force, !a->last});
      if (a->json) {
        std::cout << nlohmann::ordered_json({{"out", r.out_dir}, {"architecture", r.architecture}, {"checkpoint", r.checkpoint},
                                             {"tensors", r.tensors}, {"parameters", r.parameters}, {"files", r.files}})
                         .dump(2)
                  << '\n';
        return;
      }
      std::printf("exported %s (%s, %lld tensors, %lld parameters) to %s\n", r.checkpoint.c_str(), r.architecture.c_str(),
                  static_cast<long long>(r.tensors), static_cast<long long>(r.parameters), r.out_dir.c_str());
      std::printf("load it in Python (transformers):\n"
                  "  AutoTokenizer.from_pretrained(\"%s\", trust_remote_code=True)\n"
                  "  AutoModel.from_pretrained(\"%s\", trust_remote_code=True)\n",
                  r.out_dir.c_str(), r.out_dir.c_str());
    });
  }
  // --- encode ---------------------------------------------------------------------------------
  {
    auto a = std::make_shared<interop::EncodeJob>();
    auto json = std::make_shared<bool>(false);
    CLI::App* c = app.add_subcommand("encode", "Run a model over a file of sentences; write hidden states, pooled vectors and logits (safetensors)");
    c->add_option("--run", a->run_dir, "Run folder")->required();
    c->add_option("--input", a->input, "Text file: one sentence per line (with --pairs: sentence<TAB>sentence)")->required();
    c->add_option("--out", a->out, "Output .safetensors")->required();
    c->add_flag("--pairs", a->pairs, "Lines are tab-separated sentence pairs");
    c->add_option("--padding", a->left_padding, "Pad after the tokens (right) or before them (left)")
        ->transform(padding_side())
        ->default_str("right");
    c->add_flag("--layers", a->layers, "Also write every layer's hidden states (hidden_states.<i>, 0 = embeddings)");
    c->add_flag("--mlm-logits", a->mlm_logits, "Also write the MLM head's logits (mlm_logits, {sentences, length, vocabulary})");
    c->add_option("--max-len", a->max_len, "Maximum sequence length")->capture_default_str();
    c->add_option("--batch", a->batch, "Sentences per forward")->capture_default_str();
    c->add_flag("--last", [a](int64_t n) { a->best = n == 0; }, "Use the latest checkpoint instead of the best one");
    c->add_flag("--json", *json, "Machine-readable output");
    c->callback([a, json] {
      const interop::EncodeResult r = interop::encode_file(*a);
      if (*json) {
        std::cout << nlohmann::ordered_json({{"out", a->out}, {"sentences", r.sentences}, {"length", r.length}, {"truncated", r.truncated}})
                         .dump(2)
                  << '\n';
        return;
      }
      std::printf("%lld sentences (padded to %lld tokens, %s; %lld truncated) → %s\n", static_cast<long long>(r.sentences),
                  static_cast<long long>(r.length), a->left_padding ? "left" : "right", static_cast<long long>(r.truncated),
                  a->out.c_str());
    });
  }
}

}  // namespace mabert::cli

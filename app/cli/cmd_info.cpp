// `mabert info`: the resolved configuration, a per-layer parameter table and the totals.
#include "cli/commands.h"

#include "model/mabert.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <memory>

namespace mabert::cli {
namespace {

struct InfoArgs {
  std::string preset = "tiny";
  std::string schedule;
  std::string config;
  bool json = false;
};

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

void run_info(const InfoArgs& a) {
  ModelConfig cfg = a.config.empty() ? ModelConfig::preset(a.preset) : ModelConfig::load(a.config);
  if (!a.schedule.empty()) cfg.schedule = a.schedule;
  cfg.validate();
  MaBert model(cfg);

  struct Row {
    std::string index, letter, name;
    int64_t params;
  };
  std::vector<Row> rows;
  rows.push_back({"", "", "embeddings", count_parameters(*model->embeddings)});
  for (size_t i = 0; i < model->layers().size(); ++i) {
    const auto& layer = model->layers()[i];
    size_t owner = i;  // with share_layers, the first layer holding the same weights
    for (size_t j = 0; j < i; ++j)
      if (model->layers()[j].get() == layer.get()) owner = std::min(owner, j);
    std::string name = layer_kind_name(layer->kind());
    if (owner != i) name += " (shares layer " + std::to_string(owner) + ")";
    rows.push_back({std::to_string(i), std::string(1, static_cast<char>(layer->kind())), name,
                    owner == i ? count_parameters(*layer) : 0});
  }
  if (model->rel_embeddings)
    rows.push_back({"", "", "relative positions (D layers)", count_parameters(*model->rel_embeddings) + count_parameters(*model->rel_norm)});
  rows.push_back({"", "", "final_norm", count_parameters(*model->final_norm)});
  rows.push_back({"", "", "pooling (" + std::string(to_string(cfg.pooling)) + ")", count_parameters(*model->pooling)});
  rows.push_back({"", "", "mlm head (decoder tied)", count_parameters(*model->mlm)});
  if (model->task_head) rows.push_back({"", "", std::string(to_string(cfg.head)) + " head", count_parameters(*model->task_head)});
  const int64_t total = count_parameters(*model);
  int64_t encoder = total - count_parameters(*model->mlm) - (model->task_head ? count_parameters(*model->task_head) : 0);

  if (a.json) {
    nlohmann::ordered_json j;
    j["config"] = cfg.to_json();
    j["rows"] = nlohmann::ordered_json::array();
    for (const auto& r : rows)
      j["rows"].push_back({{"index", r.index.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(std::stoi(r.index))},
                           {"kind", r.letter}, {"name", r.name}, {"params", r.params}});
    j["encoder_params"] = encoder;
    j["total_params"] = total;
    std::cout << j.dump(2) << '\n';
    return;
  }
  std::printf("Encoder: schedule %s, d_model %lld, heads %lld, FFN %lld, d_state %lld, expand %lld, vocab %lld\n",
              cfg.schedule.c_str(), (long long)cfg.d_model, (long long)cfg.n_heads, (long long)cfg.d_ffn,
              (long long)cfg.d_state, (long long)cfg.expand, (long long)cfg.vocab_size);
  std::printf("PSM: pre=%s post=%s state=%s   pooling: %s   positions: %s (max_len %lld)\n\n",
              cfg.psm_pre ? "on" : "off", cfg.psm_post ? "on" : "off", cfg.psm_state ? "on" : "off", to_string(cfg.pooling),
              cfg.position.c_str(), (long long)cfg.max_len);
  std::printf("%5s  %-4s %-26s %15s\n", "layer", "kind", "module", "parameters");
  for (const auto& r : rows)
    std::printf("%5s  %-4s %-26s %15s\n", r.index.c_str(), r.letter.c_str(), r.name.c_str(), with_commas(r.params).c_str());
  std::printf("%5s  %-4s %-26s %15s\n", "", "", "encoder (without heads)", with_commas(encoder).c_str());
  std::printf("%5s  %-4s %-26s %15s  (%.1f M)\n", "", "", "total", with_commas(total).c_str(), total / 1e6);
  std::printf("\nresolved configuration:\n%s\n", cfg.to_json().dump(2).c_str());
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "Show a model's per-layer parameter table, totals and resolved configuration");
  cmd->add_option("--preset", args->preset, "Preset: tiny, small, base, or a baseline at a size (bert-, albert-, longformer-, bigbird-, deberta-<size>)")->capture_default_str();
  cmd->add_option("--schedule", args->schedule, "Layer schedule over T M B P L S D, e.g. MMTMMTMMTMMT (overrides the preset's)");
  cmd->add_option("--config", args->config, "Model config JSON file (instead of a preset)");
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->callback([args] { run_info(*args); });
}

}  // namespace mabert::cli

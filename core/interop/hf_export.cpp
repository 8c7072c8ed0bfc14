// Hugging Face export: run folder → model folder a Python user loads with transformers.
#include "interop/hf_export.h"

#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/run_folder.h"
#include "util/files.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <unistd.h>

namespace mabert::interop {
namespace fs = std::filesystem;
namespace {

// What makes a folder a run, checked before anything loads so the error names the missing part.
void check_run_folder(const std::string& run) {
  if (!fs::exists(run)) throw std::runtime_error(run + ": no such run folder");
  if (!fs::is_directory(run)) throw std::runtime_error(run + ": not a run folder (a file, not a folder)");
  if (!fs::exists(run + "/run.json"))
    throw std::runtime_error(run + ": not a run folder (no run.json; runs are written by `mabert pretrain`, `mabert finetune` or the studio)");
  for (const char* f : {"config.json", "tokenizer.model"})
    if (!fs::exists(run + "/" + f)) throw std::runtime_error(run + ": incomplete run folder: " + f + " is missing");
  if (!fs::exists(run + "/best/model.safetensors") && !train::latest_checkpoint(run))
    throw std::runtime_error(run + ": incomplete run folder: no checkpoint (neither best/model.safetensors nor checkpoints/step-*)");
}

void check_exportable(const ModelConfig& cfg, const std::string& run) {
  std::string refused;
  for (char c : cfg.schedule)
    if (std::string("TMBP").find(c) == std::string::npos && refused.find(c) == std::string::npos) refused += c;
  if (!refused.empty())
    throw std::runtime_error(run + "/config.json: schedule " + cfg.schedule + " has layer letters " + refused +
                             " (attention baselines) that the Python twin does not implement; export supports T M B P");
}

// The exported tensor names: the encoder under "mabert.", the MLM and task heads at top level,
// as the Python classes name them (MabertModel inside MabertForMaskedLM / ...ForSequenceClassification).
std::string hf_name(const std::string& cpp_name) {
  if (cpp_name.rfind("mlm.", 0) == 0 || cpp_name.rfind("head.", 0) == 0) return cpp_name;
  return "mabert." + cpp_name;
}

nlohmann::ordered_json hf_config(const ModelConfig& cfg, const std::string& architecture, const nlohmann::json& info) {
  nlohmann::ordered_json j;
  j["model_type"] = "mabert";
  j["architectures"] = {architecture};
  j["auto_map"] = {{"AutoConfig", "configuration_mabert.MabertConfig"},
                   {"AutoModel", "modeling_mabert.MabertModel"},
                   {"AutoModelForMaskedLM", "modeling_mabert.MabertForMaskedLM"},
                   {"AutoModelForSequenceClassification", "modeling_mabert.MabertForSequenceClassification"}};
  const nlohmann::ordered_json fields = cfg.to_json();
  for (const auto& [k, v] : fields.items()) j[k] = v;
  if (cfg.head == Head::Regression) j["num_labels"] = 1;
  j["pad_token_id"] = Tokenizer::kPad;
  j["torch_dtype"] = "float32";
  j["mabert_studio"] = {{"run_kind", info.value("kind", "")}, {"task", info.value("task", "")}};
  return j;
}

nlohmann::ordered_json tokenizer_config(const ModelConfig& cfg) {
  return {{"tokenizer_class", "MabertTokenizer"},
          {"auto_map", {{"AutoTokenizer", {"tokenization_mabert.MabertTokenizer", nullptr}}}},
          {"model_max_length", cfg.max_len},
          {"pad_token", "[PAD]"},
          {"unk_token", "[UNK]"},
          {"cls_token", "[CLS]"},
          {"sep_token", "[SEP]"},
          {"mask_token", "[MASK]"},
          {"split_special_tokens", true},
          {"padding_side", "right"}};
}

std::string readme(const std::string& run, const ModelConfig& cfg, const std::string& architecture) {
  return "# MaBERT (" + cfg.schedule + ", d_model " + std::to_string(cfg.d_model) +
         ")\n\nExported by MaBERT Studio (`mabert export --format hf`) from the run folder `" + fs::path(run).filename().string() +
         "`.\nThe modeling code is plain PyTorch; its outputs equal the C++ model's within 1e-5 (fp32).\n\n"
         "```python\nfrom transformers import AutoModel, AutoTokenizer, " +
         (architecture == "MabertForSequenceClassification" ? std::string("AutoModelForSequenceClassification")
                                                            : std::string("AutoModelForMaskedLM")) +
         "\n\ntok = AutoTokenizer.from_pretrained(path, trust_remote_code=True)\n"
         "model = AutoModel.from_pretrained(path, trust_remote_code=True).eval()\n"
         "batch = tok([\"a first sentence\", \"and a second, longer one\"], padding=True, return_tensors=\"pt\")\n"
         "out = model(**batch)  # last_hidden_state, pooler_output, pool_weights (MAP: 0 on pads)\n```\n";
}

}  // namespace

HfExportResult export_hf(const HfExportOptions& opt) {
  if (opt.out_dir.empty()) throw std::runtime_error("export: no output folder given");
  const std::string run = opt.run_dir;
  check_run_folder(run);
  check_exportable(ModelConfig::load(run + "/config.json"), run);

  const std::string out = fs::path(opt.out_dir).lexically_normal().string();
  if (fs::exists(out)) {
    if (!fs::is_directory(out)) throw std::runtime_error(out + ": exists and is not a folder");
    if (!fs::is_empty(out) && !opt.force) throw std::runtime_error(out + ": exists and is not empty (--force replaces it)");
  }

  train::LoadedRun loaded = train::load_run(run, opt.best);
  MaBert& model = loaded.model;
  const ModelConfig& cfg = model->config();

  HfExportResult r;
  r.out_dir = out;
  r.architecture = cfg.head != Head::None ? "MabertForSequenceClassification" : "MabertForMaskedLM";
  r.checkpoint = loaded.weights;

  // Everything goes into a sibling temp folder first, then is renamed into place.
  const fs::path parent = fs::path(out).parent_path().empty() ? fs::path(".") : fs::path(out).parent_path();
  fs::create_directories(parent);
  const std::string tmp = (parent / (fs::path(out).filename().string() + ".tmp-" + std::to_string(::getpid()))).string();
  remove_tree(tmp);
  fs::create_directories(tmp);
  try {
    NamedTensors tensors;
    for (const auto& item : model->named_parameters()) {
      tensors.emplace_back(hf_name(item.key()), item.value().detach().to(torch::kCPU, torch::kFloat).contiguous());
      r.parameters += item.value().numel();
    }
    r.tensors = static_cast<int64_t>(tensors.size());
    save_safetensors(tmp + "/model.safetensors", tensors, {{"format", "pt"}, {"producer", "mabert-studio"}});
    write_file_atomic(tmp + "/config.json", hf_config(cfg, r.architecture, loaded.info).dump(2) + "\n");
    write_file_atomic(tmp + "/tokenizer.model", read_file(run + "/tokenizer.model"));
    write_file_atomic(tmp + "/tokenizer_config.json", tokenizer_config(cfg).dump(2) + "\n");
    write_file_atomic(tmp + "/special_tokens_map.json",
                      nlohmann::ordered_json({{"pad_token", "[PAD]"}, {"unk_token", "[UNK]"}, {"cls_token", "[CLS]"},
                                              {"sep_token", "[SEP]"}, {"mask_token", "[MASK]"}})
                              .dump(2) + "\n");
    for (const auto& [name, text] : hf_python_sources()) write_file_atomic(tmp + "/" + name, text);
    write_file_atomic(tmp + "/README.md", readme(run, cfg, r.architecture));
    if (fs::exists(out)) remove_tree(out);
    if (::rename(tmp.c_str(), out.c_str()) != 0) throw std::runtime_error(out + ": could not move the export into place");
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  for (const auto& e : fs::directory_iterator(out)) r.files.push_back(e.path().filename().string());
  std::sort(r.files.begin(), r.files.end());
  return r;
}

}  // namespace mabert::interop

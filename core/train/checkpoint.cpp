// Checkpoint folders, written atomically and loaded with errors that name the file.
#include "train/checkpoint.h"

#include "io/safetensors.h"
#include "util/checksum.h"
#include "util/files.h"
#include "util/json_text.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <unistd.h>

namespace mabert::train {
namespace fs = std::filesystem;

namespace {

std::string ckpt_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "ckpt-%08lld", static_cast<long long>(step));
  return buf;
}

constexpr const char* kFiles[] = {"model.safetensors", "optimizer.safetensors", "state.json", "rng.safetensors"};

// A file's size and CRC-32 (util/checksum.h).
std::pair<uint64_t, uint32_t> size_and_crc(const fs::path& path) {
  const FileChecksum c = file_checksum(path.string());
  return {c.size, c.crc};
}

void write_checksums(const fs::path& dir) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const char* f : kFiles) {
    const auto [size, crc] = size_and_crc(dir / f);
    j[f] = {{"bytes", size}, {"crc32", crc}};
  }
  write_file_atomic((dir / "checksums.json").string(), j.dump(2) + "\n");
}

// rng.safetensors: "cpu" (or "cuda") for rank 0, then "<kind>/rank-<r>" for each further rank.
void read_generator_states(const std::string& rpath, const SafetensorsFile& r, TrainerState* state) {
  const std::string kind = r.tensors.at(0).first.substr(0, r.tensors.at(0).first.find('/'));
  if (kind != "cpu" && kind != "cuda")
    throw std::runtime_error(rpath + ": tensor '" + r.tensors.at(0).first + "' is not a generator state (cpu or cuda)");
  std::map<size_t, torch::Tensor> by_rank;
  for (const auto& [name, t] : r.tensors) {
    size_t rank = 0;
    if (name != kind) {
      const std::string prefix = kind + "/rank-";
      if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size() || name.size() - prefix.size() > 6 ||
          name.find_first_not_of("0123456789", prefix.size()) != std::string::npos)
        throw std::runtime_error(rpath + ": tensor '" + name + "' is not a generator state of rank r ('" + prefix + "r')");
      rank = std::stoul(name.substr(prefix.size()));
    }
    if (t.scalar_type() != torch::kByte) throw std::runtime_error(rpath + ": tensor '" + name + "' is not a byte tensor");
    by_rank[rank] = t;  // checked when a job's generator takes it
  }
  state->rngs.clear();
  for (size_t i = 0; i < by_rank.size(); ++i) {
    if (!by_rank.count(i)) throw std::runtime_error(rpath + ": the generator state of rank " + std::to_string(i) + " is missing");
    state->rngs.push_back(by_rank[i]);
  }
  state->rng_kind = kind;
}

}  // namespace

bool no_weight_decay(const std::string& name) {
  auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  return ends(".bias") || ends("A_log") || ends(".D") || name.find("norm") != std::string::npos;
}

std::string save_checkpoint(const std::string& run_dir, MaBert& model, torch::optim::AdamW& opt,
                            const TrainerState& state, int keep) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  fs::create_directories(root);
  const fs::path final_dir = root / ckpt_name(state.step);
  const fs::path tmp = root / (ckpt_name(state.step) + ".tmp-" + std::to_string(::getpid()));
  remove_tree(tmp.string());
  fs::create_directories(tmp);

  NamedTensors weights, moments;
  for (const auto& p : model->named_parameters()) {
    weights.emplace_back(p.key(), p.value());
    auto it = opt.state().find(p.value().unsafeGetTensorImpl());
    if (it == opt.state().end()) continue;
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    moments.emplace_back("exp_avg/" + p.key(), s.exp_avg());
    moments.emplace_back("exp_avg_sq/" + p.key(), s.exp_avg_sq());
    moments.emplace_back("step/" + p.key(), torch::tensor(s.step(), torch::kLong));
  }
  save_safetensors((tmp / "model.safetensors").string(), weights, {{"format", "pt"}, {"producer", "mabert-studio"}});
  save_safetensors((tmp / "optimizer.safetensors").string(), moments);
  if (state.rngs.empty()) throw std::logic_error("save_checkpoint: the trainer state has no generator state");
  NamedTensors rngs;
  for (size_t r = 0; r < state.rngs.size(); ++r)
    rngs.emplace_back(r == 0 ? state.rng_kind : state.rng_kind + "/rank-" + std::to_string(r), state.rngs[r]);
  save_safetensors((tmp / "rng.safetensors").string(), rngs);
  nlohmann::ordered_json j = {{"step", state.step},
                              {"best_metric", state.best_metric},
                              {"best_step", state.best_step},
                              {"evals_without_improvement", state.evals_without_improvement}};
  write_file_atomic((tmp / "state.json").string(), j.dump(2) + "\n");
  write_checksums(tmp);

  remove_tree(final_dir.string());
  fs::rename(tmp, final_dir);
  write_file_atomic((root / "latest").string(), ckpt_name(state.step) + "\n");

  // Keep the newest `keep` complete checkpoints; drop leftovers of interrupted writes.
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string n = e.path().filename().string();
    if (!e.is_directory() || n.rfind("ckpt-", 0) != 0) continue;
    if (n.find(".tmp-") != std::string::npos) {
      if (e.path() != tmp) remove_tree(e.path().string());
      continue;
    }
    all.push_back(e.path());
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + keep < all.size(); ++i) remove_tree(all[i].string());
  return final_dir.string();
}

std::string checkpoint_problem(const std::string& ckpt_dir) {
  const fs::path dir(ckpt_dir);
  for (const char* f : kFiles)
    if (!fs::exists(dir / f)) return std::string(f) + " is missing";
  if (!fs::exists(dir / "checksums.json")) return "";  // written before checkpoints carried checksums
  nlohmann::json sums;
  try {
    sums = read_json_file((dir / "checksums.json").string());
  } catch (const std::exception& e) {
    return std::string("checksums.json is unreadable: ") + e.what();
  }
  for (const char* f : kFiles) {
    if (!sums.is_object() || !sums.contains(f) || !sums[f].is_object() || !sums[f].contains("bytes") ||
        !sums[f]["bytes"].is_number_unsigned() || !sums[f].contains("crc32") || !sums[f]["crc32"].is_number_unsigned())
      return std::string("checksums.json has no size and CRC-32 for ") + f;
    const auto [size, crc] = size_and_crc(dir / f);
    const uint64_t want_size = sums[f]["bytes"].get<uint64_t>();
    const uint64_t want_crc = sums[f]["crc32"].get<uint64_t>();
    if (size != want_size)
      return std::string(f) + " has " + std::to_string(size) + " bytes, " + std::to_string(want_size) + " were written (truncated?)";
    if (crc != want_crc)
      return std::string(f) + " fails its checksum (CRC-32 " + std::to_string(crc) + ", written as " + std::to_string(want_crc) + "): corrupt on disk";
  }
  return "";
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir, std::vector<std::string>* rejected) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  if (!fs::exists(root)) return std::nullopt;
  // Candidates, newest first: the one `latest` names, then every finished folder by step.
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("ckpt-", 0) == 0 && n.find(".tmp-") == std::string::npos) all.push_back(e.path());
  }
  std::sort(all.rbegin(), all.rend());
  try {
    std::string name = read_file((root / "latest").string());
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
    const auto named = std::find(all.begin(), all.end(), root / name);
    if (!name.empty() && named != all.end()) std::rotate(all.begin(), named, named + 1);
  } catch (const std::exception&) {
    // `latest` missing or unreadable: the folders by step decide.
  }
  for (const fs::path& dir : all) {
    const std::string why = checkpoint_problem(dir.string());
    if (why.empty()) return dir.string();
    if (rejected) rejected->push_back(dir.string() + ": " + why);
  }
  return std::nullopt;
}

void load_checkpoint(const std::string& dir, MaBert& model, torch::optim::AdamW* opt, TrainerState* state) {
  torch::NoGradGuard guard;
  const std::string wpath = dir + "/model.safetensors";
  auto params = model->named_parameters();
  const SafetensorsFile w = load_safetensors(wpath);
  for (const auto& [name, t] : w.tensors) {
    torch::Tensor* p = params.find(name);
    if (!p) throw std::runtime_error(wpath + ": tensor '" + name + "' is not a parameter of this model");
    if (p->sizes() != t.sizes())
      throw std::runtime_error(wpath + ": tensor '" + name + "' has shape " + c10::str(t.sizes()) + ", the model expects " +
                               c10::str(p->sizes()) + " (vocabulary or configuration mismatch?)");
    p->copy_(t);
  }
  if (w.tensors.size() != params.size())
    throw std::runtime_error(wpath + ": holds " + std::to_string(w.tensors.size()) + " tensors, the model has " +
                             std::to_string(params.size()));
  if (opt) {
    const std::string opath = dir + "/optimizer.safetensors";
    const SafetensorsFile o = load_safetensors(opath);
    std::map<std::string, torch::Tensor> by_name(o.tensors.begin(), o.tensors.end());
    const auto moment = [&](const std::string& name, const torch::Tensor& like) {
      auto it = by_name.find(name);
      if (it == by_name.end()) throw std::runtime_error(opath + ": tensor '" + name + "' is missing");
      if (it->second.sizes() != like.sizes())
        throw std::runtime_error(opath + ": tensor '" + name + "' has shape " + c10::str(it->second.sizes()) +
                                 ", the parameter has " + c10::str(like.sizes()));
      return it->second.to(like.device(), like.scalar_type()).clone();
    };
    for (const auto& p : params) {
      if (!by_name.count("exp_avg/" + p.key())) continue;  // a parameter the optimizer had not stepped yet
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->exp_avg(moment("exp_avg/" + p.key(), p.value()));
      s->exp_avg_sq(moment("exp_avg_sq/" + p.key(), p.value()));
      auto step = by_name.find("step/" + p.key());
      if (step == by_name.end() || step->second.numel() != 1)
        throw std::runtime_error(opath + ": tensor 'step/" + p.key() + "' is missing or not a scalar");
      s->step(step->second.item<int64_t>());
      opt->state()[p.value().unsafeGetTensorImpl()] = std::move(s);
    }
  }
  if (state) {
    const std::string spath = dir + "/state.json";
    const nlohmann::json j = read_json_file(spath);
    const auto field = [&](const char* name) -> const nlohmann::json& {
      if (!j.is_object() || !j.contains(name) || !j[name].is_number())
        throw std::runtime_error(spath + ": field '" + name + "' is missing or not a number");
      return j[name];
    };
    state->step = field("step").get<int64_t>();
    state->best_metric = field("best_metric").get<double>();
    state->best_step = field("best_step").get<int64_t>();
    state->evals_without_improvement = field("evals_without_improvement").get<int64_t>();
    const std::string rpath = dir + "/rng.safetensors";
    const SafetensorsFile r = load_safetensors(rpath);
    if (r.tensors.empty()) throw std::runtime_error(rpath + ": holds no generator state");
    read_generator_states(rpath, r, state);
  }
}

}  // namespace mabert::train

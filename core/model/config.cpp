// ModelConfig: presets, schedule parsing, validation and strict JSON round-trips.
#include "model/config.h"

#include "util/enum_names.h"
#include "util/files.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <sstream>

namespace mabert {
namespace {

using json = nlohmann::json;

[[noreturn]] void field_error(const std::string& where, const std::string& field, const std::string& what) {
  throw ConfigError(where + ": field '" + field + "': " + what);
}

// One entry per JSON field: how to read it (strictly typed) and how to write it. A field added
// after configs were first written is written only when it differs from its default, so the
// configs written before it stay byte-identical (and readable by the tools of that time).
struct Field {
  std::function<void(ModelConfig&, const json&, const std::string& where, const std::string& name)> read;
  std::function<nlohmann::ordered_json(const ModelConfig&)> write;
  bool omit_when_default = false;
};

Field omit_when_default(Field f) {
  f.omit_when_default = true;
  return f;
}

template <typename T>
Field int_field(T ModelConfig::*member) {
  return {[member](ModelConfig& c, const json& v, const std::string& where, const std::string& name) {
            if (!v.is_number_integer()) field_error(where, name, "expected an integer, got " + v.dump());
            c.*member = v.get<T>();
          },
          [member](const ModelConfig& c) { return nlohmann::ordered_json(c.*member); }};
}

Field real_field(double ModelConfig::*member) {
  return {[member](ModelConfig& c, const json& v, const std::string& where, const std::string& name) {
            if (!v.is_number()) field_error(where, name, "expected a number, got " + v.dump());
            c.*member = v.get<double>();
          },
          [member](const ModelConfig& c) { return nlohmann::ordered_json(c.*member); }};
}

Field bool_field(bool ModelConfig::*member) {
  return {[member](ModelConfig& c, const json& v, const std::string& where, const std::string& name) {
            if (!v.is_boolean()) field_error(where, name, "expected true or false, got " + v.dump());
            c.*member = v.get<bool>();
          },
          [member](const ModelConfig& c) { return nlohmann::ordered_json(c.*member); }};
}

Field string_field(std::string ModelConfig::*member) {
  return {[member](ModelConfig& c, const json& v, const std::string& where, const std::string& name) {
            if (!v.is_string()) field_error(where, name, "expected a string, got " + v.dump());
            c.*member = v.get<std::string>();
          },
          [member](const ModelConfig& c) { return nlohmann::ordered_json(c.*member); }};
}

constexpr EnumName<Head> kHeadNames[] = {{Head::None, "none"}, {Head::Classification, "classification"}, {Head::Regression, "regression"}};
static_assert(std::size(kHeadNames) == 3, "a Head without a name");
constexpr EnumName<PoolingKind> kPoolingNames[] = {{PoolingKind::Map, "map"},   {PoolingKind::Attn, "attn"}, {PoolingKind::Cls, "cls"},
                                                   {PoolingKind::Mean, "mean"}, {PoolingKind::MaskedMean, "masked_mean"}};
static_assert(std::size(kPoolingNames) == 5, "a PoolingKind without a name");

// One of an enum's names (its table), refused by name with the allowed list otherwise.
template <class E, std::size_t N>
E enum_from(const EnumName<E> (&table)[N], const std::string& s, const std::string& where, const std::string& name) {
  if (const auto e = enum_value(table, s)) return *e;
  std::string names;
  for (const auto& e : table) names += std::string(names.empty() ? "" : ", ") + e.name;
  field_error(where, name, "'" + s + "' is not one of: " + names);
}

// A field holding one of an enum's names.
template <class E, std::size_t N>
Field enum_field(E ModelConfig::*member, const EnumName<E> (&table)[N]) {
  return {[member, &table](ModelConfig& c, const json& v, const std::string& where, const std::string& name) {
            if (!v.is_string()) field_error(where, name, "expected a string, got " + v.dump());
            c.*member = enum_from(table, v.get<std::string>(), where, name);
          },
          [member, &table](const ModelConfig& c) { return nlohmann::ordered_json(enum_name(table, c.*member)); }};
}

// Field order here is the order written to disk.
const std::vector<std::pair<std::string, Field>>& fields() {
  static const std::vector<std::pair<std::string, Field>> table = {
      {"schedule", string_field(&ModelConfig::schedule)},
      {"vocab_size", int_field(&ModelConfig::vocab_size)},
      {"d_model", int_field(&ModelConfig::d_model)},
      {"n_heads", int_field(&ModelConfig::n_heads)},
      {"d_ffn", int_field(&ModelConfig::d_ffn)},
      {"max_len", int_field(&ModelConfig::max_len)},
      {"position", string_field(&ModelConfig::position)},
      {"type_vocab_size", int_field(&ModelConfig::type_vocab_size)},
      {"layer_norm_eps", real_field(&ModelConfig::layer_norm_eps)},
      {"dropout", real_field(&ModelConfig::dropout)},
      {"init_std", omit_when_default(real_field(&ModelConfig::init_std))},
      {"token_shift", omit_when_default(bool_field(&ModelConfig::token_shift))},
      {"max_layers", int_field(&ModelConfig::max_layers)},
      {"embed_dim", int_field(&ModelConfig::embed_dim)},
      {"share_layers", bool_field(&ModelConfig::share_layers)},
      {"attn_window", int_field(&ModelConfig::attn_window)},
      {"sparse_block", int_field(&ModelConfig::sparse_block)},
      {"sparse_random", int_field(&ModelConfig::sparse_random)},
      {"rel_range", int_field(&ModelConfig::rel_range)},
      {"d_state", int_field(&ModelConfig::d_state)},
      {"expand", int_field(&ModelConfig::expand)},
      {"d_conv", int_field(&ModelConfig::d_conv)},
      {"conv", string_field(&ModelConfig::conv)},
      {"dt_rank", int_field(&ModelConfig::dt_rank)},
      {"dt_min", real_field(&ModelConfig::dt_min)},
      {"dt_max", real_field(&ModelConfig::dt_max)},
      {"dt_init_floor", real_field(&ModelConfig::dt_init_floor)},
      {"psm_pre", bool_field(&ModelConfig::psm_pre)},
      {"psm_post", bool_field(&ModelConfig::psm_post)},
      {"psm_state", bool_field(&ModelConfig::psm_state)},
      {"pooling", enum_field(&ModelConfig::pooling, kPoolingNames)},
      {"head", enum_field(&ModelConfig::head, kHeadNames)},
      {"num_labels", int_field(&ModelConfig::num_labels)},
  };
  return table;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void require_one_of(const std::string& where, const std::string& field, const std::string& value,
                    const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (value == a) return;
  field_error(where, field, "'" + value + "' is not one of: " + join(allowed));
}

void require_positive(const std::string& where, const std::string& field, int64_t value) {
  if (value <= 0) field_error(where, field, "must be positive, got " + std::to_string(value));
}

// A file may ask for anything; these bounds keep a typo or a hostile file from turning into a
// multi-terabyte allocation. They sit far above any encoder this tool is meant to build.
void require_at_most(const std::string& where, const std::string& field, int64_t value, int64_t max) {
  if (value > max) field_error(where, field, std::to_string(value) + " is over the limit of " + std::to_string(max));
}

// A rough parameter count (the exact one is analysis::estimate_parameters) to refuse configs
// whose weights could never be allocated, before anything is.
double rough_parameters(const ModelConfig& c, size_t layers) {
  const double D = static_cast<double>(c.d_model), F = static_cast<double>(c.d_ffn);
  const double E = static_cast<double>(c.embed_dim > 0 ? c.embed_dim : c.d_model);
  const double inner = static_cast<double>(c.expand) * D;
  const double per_layer = 4 * D * D + 2 * D * F + 3 * inner * D + inner * static_cast<double>(2 * c.d_state + c.d_conv);
  return static_cast<double>(c.vocab_size) * E + static_cast<double>(c.max_len) * E + static_cast<double>(layers) * per_layer;
}

}  // namespace

namespace {
constexpr EnumName<LayerKind> kLayerKindNames[] = {
    {LayerKind::Transformer, "Transformer"}, {LayerKind::Mamba, "Mamba"},       {LayerKind::BiMamba, "BiMamba"},
    {LayerKind::Parallel, "Parallel"},       {LayerKind::Longformer, "Longformer"}, {LayerKind::BigBird, "BigBird"},
    {LayerKind::DeBERTa, "DeBERTa"}};
static_assert(std::size(kLayerKindNames) == 7, "a LayerKind without a name");
}  // namespace

const char* to_string(Head h) { return enum_name(kHeadNames, h); }

Head parse_head(const std::string& s) { return enum_from(kHeadNames, s, "head", "head"); }

const char* to_string(PoolingKind p) { return enum_name(kPoolingNames, p); }

PoolingKind parse_pooling(const std::string& s) { return enum_from(kPoolingNames, s, "pooling", "pooling"); }

bool has_score_layer(PoolingKind p) { return p == PoolingKind::Map || p == PoolingKind::Attn; }

const char* layer_kind_name(LayerKind kind) { return enum_name(kLayerKindNames, kind); }

bool has_attention(LayerKind kind) { return kind != LayerKind::Mamba && kind != LayerKind::BiMamba; }
bool has_ssm(LayerKind kind) { return kind == LayerKind::Mamba || kind == LayerKind::BiMamba || kind == LayerKind::Parallel; }

const std::string& layer_letters() {
  static const std::string letters = "TMBPLSD";
  return letters;
}

std::vector<int64_t> layers_of_kind(const std::string& schedule, char kind) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < schedule.size(); ++i)
    if (schedule[i] == kind) out.push_back(static_cast<int64_t>(i));
  return out;
}

std::vector<LayerKind> parse_schedule(const std::string& schedule, int64_t max_layers) {
  if (schedule.empty()) throw ConfigError("schedule is empty: give one letter per layer from T M B P L S D, e.g. MMTMMT");
  std::vector<LayerKind> kinds;
  for (size_t i = 0; i < schedule.size(); ++i) {
    const char ch = schedule[i];
    switch (ch) {
      case 'T': case 'M': case 'B': case 'P': case 'L': case 'S': case 'D':
        kinds.push_back(static_cast<LayerKind>(ch));
        break;
      default: {
        std::ostringstream msg;
        msg << "schedule '" << schedule << "': ";
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f)
          msg << "character 0x" << std::hex << static_cast<int>(static_cast<unsigned char>(ch)) << std::dec;
        else
          msg << "unknown layer letter '" << ch << "'";
        msg << " at position " << (i + 1) << " (allowed: T M B P L S D, upper case)";
        throw ConfigError(msg.str());
      }
    }
  }
  if (static_cast<int64_t>(kinds.size()) > max_layers)
    throw ConfigError("schedule '" + schedule + "' has " + std::to_string(kinds.size()) +
                      " layers, more than the maximum of " + std::to_string(max_layers) + " (field 'max_layers')");
  return kinds;
}

void ModelConfig::validate(const std::string& where) const {
  require_positive(where, "max_layers", max_layers);
  std::vector<LayerKind> kinds;
  try {
    kinds = parse_schedule(schedule, max_layers);
  } catch (const ConfigError& e) {
    field_error(where, "schedule", e.what());
  }
  require_positive(where, "vocab_size", vocab_size);
  require_positive(where, "d_model", d_model);
  require_positive(where, "n_heads", n_heads);
  require_positive(where, "d_ffn", d_ffn);
  require_positive(where, "max_len", max_len);
  require_positive(where, "d_state", d_state);
  require_positive(where, "expand", expand);
  require_positive(where, "d_conv", d_conv);
  if (dt_rank < 0) field_error(where, "dt_rank", "must be 0 (automatic) or positive");
  if (type_vocab_size < 0) field_error(where, "type_vocab_size", "must be 0 or positive");
  if (embed_dim < 0) field_error(where, "embed_dim", "must be 0 (= d_model) or positive");
  bool attention = false;
  for (auto k : kinds) attention |= has_attention(k);
  for (auto k : kinds) {
    if (k == LayerKind::Longformer && (attn_window < 2 || attn_window % 2 != 0))
      field_error(where, "attn_window", "must be an even number >= 2 (tokens in the window, half on each side), got " +
                                            std::to_string(attn_window));
    if (k == LayerKind::BigBird) {
      require_positive(where, "sparse_block", sparse_block);
      if (sparse_random < 0) field_error(where, "sparse_random", "must be 0 or positive");
    }
    if (k == LayerKind::DeBERTa) require_positive(where, "rel_range", rel_range);
  }
  if (attention && d_model % n_heads != 0)
    field_error(where, "n_heads", "d_model (" + std::to_string(d_model) + ") must be divisible by n_heads (" +
                                         std::to_string(n_heads) + ") for attention layers");
  require_at_most(where, "max_layers", max_layers, 1024);
  require_at_most(where, "vocab_size", vocab_size, int64_t{1} << 22);
  require_at_most(where, "d_model", d_model, 16384);
  require_at_most(where, "n_heads", n_heads, 1024);
  require_at_most(where, "d_ffn", d_ffn, 131072);
  require_at_most(where, "max_len", max_len, int64_t{1} << 20);
  require_at_most(where, "d_state", d_state, 1024);
  require_at_most(where, "expand", expand, 16);
  require_at_most(where, "d_conv", d_conv, 64);
  require_at_most(where, "dt_rank", dt_rank, 16384);
  require_at_most(where, "type_vocab_size", type_vocab_size, 1024);
  require_at_most(where, "embed_dim", embed_dim, 16384);
  require_at_most(where, "attn_window", attn_window, int64_t{1} << 20);
  require_at_most(where, "sparse_block", sparse_block, int64_t{1} << 16);
  require_at_most(where, "sparse_random", sparse_random, 1024);
  require_at_most(where, "rel_range", rel_range, int64_t{1} << 20);
  require_at_most(where, "num_labels", num_labels, int64_t{1} << 20);
  if (const double n = rough_parameters(*this, kinds.size()); n > 2e10)
    throw ConfigError(where + ": about " + std::to_string(static_cast<int64_t>(n / 1e9)) +
                      " billion parameters (vocab_size, d_model, d_ffn, max_len and the schedule's length together); "
                      "the limit is 20 billion");
  if (!(dropout >= 0.0 && dropout < 1.0)) field_error(where, "dropout", "must be in [0, 1)");
  if (!(init_std > 0.0 && init_std <= 1.0)) field_error(where, "init_std", "must be in (0, 1]");
  if (!(layer_norm_eps > 0.0)) field_error(where, "layer_norm_eps", "must be positive");
  if (!(dt_min > 0.0 && dt_min <= dt_max)) field_error(where, "dt_min", "must satisfy 0 < dt_min <= dt_max");
  if (!(dt_init_floor > 0.0)) field_error(where, "dt_init_floor", "must be positive");
  require_one_of(where, "position", position, {"learned", "none"});
  require_one_of(where, "conv", conv, {"causal", "centred"});
  if (head == Head::Classification && num_labels < 2)
    field_error(where, "num_labels", "a classification head needs at least 2 labels");
}

nlohmann::ordered_json ModelConfig::to_json() const {
  static const ModelConfig defaults;
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [name, field] : fields()) {
    nlohmann::ordered_json v = field.write(*this);
    if (!field.omit_when_default || v != field.write(defaults)) j[name] = std::move(v);
  }
  return j;
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw ConfigError(where + ": expected a JSON object with the model's fields");
  static const std::map<std::string, const Field*> by_name = [] {
    std::map<std::string, const Field*> m;
    for (const auto& [name, field] : fields()) m[name] = &field;
    return m;
  }();
  ModelConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto f = by_name.find(it.key());
    if (f == by_name.end()) {
      std::vector<std::string> known;
      for (const auto& [name, field] : fields()) known.push_back(name);
      throw ConfigError(where + ": unknown field '" + it.key() + "' (known fields: " + join(known) + ")");
    }
    f->second->read(c, it.value(), where, it.key());
  }
  c.validate(where);
  return c;
}

ModelConfig ModelConfig::load(const std::string& path) { return parse_model_config(read_file(path), path); }

void ModelConfig::save(const std::string& path) const { write_file_atomic(path, to_json().dump(2) + "\n"); }

ModelConfig ModelConfig::preset(const std::string& name) {
  ModelConfig c;
  const auto dash = name.find('-');
  const std::string family = dash == std::string::npos ? "mabert" : name.substr(0, dash);
  const std::string size = dash == std::string::npos ? name : name.substr(dash + 1);
  if (size == "tiny") {
    c.d_model = 128, c.n_heads = 4, c.d_ffn = 512, c.schedule = "MMTMMT", c.vocab_size = 8000, c.max_len = 1024;
  } else if (size == "small") {
    c.d_model = 256, c.n_heads = 4, c.d_ffn = 1024, c.schedule = "MMTMMTMMTMMT", c.vocab_size = 16000;
    c.max_len = 4096;
  } else if (size == "base") {
    c.d_model = 768, c.n_heads = 12, c.d_ffn = 3072, c.schedule = "MMTMMTMMTMMT", c.vocab_size = 30522;
    c.max_len = 512;
  } else {
    throw ConfigError("unknown preset '" + name + "' (known presets: " + join(preset_names()) + ")");
  }
  if (family == "mabert") return c;
  // The baselines: the same width, heads, FFN and depth, [CLS] pooling and no PSM (their attention
  // masks pad keys, as in T layers). At base, vocabulary and positions follow the public
  // checkpoints (bert-base-uncased, albert-base-v2, longformer-base-4096, bigbird-roberta-base,
  // deberta-v3-base), so their parameter counts can be set beside the paper's Table B5.
  const bool base = size == "base";
  const auto depth = static_cast<std::string::size_type>(c.schedule.size());
  c.pooling = PoolingKind::Cls;
  c.psm_pre = c.psm_post = c.psm_state = false;
  if (family == "bert") {
    c.schedule = std::string(depth, 'T');
  } else if (family == "albert") {
    c.schedule = std::string(depth, 'T');
    c.embed_dim = base ? 128 : c.d_model / 2;
    c.share_layers = true;
    if (base) c.vocab_size = 30000;
  } else if (family == "longformer") {
    c.schedule = std::string(depth, 'L');
    c.attn_window = 512;
    if (base) c.vocab_size = 50265, c.max_len = 4096, c.type_vocab_size = 1;
  } else if (family == "bigbird") {
    c.schedule = std::string(depth, 'S');
    c.sparse_block = 64, c.sparse_random = 3;
    if (base) c.vocab_size = 50358, c.max_len = 4096;
  } else if (family == "deberta") {
    c.schedule = std::string(depth, 'D');
    c.position = "none";  // relative positions only
    c.type_vocab_size = 0;
    c.rel_range = 256;
    if (base) c.vocab_size = 128100;
  } else {
    throw ConfigError("unknown preset '" + name + "' (known presets: " + join(preset_names()) + ")");
  }
  return c;
}

std::vector<std::string> ModelConfig::preset_names() {
  std::vector<std::string> names = {"tiny", "small", "base"};
  for (const char* family : {"mabert", "bert", "albert", "longformer", "bigbird", "deberta"})
    for (const char* size : {"tiny", "small", "base"}) names.push_back(std::string(family) + "-" + size);
  return names;
}

std::vector<std::string> ModelConfig::baseline_families() { return {"bert", "albert", "longformer", "bigbird", "deberta"}; }

}  // namespace mabert

// ---- Parsing config text from outside (fuzzed: tests/fuzz/fuzz_config.cpp) ----------------
#include "util/json_text.h"

namespace mabert {

ModelConfig parse_model_config(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = parse_json_text(text);
  } catch (const JsonTextError& e) {
    throw ConfigError(where + ": not valid JSON at " + e.what());
  }
  return ModelConfig::from_json(j, where);
}

}  // namespace mabert

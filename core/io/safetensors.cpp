// safetensors reader/writer. Every length and offset from the file is checked against the file
// size before it is used.
#include "io/safetensors.h"

#include "util/files.h"
#include "util/json_text.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace mabert {
namespace {

using json = nlohmann::json;

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeInfo kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16}, {"I64", at::kLong},
    {"I32", at::kInt},    {"I16", at::kShort}, {"I8", at::kChar},   {"U8", at::kByte},       {"BOOL", at::kBool},
};

const char* dtype_name(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw std::runtime_error(std::string("safetensors: unsupported dtype ") + c10::toString(t));
}

// The Python package's limit on the header; ours is JSON of a few kB per hundred tensors.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kMaxRank = 32;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": invalid safetensors file: " + what);
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> cpu;
  cpu.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (header.contains(name)) throw std::runtime_error(path + ": duplicate tensor name '" + name + "'");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = c.numel() * c.element_size();
    header[name] = {{"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(c));
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  std::string out;
  out.reserve(8 + h.size() + offset);
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += h;
  for (const auto& c : cpu) out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  write_file_atomic(path, out);
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& where) {
  if (bytes.size() < 8) bad(where, "shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (n > bytes.size() - 8) bad(where, "header length " + std::to_string(n) + " exceeds the file size");
  if (n > kMaxHeaderBytes)
    bad(where, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
  json header;
  try {
    header = parse_json_text(std::string_view(bytes).substr(8, n));
  } catch (const JsonTextError& e) {
    bad(where, std::string("header is not valid JSON at ") + e.what());
  }
  if (!header.is_object()) bad(where, "header is not a JSON object");
  const uint64_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;

  // First every entry's description, checked against the data section; then the layout (the
  // tensors tile the data section exactly, as the Python package requires); only then copies.
  struct Entry {
    std::string name;
    const DtypeInfo* info;
    std::vector<int64_t> dims;
    uint64_t begin, end;
  };
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) bad(where, "'__metadata__' is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) bad(where, "metadata '" + printable(m.key()) + "' is not a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string ctx = "tensor '" + printable(name) + "': ";
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      bad(where, ctx + "needs dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) bad(where, ctx + "dtype is not a string");
    const std::string dt = e["dtype"].get<std::string>();
    const DtypeInfo* info = nullptr;
    for (const auto& d : kDtypes)
      if (dt == d.name) info = &d;
    if (!info) bad(where, ctx + "unsupported dtype '" + printable(dt) + "'");
    const json& shape = e["shape"];
    const json& offs = e["data_offsets"];
    if (!shape.is_array() || !offs.is_array() || offs.size() != 2) bad(where, ctx + "malformed shape or data_offsets");
    if (shape.size() > kMaxRank) bad(where, ctx + "shape has " + std::to_string(shape.size()) + " dimensions, more than " + std::to_string(kMaxRank));
    std::vector<int64_t> dims;
    uint64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) bad(where, ctx + "shape entries must be non-negative integers");
      const uint64_t v = d.get<uint64_t>();
      // Each extent and the running product stay within the data section's size, so no
      // product overflows and no allocation exceeds what the file holds.
      if (v > data_size || (v != 0 && numel > data_size / v)) bad(where, ctx + "shape claims more data than the file holds");
      numel *= v;
      dims.push_back(static_cast<int64_t>(v));
    }
    if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned()) bad(where, ctx + "data_offsets must be non-negative integers");
    const uint64_t b = offs[0].get<uint64_t>(), en = offs[1].get<uint64_t>();
    const uint64_t esize = c10::elementSize(info->type);
    if (b > en || en > data_size) bad(where, ctx + "data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "] lie outside the data section");
    if (en - b != numel * esize) bad(where, ctx + "data_offsets span " + std::to_string(en - b) + " bytes but the shape needs " + std::to_string(numel * esize));
    entries.push_back({name, info, std::move(dims), b, en});
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& x, const Entry& y) { return x.begin != y.begin ? x.begin < y.begin : x.end < y.end; });
  uint64_t next = 0;
  for (const Entry& e : entries) {
    if (e.begin != next)
      bad(where, "tensor '" + printable(e.name) + "': data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] " +
                     (e.begin < next ? "overlap the previous tensor" : "leave a gap after the previous tensor") +
                     " (the data section must hold the tensors back to back)");
    next = e.end;
  }
  if (next != data_size)
    bad(where, "the tensors cover " + std::to_string(next) + " bytes of the " + std::to_string(data_size) + "-byte data section");
  for (const Entry& e : entries) {
    if (e.info->type == at::kBool)  // any other byte would be an invalid bool when read
      for (uint64_t i = e.begin; i < e.end; ++i)
        if (static_cast<unsigned char>(data[i]) > 1)
          bad(where, "tensor '" + printable(e.name) + "': BOOL element " + std::to_string(i - e.begin) + " is neither 0 nor 1");
    at::Tensor t = at::empty(e.dims, at::TensorOptions().dtype(e.info->type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data + e.begin, e.end - e.begin);
    file.tensors.emplace_back(e.name, std::move(t));
  }
  return file;
}

SafetensorsFile load_safetensors(const std::string& path) { return parse_safetensors(read_file(path), path); }

}  // namespace mabert

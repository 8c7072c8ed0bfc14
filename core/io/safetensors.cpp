// safetensors reader/writer. Every length and offset from the file is checked against the file
// size before it is used.
#include "io/safetensors.h"

#include "util/files.h"

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
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const json::exception& e) {
    bad(where, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) bad(where, "header is not a JSON object");
  const uint64_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;

  SafetensorsFile file;
  std::vector<std::pair<uint64_t, size_t>> order;  // (begin offset, index)
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) bad(where, "'__metadata__' is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) bad(where, "metadata '" + m.key() + "' is not a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string ctx = "tensor '" + name + "': ";
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      bad(where, ctx + "needs dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) bad(where, ctx + "dtype is not a string");
    const std::string dt = e["dtype"].get<std::string>();
    const DtypeInfo* info = nullptr;
    for (const auto& d : kDtypes)
      if (dt == d.name) info = &d;
    if (!info) bad(where, ctx + "unsupported dtype '" + dt + "'");
    const json& shape = e["shape"];
    const json& offs = e["data_offsets"];
    if (!shape.is_array() || !offs.is_array() || offs.size() != 2) bad(where, ctx + "malformed shape or data_offsets");
    std::vector<int64_t> dims;
    uint64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) bad(where, ctx + "shape entries must be non-negative integers");
      const uint64_t v = d.get<uint64_t>();
      if (v > data_size || (v != 0 && numel > data_size / v)) bad(where, ctx + "shape claims more data than the file holds");
      numel *= v;
      dims.push_back(static_cast<int64_t>(v));
    }
    if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned()) bad(where, ctx + "data_offsets must be non-negative integers");
    const uint64_t b = offs[0].get<uint64_t>(), en = offs[1].get<uint64_t>();
    const uint64_t esize = c10::elementSize(info->type);
    if (b > en || en > data_size) bad(where, ctx + "data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "] lie outside the data section");
    if (en - b != numel * esize) bad(where, ctx + "data_offsets span " + std::to_string(en - b) + " bytes but the shape needs " + std::to_string(numel * esize));
    at::Tensor t = at::empty(dims, at::TensorOptions().dtype(info->type));
    if (numel > 0) std::memcpy(t.data_ptr(), data + b, en - b);
    order.emplace_back(b, file.tensors.size());
    file.tensors.emplace_back(name, std::move(t));
  }
  std::stable_sort(order.begin(), order.end());
  NamedTensors sorted;
  for (const auto& [b, i] : order) sorted.push_back(std::move(file.tensors[i]));
  file.tensors = std::move(sorted);
  return file;
}

SafetensorsFile load_safetensors(const std::string& path) { return parse_safetensors(read_file(path), path); }

}  // namespace mabert

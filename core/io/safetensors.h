// Reading and writing the safetensors format (8-byte little-endian header length, a JSON header
// of {name: {dtype, shape, data_offsets}}, then the raw little-endian data), so checkpoints load
// in the Python `safetensors` package. Reads are bounded by the file: a header that claims more
// data than the file holds is an error, never an allocation.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mabert {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Writes tensors (any device; copied to CPU, made contiguous) atomically to `path`.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in file order of their data
  std::map<std::string, std::string> metadata;
};

// Throws std::runtime_error naming the file and the entry at fault.
SafetensorsFile load_safetensors(const std::string& path);
// The same from bytes already in memory (`where` names them in errors).
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& where);

}  // namespace mabert

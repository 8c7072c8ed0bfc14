// CRC-32 (the one Python's zlib.crc32 computes) of bytes and of files: checkpoints' checksums.json
// and token shards' index name their files' sizes and CRCs, so a damaged file is found, not read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mabert {

uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

struct FileChecksum {
  uint64_t size = 0;
  uint32_t crc = 0;
};
// Reads the whole file in 1 MiB pieces. Throws naming the file when it cannot be read.
FileChecksum file_checksum(const std::string& path);

// "0x1234abcd"-style text for JSON files (8 hex digits).
std::string crc_hex(uint32_t crc);

}  // namespace mabert

#include "util/checksum.h"

// The standard CRC-32 (zlib's polynomial), header-only as LibTorch ships it for its own archives;
// its functions are defined by the header, so it is included in this one file only.
#include <caffe2/serialize/crc_alt.h>

#include <cstdio>
#include <stdexcept>
#include <vector>

namespace mabert {

uint32_t crc32(const void* data, size_t size, uint32_t crc) { return crc32_fast(data, size, crc); }

FileChecksum file_checksum(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(path + ": cannot open");
  std::vector<unsigned char> buf(1 << 20);
  FileChecksum c;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    c.crc = crc32_fast(buf.data(), n, c.crc);
    c.size += n;
  }
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) throw std::runtime_error(path + ": read error");
  return c;
}

std::string crc_hex(uint32_t crc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

}  // namespace mabert

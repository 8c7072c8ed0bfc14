// File helpers shared by everything that writes results: atomic writes (temp file + fsync +
// rename, so a crash leaves the old file or the new one, never half of one) and whole-file reads.
#pragma once

#include <string>
#include <string_view>

namespace mabert {

// Writes `data` to `path` atomically. Throws std::runtime_error naming the file on failure.
void write_file_atomic(const std::string& path, std::string_view data);

// Reads a whole file. Throws std::runtime_error naming the file when it cannot be read.
std::string read_file(const std::string& path);

// Removes a file or a folder tree if present (POSIX nftw). Used instead of
// std::filesystem::remove_all: the LibTorch wheel's libtorch.so exports its own copy of
// std::filesystem, which the dynamic linker binds first, and its remove_all crashes.
void remove_tree(const std::string& path);

// An exclusive advisory lock on a folder (flock on <dir>/.lock), held for the object's lifetime
// and released by the kernel when its process ends in any way: one job writes a run folder at a
// time. The holder's pid is written into the lock file so a refusal can name it.
class FolderLock {
 public:
  // Takes the lock (creating the folder if needed) or throws std::runtime_error naming the folder,
  // `what` it is, and the process holding it.
  FolderLock(const std::string& dir, const std::string& what);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// Converts a byte offset in `text` to "line L, column C" (1-based) for error messages.
std::string line_column(std::string_view text, size_t byte_offset);

}  // namespace mabert

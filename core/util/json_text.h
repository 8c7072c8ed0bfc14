// Parsing JSON that comes from outside (files, database rows) with two guarantees nlohmann's
// plain parse does not give: every failure is one exception type carrying the line and column,
// and the nesting depth is bounded. The bound matters because nlohmann's dump(), copies and
// comparisons recurse once per level: a 100 kB file of '[' parses fine and then overflows the
// stack far from the reader (in an error message's dump, or when a section is copied).
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace mabert {

// Deeper than any file this project reads or writes (config, grid, project: 3-4 levels).
inline constexpr int kMaxJsonDepth = 64;

// What is wrong with JSON text: "line L, column C: <reason>". Callers prefix the file name.
class JsonTextError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses `text`; throws JsonTextError for invalid JSON (syntax, invalid UTF-8, a number out of
// double's range) or nesting deeper than max_depth.
nlohmann::json parse_json_text(std::string_view text, int max_depth = kMaxJsonDepth);

// The JSON file at `path`, parsed as above; invalid JSON throws std::runtime_error
// "<path>: not valid JSON at line L, column C: <reason>" (a missing file: read_file's error).
nlohmann::json read_json_file(const std::string& path, int max_depth = kMaxJsonDepth);

// Whether `s` is valid UTF-8 (what nlohmann's dump() requires of every string).
bool is_valid_utf8(std::string_view s);
// `s` with every invalid UTF-8 sequence replaced by U+FFFD, so it can always be dumped as JSON.
std::string to_valid_utf8(std::string_view s);

// `s` for an error message: control bytes (a NUL would end what() early) as \xNN, and cut
// after `max` bytes with "...".
std::string printable(std::string_view s, size_t max = 80);

}  // namespace mabert

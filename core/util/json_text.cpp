// Bounded, position-reporting JSON parsing for outside input.
#include "util/json_text.h"

#include "util/files.h"

namespace mabert {

nlohmann::json parse_json_text(std::string_view text, int max_depth) {
  // Depth first, over the raw text (brackets inside strings do not count), so nothing deep is
  // ever built. Invalid JSON that is also too deep is reported as too deep: an error either way.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw JsonTextError(line_column(text, i) + ": nested deeper than " + std::to_string(max_depth) + " levels");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line L, column C: ..."
    std::string what = e.what();
    const auto at = what.find(" at line ");
    what = at != std::string::npos ? what.substr(at + 4) : line_column(text, e.byte > 0 ? e.byte - 1 : 0) + ": " + what;
    throw JsonTextError(what);
  } catch (const nlohmann::json::exception& e) {
    // e.g. out_of_range.406, "number overflow parsing '1e999'": no position in the message.
    std::string what = e.what();
    const auto bracket = what.find("] ");
    throw JsonTextError(bracket != std::string::npos ? what.substr(bracket + 2) : what);
  }
}

nlohmann::json read_json_file(const std::string& path, int max_depth) {
  const std::string text = read_file(path);
  try {
    return parse_json_text(text, max_depth);
  } catch (const JsonTextError& e) {
    throw std::runtime_error(path + ": not valid JSON at " + e.what());
  }
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  const size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  if (len == 2 && c < 0xc2) return 0;                                                  // overlong
  if (len == 3 && ((c == 0xe0 && byte(i + 1) < 0xa0) || (c == 0xed && byte(i + 1) >= 0xa0))) return 0;  // overlong, surrogate
  if (len == 4 && ((c == 0xf0 && byte(i + 1) < 0x90) || (c == 0xf4 && byte(i + 1) >= 0x90) || c > 0xf4)) return 0;
  return len;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD for one bad byte
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string printable(std::string_view s, size_t max) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max) return out + "...";
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
    else out += static_cast<char>(c);
  }
  return out;
}

}  // namespace mabert

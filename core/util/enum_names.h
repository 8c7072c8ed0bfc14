// One name table per enum, as ggml keeps its op names: each value's name in one place, the
// table's size pinned by a static_assert beside it, so a value added to the enum without a name
// is caught where the table is. Names are what files and screens show; code passes the enum.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>

namespace mabert {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

// The name of `v` in `table` ("?" for a value the table lacks).
template <class E, std::size_t N>
constexpr const char* enum_name(const EnumName<E> (&table)[N], E v) {
  for (const auto& e : table)
    if (e.value == v) return e.name;
  return "?";
}

// The value named `s`, or nothing: the caller's parse function says what was expected.
template <class E, std::size_t N>
std::optional<E> enum_value(const EnumName<E> (&table)[N], const std::string& s) {
  for (const auto& e : table)
    if (s == e.name) return e.value;
  return std::nullopt;
}

}  // namespace mabert

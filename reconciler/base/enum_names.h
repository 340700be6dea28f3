// The names of an enum's values, for enums whose names are part of Meridian's output (results in
// history, metrics and JSON): one table per enum, read both ways.
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <utility>

namespace meridian {

template <typename Enum, size_t N> using EnumNames = std::array<std::pair<Enum, std::string_view>, N>;

//! `value`'s name in `names`; "unknown" for a value the table lacks (a programmer's mistake).
template <typename Enum, size_t N> constexpr std::string_view enum_name(const EnumNames<Enum, N>& names, Enum value) {
  for (const auto& [candidate, name] : names)
    if (candidate == value)
      return name;
  return "unknown";
}

//! The value named `name` in `names`, if any (names are compared exactly).
template <typename Enum, size_t N> constexpr std::optional<Enum> enum_value(const EnumNames<Enum, N>& names, std::string_view name) {
  for (const auto& [value, candidate] : names)
    if (candidate == name)
      return value;
  return std::nullopt;
}

} // namespace meridian

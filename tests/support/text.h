// Text helpers the fake servers and test clients share (HTTP header names and values).
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace meridian::testing {

//! ASCII lower case (HTTP header names compare case-insensitively).
inline std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

//! Without leading and trailing spaces, tabs, CRs and LFs.
inline std::string trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return {};
  const size_t last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

} // namespace meridian::testing

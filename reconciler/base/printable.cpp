#include "base/printable.h"

#include <fmt/format.h>

namespace meridian {
namespace {

bool is_c0_or_del(unsigned char c) { return c < 0x20 || c == 0x7f; }

// The length of the well-formed UTF-8 sequence at `at` (0: not one).
size_t sequence_length(std::string_view text, size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  const size_t length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
  if (length == 0 || at + length > text.size())
    return 0;
  for (size_t i = 1; i < length; ++i)
    if ((static_cast<unsigned char>(text[at + i]) & 0xc0) != 0x80)
      return 0;
  return length;
}

// U+0080..U+009F (C1 controls; CSI is U+009B): 0xC2 followed by 0x80..0x9F.
bool is_c1(std::string_view sequence) {
  return sequence.size() == 2 && static_cast<unsigned char>(sequence[0]) == 0xc2 && static_cast<unsigned char>(sequence[1]) <= 0x9f;
}

bool needs_escape(std::string_view text) {
  for (size_t at = 0; at < text.size();) {
    const auto c = static_cast<unsigned char>(text[at]);
    if (c < 0x80) {
      if (is_c0_or_del(c))
        return true;
      ++at;
      continue;
    }
    const size_t length = sequence_length(text, at);
    if (length == 0 || is_c1(text.substr(at, length)))
      return true;
    at += length;
  }
  return false;
}

} // namespace

std::string printable(std::string_view text) {
  if (!needs_escape(text))
    return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t at = 0; at < text.size();) {
    const auto c = static_cast<unsigned char>(text[at]);
    if (c >= 0x80) {
      const size_t length = sequence_length(text, at);
      if (length == 0) // not UTF-8: a lone byte, which an 8-bit terminal may read as a control
        out += fmt::format("\\x{:02x}", c);
      else if (is_c1(text.substr(at, length)))
        out += fmt::format("\\u{:04x}", static_cast<unsigned char>(text[at + 1]));
      else
        out += text.substr(at, length);
      at += length == 0 ? 1 : length;
      continue;
    }
    ++at;
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (is_c0_or_del(c))
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

} // namespace meridian

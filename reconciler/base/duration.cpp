#include "base/duration.h"

#include <cmath>
#include <cstdlib>

namespace meridian {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty())
    return std::nullopt;
  if (text == "0")
    return std::chrono::milliseconds(0);
  double total_ms = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.'))
      ++pos;
    if (pos == start)
      return std::nullopt;
    const double number = std::strtod(std::string(text.substr(start, pos - start)).c_str(), nullptr);
    const size_t unit_start = pos;
    while (pos < text.size() && !((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.'))
      ++pos;
    const std::string_view unit = text.substr(unit_start, pos - unit_start);
    double scale = 0;
    if (unit == "ns")
      scale = 1e-6;
    else if (unit == "us" || unit == "µs")
      scale = 1e-3;
    else if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else
      return std::nullopt;
    total_ms += number * scale;
  }
  return std::chrono::milliseconds(static_cast<long long>(std::llround(total_ms)));
}

std::string format_duration(std::chrono::milliseconds duration) {
  long long ms = duration.count();
  if (ms == 0)
    return "0s";
  std::string out;
  if (ms >= 3'600'000) {
    out += std::to_string(ms / 3'600'000) + "h";
    ms %= 3'600'000;
  }
  if (ms >= 60'000) {
    out += std::to_string(ms / 60'000) + "m";
    ms %= 60'000;
  }
  if (ms >= 1000 && ms % 1000 == 0) {
    out += std::to_string(ms / 1000) + "s";
    ms = 0;
  }
  if (ms > 0)
    out += ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
  return out;
}

} // namespace meridian

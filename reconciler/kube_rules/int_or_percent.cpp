#include "kube_rules/int_or_percent.h"

#include <algorithm>
#include <charconv>

namespace meridian::rules {

std::optional<long long> scaled_int_or_percent(const Json& value, long long total, bool round_up) {
  if (value.IsInt64())
    return value.GetInt64();
  if (!value.IsString())
    return std::nullopt;
  std::string_view text(value.GetString(), value.GetStringLength());
  if (text.empty() || text.back() != '%')
    return std::nullopt;
  text.remove_suffix(1);
  // strconv.Atoi: an optional sign, then digits.
  if (!text.empty() && text.front() == '+')
    text.remove_prefix(1);
  long long percent = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), percent);
  if (text.empty() || error != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  // Upstream computes in float64 (math.Ceil / math.Floor of value*total/100); exact here.
  const __int128 product = static_cast<__int128>(percent) * total;
  __int128 quotient = product / 100;
  const bool inexact = product % 100 != 0;
  if (inexact && round_up && product > 0)
    ++quotient;
  if (inexact && !round_up && product < 0)
    --quotient;
  return static_cast<long long>(quotient);
}

bool is_percent(std::string_view text) {
  return text.size() >= 2 && text.back() == '%' &&
         std::all_of(text.begin(), text.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
}

} // namespace meridian::rules

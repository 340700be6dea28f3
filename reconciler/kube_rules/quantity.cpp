#include "kube_rules/quantity.h"

#include <climits>
#include <cmath>
#include <fmt/format.h>
#include <string>

namespace meridian::rules {
namespace {

using U128 = unsigned __int128;

constexpr U128 kU128Max = ~U128{0};
// Magnitudes kept in a signed 128-bit integer of nano-units.
constexpr U128 kNanoMax = kU128Max >> 1;
constexpr U128 kBillion = 1000000000;
// resource.maxAllowed: 2^63-1 units, the cap of BinarySI values.
constexpr U128 kCapNano = static_cast<U128>(LLONG_MAX) * kBillion;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool multiply(U128& value, U128 factor) {
  if (factor != 0 && value > kU128Max / factor)
    return false;
  value *= factor;
  return true;
}

struct Suffix {
  int ten_power = 0;
  unsigned two_power = 0;
  Quantity::Format format = Quantity::Format::DecimalSI;
};

// suffixer.interpret: the binary and decimal SI suffixes, then an exponent.
std::optional<Suffix> interpret(std::string_view suffix) {
  static constexpr std::pair<std::string_view, unsigned> binary[] = {
      {"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"Ti", 40}, {"Pi", 50}, {"Ei", 60}};
  static constexpr std::pair<std::string_view, int> decimal[] = {{"n", -9}, {"u", -6}, {"m", -3}, {"", 0}, {"k", 3},
                                                                 {"M", 6},  {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18}};
  for (const auto& [name, power] : decimal)
    if (suffix == name)
      return Suffix{power, 0, Quantity::Format::DecimalSI};
  for (const auto& [name, power] : binary)
    if (suffix == name)
      return Suffix{0, power, Quantity::Format::BinarySI};
  if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E'))
    return std::nullopt;
  // strconv.ParseInt(suffix[1:], 10, 64): an optional sign and at least one digit.
  std::string_view digits = suffix.substr(1);
  bool negative = false;
  if (digits[0] == '+' || digits[0] == '-') {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty())
    return std::nullopt;
  long long exponent = 0;
  for (const char c : digits) {
    if (!is_digit(c))
      return std::nullopt;
    // Far past any representable magnitude either way; the value saturates or rounds up to 1n.
    exponent = std::min<long long>(exponent * 10 + (c - '0'), 100000);
  }
  return Suffix{static_cast<int>(negative ? -exponent : exponent), 0, Quantity::Format::DecimalExponent};
}

} // namespace

std::optional<Quantity> parse_quantity(std::string_view text) {
  if (text.empty())
    return std::nullopt;
  size_t pos = 0;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    ++pos;
  }
  const size_t whole_start = pos;
  while (pos < text.size() && is_digit(text[pos]))
    ++pos;
  std::string_view whole = text.substr(whole_start, pos - whole_start);
  std::string_view fraction;
  if (pos < text.size() && text[pos] == '.') {
    const size_t fraction_start = ++pos;
    while (pos < text.size() && is_digit(text[pos]))
      ++pos;
    fraction = text.substr(fraction_start, pos - fraction_start);
  }
  // parseQuantityString: the suffix is letters of "eEinumkKMGTP", an optional sign, then digits.
  const size_t suffix_start = pos;
  while (pos < text.size() && std::string_view("eEinumkKMGTP").find(text[pos]) != std::string_view::npos)
    ++pos;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-'))
    ++pos;
  while (pos < text.size() && is_digit(text[pos]))
    ++pos;
  if (pos != text.size())
    return std::nullopt;
  const auto suffix = interpret(text.substr(suffix_start));
  if (!suffix)
    return std::nullopt;

  while (!whole.empty() && whole.front() == '0')
    whole.remove_prefix(1);
  while (!fraction.empty() && fraction.back() == '0')
    fraction.remove_suffix(1);
  // The significant digits as an integer times 10^ten_power; digits past what 128 bits hold are
  // dropped and remembered (sticky), which only matters for rounding up.
  long long ten_power = static_cast<long long>(suffix->ten_power) + 9 - static_cast<long long>(fraction.size());
  U128 mantissa = 0;
  bool sticky = false;
  bool started = false;
  for (const std::string_view part : {whole, fraction})
    for (const char c : part) {
      const unsigned digit = static_cast<unsigned>(c - '0');
      started = started || digit != 0;
      if (!started)
        continue;
      U128 next = mantissa;
      if (multiply(next, 10) && next <= kU128Max - digit)
        mantissa = next + digit;
      else {
        ++ten_power;
        sticky = sticky || digit != 0;
      }
    }
  Quantity quantity;
  quantity.format = suffix->format;
  if (mantissa == 0)
    return quantity;
  bool overflow = !multiply(mantissa, U128{1} << suffix->two_power);
  for (; !overflow && ten_power > 0; --ten_power)
    overflow = !multiply(mantissa, 10);
  if (!overflow && ten_power < 0) {
    if (ten_power < -38) {
      mantissa = 1; // below 1n: rounds up to 1n
    } else {
      U128 divisor = 1;
      for (; ten_power < 0; ++ten_power)
        multiply(divisor, 10);
      const bool remainder = mantissa % divisor != 0 || sticky;
      mantissa = mantissa / divisor + (remainder ? 1 : 0);
    }
  } else if (!overflow && sticky) {
    mantissa += 1;
  }
  // Only BinarySI is capped (kubectl: "20Ei" is 9223372036854775807, "1e19" stays 10e18).
  if (suffix->format == Quantity::Format::BinarySI && (overflow || mantissa > kCapNano)) {
    mantissa = kCapNano;
    overflow = false;
  }
  if (overflow || mantissa > kNanoMax)
    return std::nullopt;
  quantity.nano = negative ? -static_cast<__int128>(mantissa) : static_cast<__int128>(mantissa);
  return quantity;
}

namespace {

std::optional<long long> scaled(__int128 nano, __int128 unit) {
  const __int128 magnitude = nano < 0 ? -nano : nano;
  const __int128 rounded = magnitude / unit + (magnitude % unit != 0 ? 1 : 0);
  if (rounded > LLONG_MAX)
    return std::nullopt;
  return nano < 0 ? -static_cast<long long>(rounded) : static_cast<long long>(rounded);
}

} // namespace

std::optional<long long> Quantity::milli() const { return scaled(nano, 1000000); }

std::optional<long long> Quantity::value() const { return scaled(nano, 1000000000); }

std::optional<Quantity> quantity_of(const Json& value) {
  if (value.IsString())
    return parse_quantity({value.GetString(), value.GetStringLength()});
  if (value.IsInt64())
    return parse_quantity(std::to_string(value.GetInt64()));
  if (value.IsUint64())
    return parse_quantity(std::to_string(value.GetUint64()));
  if (value.IsNumber()) {
    const double number = value.GetDouble();
    if (!std::isfinite(number))
      return std::nullopt;
    // fmt's shortest round-trip text: 0.1 is "0.1", not 0.1000000000000000055...
    return parse_quantity(fmt::format("{}", number));
  }
  return std::nullopt;
}

std::optional<long long> parse_quantity_milli(std::string_view text) {
  const auto quantity = parse_quantity(text);
  return quantity ? quantity->milli() : std::nullopt;
}

std::optional<long long> quantity_milli(const Json& value) {
  const auto quantity = quantity_of(value);
  return quantity ? quantity->milli() : std::nullopt;
}

} // namespace meridian::rules

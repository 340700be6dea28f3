#pragma once
// Kubernetes resource quantities, parsed as k8s.io/apimachinery's resource.ParseQuantity does.

#include "base/json.h"

#include <compare>
#include <optional>
#include <string_view>

namespace meridian::rules {

//! A parsed quantity: its exact value in nano-units (ParseQuantity rounds anything finer up, away
//! from zero, to 1n) and the format its suffix names.
struct Quantity {
  enum class Format { DecimalSI, BinarySI, DecimalExponent };
  __int128 nano = 0;
  Format format = Format::DecimalSI;

  //! resource.Quantity.MilliValue (rounded away from zero); nullopt when it does not fit in 64 bits.
  std::optional<long long> milli() const;
  //! resource.Quantity.Value (rounded away from zero); nullopt when it does not fit in 64 bits.
  std::optional<long long> value() const;
  //! Compares values only, as Quantity.Cmp does (1Ki == 1024).
  friend bool operator==(const Quantity& a, const Quantity& b) { return a.nano == b.nano; }
  friend std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) { return a.nano <=> b.nano; }
};

//! Upstream's grammar: an optional sign, digits with an optional fraction (".5", "1." and "." parse;
//! so do a lone sign and a bare suffix such as "Gi", as zero), then a binary suffix (Ki..Ei), a
//! decimal one (n, u, m, k, M, G, T, P, E) or an exponent (e3, E-3, e+6). BinarySI values above
//! 2^63-1 are capped there, as upstream does. nullopt when upstream refuses the text, and (a limit
//! of this model) for decimal magnitudes of 1.7e29 or more, which upstream accepts.
std::optional<Quantity> parse_quantity(std::string_view text);

//! A quantity written in JSON: a string as above, or a number (as the API server reads it, by
//! its shortest decimal text). nullopt for any other type.
std::optional<Quantity> quantity_of(const Json& value);

//! A quantity in milli-units ("500m" → 500, "2" → 2000, "1Gi" → 1073741824000): MilliValue of
//! the parsed text; nullopt when invalid or past 64 bits.
std::optional<long long> parse_quantity_milli(std::string_view text);
//! The same for a JSON string or number.
std::optional<long long> quantity_milli(const Json& value);

} // namespace meridian::rules

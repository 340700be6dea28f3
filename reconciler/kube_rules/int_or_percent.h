#pragma once
// IntOrString fields that count (maxUnavailable, maxSurge, partition): an integer or "25%".

#include "base/json.h"

#include <optional>
#include <string_view>

namespace meridian::rules {

//! k8s.io/apimachinery's intstr.GetScaledValueFromIntOrPercent: an integer as it is; a string must
//! be a percentage (digits with an optional sign, then '%') and is scaled against `total`, rounded
//! up or down. nullopt where upstream returns an error (a string without '%', such as "5"; not a
//! number or a string).
std::optional<long long> scaled_int_or_percent(const Json& value, long long total, bool round_up);

//! validation.IsValidPercent: `^[0-9]+%$`, the only string an int-or-percent field accepts.
bool is_percent(std::string_view text);

} // namespace meridian::rules

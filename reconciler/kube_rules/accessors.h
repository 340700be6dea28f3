#pragma once
// Reading fields of Kubernetes objects by dotted path ("metadata.name", "status.phase").

#include "base/json.h"

#include <string>
#include <string_view>

namespace meridian::rules {

//! The string at a dotted path of object keys, or `fallback` when a step is missing or the value
//! is not a string.
std::string text_at(const Json& value, std::string_view path, std::string_view fallback = {});

//! The integer at a dotted path (an integer, a number truncated, or a string holding a whole
//! decimal integer), or `fallback` when a step is missing or the value is none of these.
long long int_at(const Json& value, std::string_view path, long long fallback = 0);

} // namespace meridian::rules

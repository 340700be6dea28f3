// Go-style durations ("10m", "1h30m", "500ms") as Kubernetes, Argo CD and Flux write them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace meridian {

//! Parses a Go duration; nullopt when the text is not one. Units: ns us ms s m h.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

//! Renders a duration in the same notation ("1h30m0s" is written "1h30m").
std::string format_duration(std::chrono::milliseconds duration);

} // namespace meridian

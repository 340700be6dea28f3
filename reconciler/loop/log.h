// Event log of the long-running process: one line per event on stderr, prefixed with a UTC
// timestamp (RFC 3339, milliseconds), so that `journalctl` or a log collector can order them.
// Thread-safe: lines from the loop and the HTTP threads never interleave.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace meridian {

//! Writes `2024-05-01T12:00:00.123Z message` to stderr.
void log_event(std::string_view message);

template <typename... Args> void log_event(fmt::format_string<Args...> format, Args&&... args) {
  log_event(std::string_view(fmt::format(format, std::forward<Args>(args)...)));
}

//! RFC 3339 UTC time of `unix_seconds` (second precision): 2024-05-01T12:00:00Z.
std::string format_utc(long long unix_seconds);

} // namespace meridian

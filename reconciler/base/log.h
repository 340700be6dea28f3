// The process's event log: one line per event on stderr, as text or JSON (`--log-format`),
// filtered by level (`--log-level`). Thread-safe: lines from the loop and the HTTP threads never
// interleave.
//
// Text: `2024-05-01T12:00:00.123Z info message fleet=prod commit=1a2b3c4 reconcile=7` (a UTC
// timestamp, RFC 3339 with milliseconds, so that `journalctl` or a collector can order lines; the
// context as key=value pairs after the message, values with spaces or quotes quoted).
// JSON: `{"time":"...","level":"info","msg":"...","fleet":"prod","commit":"1a2b3c4","reconcile":7}`,
// one object per line, keys in that order; a field is left out when it is unknown.
//
// The context (fleet, commit, reconcile id) belongs to the thread: a reconcile loop sets it with
// LogScope for the duration of a reconcile, and every line it writes carries it.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meridian {

enum class LogLevel { debug, info, warn, error };
enum class LogFormat { text, json };

//! "debug" | "info" | "warn" | "error" (also "warning"); nullopt otherwise.
std::optional<LogLevel> parse_log_level(std::string_view text);
//! "text" | "json"; nullopt otherwise.
std::optional<LogFormat> parse_log_format(std::string_view text);
std::string_view to_string(LogLevel level);

//! Sets the process-wide format and the lowest level written (default: text, info). Call before
//! any thread logs.
void configure_log(LogFormat format, LogLevel level);

//! What a line of a reconcile carries besides its message.
struct LogContext {
  std::string fleet;
  std::string commit;         //!< short id, empty until known
  uint64_t reconcile = 0;     //!< 0: not inside a reconcile
};

//! The calling thread's context.
const LogContext& log_context();

//! Replaces the calling thread's context while alive, restoring the previous one after.
class LogScope {
public:
  explicit LogScope(LogContext context);
  ~LogScope();
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;

private:
  LogContext previous_;
};

//! Sets the commit of the calling thread's context (the reconcile learnt it from the fetch).
void set_log_commit(std::string commit);

//! True when a line of `level` would be written.
bool log_enabled(LogLevel level);

//! Writes one line at `level` with the calling thread's context. Newlines in `message` become
//! spaces and other control characters are escaped, so one event stays one line.
void log_line(LogLevel level, std::string_view message);

//! The same line as log_line would write, without writing it (for tests).
std::string format_log_line(LogFormat format, LogLevel level, long long unix_millis, std::string_view message,
                            const LogContext& context);

inline void log_event(std::string_view message) { log_line(LogLevel::info, message); }

template <typename... Args> void log_event(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::info))
    log_line(LogLevel::info, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args> void log_debug(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::debug))
    log_line(LogLevel::debug, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args> void log_warn(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::warn))
    log_line(LogLevel::warn, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args> void log_error(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::error))
    log_line(LogLevel::error, fmt::format(format, std::forward<Args>(args)...));
}

//! RFC 3339 UTC time of `unix_seconds` (second precision): 2024-05-01T12:00:00Z.
std::string format_utc(long long unix_seconds);

} // namespace meridian

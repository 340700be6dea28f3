#include "base/log.h"

#include "base/printable.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace meridian {
namespace {

std::atomic<LogFormat> current_format{LogFormat::text};
std::atomic<LogLevel> current_level{LogLevel::info};
thread_local LogContext thread_context;

// JSON string contents: quotes, backslashes and control characters escaped (RFC 8259).
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += fmt::format("\\u{:04x}", byte);
    } else {
      out += c;
    }
  }
  out += '"';
}

// logfmt's rule: a value with a space, `=` or a quote is quoted.
std::string text_value(std::string_view value) {
  if (!value.empty() && value.find_first_of(" =\"") == std::string_view::npos)
    return std::string(value);
  std::string out;
  append_json_string(out, value);
  return out;
}

} // namespace

std::optional<LogLevel> parse_log_level(std::string_view text) {
  if (text == "debug")
    return LogLevel::debug;
  if (text == "info")
    return LogLevel::info;
  if (text == "warn" || text == "warning")
    return LogLevel::warn;
  if (text == "error")
    return LogLevel::error;
  return std::nullopt;
}

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text")
    return LogFormat::text;
  if (text == "json")
    return LogFormat::json;
  return std::nullopt;
}

std::string_view to_string(LogLevel level) {
  switch (level) {
  case LogLevel::debug:
    return "debug";
  case LogLevel::info:
    return "info";
  case LogLevel::warn:
    return "warn";
  case LogLevel::error:
    return "error";
  }
  return "info";
}

void configure_log(LogFormat format, LogLevel level) {
  current_format.store(format);
  current_level.store(level);
}

const LogContext& log_context() { return thread_context; }

LogScope::LogScope(LogContext context) : previous_(std::move(thread_context)) { thread_context = std::move(context); }

LogScope::~LogScope() { thread_context = std::move(previous_); }

void set_log_commit(std::string commit) { thread_context.commit = std::move(commit); }

bool log_enabled(LogLevel level) { return static_cast<int>(level) >= static_cast<int>(current_level.load()); }

std::string format_utc(long long unix_seconds) {
  const std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string format_log_line(LogFormat format, LogLevel level, long long unix_millis, std::string_view message,
                            const LogContext& context) {
  const std::time_t seconds = static_cast<std::time_t>(unix_millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  const std::string time = fmt::format("{}.{:03d}Z", stamp, static_cast<int>(unix_millis % 1000));
  // A message with a newline (a list of findings) still makes one line, so that one event stays one
  // line; other control characters (a Host header, a name in live state) are escaped.
  std::string text(message);
  for (char& c : text)
    if (c == '\n')
      c = ' ';
  if (format == LogFormat::json) {
    std::string line = "{\"time\":\"" + time + "\",\"level\":\"" + std::string(to_string(level)) + "\",\"msg\":";
    append_json_string(line, text);
    if (!context.fleet.empty()) {
      line += ",\"fleet\":";
      append_json_string(line, context.fleet);
    }
    if (!context.commit.empty()) {
      line += ",\"commit\":";
      append_json_string(line, context.commit);
    }
    if (context.reconcile != 0)
      line += fmt::format(",\"reconcile\":{}", context.reconcile);
    line += "}\n";
    return line;
  }
  std::string line = fmt::format("{} {} {}", time, to_string(level), printable(text));
  if (!context.fleet.empty())
    line += " fleet=" + text_value(printable(context.fleet));
  if (!context.commit.empty())
    line += " commit=" + text_value(printable(context.commit));
  if (context.reconcile != 0)
    line += fmt::format(" reconcile={}", context.reconcile);
  line += '\n';
  return line;
}

void log_line(LogLevel level, std::string_view message) {
  if (!log_enabled(level))
    return;
  static std::mutex mutex;
  const auto now = std::chrono::system_clock::now();
  const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::string line = format_log_line(current_format.load(), level, ms, message, thread_context);
  const std::lock_guard lock(mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace meridian

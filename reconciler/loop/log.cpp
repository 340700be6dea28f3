#include "loop/log.h"

#include "base/printable.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace meridian {

std::string format_utc(long long unix_seconds) {
  const std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

void log_event(std::string_view message) {
  static std::mutex mutex;
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  // A message with a newline (a list of findings) still makes one line, so that one event stays one
  // line; other control characters (a Host header, a name in live state) are escaped.
  std::string text(message);
  for (char& c : text)
    if (c == '\n')
      c = ' ';
  std::string line = fmt::format("{}.{:03d}Z {}\n", stamp, static_cast<int>(ms % 1000), printable(text));
  const std::lock_guard lock(mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace meridian

#include "base/log.h"

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

using namespace meridian;

TEST_CASE("log lines: text with the context as key=value, JSON with it as fields", "[log]") {
  const long long at = 1'700'000'000'123; // 2023-11-14T22:13:20.123Z
  const LogContext context{"edge", "1a2b3c4d5e6f", 7};
  CHECK(format_log_line(LogFormat::text, LogLevel::info, at, "fetched fleet: commit 1a2b3c4d5e6f", context) ==
        "2023-11-14T22:13:20.123Z info fetched fleet: commit 1a2b3c4d5e6f fleet=edge commit=1a2b3c4d5e6f reconcile=7\n");
  CHECK(format_log_line(LogFormat::text, LogLevel::warn, at, "two\nlines", LogContext{"a fleet", "", 0}) ==
        "2023-11-14T22:13:20.123Z warn two lines fleet=\"a fleet\"\n");
  const std::string json = format_log_line(LogFormat::json, LogLevel::error, at, "bad \"quote\"\n\x1b[2J", context);
  CHECK(json ==
        "{\"time\":\"2023-11-14T22:13:20.123Z\",\"level\":\"error\",\"msg\":\"bad \\\"quote\\\" \\u001b[2J\",\"fleet\":\"edge\","
        "\"commit\":\"1a2b3c4d5e6f\",\"reconcile\":7}\n");
  rapidjson::Document document;
  document.Parse(json.c_str());
  REQUIRE_FALSE(document.HasParseError());
  CHECK(std::string(document["msg"].GetString()) == "bad \"quote\" \x1b[2J");
  CHECK(format_log_line(LogFormat::json, LogLevel::debug, at, "start", LogContext{}) ==
        "{\"time\":\"2023-11-14T22:13:20.123Z\",\"level\":\"debug\",\"msg\":\"start\"}\n");
}

TEST_CASE("log levels and scopes", "[log]") {
  CHECK(parse_log_level("warning") == LogLevel::warn);
  CHECK_FALSE(parse_log_level("verbose"));
  CHECK_FALSE(parse_log_format("logfmt"));
  configure_log(LogFormat::text, LogLevel::warn);
  CHECK_FALSE(log_enabled(LogLevel::info));
  CHECK(log_enabled(LogLevel::error));
  configure_log(LogFormat::text, LogLevel::info);
  {
    const LogScope outer(LogContext{"edge", "", 1});
    set_log_commit("abc");
    CHECK(log_context().commit == "abc");
    {
      const LogScope inner(LogContext{"core", "", 2});
      CHECK(log_context().fleet == "core");
    }
    CHECK(log_context().fleet == "edge");
    CHECK(log_context().reconcile == 1);
  }
  CHECK(log_context().fleet.empty());
}

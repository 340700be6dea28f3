// The rules of intstr.GetScaledValueFromIntOrPercent (an integer as is; a string must end in '%',
// scaled by ceil or floor of value*total/100) and validation.IsValidPercent.
#include "kube_rules/int_or_percent.h"

#include <catch2/catch.hpp>

using namespace meridian;

namespace {
std::optional<long long> scaled(const char* json, long long total, bool round_up) {
  JsonDocument document;
  document.Parse(json);
  REQUIRE_FALSE(document.HasParseError());
  return rules::scaled_int_or_percent(document, total, round_up);
}
} // namespace

TEST_CASE("int-or-percent scaled as GetScaledValueFromIntOrPercent") {
  CHECK(scaled("123", 100, true) == 123);
  CHECK(scaled(R"("90%")", 100, true) == 90);
  CHECK(scaled(R"("90%")", 95, true) == 86);  // 85.5 up
  CHECK(scaled(R"("90%")", 95, false) == 85); // 85.5 down
  CHECK(scaled(R"("%")", 0, false) == std::nullopt);
  CHECK(scaled(R"("#%")", 0, false) == std::nullopt);
  CHECK(scaled(R"("90")", 100, false) == std::nullopt); // a string must be a percentage
  CHECK(scaled(R"("25%")", 10, true) == 3);
  CHECK(scaled(R"("25%")", 10, false) == 2);
  CHECK(scaled(R"("+25%")", 4, false) == 1);
  CHECK(scaled(R"("1.5%")", 100, true) == std::nullopt);
  CHECK(scaled("null", 10, true) == std::nullopt);
  CHECK(scaled("true", 10, true) == std::nullopt);
}

TEST_CASE("percentages as IsValidPercent") {
  for (const char* good : {"0%", "25%", "100%", "007%"})
    CHECK(rules::is_percent(good));
  for (const char* bad : {"", "%", "25", "-25%", "+25%", "2.5%", "25 %", "a%"})
    CHECK_FALSE(rules::is_percent(bad));
}

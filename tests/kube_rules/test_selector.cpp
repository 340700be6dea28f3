// LabelSelector objects as metav1.LabelSelectorAsSelector builds them (helpers_test.go's cases:
// an empty selector selects everything, a nil one nothing, In/NotIn need values, Exists and
// DoesNotExist take none, other operators are refused), and the plain-map form.
#include "kube_rules/selector.h"

#include <catch2/catch.hpp>

using namespace meridian;

namespace {
JsonDocument parse(const char* text) {
  JsonDocument document;
  document.Parse(text);
  REQUIRE_FALSE(document.HasParseError());
  return document;
}
} // namespace

TEST_CASE("LabelSelector objects match as LabelSelectorAsSelector") {
  const auto labels = parse(R"({"app":"web","tier":"b","n":"5"})");
  const auto matches = [&](const char* selector) { return rules::selector_matches(parse(selector), &labels); };
  CHECK(matches("{}"));
  CHECK(matches(R"({"matchLabels":{"app":"web"}})"));
  CHECK_FALSE(matches(R"({"matchLabels":{"app":"db"}})"));
  CHECK_FALSE(matches(R"({"matchLabels":{"missing":""}})"));
  CHECK(matches(R"({"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]}]})"));
  CHECK_FALSE(matches(R"({"matchExpressions":[{"key":"tier","operator":"NotIn","values":["b"]}]})"));
  CHECK(matches(R"({"matchExpressions":[{"key":"gone","operator":"NotIn","values":["b"]}]})"));
  CHECK(matches(R"({"matchExpressions":[{"key":"app","operator":"Exists"}]})"));
  CHECK(matches(R"({"matchExpressions":[{"key":"gone","operator":"DoesNotExist"}]})"));
  CHECK_FALSE(matches(R"({"matchExpressions":[{"key":"app","operator":"DoesNotExist"}]})"));
  CHECK(matches(R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["b"]}]})"));
  CHECK_FALSE(matches(R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["c"]}]})"));
  // Refused by upstream, so selecting nothing.
  CHECK_FALSE(matches(R"({"matchExpressions":[{"key":"n","operator":"Gt","values":["1"]}]})"));
  CHECK_FALSE(matches(R"({"matchExpressions":[{"key":"tier","operator":"In","values":[]}]})"));
  CHECK_FALSE(matches(R"({"matchExpressions":[{"key":"app","operator":"Exists","values":["web"]}]})"));
  CHECK_FALSE(matches(R"({"matchLabels":{"n":5}})"));
  CHECK_FALSE(matches("null"));
  CHECK_FALSE(rules::selector_matches(parse(R"({"matchLabels":{"app":"web"}})"), nullptr));
  CHECK(rules::selector_matches(parse(R"({"matchExpressions":[{"key":"app","operator":"DoesNotExist"}]})"), nullptr));
}

TEST_CASE("the selector a LabelSelector object means") {
  const auto selector = rules::label_selector_of(
      parse(R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["b","a","b"]}]})"));
  REQUIRE(selector);
  CHECK(selector->requirements.size() == 2);
  CHECK(selector->requirements[1].values == std::vector<std::string>{"a", "b"});
}

TEST_CASE("plain maps and the form either way") {
  const auto labels = parse(R"({"app":"web","tier":"b"})");
  CHECK(rules::map_selector_matches(parse(R"({"app":"web"})"), &labels));
  CHECK_FALSE(rules::map_selector_matches(parse(R"({"app":"db"})"), &labels));
  CHECK(rules::selector_or_map_matches(parse(R"({"app":"web","tier":"b"})"), &labels));
  CHECK(rules::selector_or_map_matches(parse(R"({"matchLabels":{"tier":"b"}})"), &labels));
  CHECK_FALSE(rules::selector_or_map_matches(parse(R"({"matchLabels":{"tier":"c"}})"), &labels));
}

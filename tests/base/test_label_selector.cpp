// The label-selector string syntax against the cases of k8s.io/apimachinery/pkg/labels
// (selector_test.go: TestSelectorParse, TestSelectorMatches, TestSetMatches, the lexer's longest
// operator) and its validation of keys and values.
#include "base/label_selector.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace meridian;

namespace {

LabelSelector parsed(std::string_view text) {
  LabelSelectorParse result = parse_label_selector(text);
  INFO(text << ": " << result.error);
  REQUIRE(result.selector);
  return *result.selector;
}

std::string error_of(std::string_view text) {
  LabelSelectorParse result = parse_label_selector(text);
  INFO(text);
  REQUIRE_FALSE(result.selector);
  return result.error;
}

bool matches(std::string_view text, const std::map<std::string, std::string>& labels) { return parsed(text).matches(labels); }

} // namespace

TEST_CASE("apimachinery's good strings parse and print back without their spaces") {
  for (const std::string text : {"x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5"}) {
    std::string compact = text;
    compact.erase(std::remove(compact.begin(), compact.end(), ' '), compact.end());
    CHECK(parsed(text).to_string() == compact);
  }
  CHECK(parsed("x in (a,b,c)").to_string() == "x in (a,b,c)");
  CHECK(parsed("x in (a,b),y notin (a,b)").to_string() == "x in (a,b),y notin (a,b)");
  CHECK(parsed("x==a").to_string() == "x==a");
}

TEST_CASE("apimachinery's bad strings are refused, saying what was found and expected") {
  CHECK(error_of("x=a||y=b").find("x: invalid label value \"a||y\"") == 0); // checked as the requirement ends, as NewRequirement does
  CHECK(error_of("x=a,,y=b") == "found ',', expected: identifier after ','");
  CHECK(error_of("x==a==b") == "found '==', expected: ',' or end of string");
  CHECK(error_of("!x=a") == "found '=', expected: ',' or end of string after !x");
  CHECK(error_of("x<a") == "x: for '>' and '<' the value must be an integer, got \"a\"");
  CHECK(error_of("x in a") == "found 'a', expected: '('");
  CHECK(error_of("x in (a") == "found end of string, expected: ',' or ')'");
  CHECK(error_of("x in (a,b") == "found end of string, expected: ',' or ')'");
  CHECK(error_of("x=(a,b)") == "found '(', expected: identifier");
  CHECK(error_of(",") == "found ',', expected: !, identifier, or end of string");
  CHECK(error_of("x,") == "found end of string, expected: identifier after ','");
  CHECK(error_of("tier edge") == "found 'edge', expected: in, notin, =, ==, !=, > or <");
  CHECK(error_of("!") == "found end of string, expected: identifier");
}

TEST_CASE("keys and values follow the label syntax") {
  CHECK(error_of("Tier_=edge").find("invalid label key \"Tier_\"") == 0);
  CHECK(error_of("-tier").find("invalid label key \"-tier\"") == 0);
  CHECK(error_of("/tier").find("the prefix before '/' must not be empty") != std::string::npos);
  CHECK(error_of("Example.com/tier").find("must be a DNS subdomain") != std::string::npos);
  CHECK(error_of("a/b/c").find("at most one '/'") != std::string::npos);
  CHECK(error_of(std::string(64, 'a')).find("1-63 characters") != std::string::npos);
  CHECK(error_of("tier=edge_").find("invalid label value \"edge_\"") != std::string::npos);
  CHECK(error_of("tier in (a,b c)") == "found 'c', expected: ',' or ')'");
  CHECK(error_of("tier=" + std::string(64, 'a')).find("invalid label value") != std::string::npos);
  CHECK(parsed("topology.kubernetes.io/region in (cn-hangzhou)").requirements.front().key == "topology.kubernetes.io/region");
  CHECK(parsed("tier=" + std::string(63, 'a')).requirements.size() == 1);
}

TEST_CASE("in and notin are values where a value is expected; the lexer takes the longest operator") {
  CHECK(matches("notin=in", {{"notin", "in"}}));
  CHECK(matches("x in (in,notin)", {{"x", "notin"}}));
  CHECK(parsed("x!=a").requirements.front().op == SelectorOperator::not_equals);
  CHECK(parsed("!x").requirements.front().op == SelectorOperator::does_not_exist);
  CHECK(parsed("x\tin\n(a)").requirements.front().op == SelectorOperator::in);
}

TEST_CASE("empty values: x=, (a,,b), (), as apimachinery reads them") {
  CHECK(parsed("x in (a,,b)").requirements.front().values == std::vector<std::string>{"", "a", "b"});
  CHECK(parsed("x in ()").requirements.front().values == std::vector<std::string>{""});
  CHECK(parsed("x in (,a)").requirements.front().values == std::vector<std::string>{"", "a"});
  CHECK(parsed("x in (a,)").requirements.front().values == std::vector<std::string>{"", "a"});
  CHECK(matches("x=", {{"x", ""}}));
  CHECK_FALSE(matches("x=", {}));
}

TEST_CASE("requirements come back sorted by key, so equal selectors print alike") {
  CHECK(parsed("x=a,a=x").to_string() == parsed("a=x,x=a").to_string());
  CHECK(parsed("x=a,a=x").to_string() == "a=x,x=a");
}

TEST_CASE("matching follows Requirement.Matches") {
  // expectMatch
  CHECK(matches("", {{"x", "y"}}));
  CHECK(matches("x=y", {{"x", "y"}}));
  CHECK(matches("x=y,z=w", {{"x", "y"}, {"z", "w"}}));
  CHECK(matches("x!=y,z!=w", {{"x", "z"}, {"z", "a"}}));
  CHECK(matches("x", {{"x", "z"}}));
  CHECK(matches("!x", {{"y", "z"}}));
  CHECK(matches("x>1", {{"x", "2"}}));
  CHECK(matches("x<1", {{"x", "0"}}));
  CHECK(matches("x notin (a)", {}));
  CHECK(matches("x!=a", {}));
  // expectNoMatch
  CHECK_FALSE(matches("x=z", {{"x", "y"}}));
  CHECK_FALSE(matches("x=y,z=w", {{"x", "w"}, {"z", "w"}}));
  CHECK_FALSE(matches("x!=y,z!=w", {{"x", "z"}, {"z", "w"}}));
  CHECK_FALSE(matches("x", {{"y", "z"}}));
  CHECK_FALSE(matches("!x", {{"x", "z"}}));
  CHECK_FALSE(matches("x>1", {{"x", "0"}}));
  CHECK_FALSE(matches("x<1", {{"x", "2"}}));
  CHECK_FALSE(matches("x>1", {}));
  CHECK_FALSE(matches("x>1", {{"x", "two"}}));
  CHECK_FALSE(matches("x in (a)", {}));
  // the example
  const std::string edge = "tier=edge,region in (cn-hangzhou,cn-shanghai)";
  CHECK(matches(edge, {{"tier", "edge"}, {"region", "cn-shanghai"}}));
  CHECK_FALSE(matches(edge, {{"tier", "edge"}, {"region", "cn-beijing"}}));
  CHECK_FALSE(matches(edge, {{"tier", "core"}, {"region", "cn-hangzhou"}}));
}

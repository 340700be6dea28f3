#include "diff/diff.h"

#include <catch2/catch.hpp>

using namespace meridian;

namespace {
JsonDocument json(const char* text) {
  JsonDocument document;
  document.Parse(text);
  REQUIRE_FALSE(document.HasParseError());
  return document;
}
} // namespace

TEST_CASE("only fields Git sets are compared", "[diff]") {
  const auto desired = json(R"({"spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"a","image":"x:1"}]}}}})");
  const auto live = json(R"({"metadata":{"uid":"u","resourceVersion":"9"},"status":{"replicas":2},
    "spec":{"replicas":2,"revisionHistoryLimit":10,"template":{"spec":{"containers":[{"name":"a","image":"x:1","imagePullPolicy":"IfNotPresent"}]}}}})");
  CHECK(diff_object(desired, live).empty());
}

TEST_CASE("a changed field shows old and new", "[diff]") {
  const auto desired = json(R"({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x:2"}]}}}})");
  const auto live = json(R"({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x:1"}]}}}})");
  const auto changes = diff_object(desired, live);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].pointer == "/spec/template/spec/containers/0/image");
  CHECK(*changes[0].before == "\"x:1\"");
  CHECK(*changes[0].after == "\"x:2\"");
}

TEST_CASE("named lists match by name, not position", "[diff]") {
  const auto desired = json(R"({"c":[{"name":"b","v":1},{"name":"a","v":2}]})");
  const auto live = json(R"({"c":[{"name":"a","v":2},{"name":"b","v":1}]})");
  CHECK(diff_object(desired, live).empty());
}

TEST_CASE("quantities compare by value inside resources", "[diff]") {
  const auto desired = json(R"({"resources":{"requests":{"cpu":"1000m","memory":"1Gi"}}})");
  const auto live = json(R"({"resources":{"requests":{"cpu":"1","memory":"1024Mi"}}})");
  CHECK(diff_object(desired, live).empty());
  const auto other = json(R"({"resources":{"requests":{"cpu":"2","memory":"1Gi"}}})");
  CHECK(diff_object(desired, other).size() == 1);
}

TEST_CASE("quantities in exponent form and as numbers compare by value, exactly", "[diff]") {
  // The server canonicalises 1e3 to 1k and 0.5 to 500m; diff once refused the exponent form.
  const auto desired = json(R"({"resources":{"requests":{"cpu":0.5,"memory":"1e3","ephemeral-storage":"1.5Gi"}}})");
  const auto live = json(R"({"resources":{"requests":{"cpu":"500m","memory":"1k","ephemeral-storage":"1536Mi"}}})");
  CHECK(diff_object(desired, live).empty());
  // One nano-unit apart is a change (the old comparison of doubles called these equal).
  const auto near = json(R"({"resources":{"requests":{"cpu":"1000000001n"}}})");
  const auto one = json(R"({"resources":{"requests":{"cpu":"1"}}})");
  CHECK(diff_object(near, one).size() == 1);
}

TEST_CASE("a field applied before and removed from Git is a change", "[diff]") {
  const auto applied = json(R"({"metadata":{"labels":{"a":"1","b":"2"}}})");
  const auto desired = json(R"({"metadata":{"labels":{"a":"1"}}})");
  const auto live = json(R"({"metadata":{"labels":{"a":"1","b":"2","c":"3"}}})");
  DiffOptions options;
  options.last_applied = &applied;
  const auto changes = diff_object(desired, live, options);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].pointer == "/metadata/labels/b");
  CHECK_FALSE(changes[0].after.has_value());
}

TEST_CASE("ignoreDifferences pointers and server fields are not drift", "[diff]") {
  const auto desired = json(R"({"spec":{"replicas":3},"status":{"x":1}})");
  const auto live = json(R"({"spec":{"replicas":5},"status":{"x":2}})");
  DiffOptions options;
  options.ignore_pointers = {"/spec/replicas"};
  CHECK(diff_object(desired, live, options).empty());
  CHECK(diff_object(desired, live).size() == 1);
}

TEST_CASE("a named list item applied before and removed from Git is a change", "[diff]") {
  const auto applied = json(R"({"spec":{"containers":[{"name":"app","image":"a:1"},{"name":"sidecar","image":"s:1"}]}})");
  const auto desired = json(R"({"spec":{"containers":[{"name":"app","image":"a:1"}]}})");
  const auto live = json(R"({"spec":{"containers":[{"name":"sidecar","image":"s:1"},{"name":"app","image":"a:1"}]}})");
  DiffOptions options;
  options.last_applied = &applied;
  const auto changes = diff_object(desired, live, options);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].pointer == "/spec/containers/0");
  CHECK_FALSE(changes[0].after.has_value());
}

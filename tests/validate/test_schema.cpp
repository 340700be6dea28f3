// The JSON Schema validator on small inline schemas, plus the few facts of the built-in schemas
// that messages promise (the ResourcePolicy nodeSelector hint).
#include "validate/validate.h"

#include "base/error.h"

#include <catch2/catch.hpp>

using namespace meridian;

namespace {

using Sources = std::vector<std::pair<std::string, std::string>>;

const std::string common_json = R"({
  "definitions": {
    "name": {"type": "string", "format": "dns1123-label"},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
  }
})";

// Validates `document` (JSON text) against schema `schema` (JSON text), with common.json beside it.
std::vector<Violation> violations(const std::string& schema, const std::string& document) {
  const SchemaSet schemas({{"common.json", common_json}, {"test.json", schema}});
  JsonDocument value;
  const auto error = parse_json(document, value);
  INFO(document);
  REQUIRE_FALSE(error);
  std::vector<Violation> out;
  schemas.validate("test.json", value, out);
  return out;
}

// The one violation of `document`, as `field: message`.
std::string only_violation(const std::string& schema, const std::string& document) {
  const std::vector<Violation> found = violations(schema, document);
  INFO(document);
  REQUIRE(found.size() == 1);
  return found[0].field + ": " + found[0].message;
}

bool has(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

bool valid(const std::string& schema, const std::string& document) { return violations(schema, document).empty(); }

} // namespace

TEST_CASE("schema: type", "[schema]") {
  const std::string schema = R"({"type": "object", "properties": {
    "s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"},
    "a": {"type": "array"}, "o": {"type": "object"}, "either": {"type": ["string", "integer"]}}})";
  CHECK(valid(schema, R"({"s": "x", "i": 3, "n": 1.5, "b": true, "a": [], "o": {}, "either": 4})"));
  CHECK(valid(schema, R"({"i": 3.0, "n": 2, "either": "four"})"));
  CHECK(only_violation(schema, R"({"i": "3"})") == R"(i: expected integer, got string "3")");
  CHECK(only_violation(schema, R"({"i": 1.5})") == "i: expected integer, got number 1.5");
  CHECK(only_violation(schema, R"({"o": []})").rfind("o: expected object, got array", 0) == 0);
  CHECK(only_violation(schema, R"({"either": true})") == "either: expected string or integer, got boolean true");
  // A number or boolean where a string is expected: the YAML fix is to quote it.
  CHECK(only_violation(schema, R"({"s": 1.3})") == R"(s: expected a string, got number 1.3; quote it ("1.3") to keep it a string)");
  CHECK(has(only_violation(schema, R"({"s": true})"), "quote it"));
  CHECK(only_violation(R"({"type": "object"})", "[1]").rfind(": expected object, got array", 0) == 0);
}

TEST_CASE("schema: enum and const", "[schema]") {
  const std::string schema = R"({"type": "object", "properties": {
    "type": {"type": "string", "enum": ["Managed", "Edge", "Serverless"]},
    "size": {"enum": [1, 2, 4]},
    "kind": {"const": "Cluster"}}})";
  CHECK(valid(schema, R"({"type": "Edge", "size": 4, "kind": "Cluster"})"));
  CHECK(valid(schema, R"({"size": 2.0})")); // numbers compare by value
  CHECK(only_violation(schema, R"({"type": "Edgy"})") == R"(type: must be one of Managed, Edge, Serverless; got "Edgy")");
  CHECK(only_violation(schema, R"({"size": 3})") == "size: must be one of 1, 2, 4; got 3");
  CHECK(only_violation(schema, R"({"kind": "Fleet"})") == R"(kind: must be "Cluster", got "Fleet")");
}

TEST_CASE("schema: minimum, maximum and lengths", "[schema]") {
  const std::string schema = R"({"type": "object", "properties": {
    "size": {"type": "integer", "minimum": 0, "maximum": 100},
    "ratio": {"type": "number", "minimum": 0.5},
    "name": {"type": "string", "minLength": 1, "maxLength": 5},
    "code": {"type": "string", "minLength": 3},
    "list": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer", "minimum": 0}}}})";
  CHECK(valid(schema, R"({"size": 0, "ratio": 0.5, "name": "abcde", "code": "abc", "list": [0, 1]})"));
  CHECK(valid(schema, R"({"size": 100})"));
  CHECK(only_violation(schema, R"({"size": -1})") == "size: must be >= 0, got -1");
  CHECK(only_violation(schema, R"({"size": 101})") == "size: must be <= 100, got 101");
  CHECK(only_violation(schema, R"({"ratio": 0.25})") == "ratio: must be >= 0.5, got 0.25");
  CHECK(only_violation(schema, R"({"name": ""})") == "name: must not be empty");
  CHECK(only_violation(schema, R"({"name": "abcdef"})") == "name: must be at most 5 characters, got 6");
  CHECK(only_violation(schema, R"({"code": "ab"})") == "code: must be at least 3 characters, got 2");
  CHECK(only_violation(schema, R"({"list": []})") == "list: must have at least 1 item, got 0");
  CHECK(only_violation(schema, R"({"list": [1, 2, 3]})") == "list: must have at most 2 items, got 3");
  // Items are checked one by one and named by index.
  const std::vector<Violation> found = violations(schema, R"({"list": [1, -2]})");
  REQUIRE(found.size() == 1);
  CHECK(found[0].pointer == "/list/1");
  CHECK(found[0].field == "list[1]");
  CHECK(found[0].message == "must be >= 0, got -2");
}

TEST_CASE("schema: required", "[schema]") {
  const std::string schema = R"({"type": "object", "required": ["apiVersion", "kind"], "properties": {
    "spec": {"type": "object", "required": ["region"], "properties": {"region": {"type": "string"}}}}})";
  CHECK(valid(schema, R"({"apiVersion": "v1", "kind": "X", "spec": {"region": "cn-hangzhou"}})"));
  const std::vector<Violation> found = violations(schema, R"({"kind": "X", "spec": {}})");
  REQUIRE(found.size() == 2);
  CHECK(found[0].field == "apiVersion");
  CHECK(found[0].message == "required field is missing");
  CHECK(found[0].pointer.empty()); // the object that lacks it: its line is where to add it
  CHECK(found[1].field == "spec.region");
  CHECK(found[1].pointer == "/spec");
  CHECK(found[1].message == "required field is missing");
}

TEST_CASE("schema: additionalProperties", "[schema]") {
  const std::string closed = R"({"type": "object", "additionalProperties": false, "properties": {
    "region": {"type": "string"}, "type": {"type": "string"}, "desiredSize": {"type": "integer"}}})";
  CHECK(valid(closed, R"({"region": "cn-hangzhou", "type": "Edge"})"));
  SECTION("a near miss suggests the field it resembles") {
    CHECK(only_violation(closed, R"({"regoin": "cn-hangzhou"})") == R"(regoin: unknown field, did you mean "region"?)");
    CHECK(only_violation(closed, R"({"desiredsize": 2})") == R"(desiredsize: unknown field, did you mean "desiredSize"?)");
    CHECK(only_violation(closed, R"({"typ": "Edge"})") == R"(typ: unknown field, did you mean "type"?)");
  }
  SECTION("anything else lists the known fields") {
    CHECK(only_violation(closed, R"({"colour": "blue"})") == "colour: unknown field, expected one of: region, type, desiredSize");
  }
  SECTION("a closed object without properties") {
    CHECK(valid(R"({"type": "object", "additionalProperties": false})", "{}"));
    const std::string message = only_violation(R"({"type": "object", "additionalProperties": false})", R"({"x": 1})");
    CHECK(has(message, "x: unknown field"));
  }
  SECTION("a schema for the values of an open map") {
    const std::string map = R"({"type": "object", "properties": {"labels": {"$ref": "common.json#/definitions/labels"}}})";
    CHECK(valid(map, R"({"labels": {"app": "web", "tier": "front"}})"));
    const std::vector<Violation> found = violations(map, R"({"labels": {"app": "web", "replicas": 3}})");
    REQUIRE(found.size() == 1);
    CHECK(found[0].field == "labels.replicas");
    // keys with '/' are escaped in pointers and shown plainly in fields
    const std::vector<Violation> slashed = violations(map, R"({"labels": {"example.com/tier": 1}})");
    REQUIRE(slashed.size() == 1);
    CHECK(slashed[0].pointer == "/labels/example.com~1tier");
    CHECK(slashed[0].field == "labels.example.com/tier");
  }
  SECTION("unspecified additionalProperties allows anything") {
    CHECK(valid(R"({"type": "object", "properties": {"a": {"type": "string"}}})", R"({"b": 1})"));
  }
}

TEST_CASE("schema: pattern", "[schema]") {
  const std::string schema = R"({"type": "object", "properties": {
    "region": {"type": "string", "pattern": "^[a-z]{2}-[a-z0-9-]+$"},
    "loose": {"type": "string", "pattern": "[0-9]"}}})";
  CHECK(valid(schema, R"({"region": "cn-hangzhou", "loose": "abc1def"})")); // unanchored patterns search
  CHECK(only_violation(schema, R"({"region": "Hangzhou"})") == R"(region: must match ^[a-z]{2}-[a-z0-9-]+$, got "Hangzhou")");
  CHECK(only_violation(schema, R"({"loose": "abc"})") == R"(loose: must match [0-9], got "abc")");
}

TEST_CASE("schema: formats", "[schema]") {
  const std::string schema = R"({"type": "object", "properties": {
    "label": {"type": "string", "format": "dns1123-label"},
    "subdomain": {"type": "string", "format": "dns1123-subdomain"},
    "timeout": {"type": "string", "format": "duration"},
    "cpu": {"type": "string", "format": "quantity"},
    "surge": {"type": "string", "format": "int-or-percent"},
    "other": {"type": "string", "format": "not-a-format-we-know"}}})";
  CHECK(valid(schema, R"({"label": "edge-1", "subdomain": "a.b-c.d", "timeout": "1h30m", "cpu": "500m", "surge": "25%", "other": "x"})"));
  const std::string label = only_violation(schema, R"({"label": "Bad_Name"})");
  CHECK(label.rfind("label: must be a DNS-1123 label", 0) == 0);
  CHECK(has(label, R"(got "Bad_Name")"));
  for (const char* bad : {"-edge", "edge-", "Edge", "a.b", "", "edge_1"}) {
    INFO(bad);
    CHECK_FALSE(valid(schema, std::string(R"({"label": ")") + bad + "\"}"));
  }
  CHECK(valid(schema, R"({"label": "0"})"));
  CHECK(valid(schema, "{\"label\": \"" + std::string(63, 'a') + "\"}"));
  CHECK_FALSE(valid(schema, "{\"label\": \"" + std::string(64, 'a') + "\"}"));
  CHECK(has(only_violation(schema, R"({"subdomain": "a..b"})"), "DNS-1123 subdomain"));
  CHECK(has(only_violation(schema, R"({"timeout": "ten minutes"})"), "a duration"));
  CHECK(has(only_violation(schema, R"({"cpu": "lots"})"), "a resource quantity"));
  CHECK(has(only_violation(schema, R"({"surge": "25"})"), "a percentage"));
}

TEST_CASE("DNS-1123 names and quantities", "[schema]") {
  CHECK(is_dns1123_label("a"));
  CHECK(is_dns1123_label("edge-central-01"));
  CHECK_FALSE(is_dns1123_label(""));
  CHECK_FALSE(is_dns1123_label("a-"));
  CHECK_FALSE(is_dns1123_label("A"));
  CHECK_FALSE(is_dns1123_label(std::string(64, 'x')));
  CHECK(is_dns1123_subdomain("kube-system.svc"));
  CHECK_FALSE(is_dns1123_subdomain(".a"));
  CHECK_FALSE(is_dns1123_subdomain("a."));
  CHECK_FALSE(is_dns1123_subdomain(std::string(254, 'a')));
}

TEST_CASE("schema: anyOf", "[schema]") {
  const std::string schema = R"({"type": "object", "properties": {
    "port": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[a-z]+$"}]}}})";
  CHECK(valid(schema, R"({"port": 8080})"));
  CHECK(valid(schema, R"({"port": "http"})"));
  // No branch matches: the first branch's complaint is reported, once.
  CHECK(only_violation(schema, R"({"port": 0})") == "port: must be >= 1, got 0");
  CHECK(only_violation(schema, R"({"port": true})") == "port: expected integer, got boolean true");
}

TEST_CASE("schema: $ref", "[schema]") {
  SECTION("into common.json") {
    const std::string schema = R"({"type": "object", "properties": {"name": {"$ref": "common.json#/definitions/name"}}})";
    CHECK(valid(schema, R"({"name": "web-1"})"));
    CHECK(only_violation(schema, R"({"name": "Web_1"})").rfind("name: must be a DNS-1123 label", 0) == 0);
    CHECK(only_violation(schema, R"({"name": 7})") == R"(name: expected a string, got integer 7; quote it ("7") to keep it a string)");
  }
  SECTION("within the same file") {
    const std::string schema = R"({"definitions": {"size": {"type": "integer", "minimum": 0}},
      "type": "object", "properties": {"a": {"$ref": "#/definitions/size"}, "b": {"type": "array", "items": {"$ref": "#/definitions/size"}}}})";
    CHECK(valid(schema, R"({"a": 1, "b": [0, 2]})"));
    CHECK(only_violation(schema, R"({"a": -1})") == "a: must be >= 0, got -1");
    CHECK(only_violation(schema, R"({"b": [0, -3]})") == "b[1]: must be >= 0, got -3");
  }
  SECTION("a $ref that does not resolve is the schema's fault") {
    const SchemaSet schemas(Sources{{"test.json", R"({"properties": {"a": {"$ref": "missing.json#/definitions/x"}}})"}});
    JsonDocument value;
    REQUIRE_FALSE(parse_json(R"({"a": 1})", value));
    std::vector<Violation> out;
    CHECK_THROWS_AS(schemas.validate("test.json", value, out), UserError);
  }
}

TEST_CASE("schema: a malformed schema is a UserError naming it", "[schema]") {
  try {
    SchemaSet schemas(Sources{{"broken.json", "{\"type\": "}});
    FAIL("expected a UserError");
  } catch (const Error& error) {
    CHECK(has(error.what(), "broken.json"));
  }
}

TEST_CASE("schema: an unknown schema name validates nothing", "[schema]") {
  const SchemaSet schemas(Sources{{"test.json", R"({"type": "string"})"}});
  JsonDocument value;
  REQUIRE_FALSE(parse_json("1", value));
  std::vector<Violation> out;
  schemas.validate("nope.json", value, out);
  CHECK(out.empty());
  schemas.validate("test.json", value, out);
  CHECK(out.size() == 1);
}

TEST_CASE("built-in schemas: one per kind, generic for the rest", "[schema]") {
  const SchemaSet& schemas = SchemaSet::builtin();
  CHECK(schemas.schema_name("meridian.io/v1alpha1", "Cluster") == "meridian.io_v1alpha1_Cluster.json");
  CHECK(schemas.schema_name("meridian.io/v1alpha1", "NodePool") == "meridian.io_v1alpha1_NodePool.json");
  CHECK(schemas.schema_name("meridian.io/v1alpha1", "Fleet") == "meridian.io_v1alpha1_Fleet.json");
  CHECK(schemas.schema_name("apps/v1", "DaemonSet") == "apps_v1_DaemonSet.json");
  CHECK(schemas.schema_name("apps.kruise.io/v1alpha1", "DaemonSet") == "apps.kruise.io_v1alpha1_DaemonSet.json");
  CHECK(schemas.schema_name("apps.kruise.io/v1beta1", "DaemonSet") == "apps.kruise.io_v1beta1_DaemonSet.json");
  CHECK(schemas.schema_name("scheduling.alibabacloud.com/v1alpha1", "ResourcePolicy") ==
        "scheduling.alibabacloud.com_v1alpha1_ResourcePolicy.json");
  CHECK(schemas.schema_name("apps/v1", "Deployment") == "apps_v1_Deployment.json");
  CHECK(schemas.schema_name("v1", "Pod") == "v1_Pod.json");
  CHECK(schemas.schema_name("v1", "Namespace") == "v1_Namespace.json");
  CHECK(schemas.schema_name("v1", "ConfigMap") == "generic.json");
  CHECK(schemas.schema_name("example.com/v1", "Widget") == "generic.json");
  CHECK(schemas.has_schema("common.json"));

  // The generic schema: apiVersion, kind and a DNS-1123 metadata.name.
  JsonDocument ok, bad;
  REQUIRE_FALSE(parse_json(R"({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "b"}})", ok));
  REQUIRE_FALSE(parse_json(R"({"kind": "ConfigMap", "metadata": {"name": "Settings!"}})", bad));
  std::vector<Violation> out;
  schemas.validate("generic.json", ok, out);
  CHECK(out.empty());
  schemas.validate("generic.json", bad, out);
  std::vector<std::string> fields;
  for (const Violation& violation : out)
    fields.push_back(violation.field);
  CHECK(std::find(fields.begin(), fields.end(), "apiVersion") != fields.end());
  CHECK(std::find(fields.begin(), fields.end(), "metadata.name") != fields.end());
}

TEST_CASE("ResourcePolicy: a string nodeSelector gets the map it meant", "[schema]") {
  const SchemaSet& schemas = SchemaSet::builtin();
  auto check_policy = [&](const std::string& selector) {
    JsonDocument policy;
    const std::string text = R"({"apiVersion": "scheduling.alibabacloud.com/v1alpha1", "kind": "ResourcePolicy",
      "metadata": {"name": "nginx", "namespace": "default"},
      "spec": {"selector": {"app": "nginx"}, "strategy": "prefer",
               "units": [{"resource": "idc", "max": 2}, {"resource": "ecs", "nodeSelector": )" + selector + "}]}}";
    REQUIRE_FALSE(parse_json(text, policy));
    std::vector<Violation> out;
    schemas.validate(schemas.schema_name("scheduling.alibabacloud.com/v1alpha1", "ResourcePolicy"), policy, out);
    return out;
  };
  CHECK(check_policy(R"({"alibabacloud.com/nodepool-id": "np7b30xxx"})").empty());

  std::vector<Violation> found = check_policy(R"("alibabacloud.com/nodepool-id=np7b30xxx")");
  REQUIRE(found.size() == 1);
  CHECK(found[0].field == "spec.units[1].nodeSelector");
  CHECK(found[0].message == "expected a map of label to value; did you mean `alibabacloud.com/nodepool-id: np7b30xxx`?");

  found = check_policy(R"("zone=a,tier=gpu")");
  REQUIRE(found.size() == 1);
  CHECK(found[0].message == "expected a map of label to value; did you mean `zone: a, tier: gpu`?");

  // A string that is no selector gets the plain type error.
  found = check_policy(R"("np7b30xxx")");
  REQUIRE(found.size() == 1);
  CHECK(found[0].message == R"(expected object, got string "np7b30xxx")");
}

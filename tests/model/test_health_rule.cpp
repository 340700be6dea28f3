// Fleet health checks: the expression language (paths, selections, comparisons, logic), the rule a
// kind gets (degraded first, then healthy, else progressing; the message path), Fleet parsing and
// its validation (a bad expression is a finding at its field), and forceConflicts on bodies.
#include "base/error.h"
#include "base/json_expression.h"
#include "manifest/manifest.h"
#include "model/desired.h"
#include "model/health_rule.h"
#include "validate/validate.h"

#include <catch2/catch.hpp>

using namespace meridian;

namespace {

JsonDocument json(const char* text) {
  JsonDocument document;
  REQUIRE_FALSE(parse_json(text, document));
  return document;
}

bool holds(const char* expression, const Json& object) { return evaluate(*parse_json_expression(expression), object); }

const char* certificate = R"({
  "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
  "metadata": {"name": "web", "generation": 3, "annotations": {"example.com/tier": "gold"}},
  "spec": {"replicas": 3, "paused": false},
  "status": {"observedGeneration": 3, "replicas": "3",
             "conditions": [{"type": "Issuing", "status": "False"},
                            {"type": "Ready", "status": "True", "reason": "Issued", "message": "certificate is up to date"}]}})";

} // namespace

TEST_CASE("expressions read paths, selections and literals") {
  const JsonDocument object = json(certificate);
  CHECK(holds(R"(status.conditions[?type=Ready].status == "True")", object));
  CHECK(holds(R"(status.conditions[?type="Issuing"].status == 'False')", object));
  CHECK(holds("status.conditions[1].reason == \"Issued\"", object));
  CHECK(holds("status.observedGeneration >= metadata.generation", object));
  CHECK(holds("status.observedGeneration == metadata.generation && spec.replicas == 3", object));
  CHECK(holds("status.replicas == spec.replicas", object)); // "3" and 3 are the same value
  CHECK(holds(R"(metadata.annotations["example.com/tier"] == "gold")", object));
  CHECK(holds("!spec.paused", object));
  CHECK(holds("status.conditions", object)); // exists, not empty
  CHECK_FALSE(holds("status.missing", object));
  CHECK(holds("status.missing == null", object));
  CHECK_FALSE(holds("status.conditions[?type=Stalled].status == \"True\"", object));
  CHECK(holds("status.conditions[?type=Stalled].status != \"True\"", object));
  CHECK(holds("(spec.paused || spec.replicas > 2) && !(spec.replicas < 1)", object));
  CHECK_FALSE(holds("spec.replicas > \"abc\"", object)); // no order between a number and a word
  CHECK(holds("spec.replicas != \"abc\"", object));
  CHECK(holds("-1 < 0", object));
}

TEST_CASE("a bad expression is an error naming the column") {
  const auto error_of = [](const char* text) {
    try {
      parse_json_expression(text);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("parsed");
  };
  CHECK(error_of("status.phase == ") == "column 17: expected a path or a value");
  CHECK(error_of("status.phase == \"Running") == "column 17: unterminated \"text\"");
  CHECK(error_of("(status.ready") == "column 14: expected \")\"");
  CHECK(error_of("status.conditions[?type] == 1") == "column 24: expected \"=\" in [?key=value]");
  CHECK(error_of("status.phase Running") == "column 14: unexpected \"Running\"");
  CHECK(error_of("status..phase") == "column 8: expected a field name");
}

TEST_CASE("a rule says degraded first, then healthy, else progressing, with its message") {
  HealthRule rule;
  rule.kind = "Certificate";
  rule.group = "cert-manager.io";
  rule.healthy_text = R"(status.conditions[?type=Ready].status == "True")";
  rule.healthy = parse_json_expression(rule.healthy_text);
  rule.degraded_text = R"(status.conditions[?type=Ready].reason == "Failed")";
  rule.degraded = parse_json_expression(rule.degraded_text);
  rule.message_path = "status.conditions[?type=Ready].message";

  const Health healthy = rule_health(rule, json(certificate));
  CHECK(healthy.status == HealthStatus::healthy);
  CHECK(healthy.message == "certificate is up to date");

  const Health failed = rule_health(rule, json(R"({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Failed",
                                                     "message": "the issuer refused: rate limited"}]}})"));
  CHECK(failed.status == HealthStatus::degraded);
  CHECK(failed.message == "the issuer refused: rate limited");

  const Health waiting = rule_health(rule, json(R"({"status": {}})"));
  CHECK(waiting.status == HealthStatus::progressing);
  CHECK(waiting.message == R"(waiting for the fleet's health check: status.conditions[?type=Ready].status == "True")");

  const std::vector<HealthRule> rules = {rule};
  CHECK(find_health_rule(rules, {"kit", "cert-manager.io", "Certificate", "default", "web"}) != nullptr);
  CHECK(find_health_rule(rules, {"kit", "", "Certificate", "default", "web"}) == nullptr);
}

TEST_CASE("a Fleet's health checks and forceConflicts are read, and bad ones are findings") {
  const char* cluster = "apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: kit\nspec:\n  type: Managed\n  region: cn-hangzhou\n";
  const char* config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  a: b\n";
  const char* own = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\n  namespace: default\n  annotations:\n"
                    "    meridian.io/force-conflicts: \"false\"\ndata:\n  a: b\n";
  const std::string fleet = "apiVersion: meridian.io/v1alpha1\nkind: Fleet\nmetadata:\n  name: f\nspec:\n  forceConflicts: true\n"
                            "  healthChecks:\n    - group: cert-manager.io\n      kind: Certificate\n"
                            "      healthy: 'status.conditions[?type=Ready].status == \"True\"'\n"
                            "      message: status.conditions[?type=Ready].message\n";
  ManifestSet set = manifests_from_texts({{"fleet.yaml", fleet}, {"cluster.yaml", cluster}, {"clusters/kit/config.yaml", config},
                                          {"clusters/kit/own.yaml", own}});
  REQUIRE(is_valid(validate_manifests(set)));
  const DesiredState desired = build_desired_state(set, "owner");
  REQUIRE(desired.fleet.health_checks.size() == 1);
  CHECK(desired.fleet.health_checks[0].kind == "Certificate");
  CHECK(desired.fleet.force_conflicts);
  const DesiredObject* settings = desired.find({"kit", "", "ConfigMap", "default", "settings"});
  REQUIRE(settings != nullptr);
  CHECK(string_member(*find_path(*settings->body, "metadata.annotations"), "meridian.io/force-conflicts") == "true");
  const DesiredObject* kept = desired.find({"kit", "", "ConfigMap", "default", "own"});
  REQUIRE(kept != nullptr);
  CHECK(string_member(*find_path(*kept->body, "metadata.annotations"), "meridian.io/force-conflicts") == "false");

  const std::string bad = "apiVersion: meridian.io/v1alpha1\nkind: Fleet\nmetadata:\n  name: f\nspec:\n"
                          "  healthChecks:\n    - kind: Certificate\n      healthy: 'status.ready =='\n"
                          "    - kind: Certificate\n      degraded: status.failed\n";
  ManifestSet broken = manifests_from_texts({{"fleet.yaml", bad}, {"cluster.yaml", cluster}});
  std::string text;
  for (const Finding& finding : validate_manifests(broken))
    text += finding.format() + "\n";
  CHECK_THAT(text, Catch::Contains("fleet.yaml:8:") && Catch::Contains("spec.healthChecks[0].healthy") &&
                       Catch::Contains("expression \"status.ready ==\": column 16: expected a path or a value"));
  CHECK_THAT(text, Catch::Contains("fleet.yaml:9:") && Catch::Contains("a second health check for Certificate"));
}

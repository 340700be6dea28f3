// One manifest, many clusters: `meridian.io/cluster-selector` over the labels of the Clusters,
// validated (malformed, both targets, no match, variables, duplicates) and made into one object per
// selected cluster with `${cluster.*}` substituted; an edit of such an object is built in full.
#include "manifest/manifest.h"
#include "manifest/placement.h"
#include "model/desired.h"
#include "validate/validate.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>

using namespace meridian;

namespace {

const char* kClusters = R"(apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: edge-hz
  labels: {tier: edge, zone: hz-a}
spec: {type: Edge, region: cn-hangzhou}
---
apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: edge-sh
  labels: {tier: edge}
spec: {type: Edge, region: cn-shanghai}
---
apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: edge-hz2
  labels: {tier: edge, zone: hz-b}
spec: {type: Edge, region: cn-hangzhou}
---
apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: core
  labels: {tier: core}
spec: {type: Managed, region: cn-beijing}
)";

std::string agent(const std::string& selector, const std::string& env_value = "${cluster.name}") {
  return R"(apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: kube-system
  annotations:
    meridian.io/cluster-selector: ")" +
         selector + R"("
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
        - name: agent
          image: registry.${cluster.region}.example.com/agent:v1
          env:
            - {name: CLUSTER, value: ")" +
         env_value + R"("}
            - {name: LITERAL, value: "$${HOME} and $HOME"}
)";
}

std::unique_ptr<ManifestSet> set_of(const std::vector<std::pair<std::string, std::string>>& files) {
  return std::make_unique<ManifestSet>(manifests_from_texts(files));
}

std::string describe(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& finding : findings)
    out += finding.format() + "\n";
  return out;
}

std::vector<Finding> validate(const std::vector<std::pair<std::string, std::string>>& files) {
  const auto set = set_of(files);
  return validate_manifests(*set);
}

std::string text_at(const JsonDocument& body, const char* pointer) {
  const Json* value = find_pointer(body, pointer);
  REQUIRE(value != nullptr);
  REQUIRE(value->IsString());
  return value->GetString();
}

} // namespace

TEST_CASE("a selector object becomes one object per selected cluster, each in its cluster's region", "[placement]") {
  const auto set = set_of({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=edge,zone in (hz-a,hz-b)")}});
  const auto findings = validate_manifests(*set);
  INFO(describe(findings));
  REQUIRE(findings.empty());
  const DesiredState desired = build_desired_state(*set, "owner");
  REQUIRE(desired.findings.empty());
  std::vector<const DesiredObject*> copies;
  for (const DesiredObject& object : desired.objects)
    if (object.ref.kind == "DaemonSet")
      copies.push_back(&object);
  REQUIRE(copies.size() == 2);
  CHECK(copies[0]->ref.cluster == "edge-hz"); // refs sorted: cluster first
  CHECK(copies[1]->ref.cluster == "edge-hz2");
  for (const DesiredObject* copy : copies) {
    CHECK(copy->placed);
    CHECK(copy->region == "cn-hangzhou");
    CHECK(copy->ref.namespace_ == "kube-system");
    CHECK(text_at(*copy->body, "/spec/template/spec/containers/0/env/0/value") == copy->ref.cluster);
    CHECK(text_at(*copy->body, "/spec/template/spec/containers/0/image") == "registry.cn-hangzhou.example.com/agent:v1");
    CHECK(text_at(*copy->body, "/spec/template/spec/containers/0/env/1/value") == "${HOME} and $HOME");
    CHECK(text_at(*copy->body, "/metadata/annotations/meridian.io~1tracking-id") == copy->ref.cluster + ":apps/DaemonSet:kube-system/agent");
    const auto cluster = std::find(copy->depends_on.begin(), copy->depends_on.end(), ObjectRef{"", "meridian.io", "Cluster", "", copy->ref.cluster});
    CHECK(cluster != copy->depends_on.end());
  }
  // The manifest itself is not changed: each copy has its own body.
  CHECK(copies[0]->body != copies[1]->body);
  CHECK(std::string(find_pointer(*set->manifests.back().object, "/spec/template/spec/containers/0/env/0/value")->GetString()) ==
        "${cluster.name}");
}

TEST_CASE("the copies are the same whatever the order of the Clusters in the repository", "[placement]") {
  const auto forward = set_of({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=edge")}});
  std::string reversed;
  {
    std::vector<std::string> documents;
    std::string text = kClusters;
    for (size_t at = 0;;) {
      const size_t next = text.find("---\n", at);
      documents.push_back(text.substr(at, next == std::string::npos ? std::string::npos : next - at));
      if (next == std::string::npos)
        break;
      at = next + 4;
    }
    std::reverse(documents.begin(), documents.end());
    for (const std::string& document : documents)
      reversed += (reversed.empty() ? "" : "---\n") + document;
  }
  const auto backward = set_of({{"agent.yaml", agent("tier=edge")}, {"clusters.yaml", reversed}});
  const DesiredState a = build_desired_state(*forward, "owner");
  const DesiredState b = build_desired_state(*backward, "owner");
  REQUIRE(a.objects.size() == b.objects.size());
  for (size_t index = 0; index < a.objects.size(); ++index) {
    CHECK(a.objects[index].ref == b.objects[index].ref);
    CHECK(write_canonical(*a.objects[index].body) == write_canonical(*b.objects[index].body));
  }
}

TEST_CASE("a malformed selector is an error naming file, line and the annotation", "[placement]") {
  const auto findings = validate({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier in (edge")}});
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].format() == "agent.yaml:7: DaemonSet/kube-system/agent: metadata.annotations.meridian.io/cluster-selector: "
                                "\"tier in (edge\": not a label selector: found end of string, expected: ',' or ')'");
  const auto empty = validate({{"clusters.yaml", kClusters}, {"agent.yaml", agent(" ")}});
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].message == "\" \": not a label selector: empty selector: expected a label selector over the labels of Cluster objects, "
                             "e.g. \"tier=edge\" (an empty selector would select every cluster; label them and select the label)");
}

TEST_CASE("a target cluster and a selector on one object is an error", "[placement]") {
  std::string both = agent("tier=edge");
  both.insert(both.find("    meridian.io/cluster-selector"), "    meridian.io/cluster: core\n");
  const auto findings = validate({{"clusters.yaml", kClusters}, {"agent.yaml", both}});
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].format() == "agent.yaml:8: DaemonSet/kube-system/agent: metadata.annotations.meridian.io/cluster-selector: "
                                "meridian.io/cluster is set too (\"core\"): an object targets one cluster by name or clusters by label, "
                                "not both");
  const auto by_path = validate({{"clusters.yaml", kClusters}, {"clusters/core/agent.yaml", agent("tier=edge")}});
  REQUIRE(by_path.size() == 1);
  CHECK(by_path[0].message.find("the file lies under clusters/core/") == 0);
}

TEST_CASE("a selector that selects no cluster is a warning, in validation and in the desired state", "[placement]") {
  const auto set = set_of({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=gpu")}});
  const auto findings = validate_manifests(*set);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].severity == Severity::warning);
  CHECK(is_valid(findings));
  CHECK(findings[0].format() == "agent.yaml:7: warning: DaemonSet/kube-system/agent: metadata.annotations.meridian.io/cluster-selector: "
                                "\"tier=gpu\" selects no cluster: the object is applied nowhere (clusters: core {tier=core}, edge-hz "
                                "{tier=edge,zone=hz-a}, edge-hz2 {tier=edge,zone=hz-b}, edge-sh {tier=edge})");
  const DesiredState desired = build_desired_state(*set, "owner");
  REQUIRE(desired.findings.size() == 1);
  CHECK(desired.findings[0].severity == Severity::warning);
  CHECK(std::none_of(desired.objects.begin(), desired.objects.end(), [](const DesiredObject& object) { return object.ref.kind == "DaemonSet"; }));
}

TEST_CASE("an unknown variable or a missing label is an error naming the object and the field", "[placement]") {
  const auto unknown = validate({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=edge", "${cluster.zone}")}});
  REQUIRE(unknown.size() == 1); // the same for every selected cluster: reported once
  CHECK(unknown[0].format() == "agent.yaml:17: DaemonSet/kube-system/agent: spec.template.spec.containers[0].env[0].value: unknown variable "
                               "${cluster.zone}: expected ${cluster.name}, ${cluster.region} or ${cluster.labels.<key>} (write $${ for a "
                               "literal ${)");
  const auto missing = validate({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=edge", "${cluster.labels.zone}")}});
  REQUIRE(missing.size() == 1); // edge-sh has no zone label
  CHECK(missing[0].format() == "agent.yaml:17: DaemonSet/kube-system/agent: spec.template.spec.containers[0].env[0].value: "
                               "${cluster.labels.zone}: cluster edge-sh has no label \"zone\"");
  const auto unterminated = validate({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=edge", "${cluster.name")}});
  REQUIRE(unterminated.size() == 1);
  CHECK(unterminated[0].message.find("unterminated variable \"${cluster.name\"") == 0);
  std::string named = agent("tier=edge");
  named.replace(named.find("name: agent\n"), 12, "name: agent-${cluster.name}\n");
  const auto identity = validate({{"clusters.yaml", kClusters}, {"agent.yaml", named}});
  REQUIRE(!identity.empty());
  CHECK(std::any_of(identity.begin(), identity.end(), [](const Finding& finding) {
    return finding.field == "metadata.name" && finding.message.find("variables are not substituted in apiVersion, kind, metadata.name") == 0;
  }));
}

TEST_CASE("labels substitute per cluster; variables outside selector objects are left alone", "[placement]") {
  std::string plain = agent("tier=edge", "${cluster.name}");
  plain.replace(plain.find("meridian.io/cluster-selector: \"tier=edge\""), 41, "meridian.io/cluster: core");
  const auto set = set_of({{"clusters.yaml", kClusters},
                           {"agent.yaml", agent("zone", "${cluster.labels.zone}")},
                           {"plain.yaml", [&] {
                              std::string text = plain;
                              text.replace(text.find("name: agent\n"), 12, "name: plain\n");
                              return text;
                            }()}});
  const auto findings = validate_manifests(*set);
  INFO(describe(findings));
  REQUIRE(findings.empty());
  const DesiredState desired = build_desired_state(*set, "owner");
  std::map<std::string, std::string> values;
  for (const DesiredObject& object : desired.objects)
    if (object.ref.kind == "DaemonSet")
      values[object.ref.cluster + "/" + object.ref.name] = text_at(*object.body, "/spec/template/spec/containers/0/env/0/value");
  CHECK(values == std::map<std::string, std::string>{{"core/plain", "${cluster.name}"}, {"edge-hz/agent", "hz-a"}, {"edge-hz2/agent", "hz-b"}});
}

TEST_CASE("a copy that collides with an object of the same identity in its cluster is a duplicate", "[placement]") {
  std::string plain = agent("tier=edge");
  plain.replace(plain.find("meridian.io/cluster-selector: \"tier=edge\""), 41, "meridian.io/cluster: edge-sh");
  const auto findings = validate({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=edge")}, {"one.yaml", plain}});
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].message == "duplicate definition in cluster edge-sh (selected by meridian.io/cluster-selector): also defined at one.yaml:1");
  // Two selector objects of one name over disjoint clusters are not duplicates.
  std::string core = agent("tier=core");
  const auto disjoint = validate({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=edge")}, {"core.yaml", core}});
  CHECK(disjoint.empty());
}

TEST_CASE("Meridian's own kinds are not placed: a selector on one is an error", "[placement]") {
  std::string clusters = kClusters;
  clusters.replace(clusters.find("  labels: {tier: core}\n"), 23, "  labels: {tier: core}\n  annotations: {meridian.io/cluster-selector: tier=edge}\n");
  const auto findings = validate({{"clusters.yaml", clusters}});
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].format() == "clusters.yaml:27: Cluster/core: metadata.annotations.meridian.io/cluster-selector: meridian.io/cluster-selector "
                                "places Kubernetes objects on clusters; a Cluster is not placed (remove the annotation)");
}

TEST_CASE("a Cluster's labels must be labels Kubernetes accepts", "[placement]") {
  std::string clusters = kClusters;
  clusters.replace(clusters.find("{tier: core}"), 12, "{tier: core stuff, \"bad key\": x}");
  const auto findings = validate({{"clusters.yaml", clusters}});
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].field == "metadata.labels.bad key");
  CHECK(findings[0].message.find("invalid label key \"bad key\"") == 0);
  CHECK(findings[1].field == "metadata.labels.tier");
  CHECK(findings[1].message.find("invalid label value \"core stuff\"") == 0);
}

TEST_CASE("an edit of a selector object is not made in place: the state is built in full", "[placement][edit]") {
  const auto set = set_of({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=edge")}});
  const DesiredState desired = build_desired_state(*set, "owner");
  const auto edited = set_of({{"clusters.yaml", kClusters}, {"agent.yaml", agent("tier=edge", "v2-${cluster.name}")}});
  ManifestEdit edit;
  const size_t index = set->manifests.size() - 1;
  edit.documents.push_back({index, edited->manifests[index], false});
  CHECK_FALSE(prepare_desired_edit(desired, *set, edit));
}

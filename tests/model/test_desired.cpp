// The desired-state model: dependency tiers, implicit and `meridian.io/depends-on` edges, cycles
// named in order, regions and region order, and how DaemonSets opt in to region-by-region rollouts.
#include "manifest/manifest.h"
#include "model/desired.h"
#include "validate/validate.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>

using namespace meridian;

namespace {

struct Loaded {
  std::unique_ptr<ManifestSet> set;
  DesiredState desired;
};

Loaded load(const std::vector<std::pair<std::string, std::string>>& files) {
  Loaded loaded;
  loaded.set = std::make_unique<ManifestSet>(manifests_from_texts(files));
  const auto findings = validate_manifests(*loaded.set);
  std::string text;
  for (const Finding& finding : findings)
    text += finding.format() + "\n";
  INFO(text);
  REQUIRE(is_valid(findings));
  loaded.desired = build_desired_state(*loaded.set, "owner");
  return loaded;
}

const DesiredObject& object(const DesiredState& desired, const std::string& kind, const std::string& name) {
  for (const DesiredObject& object : desired.objects)
    if (object.ref.kind == kind && object.ref.name == name)
      return object;
  FAIL("no object " << kind << "/" << name);
  throw std::logic_error("unreachable");
}

std::vector<std::string> displays(const std::vector<ObjectRef>& refs) {
  std::vector<std::string> out;
  for (const ObjectRef& ref : refs)
    out.push_back(ref.display());
  return out;
}

const char* clusters = R"(apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: hz
spec:
  type: Managed
  region: cn-hangzhou
---
apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: bj
spec:
  type: Managed
  region: cn-beijing
---
apiVersion: meridian.io/v1alpha1
kind: NodePool
metadata:
  name: hz-pool
spec:
  cluster: hz
  region: cn-hangzhou
  type: ess
  instanceTypes: [ecs.g7.large]
  desiredSize: 1
)";

const char* objects = R"(apiVersion: v1
kind: Namespace
metadata:
  name: apps
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: apps
data: {a: b}
---
apiVersion: scheduling.alibabacloud.com/v1alpha1
kind: ResourcePolicy
metadata:
  name: web
  namespace: apps
spec:
  selector: {app: web}
  strategy: prefer
  units:
    - resource: ecs
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
  annotations:
    meridian.io/depends-on: ConfigMap/settings, ResourcePolicy/web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1"}]
)";

} // namespace

TEST_CASE("kinds fall in dependency tiers: Cluster, NodePool, Namespace/CRD, config, workloads", "[model]") {
  CHECK(kind_tier("meridian.io", "Cluster") == 0);
  CHECK(kind_tier("meridian.io", "NodePool") == 1);
  CHECK(kind_tier("", "Namespace") == 2);
  CHECK(kind_tier("apiextensions.k8s.io", "CustomResourceDefinition") == 2);
  CHECK(kind_tier("scheduling.alibabacloud.com", "ResourcePolicy") == 3);
  CHECK(kind_tier("", "ConfigMap") == 3);
  CHECK(kind_tier("", "Secret") == 3);
  CHECK(kind_tier("", "Service") == 3);
  CHECK(kind_tier("apps", "Deployment") == 4);
  CHECK(kind_tier("apps", "DaemonSet") == 4);
  CHECK(kind_tier("apps.kruise.io", "DaemonSet") == 4);
  CHECK(kind_tier("", "Pod") == 4);
  CHECK(kind_tier("example.com", "Widget") == 4);
}

TEST_CASE("regions: the Fleet's list first, then the others alphabetically, each once", "[model]") {
  FleetSettings fleet;
  fleet.regions = {"cn-shanghai", "cn-hangzhou", "us-west-1"}; // us-west-1 has no change: left out
  CHECK(order_regions(fleet, {"cn-beijing", "cn-hangzhou", "cn-shenzhen", "cn-shanghai", "cn-hangzhou", "ap-southeast-1"}) ==
        std::vector<std::string>{"cn-shanghai", "cn-hangzhou", "ap-southeast-1", "cn-beijing", "cn-shenzhen"});
  CHECK(order_regions(FleetSettings{}, {"b", "a", "c"}) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("the Fleet object sets rollout, prune and ignoreDifferences", "[model]") {
  const auto loaded = load({{"clusters.yaml", clusters},
                            {"fleet.yaml", R"(apiVersion: meridian.io/v1alpha1
kind: Fleet
metadata:
  name: prod
spec:
  rollout:
    regions: [cn-beijing, cn-hangzhou]
    maxParallelRegions: 2
    haltOnFailure: false
    healthTimeout: 90s
  prune: true
  ignoreDifferences:
    - group: apps
      kind: Deployment
      name: web
      jsonPointers: [/spec/replicas]
)"}});
  const FleetSettings& fleet = loaded.desired.fleet;
  CHECK(fleet.name == "prod");
  CHECK(fleet.regions == std::vector<std::string>{"cn-beijing", "cn-hangzhou"});
  CHECK(fleet.max_parallel_regions == 2);
  CHECK_FALSE(fleet.halt_on_failure);
  CHECK(fleet.health_timeout == std::chrono::seconds(90));
  CHECK(fleet.prune);
  REQUIRE(fleet.ignore.size() == 1);
  CHECK(fleet.ignore[0].kind == "Deployment");
  CHECK(fleet.ignore[0].name == "web");
  CHECK(fleet.ignore[0].pointers == std::vector<std::string>{"/spec/replicas"});
}

TEST_CASE("objects get their tier, region and implicit and declared dependencies", "[model]") {
  const auto loaded = load({{"clusters.yaml", clusters}, {"clusters/hz/app.yaml", objects}});
  const DesiredState& desired = loaded.desired;
  REQUIRE(desired.findings.empty());
  CHECK(desired.owner == "owner");

  const DesiredObject& pool = object(desired, "NodePool", "hz-pool");
  CHECK(pool.tier == 1);
  CHECK(pool.region == "cn-hangzhou");
  CHECK(displays(pool.depends_on) == std::vector<std::string>{"Cluster/hz"});

  const DesiredObject& ns = object(desired, "Namespace", "apps");
  CHECK(ns.tier == 2);
  CHECK(ns.ref.cluster == "hz");
  CHECK(ns.ref.namespace_.empty());
  CHECK(ns.region == "cn-hangzhou"); // a Kubernetes object takes its cluster's region
  CHECK(displays(ns.depends_on) == std::vector<std::string>{"Cluster/hz"});

  const DesiredObject& config = object(desired, "ConfigMap", "settings");
  CHECK(config.tier == 3);
  CHECK(displays(config.depends_on) == std::vector<std::string>{"Cluster/hz", "Namespace/apps"});

  // The Deployment waits for its cluster, namespace, the cluster's node pools and what it names.
  const DesiredObject& web = object(desired, "Deployment", "web");
  CHECK(web.tier == 4);
  auto names = displays(web.depends_on);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"Cluster/hz", "ConfigMap/apps/settings", "Namespace/apps", "NodePool/hz-pool",
                                          "ResourcePolicy/apps/web"});

  // Every object carries the owner annotation in the body that is applied.
  for (const DesiredObject& object : desired.objects) {
    const Json* annotations = find_path(*object.body, "metadata.annotations");
    REQUIRE(annotations != nullptr);
    CHECK(string_member(*annotations, managed_by_annotation) == "owner");
  }
}

TEST_CASE("a dependency cycle is a finding that names the cycle in order", "[model]") {
  const auto loaded = load({{"clusters.yaml", clusters},
                            {"clusters/hz/cycle.yaml", R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  annotations:
    meridian.io/depends-on: ConfigMap/b
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
  annotations:
    meridian.io/depends-on: ConfigMap/c
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  annotations:
    meridian.io/depends-on: ConfigMap/a
data: {k: v}
)"}});
  const auto& findings = loaded.desired.findings;
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].severity == Severity::error);
  CHECK(findings[0].file == "clusters/hz/cycle.yaml");
  CHECK(findings[0].field == "metadata.annotations.meridian.io/depends-on");
  CHECK(findings[0].message ==
        "dependency cycle: ConfigMap/default/a → ConfigMap/default/b → ConfigMap/default/c → ConfigMap/default/a");
}

TEST_CASE("a depends-on entry that names nothing, or is malformed, is a finding", "[model]") {
  const auto loaded = load({{"clusters.yaml", clusters},
                            {"clusters/hz/bad.yaml", R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  annotations:
    meridian.io/depends-on: "ConfigMap/missing, nonsense"
data: {k: v}
)"}});
  const auto& findings = loaded.desired.findings;
  REQUIRE(findings.size() == 2);
  std::vector<std::string> messages = {findings[0].message, findings[1].message};
  std::sort(messages.begin(), messages.end());
  CHECK(messages[0] == "\"ConfigMap/missing\" names no object of the repository in cluster hz");
  CHECK(messages[1] == "\"nonsense\": expected Kind/name or Kind/namespace/name");
  CHECK(findings[0].line == 6);
}

TEST_CASE("DaemonSets opt in to region-by-region rollouts", "[model]") {
  const std::string ds = R"(apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: default
  annotations:
    meridian.io/rollout: by-region
spec:
  selector: {matchLabels: {app: agent}}
  updateStrategy: {type: RollingUpdate}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "agent:1"}]
)";
  const std::string plain = R"(apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: plain
  namespace: default
spec:
  selector: {matchLabels: {app: plain}}
  template:
    metadata: {labels: {app: plain}}
    spec:
      containers: [{name: plain, image: "plain:1"}]
)";
  const std::string kruise = R"(apiVersion: apps.kruise.io/v1alpha1
kind: DaemonSet
metadata:
  name: cache
  namespace: default
spec:
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers: [{name: cache, image: "cache:1"}]
)";
  const auto loaded = load({{"clusters.yaml", clusters}, {"clusters/hz/ds.yaml", ds + "---\n" + plain + "---\n" + kruise}});
  const DesiredObject& agent = object(loaded.desired, "DaemonSet", "agent");
  CHECK(agent.region_rollout == RegionRollout::on_delete);
  // Meridian replaces the pods itself: the controller must not (OnDelete, whatever Git says).
  CHECK(string_member(*find_path(*agent.body, "spec.updateStrategy"), "type") == "OnDelete");
  CHECK(object(loaded.desired, "DaemonSet", "plain").region_rollout == RegionRollout::none);
  CHECK(object(loaded.desired, "DaemonSet", "cache").region_rollout == RegionRollout::kruise_selector);
}

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

namespace {

//! The files of the `objects` fleet, with `prefix` in front of each (comments: the same documents).
std::vector<std::pair<std::string, std::string>> fleet_files(const std::string& prefix = "") {
  return {{"clusters.yaml", prefix + clusters}, {"clusters/hz/app.yaml", prefix + objects}};
}

std::unique_ptr<ManifestSet> fleet_set(const std::string& prefix, const std::string& commit, const std::string& summary) {
  auto set = std::make_unique<ManifestSet>(manifests_from_texts(fleet_files(prefix)));
  REQUIRE(set->findings.empty());
  set->repository = "https://git.example.com/fleet.git";
  set->commit.id = commit;
  set->commit.summary = summary;
  set->commit.time = 1700000000;
  return set;
}

} // namespace

TEST_CASE("rebase_desired_state moves a state onto another commit with the same documents", "[model][rebase]") {
  auto from = fleet_set("", std::string(40, '1'), "first");
  DesiredState built = build_desired_state(*from, "owner");
  REQUIRE(built.findings.empty());
  REQUIRE(built.objects.size() == 8);
  const uint64_t content_id = built.content_id;
  CHECK(content_id != 0);
  CHECK(built.commit.id == from->commit.id);

  // Comments and blank lines in front of every file: every document moves down.
  auto to = fleet_set("# the fleet\n\n", std::string(40, '2'), "comments only");
  to->commit.time = 1700000100;
  REQUIRE(same_documents(*from, *to));

  struct Before {
    ObjectRef ref;
    size_t position; //!< of the object's manifest in its set
    const JsonDocument* body;
    int line;
  };
  std::vector<Before> before;
  for (const DesiredObject& object : built.objects) {
    REQUIRE(object.manifest >= from->manifests.data());
    REQUIRE(object.manifest < from->manifests.data() + from->manifests.size());
    before.push_back({object.ref, static_cast<size_t>(object.manifest - from->manifests.data()), object.body.get(), object.manifest->line});
  }

  DesiredState state = std::move(built); // as the loop moves the last good state
  rebase_desired_state(state, *from, *to);
  CHECK(state.content_id == content_id);
  CHECK(state.commit.id == to->commit.id);
  CHECK(state.commit.summary == "comments only");
  CHECK(state.commit.time == 1700000100);
  CHECK(state.repository == to->repository);
  CHECK(state.owner == "owner");
  CHECK(state.clusters.size() == 2);
  REQUIRE(state.objects.size() == before.size());
  for (size_t i = 0; i < state.objects.size(); ++i) {
    const DesiredObject& object = state.objects[i];
    INFO(object.ref.key());
    CHECK(object.ref == before[i].ref);
    REQUIRE(object.manifest == &to->manifests[before[i].position]);
    CHECK(object.manifest->kind == object.ref.kind);
    CHECK(object.manifest->name == object.ref.name);
    CHECK(object.manifest->line == before[i].line + 2);
    CHECK(object.body.get() == before[i].body); // nothing rebuilt
    CHECK(state.find(object.ref) == &object);
  }
  // What a build on the new set would have made, but for the content id.
  const DesiredState fresh = build_desired_state(*to, "owner");
  CHECK(fresh.content_id != content_id);
  REQUIRE(fresh.objects.size() == state.objects.size());
  for (size_t i = 0; i < fresh.objects.size(); ++i) {
    INFO(fresh.objects[i].ref.key());
    CHECK(state.objects[i].manifest == fresh.objects[i].manifest);
    CHECK(json_equal(*state.objects[i].body, *fresh.objects[i].body));
    CHECK(state.objects[i].region == fresh.objects[i].region);
    CHECK(state.objects[i].depends_on == fresh.objects[i].depends_on);
  }
  CHECK(state.commit.id == fresh.commit.id);

  // The old set can go: nothing of the state points into it any more.
  from.reset();
  for (const DesiredObject& object : state.objects)
    CHECK(object.manifest->display_name().find(object.ref.name) != std::string::npos);

  SECTION("the repository and path come from the new set too") {
    auto moved = fleet_set("", std::string(40, '3'), "moved");
    moved->repository = "https://git.example.com/moved.git";
    moved->path = "fleet";
    rebase_desired_state(state, *to, *moved);
    CHECK(state.repository == "https://git.example.com/moved.git");
    CHECK(state.path == "fleet");
    CHECK(state.commit.id == std::string(40, '3'));
    CHECK(state.content_id == content_id);
    for (const DesiredObject& object : state.objects) {
      CHECK(object.manifest >= moved->manifests.data());
      CHECK(object.manifest < moved->manifests.data() + moved->manifests.size());
    }
  }
}

TEST_CASE("rebase_desired_state refuses sets of different sizes and leaves the state alone", "[model][rebase]") {
  auto from = fleet_set("", std::string(40, '1'), "first");
  DesiredState state = build_desired_state(*from, "owner");
  const std::vector<const Manifest*> manifests = [&] {
    std::vector<const Manifest*> out;
    for (const DesiredObject& object : state.objects)
      out.push_back(object.manifest);
    return out;
  }();
  auto fewer = std::make_unique<ManifestSet>(manifests_from_texts({{"clusters.yaml", clusters}}));
  fewer->commit.id = std::string(40, '2');
  CHECK_THROWS_AS(rebase_desired_state(state, *from, *fewer), std::logic_error);
  auto more = std::make_unique<ManifestSet>(
      manifests_from_texts({{"clusters.yaml", clusters}, {"clusters/hz/app.yaml", objects}, {"clusters/hz/extra.yaml", objects}}));
  more->commit.id = std::string(40, '3');
  CHECK_THROWS_AS(rebase_desired_state(state, *from, *more), std::logic_error);
  CHECK(state.commit.id == std::string(40, '1'));
  for (size_t i = 0; i < state.objects.size(); ++i)
    CHECK(state.objects[i].manifest == manifests[i]);
}

TEST_CASE("content_id names one build: every build gets its own, a move keeps it", "[model][rebase]") {
  const auto set = fleet_set("", std::string(40, '1'), "first");
  const DesiredState first = build_desired_state(*set, "owner");
  const DesiredState second = build_desired_state(*set, "owner");
  const DesiredState with_previous = build_desired_state(*set, "owner", &first);
  const DesiredState other_owner = build_desired_state(*set, "other");
  CHECK(first.content_id != 0);
  CHECK(second.content_id != 0);
  CHECK(first.content_id != second.content_id);
  CHECK(with_previous.content_id != first.content_id);
  CHECK(with_previous.content_id != second.content_id);
  CHECK(other_owner.content_id != first.content_id);
  CHECK(other_owner.content_id != second.content_id);
  CHECK(other_owner.content_id != with_previous.content_id);
  DesiredState copy = second;
  const DesiredState moved = std::move(copy);
  CHECK(moved.content_id == second.content_id);
  CHECK(DesiredState{}.content_id == 0);
}

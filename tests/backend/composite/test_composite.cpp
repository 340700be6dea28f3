// compose_backends over real simulators: a fleet simulator for Clusters and NodePools, one
// simulator per cluster for the objects inside it. Routing, the one clock, revisions made of the
// parts', forecasts by cluster, and a cluster that cannot be reached yet.
#include "../sim/sim_fixture.h"

#include "backend/composite.h"
#include "backend/forwarding.h"
#include "base/error.h"

#include <set>

using namespace sim_test;

namespace {

const ObjectRef kSettings{"idc-hybrid", "", "ConfigMap", "default", "settings"};
const ObjectRef kWeb{"idc-hybrid", "apps", "Deployment", "default", "web"};
const ObjectRef kHybrid{"", "meridian.io", "Cluster", "", "idc-hybrid"};
const ObjectRef kAbsentSettings{"absent", "", "ConfigMap", "default", "settings"};

std::shared_ptr<JsonDocument> configmap(const std::string& value) {
  return parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"default",
    "annotations":{"meridian.io/managed-by":"fleet","meridian.io/tracking-id":"idc-hybrid:/ConfigMap:default/settings"},
    "labels":{"meridian.io/owner":"fleet"}},"data":{"key":")" + value + R"("}})");
}

std::shared_ptr<JsonDocument> web(int replicas) {
  return parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
    "spec":{"replicas":)" + std::to_string(replicas) + R"(,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"web","image":"nginx:1.25","resources":{"requests":{"cpu":"100m"}}}]}}}})");
}

//! A simulator's view with the optional parts taken away: no revision, no forecaster.
class Plain final : public ForwardingBackend {
public:
  using ForwardingBackend::ForwardingBackend;
  Forecaster* forecaster() override { return nullptr; }
  std::optional<std::string> revision() override { return std::nullopt; }
};

//! idc-hybrid's objects in their own simulator; `absent` is never reachable. `replace()` hands out
//! a new backend for idc-hybrid (as ACK does after fetching a kubeconfig again).
class Clusters final : public ClusterBackends {
public:
  explicit Clusters(Backend& hybrid) : hybrid_(hybrid) {}
  Backend* backend_for(const std::string& cluster) override {
    ++asked;
    if (cluster != "idc-hybrid")
      return nullptr;
    if (plain)
      return plain.get();
    return &hybrid_;
  }
  std::vector<std::string> clusters(std::string_view) override { return {"absent", "idc-hybrid"}; }

  std::unique_ptr<Plain> plain; //!< when set, handed out instead of the simulator itself
  int asked = 0;

private:
  Backend& hybrid_;
};

struct Composed {
  Fleet fleet{"idc"};   //!< Clusters and NodePools
  Fleet hybrid{"idc"};  //!< idc-hybrid's Kubernetes objects
  Clusters* clusters = nullptr;
  std::unique_ptr<Backend> backend;

  Composed() {
    // The composite owns its fleet backend: a forwarding one in front of the fixture's simulator.
    auto owned = std::make_unique<Clusters>(*hybrid.sim);
    clusters = owned.get();
    backend = compose_backends("composed", std::make_unique<ForwardingBackend>(*fleet.sim), std::move(owned));
  }
};

std::set<std::string> keys(const std::vector<ObjectRef>& refs) {
  std::set<std::string> distinct;
  for (const ObjectRef& ref : refs)
    distinct.insert(ref.key());
  return distinct;
}

} // namespace

TEST_CASE("a composite routes fleet-level objects to the fleet backend and the rest to their cluster's", "[composite]") {
  Composed composed;
  Backend& backend = *composed.backend;
  CHECK(backend.name() == "composed");

  backend.apply(kSettings, *configmap("a"), false);
  CHECK(composed.hybrid.sim->get(kSettings) != nullptr);
  CHECK(composed.fleet.sim->get(kSettings) == nullptr);
  CHECK(backend.get(kSettings) != nullptr);
  CHECK(backend.get(kHybrid) != nullptr);
  CHECK(string_member(*find_member(*backend.get(kHybrid), "spec"), "region") == "cn-hangzhou");

  // The cluster's own Clusters are the fleet backend's to list: each Cluster once.
  std::vector<std::string> listed;
  for (const LiveObject& live : backend.list_managed("fleet"))
    listed.push_back(live.ref.key());
  CHECK(std::count(listed.begin(), listed.end(), kHybrid.key()) == 1);
  CHECK(std::count(listed.begin(), listed.end(), kSettings.key()) == 1);
  const auto live = backend.list_managed("fleet");
  CHECK(std::is_sorted(live.begin(), live.end(), [](const LiveObject& a, const LiveObject& b) { return a.ref < b.ref; }));

  backend.remove(kSettings, false);
  CHECK(composed.hybrid.sim->get(kSettings) == nullptr);
}

TEST_CASE("a composite keeps one clock, the fleet backend's", "[composite]") {
  Composed composed;
  composed.backend->wait(std::chrono::seconds(10));
  CHECK(composed.backend->now_ms() == 10'000);
  CHECK(composed.fleet.sim->now_ms() == 10'000);
  CHECK(composed.hybrid.sim->now_ms() == 0);
}

TEST_CASE("a cluster that cannot be reached reads as absent and refuses writes", "[composite]") {
  Composed composed;
  Backend& backend = *composed.backend;
  CHECK(backend.get(kAbsentSettings) == nullptr);
  CHECK(backend.apply(kAbsentSettings, *configmap("a"), true) == nullptr);
  try {
    backend.apply(kAbsentSettings, *configmap("a"), false);
    FAIL("applied to an unreachable cluster");
  } catch (const TransientError& error) {
    CHECK(std::string(error.what()) == "ConfigMap/default/settings (cluster absent): the cluster is not running yet");
  }
  const Health health = backend.health(kAbsentSettings);
  CHECK(health.status == HealthStatus::missing);
  CHECK(health.message == "cluster absent is not running yet");
  CHECK(backend.placements(kAbsentSettings).empty());
  CHECK_FALSE(backend.namespace_contents("absent", "default"));
}

TEST_CASE("a composite's revision is made of its parts' and names the changes of each", "[composite]") {
  Composed composed;
  Backend& backend = *composed.backend;
  // Read the fleet (a simulator names its writes once it has loaded it), and through idc-hybrid's
  // backend, which makes it a part.
  backend.health(kHybrid);
  backend.health(kSettings);
  const std::optional<std::string> before = backend.revision();
  REQUIRE(before);
  CHECK(backend.revision() == before);

  backend.apply(kSettings, *configmap("a"), false);
  const std::optional<std::string> after = backend.revision();
  REQUIRE(after);
  CHECK(after != before);
  const auto changes = backend.changes_since(*before);
  REQUIRE(changes);
  CHECK(keys(*changes) == std::set<std::string>{kSettings.key()});
  CHECK(backend.changes_since("not a revision") == std::nullopt);

  SECTION("a write behind the composite's back in the fleet backend moves it too") {
    composed.fleet.sim->apply_foreign(kSettings, *configmap("b"));
    CHECK(backend.revision() != after);
  }
  SECTION("a new backend for a cluster: what was read at an older revision no longer holds") {
    composed.clusters->plain = std::make_unique<Plain>(*composed.hybrid.sim);
    backend.get(kSettings);
    CHECK(backend.revision() == std::nullopt); // the new part has none
    CHECK(backend.changes_since(*after) == std::nullopt);
  }
}

TEST_CASE("a composite forecasts each cluster's changes with that cluster's forecaster", "[composite]") {
  Composed composed;
  Backend& backend = *composed.backend;
  Forecaster* forecaster = backend.forecaster();
  REQUIRE(forecaster != nullptr);
  const auto scaled = web(2);
  const auto forecasts = forecaster->predict({{kWeb, scaled.get()}});
  REQUIRE(forecasts.size() == 1);
  CHECK(forecasts[0].workload == kWeb);
  CHECK(forecasts[0].pods == 2);
  // Nothing applied: the forecast changed no live state.
  CHECK(composed.hybrid.sim->get(kWeb) == nullptr);

  composed.clusters->plain = std::make_unique<Plain>(*composed.hybrid.sim);
  CHECK(forecaster->predict({{kWeb, scaled.get()}}).empty()); // a cluster backend that cannot forecast
  CHECK(forecaster->predict({{{"absent", "apps", "Deployment", "default", "web"}, scaled.get()}}).empty());
}

TEST_CASE("node regions come from the cluster's backend, else from the fleet backend", "[composite]") {
  Composed composed;
  CHECK(composed.backend->node_regions("idc-hybrid") == composed.hybrid.sim->node_regions("idc-hybrid"));
  CHECK(composed.backend->node_regions("absent").empty());
  // No backend for idc-cluster's objects: the fleet backend's regions of it.
  CHECK(composed.backend->node_regions("idc-cluster") == std::vector<std::string>{"cn-zhangjiakou"});
}

TEST_CASE("a composite told not to forecast in clusters forecasts only through its fleet backend", "[composite]") {
  Fleet fleet("idc");
  Fleet hybrid("idc");
  CompositeOptions options;
  options.forecast_in_clusters = false;
  const auto scaled = web(2);

  auto with_forecaster = compose_backends("composed", std::make_unique<ForwardingBackend>(*fleet.sim),
                                          std::make_unique<Clusters>(*hybrid.sim), options);
  REQUIRE(with_forecaster->forecaster() != nullptr);
  CHECK(with_forecaster->forecaster()->predict({{kWeb, scaled.get()}}).empty());

  auto without = compose_backends("composed", std::make_unique<Plain>(*fleet.sim), std::make_unique<Clusters>(*hybrid.sim), options);
  CHECK(without->forecaster() == nullptr);
}

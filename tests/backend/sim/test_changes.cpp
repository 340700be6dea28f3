// Simulator::changes_since: the objects this connection wrote after a revision, as long as it can
// tell (its fleet was loaded at or before that revision and nobody else has written since), and
// nullopt otherwise. Reads never add to it; an apply after reads writes only what it applied.
#include "sim_fixture.h"

#include "base/error.h"

#include <set>

using namespace sim_test;

namespace {

const ObjectRef kSettings{"idc-hybrid", "", "ConfigMap", "default", "settings"};
const ObjectRef kFlags{"idc-hybrid", "", "ConfigMap", "default", "flags"};
const ObjectRef kAbsent{"idc-hybrid", "", "ConfigMap", "default", "absent"};
const ObjectRef kWeb{"idc-hybrid", "apps", "Deployment", "default", "web"};

std::shared_ptr<JsonDocument> configmap(const std::string& name, const std::string& value) {
  return parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","namespace":"default"},"data":{"key":")" +
               value + R"("}})");
}

std::shared_ptr<JsonDocument> web(int replicas) {
  return parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
    "spec":{"replicas":)" + std::to_string(replicas) + R"(,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"web","image":"nginx:1.25","resources":{"requests":{"cpu":"100m"}}}]}}}})");
}

std::string revision_of(sim::Simulator& sim) {
  const auto revision = sim.revision();
  REQUIRE(revision);
  REQUIRE_FALSE(revision->empty());
  return *revision;
}

//! The revisions before and after one write of this connection.
struct Write {
  std::string before;
  std::string after;
};

//! This connection applies the ConfigMap settings with data.key "a": the revision moves and
//! changes_since(before) is known (both REQUIREd).
Write write_settings(sim::Simulator& sim) {
  const std::string before = revision_of(sim);
  sim.apply(kSettings, *configmap("settings", "a"), false);
  const std::string after = revision_of(sim);
  REQUIRE(after != before);
  REQUIRE(sim.changes_since(before));
  return {before, after};
}

//! The distinct keys of `refs`, sorted.
std::vector<std::string> keys(const std::vector<ObjectRef>& refs) {
  std::set<std::string> distinct;
  for (const ObjectRef& ref : refs)
    distinct.insert(ref.key());
  return {distinct.begin(), distinct.end()};
}

//! changes_since(revision), REQUIREd known, as distinct sorted keys.
std::vector<std::string> changed_keys(sim::Simulator& sim, const std::string& revision) {
  const auto changes = sim.changes_since(revision);
  INFO("since revision " << revision);
  REQUIRE(changes);
  return keys(*changes);
}

//! Every object of the simulator with its metadata.resourceVersion, by key.
std::map<std::string, std::string> resource_versions(sim::Simulator& sim) {
  std::map<std::string, std::string> versions;
  sim.visit_managed("", [&](LiveObject&& live) { versions[live.ref.key()] = text_of(*live.object, "/metadata/resourceVersion"); });
  return versions;
}

} // namespace

TEST_CASE("changes_since names the objects written after the revision asked about", "[sim][changes]") {
  Fleet fleet("idc");
  sim::Simulator& sim = *fleet.sim;
  const auto [r0, r1] = write_settings(sim);
  CHECK(changed_keys(sim, r0) == keys({kSettings}));
  const auto now = sim.changes_since(r1);
  REQUIRE(now);
  CHECK(now->empty());

  sim.apply(kFlags, *configmap("flags", "a"), false);
  const std::string r2 = revision_of(sim);
  sim.remove(kSettings, false);
  const std::string r3 = revision_of(sim);
  REQUIRE(sim.get(kSettings) == nullptr);
  CHECK(changed_keys(sim, r0) == keys({kSettings, kFlags}));
  CHECK(changed_keys(sim, r1) == keys({kSettings, kFlags}));
  CHECK(changed_keys(sim, r2) == keys({kSettings}));
  CHECK(changed_keys(sim, r3).empty());
  const auto all = sim.changes_since(r0);
  REQUIRE(all);
  CHECK(std::count(all->begin(), all->end(), kSettings) >= 1);

  SECTION("an apply that changes nothing writes nothing") {
    sim.apply(kFlags, *configmap("flags", "a"), false);
    CHECK(revision_of(sim) == r3);
    CHECK(changed_keys(sim, r3).empty());
    sim.remove(kAbsent, false); // already gone: a no-op
    CHECK(revision_of(sim) == r3);
    CHECK(changed_keys(sim, r3).empty());
  }
  SECTION("writes of every kind are named") {
    sim.apply_foreign(kFlags, *configmap("flags", "b"));
    const std::string r4 = revision_of(sim);
    CHECK(changed_keys(sim, r3) == keys({kFlags}));
    sim.delete_foreign(kFlags);
    CHECK(changed_keys(sim, r4) == keys({kFlags}));
    CHECK(changed_keys(sim, r0) == keys({kSettings, kFlags}));
  }
}

TEST_CASE("changes_since does not know revisions from before its fleet was loaded", "[sim][changes]") {
  Fleet fleet("idc"); // the fixture was written before any other call
  sim::Simulator& sim = *fleet.sim;
  const std::string loaded = revision_of(sim);
  CHECK_FALSE(sim.changes_since("0"));

  sim.apply(kSettings, *configmap("settings", "a"), false);
  CHECK(changed_keys(sim, loaded) == keys({kSettings}));
  CHECK_FALSE(sim.changes_since("0"));
  CHECK_FALSE(sim.changes_since(std::to_string(std::stoll(loaded) - 1)));

  // Another instance opened on the file later loads its fleet at a later revision.
  sim::Simulator later((fleet.dir.path / "sim.db").string());
  const std::string opened = revision_of(later);
  CHECK(opened == revision_of(sim));
  CHECK_FALSE(later.changes_since(opened)); // nothing loaded yet: nothing known
  CHECK(later.health(kSettings).status == HealthStatus::healthy);
  CHECK(changed_keys(later, opened).empty());
  CHECK_FALSE(later.changes_since(loaded)); // obtained from the first instance before this one loaded
  CHECK_FALSE(later.changes_since("0"));
  later.apply(kFlags, *configmap("flags", "a"), false);
  CHECK(changed_keys(later, opened) == keys({kFlags}));
  CHECK_FALSE(later.changes_since(loaded));
}

TEST_CASE("changes_since of a revision that is not a number is unknown", "[sim][changes]") {
  Fleet fleet("idc");
  sim::Simulator& sim = *fleet.sim;
  const std::string r0 = write_settings(sim).before; // known, so only the text below makes the difference
  for (const std::string& text : {std::string(), std::string("abc"), r0 + "x", r0 + ".0", std::string("0x") + r0, std::string("-")}) {
    INFO("revision \"" << text << "\"");
    CHECK_FALSE(sim.changes_since(text));
  }
}

TEST_CASE("changes_since is unknown once another connection has written", "[sim][changes]") {
  Fleet fleet("idc");
  sim::Simulator& sim = *fleet.sim;
  const auto [r0, r1] = write_settings(sim);

  sim::Simulator other((fleet.dir.path / "sim.db").string());
  other.apply_foreign(kFlags, *configmap("flags", "foreign"));
  const std::string r2 = revision_of(sim);
  REQUIRE(r2 != r1);
  CHECK(changed_keys(other, r1) == keys({kFlags})); // the writer knows its own write
  CHECK_FALSE(sim.changes_since(r0));
  CHECK_FALSE(sim.changes_since(r1));
  CHECK_FALSE(sim.changes_since(r2));

  // A read loads the fleet again: from there on this connection knows again, but not before.
  CHECK(sim.health(kFlags).status == HealthStatus::healthy);
  CHECK(changed_keys(sim, r2).empty());
  CHECK_FALSE(sim.changes_since(r1));
  sim.apply(kSettings, *configmap("settings", "b"), false);
  CHECK(changed_keys(sim, r2) == keys({kSettings}));
  CHECK_FALSE(other.changes_since(r1)); // and now the other connection no longer knows
}

TEST_CASE("changes_since names what the controllers wrote on wait", "[sim][changes]") {
  Fleet fleet("idc");
  sim::Simulator& sim = *fleet.sim;
  sim.apply(kWeb, *web(2), false);
  const std::string applied = revision_of(sim);
  sim.wait(20s); // the Deployment controller, scheduler and kubelet act
  REQUIRE(revision_of(sim) != applied);
  const std::vector<std::string> written = changed_keys(sim, applied);
  const auto named = [&](const ObjectRef& ref) { return std::binary_search(written.begin(), written.end(), ref.key()); };
  CHECK(named(kWeb)); // its status
  const std::vector<LiveObject> sets = sim.list("replicasets", "idc-hybrid", "default");
  REQUIRE(sets.size() == 1);
  CHECK(named(sets[0].ref));
  const std::vector<LiveObject> pods = sim.list("pods", "idc-hybrid", "default");
  REQUIRE(pods.size() == 2);
  for (const LiveObject& pod : pods) {
    INFO(pod.ref.key());
    CHECK(named(pod.ref));
  }
  for (const std::string& key : written) {
    INFO(key);
    CHECK(key.rfind("idc-hybrid/", 0) == 0); // nothing of the other cluster moved
  }

  // Time passing on a settled fleet writes nothing.
  const std::string settled = revision_of(sim);
  sim.wait(10s);
  CHECK(revision_of(sim) == settled);
  CHECK(changed_keys(sim, settled).empty());

  // Scaling down: the pod that goes is named as well.
  sim.apply(kWeb, *web(1), false);
  const std::string scaled = revision_of(sim);
  sim.wait(20s);
  const std::vector<std::string> after_scale = changed_keys(sim, scaled);
  CHECK(sim.list("pods", "idc-hybrid", "default").size() == 1);
  const bool gone_named = std::any_of(pods.begin(), pods.end(), [&](const LiveObject& pod) {
    return sim.get(pod.ref) == nullptr && std::binary_search(after_scale.begin(), after_scale.end(), pod.ref.key());
  });
  CHECK(gone_named);
}

TEST_CASE("changes_since names the cloud's writes to clusters, pools and nodes", "[sim][changes]") {
  Fleet fleet; // empty: Meridian creates the cluster
  sim::Simulator& sim = *fleet.sim;
  sim.apply(cluster_ref("hz"), *parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"Cluster","metadata":{"name":"hz"},
                                         "spec":{"type":"Managed","region":"cn-hangzhou"}})"),
            false);
  const std::string created = revision_of(sim);
  sim.apply(pool_ref("hz-pool"), *parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"NodePool","metadata":{"name":"hz-pool"},
    "spec":{"cluster":"hz","region":"cn-hangzhou","type":"ess","instanceTypes":["ecs.g7.large"],"desiredSize":1}})"),
            false);
  CHECK(changed_keys(sim, created) == keys({pool_ref("hz-pool")}));
  const std::string pooled = revision_of(sim);
  sim.wait(3min);
  REQUIRE(sim.health(cluster_ref("hz")).status == HealthStatus::healthy);
  REQUIRE(sim.health(pool_ref("hz-pool")).status == HealthStatus::healthy);
  const std::vector<std::string> written = changed_keys(sim, pooled);
  const auto named = [&](const ObjectRef& ref) { return std::binary_search(written.begin(), written.end(), ref.key()); };
  CHECK(named(cluster_ref("hz")));
  CHECK(named(pool_ref("hz-pool")));
  const std::vector<LiveObject> nodes = fleet.nodes("hz");
  REQUIRE(nodes.size() == 1);
  CHECK(named(nodes[0].ref));
}

TEST_CASE("changes_since is unknown for revisions before init or reset", "[sim][changes]") {
  Fleet fleet("idc");
  sim::Simulator& sim = *fleet.sim;
  const std::string before = write_settings(sim).after;
  REQUIRE(sim.changes_since(before));

  SECTION("reset") { sim.reset(); }
  SECTION("init with another fixture") { sim.init(slurp(source_path("examples/fixtures/edge.yaml")), "edge.yaml"); }

  const std::string after = revision_of(sim);
  CHECK(after != before);
  CHECK_FALSE(sim.changes_since(before));
  const auto current = sim.changes_since(after);
  CHECK((!current || current->empty()));
  CHECK(sim.get(kSettings) == nullptr);
  // Once loaded again, only revisions from the load on are known.
  CHECK(sim.node_regions("no-such-cluster").empty());
  CHECK(changed_keys(sim, after).empty());
  CHECK_FALSE(sim.changes_since(before));
}

TEST_CASE("changes_since is unknown after a write that failed and was rolled back", "[sim][changes]") {
  Fleet fleet("idc");
  sim::Simulator& sim = *fleet.sim;
  const auto [r0, r1] = write_settings(sim);

  SECTION("deleting what is not there") { CHECK_THROWS_AS(sim.delete_foreign(kAbsent), UserError); }
  SECTION("applying to a cluster that does not exist") {
    CHECK_THROWS_AS(sim.apply({"nowhere", "", "ConfigMap", "default", "settings"}, *configmap("settings", "a"), false), UserError);
  }

  CHECK(revision_of(sim) == r1);
  CHECK_FALSE(sim.changes_since(r0));
  CHECK_FALSE(sim.changes_since(r1));
  CHECK(text_of(*sim.get(kSettings), "/data/key") == "a"); // the write before the failure stays
  sim.apply(kFlags, *configmap("flags", "a"), false);      // loads the fleet again
  CHECK(changed_keys(sim, r1) == keys({kFlags}));
  CHECK_FALSE(sim.changes_since(r0));
}

TEST_CASE("reads add nothing to changes_since, and an apply after them writes only what it applied", "[sim][changes]") {
  Fleet fleet("idc");
  sim::Simulator& sim = *fleet.sim;
  sim.apply(kSettings, *configmap("settings", "a"), false);
  sim.apply(kWeb, *web(2), false);
  sim.wait(20s);
  REQUIRE(sim.health(kWeb).status == HealthStatus::healthy);
  const std::string r0 = revision_of(sim);
  const std::map<std::string, std::string> versions = resource_versions(sim);
  REQUIRE(versions.size() >= 10); // clusters, nodes, the ConfigMap, the Deployment, its ReplicaSet and pods

  // Every kind of read, several times over, as health gates and status polls do.
  for (int poll = 0; poll < 5; ++poll) {
    CHECK(sim.health(kWeb).status == HealthStatus::healthy);
    CHECK(sim.health(kSettings).status == HealthStatus::healthy);
    CHECK(sim.health(cluster_ref("idc-hybrid")).status == HealthStatus::healthy);
    CHECK(sim.health(kAbsent).status == HealthStatus::missing);
    CHECK(sim.placements(kWeb).size() == 2);
    CHECK(sim.node_regions("idc-hybrid") == std::vector<std::string>{"cn-hangzhou"});
    CHECK(sim.get(kSettings) != nullptr);
    CHECK(sim.now_ms() >= 20000);
  }
  CHECK(sim.list_managed("/fleet/repo").size() == 2); // the two Registered clusters
  auto scaled = web(3);
  CHECK(sim.predict({{kWeb, scaled.get()}}).size() == 1);
  CHECK(text_of(*sim.apply(kSettings, *configmap("settings", "dry"), true), "/data/key") == "dry");
  sim.remove(kSettings, true);
  CHECK_FALSE(sim.list("pods", "idc-hybrid", "default").empty());
  CHECK_FALSE(sim.describe(kWeb).empty());
  CHECK_FALSE(sim.events(nullptr).empty());

  CHECK(revision_of(sim) == r0);
  CHECK(changed_keys(sim, r0).empty());
  CHECK(resource_versions(sim) == versions);

  // The next apply writes its object only: no other resourceVersion moves.
  sim.apply(kSettings, *configmap("settings", "b"), false);
  CHECK(changed_keys(sim, r0) == keys({kSettings}));
  std::map<std::string, std::string> after = resource_versions(sim);
  CHECK(after.at(kSettings.key()) != versions.at(kSettings.key()));
  after.erase(kSettings.key());
  std::map<std::string, std::string> others = versions;
  others.erase(kSettings.key());
  CHECK(after == others);
  CHECK(text_of(*sim.get(kSettings), "/data/key") == "b");
}

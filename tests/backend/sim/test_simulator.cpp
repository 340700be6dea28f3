// The simulator's rules one by one: server-side apply, cloud lifecycles, controllers, health,
// queries and what `meridian sim` prints.
#include "sim_fixture.h"

#include "base/error.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <regex>
#include <set>

using namespace sim_test;

namespace {

const ObjectRef kConfig{"edge-central", "", "ConfigMap", "default", "settings"};

std::shared_ptr<JsonDocument> config(const std::string& data, const std::string& extra_metadata = "") {
  return parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"default")" + extra_metadata +
               R"(},"data":)" + data + "}");
}

//! The edge fleet of examples/edge-daemonset, running, with the DaemonSet rolled out.
struct EdgeFleet : Fleet {
  std::map<std::string, Manifest> manifests;
  explicit EdgeFleet(const std::string& example = "edge-daemonset") : Fleet("edge") {
    manifests = apply_example(example);
    sim->wait(std::chrono::seconds(30));
  }
};

//! Pods that are not Terminating.
std::vector<LiveObject> daemon_pods(Fleet& fleet, const std::string& ns) {
  std::vector<LiveObject> pods;
  for (LiveObject& pod : fleet.pods("edge-central", ns)) {
    if (find_pointer(*pod.object, "/metadata/deletionTimestamp") == nullptr)
      pods.push_back(std::move(pod));
  }
  return pods;
}

int count_with_image(const std::vector<LiveObject>& pods, const std::string& image) {
  return static_cast<int>(std::count_if(pods.begin(), pods.end(), [&](const LiveObject& pod) {
    return text_of(*pod.object, "/spec/containers/0/image") == image;
  }));
}

int count_available(const std::vector<LiveObject>& pods) {
  return static_cast<int>(std::count_if(pods.begin(), pods.end(), [](const LiveObject& pod) {
    return text_of(*pod.object, "/status/phase") == "Running";
  }));
}

std::string node_region(Fleet& fleet, const std::string& node) {
  const auto object = fleet.sim->get({"edge-central", "", "Node", "", node});
  return object ? label(*object, "topology.kubernetes.io/region") : std::string();
}

} // namespace

// ---- server-side apply ----

TEST_CASE("apply creates with server fields and returns the live object", "[apply]") {
  EdgeFleet fleet;
  const auto live = fleet.sim->apply(kConfig, *config(R"({"a":"1"})"), false);
  REQUIRE(live);
  CHECK(text_of(*live, "/metadata/uid").size() == 36);
  CHECK_FALSE(text_of(*live, "/metadata/resourceVersion").empty());
  CHECK_FALSE(text_of(*live, "/metadata/creationTimestamp").empty());
  CHECK(text_of(*live, "/data/a") == "1");
  const auto stored = fleet.sim->get(kConfig);
  REQUIRE(stored);
  CHECK(json_equal(*stored, *live));
}

TEST_CASE("re-applying without a field removes it; fields of other managers stay", "[apply]") {
  EdgeFleet fleet;
  fleet.sim->apply(kConfig, *config(R"({"a":"1","b":"2"})"), false);
  fleet.sim->apply_foreign(kConfig, *config(R"({"c":"3"})"));
  const auto live = fleet.sim->apply(kConfig, *config(R"({"a":"1"})"), false);
  CHECK(text_of(*live, "/data/a") == "1");
  CHECK(find_pointer(*live, "/data/b") == nullptr); // Meridian applied it before and no longer does
  CHECK(text_of(*live, "/data/c") == "3");           // owned by another manager: kept
  // Drift on a field Meridian owns is overwritten by the next apply.
  fleet.sim->apply_foreign(kConfig, *config(R"({"a":"changed"})"));
  CHECK(text_of(*fleet.sim->get(kConfig), "/data/a") == "changed");
  CHECK(text_of(*fleet.sim->apply(kConfig, *config(R"({"a":"1"})"), false), "/data/a") == "1");
  // Removing a label Meridian set.
  fleet.sim->apply(kConfig, *config(R"({"a":"1"})", R"(,"labels":{"x":"1","y":"2"})"), false);
  const auto relabelled = fleet.sim->apply(kConfig, *config(R"({"a":"1"})", R"(,"labels":{"x":"1"})"), false);
  CHECK(text_of(*relabelled, "/metadata/labels/x") == "1");
  CHECK(find_pointer(*relabelled, "/metadata/labels/y") == nullptr);
}

TEST_CASE("metadata.generation bumps on spec changes only; observedGeneration follows the controller", "[apply]") {
  EdgeFleet fleet;
  const Manifest ds = fleet.manifests.at("DaemonSet/security-agent");
  auto live = fleet.sim->get(ds.ref);
  CHECK(int_of(*live, "/metadata/generation") == 1);
  CHECK(int_of(*live, "/status/observedGeneration") == 1);
  CHECK(int_of(*fleet.sim->apply(ds.ref, *ds.object, false), "/metadata/generation") == 1); // unchanged
  const auto labelled = edited(*ds.object, R"("labels":{"app":"security-agent"},"annotations")",
                               R"("labels":{"app":"security-agent","team":"sec"},"annotations")");
  CHECK(int_of(*fleet.sim->apply(ds.ref, *labelled, false), "/metadata/generation") == 1); // metadata only
  const auto upgraded = edited(*labelled, "security-agent:v1.0.0", "security-agent:v1.1.0");
  live = fleet.sim->apply(ds.ref, *upgraded, false);
  CHECK(int_of(*live, "/metadata/generation") == 2);
  CHECK(int_of(*live, "/status/observedGeneration") == 1);
  CHECK(fleet.sim->health(ds.ref).message == "Waiting for daemon set spec update to be observed...");
  fleet.sim->wait(1s);
  CHECK(int_of(*fleet.sim->get(ds.ref), "/status/observedGeneration") == 2);
}

TEST_CASE("dry run computes the result and changes nothing", "[apply]") {
  EdgeFleet fleet;
  const auto preview = fleet.sim->apply(kConfig, *config(R"({"a":"1"})"), true);
  CHECK(text_of(*preview, "/data/a") == "1");
  CHECK(fleet.sim->get(kConfig) == nullptr);
  fleet.sim->apply(kConfig, *config(R"({"a":"1"})"), false);
  const std::string version = text_of(*fleet.sim->get(kConfig), "/metadata/resourceVersion");
  CHECK(text_of(*fleet.sim->apply(kConfig, *config(R"({"a":"2"})"), true), "/data/a") == "2");
  CHECK(text_of(*fleet.sim->get(kConfig), "/data/a") == "1");
  CHECK(text_of(*fleet.sim->get(kConfig), "/metadata/resourceVersion") == version);
  const Manifest ds = fleet.manifests.at("DaemonSet/security-agent");
  const auto upgraded = edited(*ds.object, "v1.0.0", "v2.0.0");
  CHECK(int_of(*fleet.sim->apply(ds.ref, *upgraded, true), "/metadata/generation") == 2);
  CHECK(int_of(*fleet.sim->get(ds.ref), "/metadata/generation") == 1);
  fleet.sim->remove(kConfig, true);
  CHECK(fleet.sim->get(kConfig) != nullptr);
  fleet.sim->remove(pool_ref("edge-beijing"), true);
  CHECK(text_of(*fleet.sim->get(pool_ref("edge-beijing")), "/status/state") == "active");
}

TEST_CASE("objects need their cluster and namespace to exist", "[apply]") {
  EdgeFleet fleet;
  const ObjectRef nowhere{"atlantis", "", "ConfigMap", "default", "settings"};
  CHECK_THROWS_WITH(fleet.sim->apply(nowhere, *config("{}"), false), "ConfigMap/default/settings: cluster atlantis does not exist");
  const ObjectRef missing_ns{"edge-central", "", "ConfigMap", "payments", "settings"};
  CHECK_THROWS_WITH(fleet.sim->apply(missing_ns, *edited(*config("{}"), "default", "payments"), false),
                    "ConfigMap/payments/settings: namespaces \"payments\" not found in cluster edge-central");
}

TEST_CASE("list_managed returns owned objects plus every Cluster and NodePool", "[apply]") {
  EdgeFleet fleet;
  fleet.sim->apply(kConfig, *config("{}", R"(,"annotations":{"meridian.io/managed-by":"fleet-a"})"), false);
  const ObjectRef other{"edge-central", "", "ConfigMap", "default", "other"};
  fleet.sim->apply(other, *edited(*config("{}", R"(,"annotations":{"meridian.io/managed-by":"fleet-b"})"), "settings", "other"), false);
  std::vector<std::string> keys;
  for (const LiveObject& object : fleet.sim->list_managed("fleet-a"))
    keys.push_back(object.ref.display());
  CHECK(keys == std::vector<std::string>{"Cluster/edge-central", "NodePool/edge-beijing", "NodePool/edge-hangzhou",
                                         "NodePool/edge-shanghai", "ConfigMap/default/settings"});
}

TEST_CASE("visit_managed streams every owned object once, in the order of the rows, and stops cleanly", "[apply]") {
  // More objects than one batch of the reading thread (64), so several batches cross the queue.
  EdgeFleet fleet;
  for (int i = 0; i < 300; ++i) {
    const std::string name = fmt::format("cm-{:03}", i);
    fleet.sim->apply({"edge-central", "", "ConfigMap", "default", name},
                     *edited(*config("{}", R"(,"annotations":{"meridian.io/managed-by":"fleet-a"})"), "settings", name), false);
  }
  std::vector<std::string> visited;
  fleet.sim->visit_managed("fleet-a", [&](LiveObject&& live) { visited.push_back(live.ref.display()); });
  std::vector<std::string> listed;
  for (const LiveObject& object : fleet.sim->list_managed("fleet-a"))
    listed.push_back(object.ref.display());
  CHECK(visited.size() == 304); // 300 ConfigMaps, the Cluster, 3 NodePools
  std::vector<std::string> sorted = visited;
  std::sort(sorted.begin(), sorted.end());
  std::sort(listed.begin(), listed.end());
  CHECK(sorted == listed);
  CHECK(std::set<std::string>(visited.begin(), visited.end()).size() == visited.size());

  // A visitor that throws stops the reading thread; the error reaches the caller and the
  // simulator serves the next call.
  int seen = 0;
  CHECK_THROWS_WITH(fleet.sim->visit_managed("fleet-a",
                                             [&](LiveObject&&) {
                                               if (++seen == 100)
                                                 throw UserError("visitor gave up");
                                             }),
                    "visitor gave up");
  CHECK(seen == 100);
  CHECK(fleet.sim->list_managed("fleet-a").size() == 304);

  // A corrupt row: one line naming the file and the object, from the reading thread.
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open((fleet.dir.path / "sim.db").string().c_str(), &raw) == SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
    REQUIRE(sqlite3_exec(db.get(), "UPDATE objects SET body = '{\"metadata\": {\"annotations\": {\"meridian.io/managed-by\": ' WHERE name = 'cm-150'",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  CHECK_THROWS_WITH(fleet.sim->visit_managed("fleet-a", [](LiveObject&&) {}),
                    Catch::Contains("object edge-central//ConfigMap/default/cm-150: corrupt JSON"));
}

// ---- cloud layer ----

TEST_CASE("a cluster is initial for about a minute, then running", "[cloud]") {
  Fleet fleet("edge");
  const auto cluster = parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"Cluster","metadata":{"name":"c1"},
    "spec":{"type":"Managed","region":"cn-shanghai","kubernetesVersion":"1.30.7-aliyun.1"}})");
  auto live = fleet.sim->apply(cluster_ref("c1"), *cluster, false);
  CHECK(text_of(*live, "/status/state") == "initial");
  CHECK(fleet.sim->health(cluster_ref("c1")).status == HealthStatus::progressing);
  fleet.sim->wait(59s);
  CHECK(text_of(*fleet.sim->get(cluster_ref("c1")), "/status/state") == "initial");
  fleet.sim->wait(1s);
  CHECK(text_of(*fleet.sim->get(cluster_ref("c1")), "/status/state") == "running");
  CHECK(fleet.sim->health(cluster_ref("c1")).status == HealthStatus::healthy);
  CHECK(fleet.sim->now_ms() == 60'000);

  // A version change puts it in updating, then back to running.
  fleet.sim->apply(cluster_ref("c1"), *edited(*cluster, "1.30.7-aliyun.1", "1.31.1-aliyun.1"), false);
  CHECK(text_of(*fleet.sim->get(cluster_ref("c1")), "/status/state") == "updating");
  fleet.sim->wait(30s);
  CHECK(text_of(*fleet.sim->get(cluster_ref("c1")), "/status/currentVersion") == "1.31.1-aliyun.1");
  CHECK_THROWS_WITH(fleet.sim->apply(cluster_ref("c1"), *edited(*cluster, "cn-shanghai", "cn-beijing"), false),
                    Catch::Contains("Cluster/c1: spec.region: cannot change from cn-shanghai to cn-beijing"));

  // An unsupported region fails with a reason.
  fleet.sim->apply(cluster_ref("c2"), *edited(edited(*cluster, "c1", "c2").operator*(), "cn-shanghai", "mars-north-1"), false);
  const Health failed = fleet.sim->health(cluster_ref("c2"));
  CHECK(failed.status == HealthStatus::degraded);
  CHECK(failed.message.find("mars-north-1") != std::string::npos);

  // Deleting: state deleting, then gone with its node pools and nodes; stock comes back.
  fleet.apply_example("edge-daemonset");
  fleet.sim->wait(30s);
  CHECK(fleet.nodes("edge-central").size() == 6);
  fleet.sim->remove(cluster_ref("edge-central"), false);
  CHECK(text_of(*fleet.sim->get(cluster_ref("edge-central")), "/status/state") == "deleting");
  fleet.sim->wait(30s);
  CHECK(fleet.sim->get(cluster_ref("edge-central")) == nullptr);
  CHECK(fleet.sim->get(pool_ref("edge-beijing")) == nullptr);
  CHECK(fleet.nodes("edge-central").empty());
  CHECK(fleet.pods("edge-central").empty());
  CHECK(fleet.sim->health(cluster_ref("edge-central")).status == HealthStatus::missing);
}

TEST_CASE("a Registered cluster binds to the fixture's and is never created or deleted", "[cloud]") {
  Fleet fleet("idc");
  const auto registered = parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"Cluster","metadata":{"name":"idc-cluster"},
    "spec":{"type":"Registered","region":"cn-zhangjiakou"}})");
  const auto live = fleet.sim->apply(cluster_ref("idc-cluster"), *registered, false);
  CHECK(text_of(*live, "/status/state") == "running");
  CHECK(fleet.sim->health(cluster_ref("idc-cluster")).status == HealthStatus::healthy);
  CHECK_THROWS_WITH(fleet.sim->apply(cluster_ref("idc-other"), *edited(*registered, "idc-cluster", "idc-other"), false),
                    Catch::StartsWith("Cluster/idc-other: a Registered cluster must already exist"));
  CHECK(fleet.sim->get(cluster_ref("idc-other")) == nullptr);
  CHECK_THROWS_WITH(fleet.sim->remove(cluster_ref("idc-cluster"), false), Catch::StartsWith("Cluster/idc-cluster: a Registered cluster is never deleted"));
  CHECK_THROWS_AS(fleet.sim->remove(cluster_ref("idc-cluster"), true), UserError);
  fleet.sim->wait(1min);
  CHECK(fleet.sim->get(cluster_ref("idc-cluster")) != nullptr);
  CHECK(fleet.nodes("idc-cluster").size() == 1);
}

TEST_CASE("node pool: scaling, nodes Ready after about 20s, then active", "[cloud]") {
  Fleet fleet("edge");
  for (const Manifest& manifest : fleet.example("edge-daemonset")) {
    if (manifest.ref.is_fleet_level())
      fleet.apply(manifest);
  }
  fleet.sim->wait(60s); // the cluster turns running; the pools create their nodes
  CHECK(text_of(*fleet.sim->get(pool_ref("edge-hangzhou")), "/status/state") == "scaling");
  auto nodes = fleet.nodes("edge-central");
  REQUIRE(nodes.size() == 6);
  for (const LiveObject& node : nodes)
    CHECK(text_of(*node.object, "/status/conditions/0/status") == "False");
  CHECK(fleet.sim->health(pool_ref("edge-hangzhou")).status == HealthStatus::progressing);
  fleet.sim->wait(20s);
  for (const LiveObject& node : fleet.nodes("edge-central"))
    CHECK(text_of(*node.object, "/status/conditions/0/status") == "True");
  CHECK(text_of(*fleet.sim->get(pool_ref("edge-hangzhou")), "/status/state") == "active");
  CHECK(fleet.sim->health(pool_ref("edge-hangzhou")).status == HealthStatus::healthy);
  const LiveObject node = fleet.nodes("edge-central").front();
  CHECK(std::regex_match(node.ref.name, std::regex(R"(cn-beijing\.192\.168\.\d+\.\d+)")));
  CHECK(label(*node.object, "alibabacloud.com/nodepool-id") == "edge-beijing");
  CHECK(label(*node.object, "topology.kubernetes.io/region") == "cn-beijing");
  CHECK(label(*node.object, "topology.kubernetes.io/zone").rfind("cn-beijing-", 0) == 0);
  CHECK(label(*node.object, "node.kubernetes.io/instance-type") == "ecs.g7.large");
  CHECK(text_of(*node.object, "/status/capacity/cpu") == "2");
  CHECK(text_of(*node.object, "/status/capacity/memory") == "8388608Ki");
  CHECK(fleet.sim->node_regions("edge-central") == std::vector<std::string>{"cn-beijing", "cn-hangzhou", "cn-shanghai"});
}

TEST_CASE("a pool whose instance type is out of stock fails like ACK and creates no node", "[cloud]") {
  Fleet fleet("gpu-shortage");
  fleet.apply_example("gpu-shortage");
  const auto pool = parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"NodePool","metadata":{"name":"gpu-hangzhou"},
    "spec":{"cluster":"ml-prod","region":"cn-hangzhou","type":"ess","instanceTypes":["ecs.gn6i-c4g1.xlarge"],"desiredSize":1}})");
  fleet.sim->apply(pool_ref("gpu-hangzhou"), *pool, false);
  fleet.sim->wait(1min);
  const auto live = fleet.sim->get(pool_ref("gpu-hangzhou"));
  CHECK(text_of(*live, "/status/state") == "failed");
  CHECK(text_of(*live, "/status/message") ==
        "OperationDenied.NoStock: The instance type ecs.gn6i-c4g1.xlarge is out of stock in cn-hangzhou. Please try other instance "
        "types, or choose other regions and zones.");
  const Health health = fleet.sim->health(pool_ref("gpu-hangzhou"));
  CHECK(health.status == HealthStatus::degraded);
  CHECK(health.message.find("out of stock in cn-hangzhou") != std::string::npos);
  for (const LiveObject& node : fleet.nodes("ml-prod"))
    CHECK(label(*node.object, "alibabacloud.com/nodepool-id") == "cpu-hangzhou");
  // Unknown instance types are refused at apply.
  CHECK_THROWS_WITH(fleet.sim->apply(pool_ref("gpu-hangzhou"), *edited(*pool, "ecs.gn6i-c4g1.xlarge", "ecs.nope"), false),
                    Catch::StartsWith("NodePool/gpu-hangzhou: spec.instanceTypes[0]: unknown instance type ecs.nope"));
}

TEST_CASE("scaling a pool in removes nodes and evicts their pods; controllers recreate them", "[cloud]") {
  EdgeFleet fleet;
  CHECK(daemon_pods(fleet, "security").size() == 6);
  auto pool = fleet.manifests.at("NodePool/edge-beijing");
  fleet.apply(pool.ref, edited(*pool.object, R"("desiredSize":2)", R"("desiredSize":1)"));
  fleet.sim->wait(1s);
  CHECK(fleet.nodes("edge-central").size() == 5);
  CHECK(daemon_pods(fleet, "security").size() == 5);
  CHECK(int_of(*fleet.sim->get(fleet.manifests.at("DaemonSet/security-agent").ref), "/status/desiredNumberScheduled") == 5);
  // Deleting the pool removes its nodes.
  fleet.sim->remove(pool.ref, false);
  CHECK(text_of(*fleet.sim->get(pool.ref), "/status/state") == "deleting");
  fleet.sim->wait(1s);
  CHECK(fleet.sim->get(pool.ref) == nullptr);
  CHECK(fleet.nodes("edge-central").size() == 4);
  CHECK(fleet.sim->node_regions("edge-central") == std::vector<std::string>{"cn-hangzhou", "cn-shanghai"});
}

// ---- DaemonSet ----

TEST_CASE("DaemonSet: one pod per eligible node, named and labelled like the daemon controller's", "[daemonset]") {
  EdgeFleet fleet;
  const auto ds = fleet.sim->get(fleet.manifests.at("DaemonSet/security-agent").ref);
  const auto pods = daemon_pods(fleet, "security");
  REQUIRE(pods.size() == 6);
  std::set<std::string> nodes;
  for (const LiveObject& pod : pods) {
    CHECK(std::regex_match(pod.ref.name, std::regex("security-agent-[bcdfghjklmnpqrstvwxz2456789]{5}")));
    CHECK(label(*pod.object, "controller-revision-hash").size() >= 6);
    CHECK(label(*pod.object, "pod-template-generation") == "1");
    CHECK(text_of(*pod.object, "/metadata/ownerReferences/0/kind") == "DaemonSet");
    nodes.insert(text_of(*pod.object, "/spec/nodeName"));
  }
  CHECK(nodes.size() == 6);
  CHECK(int_of(*ds, "/status/desiredNumberScheduled") == 6);
  CHECK(int_of(*ds, "/status/currentNumberScheduled") == 6);
  CHECK(int_of(*ds, "/status/numberReady") == 6);
  CHECK(int_of(*ds, "/status/updatedNumberScheduled") == 6);
  CHECK(int_of(*ds, "/status/numberAvailable") == 6);
  CHECK(int_of(*ds, "/status/numberMisscheduled") == 0);

  // A nodeSelector that only the Beijing nodes match: the other pods become misscheduled and go.
  const Manifest manifest = fleet.manifests.at("DaemonSet/security-agent");
  fleet.apply(manifest.ref, edited(*manifest.object, R"("spec":{"containers")",
                                   R"("spec":{"nodeSelector":{"topology.kubernetes.io/region":"cn-beijing"},"containers")"));
  fleet.sim->wait(2s);
  const auto narrowed = daemon_pods(fleet, "security");
  CHECK(narrowed.size() == 2);
  for (const LiveObject& pod : narrowed)
    CHECK(node_region(fleet, text_of(*pod.object, "/spec/nodeName")) == "cn-beijing");
  CHECK(int_of(*fleet.sim->get(manifest.ref), "/status/desiredNumberScheduled") == 2);
}

TEST_CASE("DaemonSet RollingUpdate replaces pods within maxUnavailable, one step per tick", "[daemonset]") {
  Fleet fleet("edge");
  auto manifests = fleet.apply_example("edge-daemonset");
  const Manifest base = manifests.at("DaemonSet/security-agent");
  const auto rolling = edited(*base.object, R"("updateStrategy":{"type":"OnDelete"})",
                              R"("updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1}})");
  fleet.apply(base.ref, rolling);
  fleet.sim->wait(30s);
  CHECK(fleet.sim->health(base.ref).status == HealthStatus::healthy);
  fleet.apply(base.ref, edited(*rolling, "v1.0.0", "v1.1.0"));
  int previous_updated = 0;
  int ticks = 0;
  for (; ticks < 60; ++ticks) {
    fleet.sim->wait(1s);
    const auto pods = daemon_pods(fleet, "security");
    const int updated = count_with_image(pods, "registry.cn-hangzhou.aliyuncs.com/acs/security-agent:v1.1.0");
    CHECK(count_available(pods) >= 5); // never more than maxUnavailable=1 down
    CHECK(pods.size() <= 6);
    CHECK(updated >= previous_updated);
    CHECK(updated <= previous_updated + 1); // pod by pod
    previous_updated = updated;
    if (updated == 6 && count_available(pods) == 6)
      break;
    CHECK(fleet.sim->health(base.ref).status == HealthStatus::progressing);
  }
  CHECK(previous_updated == 6);
  CHECK(ticks > 6);
  fleet.sim->wait(1s);
  const auto ds = fleet.sim->get(base.ref);
  CHECK(int_of(*ds, "/status/updatedNumberScheduled") == 6);
  CHECK(int_of(*ds, "/status/numberAvailable") == 6);
  CHECK(find_pointer(*ds, "/status/numberUnavailable") == nullptr);
  CHECK(fleet.sim->health(base.ref).status == HealthStatus::healthy);
  CHECK(fleet.sim->health(base.ref).message == "daemon set \"security-agent\" successfully rolled out");
}

TEST_CASE("DaemonSet RollingUpdate with maxSurge starts the new pod before removing the old", "[daemonset]") {
  Fleet fleet("edge");
  auto manifests = fleet.apply_example("edge-daemonset");
  const Manifest base = manifests.at("DaemonSet/security-agent");
  const auto surge = edited(*base.object, R"("updateStrategy":{"type":"OnDelete"})",
                            R"("updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}})");
  fleet.apply(base.ref, surge);
  fleet.sim->wait(30s);
  fleet.apply(base.ref, edited(*surge, "v1.0.0", "v1.1.0"));
  bool surged = false;
  for (int tick = 0; tick < 60; ++tick) {
    fleet.sim->wait(1s);
    const auto pods = daemon_pods(fleet, "security");
    CHECK(pods.size() <= 7);
    surged = surged || pods.size() == 7;
    CHECK(count_available(pods) >= 6);
  }
  CHECK(surged);
  CHECK(count_with_image(daemon_pods(fleet, "security"), "registry.cn-hangzhou.aliyuncs.com/acs/security-agent:v1.1.0") == 6);
}

TEST_CASE("DaemonSet OnDelete replaces a pod only when it is deleted", "[daemonset]") {
  EdgeFleet fleet;
  const Manifest base = fleet.manifests.at("DaemonSet/security-agent");
  fleet.apply(base.ref, edited(*base.object, "v1.0.0", "v1.1.0"));
  fleet.sim->wait(1min);
  auto pods = daemon_pods(fleet, "security");
  CHECK(count_with_image(pods, "registry.cn-hangzhou.aliyuncs.com/acs/security-agent:v1.0.0") == 6);
  auto ds = fleet.sim->get(base.ref);
  CHECK(int_of(*ds, "/status/updatedNumberScheduled") == 0);
  CHECK(int_of(*ds, "/status/observedGeneration") == 2);
  CHECK(fleet.sim->health(base.ref).status == HealthStatus::healthy); // OnDelete: nothing to wait for

  const std::string victim = pods.front().ref.name;
  const std::string node = text_of(*pods.front().object, "/spec/nodeName");
  fleet.sim->remove(pods.front().ref, false);
  fleet.sim->wait(2s);
  pods = daemon_pods(fleet, "security");
  REQUIRE(pods.size() == 6);
  int on_node = 0;
  for (const LiveObject& pod : pods) {
    CHECK(pod.ref.name != victim);
    if (text_of(*pod.object, "/spec/nodeName") == node) {
      ++on_node;
      CHECK(text_of(*pod.object, "/spec/containers/0/image") == "registry.cn-hangzhou.aliyuncs.com/acs/security-agent:v1.1.0");
    }
  }
  CHECK(on_node == 1);
  CHECK(int_of(*fleet.sim->get(base.ref), "/status/updatedNumberScheduled") == 1);
}

TEST_CASE("Kruise DaemonSet: partition keeps pods at the old revision; health is partition-aware", "[daemonset][kruise]") {
  EdgeFleet fleet("edge-kruise-daemonset");
  const Manifest base = fleet.manifests.at("DaemonSet/cache-service");
  CHECK(base.ref.group == "apps.kruise.io");
  const std::string old_image = "registry.cn-hangzhou.aliyuncs.com/acs/cache-service:v1.0.0";
  const std::string new_image = "registry.cn-hangzhou.aliyuncs.com/acs/cache-service:v1.1.0";
  const auto ds_before = fleet.sim->get(base.ref);
  const std::string old_hash = text_of(*ds_before, "/status/daemonSetHash");
  CHECK_FALSE(old_hash.empty());

  SECTION("partition 4 of 6: two pods move to the new revision") {
    fleet.apply(base.ref, edited(edited(*base.object, "v1.0.0", "v1.1.0").operator*(), R"("partition":0)", R"("partition":4)"));
    fleet.sim->wait(1min);
    const auto pods = daemon_pods(fleet, "default");
    CHECK(count_with_image(pods, new_image) == 2);
    CHECK(count_with_image(pods, old_image) == 4);
    const auto ds = fleet.sim->get(base.ref);
    CHECK(int_of(*ds, "/status/updatedNumberScheduled") == 2);
    CHECK(text_of(*ds, "/status/daemonSetHash") != old_hash);
    CHECK(fleet.sim->health(base.ref).status == HealthStatus::healthy);
    // Lowering the partition continues the rollout.
    fleet.apply(base.ref, edited(*base.object, "v1.0.0", "v1.1.0"));
    fleet.sim->wait(1min);
    CHECK(count_with_image(daemon_pods(fleet, "default"), new_image) == 6);
  }
  SECTION("rollingUpdate.selector: only pods on matching nodes update, observed pod by pod") {
    fleet.apply(base.ref, edited(edited(*base.object, "v1.0.0", "v1.1.0").operator*(), R"("partition":0)",
                                 R"("partition":0,"selector":{"matchLabels":{"topology.kubernetes.io/region":"cn-hangzhou"}})"));
    int previous = 0;
    for (int tick = 0; tick < 30; ++tick) {
      fleet.sim->wait(1s);
      const auto pods = daemon_pods(fleet, "default");
      const int updated = count_with_image(pods, new_image);
      CHECK(updated - previous <= 1);
      previous = updated;
      for (const LiveObject& pod : pods) {
        if (text_of(*pod.object, "/spec/containers/0/image") == new_image)
          CHECK(node_region(fleet, text_of(*pod.object, "/spec/nodeName")) == "cn-hangzhou");
      }
    }
    CHECK(previous == 2);
    CHECK(fleet.sim->health(base.ref).status == HealthStatus::healthy);
  }
  SECTION("paused: nothing updates and health says Suspended") {
    fleet.apply(base.ref, edited(edited(*base.object, "v1.0.0", "v1.1.0").operator*(), R"("paused":false)", R"("paused":true)"));
    fleet.sim->wait(1min);
    CHECK(count_with_image(daemon_pods(fleet, "default"), new_image) == 0);
    CHECK(fleet.sim->health(base.ref).status == HealthStatus::suspended);
  }
  SECTION("v1beta1 reports updateRevision") {
    fleet.apply(base.ref, edited(*base.object, "apps.kruise.io/v1alpha1", "apps.kruise.io/v1beta1"));
    fleet.sim->wait(1s);
    const auto ds = fleet.sim->get(base.ref);
    CHECK(text_of(*ds, "/status/updateRevision") == old_hash);
    CHECK(find_pointer(*ds, "/status/daemonSetHash") == nullptr);
  }
}

// ---- Deployment and Pods ----

TEST_CASE("Deployment: ReplicaSet-style names, rolling update within 25% surge/unavailable, status", "[deployment]") {
  EdgeFleet fleet;
  const ObjectRef web{"edge-central", "apps", "Deployment", "default", "web"};
  const std::string manifest = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
    "spec":{"replicas":4,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"web","image":"nginx:1.25","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}}})";
  fleet.apply(web, parse(manifest));
  fleet.sim->wait(5s);
  auto placements = fleet.sim->placements(web);
  REQUIRE(placements.size() == 4);
  std::set<std::string> hashes;
  for (const PodPlacement& placement : placements) {
    std::smatch match;
    REQUIRE(std::regex_match(placement.name, match, std::regex("web-([4-9bcdf]{6,10})-[bcdfghjklmnpqrstvwxz2456789]{5}")));
    hashes.insert(match[1]);
    CHECK(placement.phase == "Running");
  }
  CHECK(hashes.size() == 1);
  auto live = fleet.sim->get(web);
  CHECK(int_of(*live, "/status/replicas") == 4);
  CHECK(int_of(*live, "/status/updatedReplicas") == 4);
  CHECK(int_of(*live, "/status/readyReplicas") == 4);
  CHECK(int_of(*live, "/status/availableReplicas") == 4);
  CHECK(int_of(*live, "/status/observedGeneration") == 1);
  CHECK(text_of(*live, "/status/conditions/0/type") == "Available");
  CHECK(text_of(*live, "/status/conditions/0/status") == "True");
  CHECK(fleet.sim->health(web).message == "deployment \"web\" successfully rolled out");
  CHECK(fleet.sim->get({"edge-central", "apps", "ReplicaSet", "default", "web-" + *hashes.begin()}) != nullptr);

  fleet.apply(web, edited(*parse(manifest), "nginx:1.25", "nginx:1.27"));
  bool progressing = false;
  for (int tick = 0; tick < 30; ++tick) {
    fleet.sim->wait(1s);
    placements = fleet.sim->placements(web);
    placements.erase(std::remove_if(placements.begin(), placements.end(), [](const PodPlacement& p) { return p.phase == "Terminating"; }),
                     placements.end());
    CHECK(placements.size() <= 5); // maxSurge 25% of 4 = 1
    const auto running = std::count_if(placements.begin(), placements.end(), [](const PodPlacement& p) { return p.phase == "Running"; });
    CHECK(running >= 3); // maxUnavailable 25% of 4 = 1
    progressing = progressing || fleet.sim->health(web).status == HealthStatus::progressing;
  }
  CHECK(progressing);
  CHECK(placements.size() == 4);
  hashes.clear();
  for (const PodPlacement& placement : placements)
    hashes.insert(placement.name.substr(4, placement.name.rfind('-') - 4));
  CHECK(hashes.size() == 1);
  live = fleet.sim->get(web);
  CHECK(int_of(*live, "/status/updatedReplicas") == 4);
  CHECK(int_of(*live, "/status/observedGeneration") == 2);
  CHECK(text_of(*live, "/metadata/annotations/deployment.kubernetes.io~1revision") == "2");
  CHECK(fleet.sim->health(web).status == HealthStatus::healthy);
}

TEST_CASE("bare Pods are scheduled, become Running and Ready a tick later", "[pod]") {
  EdgeFleet fleet;
  const ObjectRef pod{"edge-central", "", "Pod", "default", "debug"};
  fleet.apply(pod, parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"debug","namespace":"default"},
    "spec":{"containers":[{"name":"sh","image":"busybox","resources":{"requests":{"cpu":"100m"}}}]}})"));
  CHECK(fleet.sim->health(pod).status == HealthStatus::progressing);
  fleet.sim->wait(1s);
  auto live = fleet.sim->get(pod);
  CHECK_FALSE(text_of(*live, "/spec/nodeName").empty());
  CHECK(text_of(*live, "/status/phase") == "Pending");
  fleet.sim->wait(1s);
  live = fleet.sim->get(pod);
  CHECK(text_of(*live, "/status/phase") == "Running");
  CHECK(std::regex_match(text_of(*live, "/status/podIP"), std::regex(R"(172\.\d+\.\d+\.\d+)")));
  CHECK(fleet.sim->health(pod).status == HealthStatus::healthy);
  CHECK(fleet.sim->placements(pod).at(0).phase == "Running");
  fleet.sim->remove(pod, false); // Terminating while its container stops, then gone
  CHECK(int_of(*fleet.sim->get(pod), "/metadata/deletionGracePeriodSeconds") == 30);
  CHECK(fleet.sim->placements(pod).at(0).phase == "Terminating");
  CHECK(fleet.sim->health(pod).status == HealthStatus::progressing);
  fleet.sim->wait(2s);
  CHECK(fleet.sim->health(pod).status == HealthStatus::missing);
}

TEST_CASE("the same operations give the same fleet: names, uids and IPs are seeded", "[determinism]") {
  const auto run = [] {
    EdgeFleet fleet;
    std::string out;
    for (const LiveObject& pod : fleet.pods("edge-central"))
      out += pod.ref.name + " " + text_of(*pod.object, "/metadata/uid") + " " + text_of(*pod.object, "/status/podIP") + "\n";
    return out;
  };
  CHECK(run() == run());
}

// ---- what `meridian sim` prints ----

TEST_CASE("sim get tables use kubectl's columns", "[printer]") {
  EdgeFleet fleet;
  sim::TableOptions options;
  const auto pods = fleet.pods("edge-central", "security");
  std::string table = fleet.sim->format_table(pods, options);
  CHECK(table.rfind("NAME                   READY   STATUS    RESTARTS   AGE\n", 0) == 0);
  CHECK(table.find("1/1     Running   0          ") != std::string::npos);
  options.wide = true;
  table = fleet.sim->format_table(pods, options);
  CHECK(table.rfind("NAME                   READY   STATUS    RESTARTS   AGE   IP           NODE\n", 0) == 0);
  options = {};
  table = fleet.sim->format_table(fleet.nodes("edge-central"), options);
  CHECK(table.rfind("NAME                       STATUS   ROLES    AGE   VERSION\n", 0) == 0);
  CHECK(table.find("Ready    <none>   ") != std::string::npos);
  options.wide = true;
  table = fleet.sim->format_table(fleet.nodes("edge-central"), options);
  CHECK(table.find("INTERNAL-IP") != std::string::npos);
  CHECK(table.find("INSTANCE-TYPE") != std::string::npos);
  CHECK(table.find("alibabacloud.com/nodepool-id=edge-beijing") != std::string::npos);
  options = {};
  options.show_cluster = true;
  table = fleet.sim->format_table(pods, options);
  CHECK(table.rfind("CLUSTER        NAME", 0) == 0);
  const auto described = fleet.sim->describe(fleet.nodes("edge-central").front().ref);
  CHECK(described.find("Non-terminated Pods:          (1 in total)") != std::string::npos);
  CHECK(described.find("Capacity:") != std::string::npos);
  CHECK(described.find("Events:") != std::string::npos);
}

TEST_CASE("resource names resolve like kubectl's", "[printer]") {
  EdgeFleet fleet("edge-kruise-daemonset");
  using Kinds = std::vector<std::pair<std::string, std::string>>;
  CHECK(fleet.sim->resolve_kind("ds") == Kinds{{"apps", "DaemonSet"}, {"apps.kruise.io", "DaemonSet"}});
  CHECK(fleet.sim->resolve_kind("daemonsets.apps.kruise.io") == Kinds{{"apps.kruise.io", "DaemonSet"}});
  CHECK(fleet.sim->resolve_kind("pods") == Kinds{{"", "Pod"}});
  CHECK(fleet.sim->resolve_kind("NodePools") == Kinds{{"meridian.io", "NodePool"}});
  CHECK(fleet.sim->resolve_kind("resourcepolicies") == Kinds{{"scheduling.alibabacloud.com", "ResourcePolicy"}});
  CHECK(fleet.sim->resolve_kind("widgets").empty());
  CHECK(fleet.sim->list("daemonsets", "", "").size() == 1);
  CHECK_THROWS_WITH(fleet.sim->list("widgets", "", ""), "the server doesn't have a resource type \"widgets\"");
}

TEST_CASE("kubectl's age notation and YAML output", "[printer]") {
  CHECK(sim::human_duration(0) == "0s");
  CHECK(sim::human_duration(119'000) == "119s");
  CHECK(sim::human_duration(200'000) == "3m20s");
  CHECK(sim::human_duration(600'000) == "10m");
  CHECK(sim::human_duration(5 * 3'600'000LL) == "5h");
  CHECK(sim::human_duration(51 * 3'600'000LL) == "2d3h");
  const auto document = parse(R"({"b":{"list":[{"x":"1","y":true}],"empty":{}},"a":"yes","n":3,"s":"1.30"})");
  // go-yaml (kubectl) quotes y and n too: YAML 1.1 reads them as booleans.
  CHECK(sim::to_yaml(*document) == "a: \"yes\"\nb:\n  empty: {}\n  list:\n  - x: \"1\"\n    \"y\": true\n\"n\": 3\ns: \"1.30\"\n");
}

TEST_CASE("fixture errors name the field", "[fixture]") {
  Fleet fleet;
  CHECK_THROWS_WITH(fleet.sim->init("stock: []\nclustres: []\n", "f.yaml"), "f.yaml: clustres: unknown field (expected seed, stock, clusters, objects)");
  CHECK_THROWS_WITH(fleet.sim->init("clusters:\n  - {name: a, type: Edgy, region: cn-hangzhou}\n", "f.yaml"),
                    "f.yaml: clusters[0].type: expected Managed, Edge, Serverless or Registered, got \"Edgy\"");
  CHECK_THROWS_WITH(fleet.sim->init("stock:\n  - {region: cn-hangzhou, instanceType: ecs.g7.large}\n", "f.yaml"),
                    "f.yaml: stock[0]: expected region, instanceType and a count >= 0");
  CHECK_THROWS_WITH(fleet.sim->init("clusters:\n  - name: a\n    type: Registered\n    region: cn-hangzhou\n    nodes:\n      - {name: n1, capacity: {cpu: lots, memory: 1Gi}}\n", "f.yaml"),
                    "f.yaml: clusters[0].nodes[0].capacity.cpu: not a Kubernetes quantity: \"lots\"");
  CHECK_THROWS_WITH(fleet.sim->reset(), Catch::Contains("no fixture to reset to"));
  // A failed init leaves nothing half-written; a good one can be reset to.
  CHECK(fleet.sim->list("clusters", "", "").empty());
  fleet.sim->init(slurp(source_path("examples/fixtures/idc.yaml")), "idc.yaml");
  fleet.sim->wait(1min);
  fleet.sim->reset();
  CHECK(fleet.sim->now_ms() == 0);
  CHECK(fleet.sim->list("clusters", "", "").size() == 2);
  CHECK(fleet.nodes("idc-hybrid").size() == 2);
}

TEST_CASE("deleting an owner removes what it owns; deleting a namespace removes its objects", "[gc]") {
  EdgeFleet fleet;
  const ObjectRef web{"edge-central", "apps", "Deployment", "default", "web"};
  fleet.apply(web, parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
    "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"web","image":"nginx"}]}}}})"));
  fleet.sim->wait(5s);
  CHECK(fleet.pods("edge-central", "default").size() == 2);
  CHECK(fleet.sim->list("replicasets", "edge-central", "default").size() == 1);
  fleet.sim->remove(web, false);
  fleet.sim->wait(5s);
  CHECK(fleet.sim->list("replicasets", "edge-central", "default").empty());
  CHECK(fleet.pods("edge-central", "default").empty());

  fleet.sim->remove({"edge-central", "", "Namespace", "", "security"}, false);
  fleet.sim->wait(1s);
  CHECK(fleet.sim->get(fleet.manifests.at("DaemonSet/security-agent").ref) == nullptr);
  CHECK(fleet.pods("edge-central", "security").empty());
}

TEST_CASE("health: other kinds are Healthy once stored, absent objects Missing", "[health]") {
  EdgeFleet fleet;
  CHECK(fleet.sim->health(kConfig).status == HealthStatus::missing);
  fleet.sim->apply(kConfig, *config("{}"), false);
  CHECK(fleet.sim->health(kConfig).status == HealthStatus::healthy);
  CHECK(fleet.sim->health({"edge-central", "", "Namespace", "", "security"}).status == HealthStatus::healthy);
  CHECK(fleet.sim->health(cluster_ref("edge-central")).status == HealthStatus::healthy);
  CHECK(fleet.sim->health(pool_ref("nope")).status == HealthStatus::missing);
}

TEST_CASE("a Deployment that cannot progress for 10 minutes exceeds its progress deadline", "[deployment][health]") {
  EdgeFleet fleet;
  const ObjectRef big{"edge-central", "apps", "Deployment", "default", "big"};
  fleet.apply(big, parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"big","namespace":"default"},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"big"}},"template":{"metadata":{"labels":{"app":"big"}},
    "spec":{"containers":[{"name":"big","image":"nginx","resources":{"requests":{"cpu":"64"}}}]}}}})"));
  fleet.sim->wait(1min);
  Health health = fleet.sim->health(big);
  CHECK(health.status == HealthStatus::degraded);
  CHECK(health.message.find("0/6 nodes are available: 6 Insufficient cpu.") != std::string::npos);
  fleet.sim->wait(10min);
  const auto live = fleet.sim->get(big);
  bool exceeded = false;
  for (const auto& condition : (*live)["status"]["conditions"].GetArray())
    exceeded = exceeded || std::string(string_member(condition, "reason")) == "ProgressDeadlineExceeded";
  CHECK(exceeded);
  health = fleet.sim->health(big);
  CHECK(health.status == HealthStatus::degraded);
  CHECK(health.message == "deployment \"big\" exceeded its progress deadline");
}

TEST_CASE("a fixture's own virtual node stands in for the add-on's built-in one", "[cloud][fixture]") {
  Fleet fleet;
  fleet.sim->init(R"(seed: 1
clusters:
  - name: declared
    type: Managed
    region: cn-hangzhou
    addons: [ack-virtual-node]
    nodes:
      - {name: worker-1, capacity: {cpu: "4", memory: 16Gi, pods: "110"}}
      - name: virtual-kubelet-eci-1
        capacity: {cpu: "500", memory: 2Ti, pods: "500"}
        labels: {type: virtual-kubelet}
        taints: [{key: virtual-kubelet.io/provider, value: alibabacloud, effect: NoSchedule}]
  - name: builtin
    type: Managed
    region: cn-shanghai
    addons: [ack-virtual-node]
    nodes:
      - {name: worker-2, capacity: {cpu: "4", memory: 16Gi, pods: "110"}}
)",
                  "virtual.yaml");
  fleet.sim->wait(1min);
  std::vector<std::string> declared;
  for (const LiveObject& node : fleet.nodes("declared"))
    declared.push_back(node.ref.name);
  CHECK(declared == std::vector<std::string>{"virtual-kubelet-eci-1", "worker-1"});
  std::vector<std::string> builtin;
  for (const LiveObject& node : fleet.nodes("builtin"))
    builtin.push_back(node.ref.name);
  CHECK(builtin == std::vector<std::string>{"virtual-kubelet-cn-shanghai-k", "worker-2"});
}

TEST_CASE("cluster-scoped kinds get no namespace, as model/ gives them (one list: kube_rules/scope.h)", "[sim]") {
  Fleet fleet("edge");
  // VolumeAttachment is cluster-scoped (storage.k8s.io); the simulator once put it in "default".
  for (const char* kind : {"VolumeAttachment", "Namespace", "ClusterRole", "CSIDriver"}) {
    const auto object = parse(fmt::format(R"({{"apiVersion":"v1","kind":"{}","metadata":{{"name":"x"}}}})", kind));
    INFO(kind);
    CHECK(fleet.sim->ref_for(*object, "edge-central").namespace_.empty());
  }
  const auto config = parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}})");
  CHECK(fleet.sim->ref_for(*config, "edge-central").namespace_ == "default");
}

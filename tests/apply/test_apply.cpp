// Applying plans on the real simulator: halt on failure with the exact report, haltOnFailure
// false, the two region-by-region DaemonSet rollouts observed pod by pod, interrupted applies,
// transient and permanent backend errors.
#include "../plan/engine_fixture.h"

#include "base/error.h"

#include <atomic>

using namespace engine_test;

namespace {

const std::string no_stock =
    "OperationDenied.NoStock: The instance type ecs.g7.2xlarge is out of stock in cn-shanghai. Please try other instance types, "
    "or choose other regions and zones.";

//! One cluster per region with one node pool each; cn-shanghai's pool asks for a type the edge
//! fixture has no stock of.
Files three_regions(bool halt) {
  return {{"fleet.yaml", fleet_yaml({"cn-hangzhou", "cn-shanghai", "cn-beijing"}, 1, halt, "2m")},
          {"clusters.yaml", cluster_yaml("hz", "cn-hangzhou") + "---\n" + cluster_yaml("sh", "cn-shanghai") + "---\n" +
                                cluster_yaml("bj", "cn-beijing")},
          {"pools.yaml", pool_yaml("hz-pool", "hz", "cn-hangzhou") + "---\n" + pool_yaml("sh-pool", "sh", "cn-shanghai", "ecs.g7.2xlarge") +
                             "---\n" + pool_yaml("bj-pool", "bj", "cn-beijing")}};
}

std::map<std::string, std::string> results_by_object(const ApplyReport& report) {
  std::map<std::string, std::string> out;
  for (const ObjectResult& object : report.objects)
    out[object.display] = std::string(to_string(object.result));
  return out;
}

//! Pods of a DaemonSet per node region at one moment: how many run the old and the new image.
struct Snapshot {
  std::map<std::string, int> old_pods, new_pods;
};

class PodWatcher {
public:
  PodWatcher(sim::Simulator& sim, ObjectRef daemonset, std::string new_image)
      : sim_(sim), daemonset_(std::move(daemonset)), new_image_(std::move(new_image)) {}

  void observe() {
    Snapshot snapshot;
    for (const PodPlacement& placement : sim_.placements(daemonset_)) {
      const auto pod = sim_.get({daemonset_.cluster, "", "Pod", daemonset_.namespace_, placement.name});
      if (pod == nullptr)
        continue;
      const std::string image = text_at(*pod, "/spec/containers/0/image");
      if (image == new_image_)
        ++snapshot.new_pods[placement.region];
      else
        ++snapshot.old_pods[placement.region];
    }
    snapshots.push_back(snapshot);
  }

  //! Index of the first snapshot with a new pod in `region` (snapshots.size() when none).
  size_t first_new(const std::string& region) const {
    for (size_t i = 0; i < snapshots.size(); ++i)
      if (snapshots[i].new_pods.count(region) != 0)
        return i;
    return snapshots.size();
  }
  //! Index of the last snapshot with an old pod in `region` (0 when none ever).
  size_t last_old(const std::string& region) const {
    size_t last = 0;
    for (size_t i = 0; i < snapshots.size(); ++i)
      if (snapshots[i].old_pods.count(region) != 0)
        last = i;
    return last;
  }

  std::vector<Snapshot> snapshots;

private:
  sim::Simulator& sim_;
  ObjectRef daemonset_;
  std::string new_image_;
};

void check_region_by_region(const PodWatcher& watcher) {
  const std::vector<std::string> order = {"cn-hangzhou", "cn-shanghai", "cn-beijing"};
  for (const std::string& region : order) {
    INFO(region);
    CHECK(watcher.first_new(region) < watcher.snapshots.size()); // every region got the new template
  }
  for (size_t i = 0; i + 1 < order.size(); ++i) {
    INFO(order[i] << " is done before " << order[i + 1] << " starts");
    CHECK(watcher.last_old(order[i]) < watcher.first_new(order[i + 1]));
  }
  // The last snapshot: two new pods per region, no old ones.
  REQUIRE_FALSE(watcher.snapshots.empty());
  const Snapshot& last = watcher.snapshots.back();
  CHECK(last.old_pods.empty());
  CHECK(last.new_pods == std::map<std::string, int>{{"cn-beijing", 2}, {"cn-hangzhou", 2}, {"cn-shanghai", 2}});
}

std::string selector_values(const Json& body) {
  const Json* values = find_pointer(body, "/spec/updateStrategy/rollingUpdate/selector/matchExpressions/0/values");
  if (values == nullptr || !values->IsArray())
    return "none";
  std::string out;
  for (const auto& value : values->GetArray())
    out += (out.empty() ? "" : ",") + std::string(value.GetString());
  return out;
}

} // namespace

TEST_CASE("a failed region halts the rollout: the report says which regions are done, failed and not started", "[apply][halt]") {
  Engine engine("edge");
  engine.load(three_regions(true));
  const Plan plan = engine.plan();
  REQUIRE(plan.waves == std::vector<std::vector<std::string>>{{"cn-hangzhou"}, {"cn-shanghai"}, {"cn-beijing"}});
  const ApplyReport report = engine.apply(plan);
  INFO(engine.joined_log());
  CHECK(report.result == ApplyResult::halted);
  REQUIRE(report.regions.size() == 3);
  CHECK(report.regions[0].region == "cn-hangzhou");
  CHECK(report.regions[0].outcome == RegionOutcome::done);
  CHECK(report.regions[0].reason.empty());
  CHECK(report.regions[1].region == "cn-shanghai");
  CHECK(report.regions[1].outcome == RegionOutcome::failed);
  CHECK(report.regions[1].reason == "NodePool/sh-pool: not healthy after 2m: Degraded: " + no_stock);
  CHECK(report.regions[2].region == "cn-beijing");
  CHECK(report.regions[2].outcome == RegionOutcome::not_started);
  CHECK(report.regions[2].reason == "an earlier region failed and haltOnFailure is set");
  CHECK(results_by_object(report) == std::map<std::string, std::string>{{"Cluster/hz", "applied"},
                                                                         {"NodePool/hz-pool", "applied"},
                                                                         {"Cluster/sh", "applied"},
                                                                         {"NodePool/sh-pool", "failed"},
                                                                         {"Cluster/bj", "not-started"},
                                                                         {"NodePool/bj-pool", "not-started"}});
  CHECK(report.summary() == "3 applied, 1 failed, 2 not applied");
  CHECK(engine.sim().get({"", "meridian.io", "Cluster", "", "bj"}) == nullptr);
  CHECK(engine.joined_log().find("region cn-shanghai failed: NodePool/sh-pool: not healthy after 2m") != std::string::npos);
  CHECK(engine.joined_log().find("wave 3/3") == std::string::npos);

  const auto history = engine.store().history(1);
  REQUIRE(history.size() == 1);
  CHECK(history[0].result == ApplyResult::halted);
  CHECK(history[0].summary == "3 applied, 1 failed, 2 not applied");
  REQUIRE(history[0].objects.size() == 6);
  // The next plan still has what was not done.
  const Plan next = engine.plan();
  CHECK(changes_of(next) == std::vector<std::string>{"create Cluster/bj", "create NodePool/bj-pool"});
}

TEST_CASE("with haltOnFailure false, later regions still run", "[apply][halt]") {
  Engine engine("edge");
  engine.load(three_regions(false));
  const ApplyReport report = engine.apply(engine.plan());
  INFO(engine.joined_log());
  CHECK(report.result == ApplyResult::failed);
  REQUIRE(report.regions.size() == 3);
  CHECK(report.regions[0].outcome == RegionOutcome::done);
  CHECK(report.regions[1].outcome == RegionOutcome::failed);
  CHECK(report.regions[1].reason == "NodePool/sh-pool: not healthy after 2m: Degraded: " + no_stock);
  CHECK(report.regions[2].outcome == RegionOutcome::done);
  CHECK(results_by_object(report)["NodePool/bj-pool"] == "applied");
  CHECK(engine.sim().get({"", "meridian.io", "NodePool", "", "bj-pool"}) != nullptr);
  CHECK(engine.sim().health({"", "meridian.io", "NodePool", "", "bj-pool"}).status == HealthStatus::healthy);
}

TEST_CASE("a workload held to a later wave by its dependencies fails its own region", "[apply][halt]") {
  // The Deployment belongs to cn-hangzhou (its Edge cluster's region) but waits for the node pools
  // of every region, so it runs in the last wave. Its failure must not leave cn-hangzhou "done".
  Engine engine("edge");
  Files files = example_files("edge-daemonset");
  files["fleet.yaml"] = replaced(files["fleet.yaml"], "healthTimeout: 10m", "healthTimeout: 1m");
  files["clusters/edge-central/gpu.yaml"] = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpu
  namespace: default
spec:
  replicas: 1
  selector: {matchLabels: {app: gpu}}
  template:
    metadata: {labels: {app: gpu}}
    spec:
      containers:
        - name: gpu
          image: "gpu:1"
          resources: {limits: {nvidia.com/gpu: 1}, requests: {nvidia.com/gpu: 1}}
)";
  engine.load(files);
  const ApplyReport report = engine.apply(engine.plan());
  INFO(engine.joined_log());
  CHECK(report.result == ApplyResult::halted);
  REQUIRE(report.regions.size() == 3);
  CHECK(report.regions[0].region == "cn-hangzhou");
  CHECK(report.regions[0].outcome == RegionOutcome::failed);
  CHECK(report.regions[0].reason.rfind("Deployment/default/gpu: not healthy after 1m: Degraded: pod gpu-", 0) == 0);
  CHECK(report.regions[0].reason.find("is Pending: 0/6 nodes are available: 6 Insufficient nvidia.com/gpu.") != std::string::npos);
  CHECK(report.regions[2].outcome == RegionOutcome::done);
  CHECK(results_by_object(report)["Deployment/default/gpu"] == "failed");
}

TEST_CASE("apps/v1 by-region DaemonSet: the new template replaces pods one node region at a time", "[apply][rollout]") {
  Engine engine("edge");
  Files files = example_files("edge-daemonset");
  engine.load(files);
  engine.converge();
  const std::string new_image = "registry.cn-hangzhou.aliyuncs.com/acs/security-agent:v1.1.0";
  files["clusters/edge-central/security-agent.yaml"] =
      replaced(files["clusters/edge-central/security-agent.yaml"], "security-agent:v1.0.0", "security-agent:v1.1.0");
  engine.load(files);
  const Plan plan = engine.plan();
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update DaemonSet/security/security-agent"});
  const PlannedChange& change = change_for(plan, "DaemonSet", "security-agent");
  CHECK(change.region_rollout);
  CHECK(change.rollout_regions == std::vector<std::string>{"cn-hangzhou", "cn-shanghai", "cn-beijing"});

  const ObjectRef ds{"edge-central", "apps", "DaemonSet", "security", "security-agent"};
  RecordingBackend recorder(engine.sim());
  PodWatcher watcher(engine.sim(), ds, new_image);
  recorder.after_wait = [&] { watcher.observe(); };
  recorder.on_apply = [&](const ObjectRef&) { watcher.observe(); };
  std::vector<std::string> removed_regions; // node region of each pod Meridian deletes, in order
  recorder.on_remove = [&](const ObjectRef& pod) {
    const auto live = engine.sim().get(pod);
    REQUIRE(live != nullptr);
    const auto node = engine.sim().get({pod.cluster, "", "Node", "", text_at(*live, "/spec/nodeName")});
    REQUIRE(node != nullptr);
    removed_regions.push_back(text_at(*node, "/metadata/labels/topology.kubernetes.io~1region"));
  };
  engine.use_backend(&recorder);
  const ApplyReport report = engine.apply(plan);
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  watcher.observe();
  check_region_by_region(watcher);

  // The DaemonSet is applied once (OnDelete: the controller never replaces pods itself) and
  // Meridian deletes the old pods region by region: two in cn-hangzhou, then cn-shanghai, then cn-beijing.
  std::vector<std::string> applied;
  for (const auto& call : recorder.calls)
    if (call.op == "apply")
      applied.push_back(call.ref.display());
  CHECK(applied == std::vector<std::string>{"DaemonSet/security/security-agent"});
  CHECK(removed_regions == std::vector<std::string>{"cn-hangzhou", "cn-hangzhou", "cn-shanghai", "cn-shanghai", "cn-beijing", "cn-beijing"});
  const std::string log = engine.joined_log();
  CHECK(log.find("rolling out to node region cn-hangzhou (1/3)") < log.find("node region cn-hangzhou updated (2 pods)"));
  CHECK(log.find("node region cn-hangzhou updated (2 pods)") < log.find("rolling out to node region cn-shanghai (2/3)"));
  CHECK(log.find("node region cn-shanghai updated (2 pods)") < log.find("rolling out to node region cn-beijing (3/3)"));
  CHECK(log.find("node region cn-beijing updated (2 pods)") != std::string::npos);
  engine.use_backend(nullptr);
  CHECK_FALSE(engine.plan().has_changes());
}

TEST_CASE("OpenKruise DaemonSet: rollingUpdate.selector widens region by region", "[apply][rollout]") {
  Engine engine("edge");
  Files files = example_files("edge-kruise-daemonset");
  engine.load(files);
  engine.converge();
  const std::string new_image = "registry.cn-hangzhou.aliyuncs.com/acs/cache-service:v1.1.0";
  files["clusters/edge-central/cache-service.yaml"] =
      replaced(files["clusters/edge-central/cache-service.yaml"], "cache-service:v1.0.0", "cache-service:v1.1.0");
  engine.load(files);
  const Plan plan = engine.plan();
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update DaemonSet/default/cache-service"});
  CHECK(change_for(plan, "DaemonSet", "cache-service").rollout_regions ==
        std::vector<std::string>{"cn-hangzhou", "cn-shanghai", "cn-beijing"});

  const ObjectRef ds{"edge-central", "apps.kruise.io", "DaemonSet", "default", "cache-service"};
  RecordingBackend recorder(engine.sim());
  PodWatcher watcher(engine.sim(), ds, new_image);
  recorder.after_wait = [&] { watcher.observe(); };
  recorder.on_apply = [&](const ObjectRef&) { watcher.observe(); };
  engine.use_backend(&recorder);
  const ApplyReport report = engine.apply(plan);
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  watcher.observe();
  check_region_by_region(watcher);

  // Each apply carries the new template and a selector one region wider; the last restores Git's
  // strategy (no selector), which is not drift afterwards.
  std::vector<std::string> selectors;
  for (const auto& call : recorder.calls) {
    REQUIRE(call.op == "apply");
    CHECK(call.ref == ds);
    CHECK(text_at(*call.body, "/spec/template/spec/containers/0/image") == new_image);
    CHECK(text_at(*call.body, "/spec/updateStrategy/rollingUpdate/selector/matchExpressions/0/key") ==
          (selector_values(*call.body) == "none" ? "" : "topology.kubernetes.io/region"));
    selectors.push_back(selector_values(*call.body));
  }
  CHECK(selectors == std::vector<std::string>{"cn-hangzhou", "cn-hangzhou,cn-shanghai", "cn-hangzhou,cn-shanghai,cn-beijing", "none"});
  engine.use_backend(nullptr);
  CHECK_FALSE(engine.plan().has_changes());
  const auto live = engine.sim().get(ds);
  REQUIRE(live != nullptr);
  CHECK(find_pointer(*live, "/spec/updateStrategy/rollingUpdate/selector") == nullptr);
}

TEST_CASE("an interrupted apply stops between objects, is recorded as interrupted, and the next plan is correct", "[apply][interrupt]") {
  Engine engine;
  std::string configs;
  for (int i = 0; i < 40; ++i)
    configs += (i == 0 ? "" : "---\n") + configmap_yaml("cm-" + std::to_string(100 + i));
  engine.load({{"clusters.yaml", cluster_yaml("c1", "cn-hangzhou")}, {"clusters/c1/configs.yaml", configs}});
  const Plan plan = engine.plan();
  REQUIRE(plan.count(Action::create) == 41);
  std::atomic<bool> stop{false};
  ApplyOptions options;
  options.interrupted = &stop;
  options.progress = [&](const std::string& line) {
    engine.log.push_back(line);
    if (line.rfind("[10/41]", 0) == 0)
      stop.store(true);
  };
  const ApplyReport report = engine.apply(plan, options);
  INFO(engine.joined_log());
  CHECK(report.result == ApplyResult::interrupted);
  REQUIRE(report.regions.size() == 1);
  CHECK(report.regions[0].outcome == RegionOutcome::interrupted);
  CHECK(report.summary() == "10 applied, 0 failed, 31 not applied");

  const auto history = engine.store().history(5);
  REQUIRE(history.size() == 1);
  CHECK(history[0].result == ApplyResult::interrupted);
  CHECK(history[0].finished > 0);

  const Plan next = engine.plan();
  CHECK(next.count(Action::create) == 31);
  CHECK(next.count(Action::unchanged) == 10);
  CHECK(next.count(Action::update) == 0);
  engine.converge();
  CHECK_FALSE(engine.plan().has_changes());
}

TEST_CASE("transient backend errors are retried; a permanent one fails the object and its region", "[apply][errors]") {
  Engine engine;
  engine.load({{"clusters.yaml", cluster_yaml("c1", "cn-hangzhou") + "---\n" + cluster_yaml("c2", "cn-beijing")},
               {"clusters/c1/config.yaml", configmap_yaml("flaky")},
               {"clusters/c2/config.yaml", configmap_yaml("broken")},
               {"fleet.yaml", fleet_yaml({"cn-hangzhou", "cn-beijing"})}});
  RecordingBackend recorder(engine.sim());
  int flaky_failures = 0;
  recorder.on_apply = [&](const ObjectRef& ref) {
    if (ref.name == "flaky" && flaky_failures < 2) {
      ++flaky_failures;
      throw TransientError("connection reset by peer");
    }
    if (ref.name == "broken")
      throw UserError("admission webhook denied the request");
  };
  engine.use_backend(&recorder);
  const ApplyReport report = engine.apply(engine.plan());
  const std::string log = engine.joined_log();
  INFO(log);
  CHECK(flaky_failures == 2);
  CHECK(log.find("transient error, retrying in") != std::string::npos);
  CHECK(report.result == ApplyResult::halted);
  REQUIRE(report.regions.size() == 2);
  CHECK(report.regions[0].outcome == RegionOutcome::done);
  CHECK(report.regions[1].outcome == RegionOutcome::failed);
  CHECK(report.regions[1].reason == "ConfigMap/default/broken: admission webhook denied the request");
  CHECK(results_by_object(report)["ConfigMap/default/flaky"] == "applied");
  CHECK(results_by_object(report)["ConfigMap/default/broken"] == "failed");
}

TEST_CASE("sharding: another replica's objects are never written, and gate the regions after theirs", "[apply][shards]") {
  Engine engine;
  engine.load({{"fleet.yaml", fleet_yaml({"cn-hangzhou", "cn-shanghai"}, 1, true, "2m")},
               {"clusters.yaml", cluster_yaml("hz", "cn-hangzhou") + "---\n" + cluster_yaml("sh", "cn-shanghai")},
               {"clusters/hz/configs.yaml", configmap_yaml("hz-settings")},
               {"clusters/sh/configs.yaml", configmap_yaml("sh-settings")}});
  const auto in_hz = [](const ObjectRef& ref) { return ref.cluster == "hz" || (ref.is_fleet_level() && ref.name == "hz"); };
  // This replica holds sh's shard only: hz's objects (wave 1) are another replica's, still missing.
  ApplyOptions mine;
  mine.owns = [&](const ObjectRef& ref) { return !in_hz(ref); };
  mine.progress = [&](const std::string& line) { engine.log.push_back(line); };
  const ApplyReport waited = engine.apply(engine.plan(), mine);
  INFO(engine.joined_log());
  CHECK(waited.result == ApplyResult::halted);
  REQUIRE(waited.regions.size() == 2);
  CHECK(waited.regions[0].outcome == RegionOutcome::failed); // hz's objects never became healthy: nobody applied them
  CHECK(waited.regions[1].outcome == RegionOutcome::not_started);
  CHECK(engine.sim().get({"hz", "", "ConfigMap", "default", "hz-settings"}) == nullptr);
  CHECK(engine.joined_log().find("create ConfigMap/default/hz-settings") == std::string::npos);
  for (const ObjectResult& object : waited.objects)
    CHECK(object.cluster != "hz"); // the record holds this replica's objects only
  CHECK(results_by_object(waited).count("Cluster/hz") == 0);

  // The replica of hz's shard applies its objects and waits for sh's (wave 2) the same way.
  ApplyOptions theirs;
  theirs.owns = in_hz;
  const ApplyReport hz = engine.apply(engine.plan(), theirs);
  CHECK(hz.regions[0].outcome == RegionOutcome::done);
  CHECK(engine.sim().get({"hz", "", "ConfigMap", "default", "hz-settings"}) != nullptr);
  CHECK(engine.sim().get({"sh", "", "ConfigMap", "default", "sh-settings"}) == nullptr);
  // Now hz's region is healthy: this replica's rollout passes its gate and applies sh.
  engine.log.clear();
  const ApplyReport done = engine.apply(engine.plan(), mine);
  INFO(engine.joined_log());
  CHECK(done.result == ApplyResult::succeeded);
  CHECK(engine.sim().get({"sh", "", "ConfigMap", "default", "sh-settings"}) != nullptr);
  CHECK_FALSE(engine.plan().has_changes());
}

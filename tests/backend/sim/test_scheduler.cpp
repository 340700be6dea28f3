#include "kube_sched/scheduler.h"
#include "kube_rules/quantity.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>

using namespace meridian;
using namespace meridian::sched;

namespace {

struct NodeShape {
  std::string name{};
  std::string cpu = "4";
  std::string memory = "16Gi";
  std::string labels = "{}";
  std::string taints = "[]";
  std::string pods = "110";
  std::string extra_allocatable{}; //!< more allocatable members, e.g. `, "nvidia.com/gpu": "1"`
  std::string ready = "True";
  bool unschedulable = false;
};

std::string node_json(const NodeShape& shape) {
  return R"({"kind": "Node", "metadata": {"name": ")" + shape.name + R"(", "labels": )" + shape.labels +
         R"(}, "spec": {"unschedulable": )" + (shape.unschedulable ? "true" : "false") + R"(, "taints": )" +
         shape.taints + R"(}, "status": {"allocatable": {"cpu": ")" + shape.cpu + R"(", "memory": ")" + shape.memory +
         R"(", "pods": ")" + shape.pods + "\"" + shape.extra_allocatable +
         R"(}, "conditions": [{"type": "Ready", "status": ")" + shape.ready + R"("}]}})";
}

struct PodShape {
  std::string name = "web";
  std::string labels = "{}";
  std::string requests = R"({"cpu": "100m", "memory": "128Mi"})";
  std::string node{};           //!< spec.nodeName when bound
  std::string spec_extra{};     //!< more spec members, e.g. `, "nodeSelector": {...}`
  std::string metadata_extra{}; //!< more metadata members
  std::string phase = "Running";
};

std::string pod_json(const PodShape& shape) {
  return R"({"kind": "Pod", "metadata": {"name": ")" + shape.name + R"(", "namespace": "default", "labels": )" +
         shape.labels + shape.metadata_extra + R"(}, "spec": {)" +
         (shape.node.empty() ? "" : R"("nodeName": ")" + shape.node + R"(", )") +
         R"("containers": [{"name": "main", "resources": {"requests": )" + shape.requests + "}}]" + shape.spec_extra +
         R"(}, "status": {"phase": ")" + shape.phase + R"("}})";
}

//! Owns the documents behind a ClusterSnapshot and plays pods into it one by one.
class Cluster {
public:
  ClusterSnapshot snapshot;

  const Json& parse(const std::string& text) {
    JsonDocument& document = documents_.emplace_back();
    const auto error = parse_json(text, document);
    INFO(text);
    REQUIRE_FALSE(error);
    return document;
  }
  const Json& node(const NodeShape& shape) { return *snapshot.nodes.emplace_back(&parse(node_json(shape))); }
  const Json& pod(const PodShape& shape) { return *snapshot.pods.emplace_back(&parse(pod_json(shape))); }
  void policy(const std::string& text) { snapshot.resource_policies.push_back(&parse(text)); }

  //! Schedules a new pod without binding it.
  ScheduleDecision decide(const PodShape& shape) { return schedule(parse(pod_json(shape)), snapshot); }

  //! Schedules a new pod and, when it finds a node, binds it there with the unit's labels and annotations.
  ScheduleDecision place(PodShape shape) {
    const ScheduleDecision decision = decide(shape);
    if (decision.node.empty())
      return decision;
    shape.node = decision.node;
    JsonDocument& bound = documents_.emplace_back();
    REQUIRE_FALSE(parse_json(pod_json(shape), bound));
    auto& allocator = bound.GetAllocator();
    Json& labels = bound["metadata"]["labels"];
    for (const auto& [key, value] : decision.labels)
      labels.AddMember(Json(key.c_str(), allocator), Json(value.c_str(), allocator), allocator);
    Json annotations(rapidjson::kObjectType);
    for (const auto& [key, value] : decision.annotations)
      annotations.AddMember(Json(key.c_str(), allocator), Json(value.c_str(), allocator), allocator);
    bound["metadata"].AddMember("annotations", annotations, allocator);
    snapshot.pods.push_back(&bound);
    return decision;
  }

private:
  std::deque<JsonDocument> documents_;
};

const std::string kVirtualTaint =
    R"([{"key": "virtual-kubelet.io/provider", "value": "alibabacloud", "effect": "NoSchedule"}])";
const std::string kVirtualLabels = R"({"type": "virtual-kubelet"})";

bool selects(Cluster& cluster, const std::string& affinity, const Json& node) {
  const Json& pod = cluster.parse(pod_json({.spec_extra = R"(, "affinity": {"nodeAffinity": )"
                                                          R"({"requiredDuringSchedulingIgnoredDuringExecution": )"
                                                          R"({"nodeSelectorTerms": )" +
                                                          affinity + "}}}"}));
  return matches_node_selection(pod, node);
}

bool tolerates_taint(Cluster& cluster, const std::string& tolerations, const std::string& taint) {
  return tolerates(&cluster.parse(tolerations), cluster.parse(taint));
}

} // namespace

TEST_CASE("quantities parse to milli-units the way Kubernetes reads them", "[scheduler][quantity]") {
  CHECK(rules::parse_quantity_milli("500m") == 500);
  CHECK(rules::parse_quantity_milli("1.5") == 1500);
  CHECK(rules::parse_quantity_milli("2") == 2000);
  CHECK(rules::parse_quantity_milli("2Gi") == 2LL * 1024 * 1024 * 1024 * 1000);
  CHECK(rules::parse_quantity_milli("100Mi") == 100LL * 1024 * 1024 * 1000);
  CHECK(rules::parse_quantity_milli("16280Mi") == 16280LL * 1024 * 1024 * 1000);
  CHECK(rules::parse_quantity_milli("1e3") == 1000 * 1000);
  CHECK(rules::parse_quantity_milli("1P") == 1000000000000000000LL);
  CHECK_FALSE(rules::parse_quantity_milli("1E"));
  CHECK(rules::parse_quantity_milli("2k") == 2000 * 1000);
  CHECK(rules::parse_quantity_milli("0.5Ki") == 512 * 1000);
  CHECK(rules::parse_quantity_milli("-1") == -1000);
  CHECK(rules::parse_quantity_milli("0.1m") == 1);
  CHECK(rules::parse_quantity_milli("1001u") == 2);
  CHECK(rules::parse_quantity_milli(".5") == 500);
  CHECK_FALSE(rules::parse_quantity_milli("abc"));
  CHECK_FALSE(rules::parse_quantity_milli(""));
  CHECK_FALSE(rules::parse_quantity_milli("1.2.3"));
  CHECK_FALSE(rules::parse_quantity_milli("5Gb"));
  CHECK_FALSE(rules::parse_quantity_milli("1e"));
  CHECK_FALSE(rules::parse_quantity_milli("100Ei"));

  Cluster cluster;
  CHECK(rules::quantity_milli(cluster.parse("4")) == 4000);
  CHECK(rules::quantity_milli(cluster.parse("1.5")) == 1500);
  CHECK(rules::quantity_milli(cluster.parse("0.1")) == 100);
  CHECK(rules::quantity_milli(cluster.parse(R"("30Gi")")) == 30LL * 1024 * 1024 * 1024 * 1000);
  CHECK_FALSE(rules::quantity_milli(cluster.parse("true")));
}

TEST_CASE("an empty cluster reports kube-scheduler's no-nodes error", "[scheduler]") {
  Cluster cluster;
  const ScheduleDecision decision = cluster.place({});
  CHECK(decision.node.empty());
  CHECK(decision.message == "no nodes available to schedule pods");
}

TEST_CASE("nodeSelector keeps a pod to labelled nodes", "[scheduler][affinity]") {
  Cluster cluster;
  cluster.node({.name = "a-plain"});
  cluster.node({.name = "b-ssd", .labels = R"({"disk": "ssd"})"});
  CHECK(cluster.place({.spec_extra = R"(, "nodeSelector": {"disk": "ssd"})"}).node == "b-ssd");

  const ScheduleDecision none = cluster.place({.spec_extra = R"(, "nodeSelector": {"disk": "nvme"})"});
  CHECK(none.node.empty());
  CHECK(none.message == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling..");
}

TEST_CASE("required node affinity operators", "[scheduler][affinity]") {
  Cluster cluster;
  const Json& node = cluster.node({.name = "n1", .labels = R"({"zone": "a", "gpus": "4", "version": "v2"})"});
  const auto term = [](const std::string& expressions) { return R"([{"matchExpressions": )" + expressions + "}]"; };

  CHECK(selects(cluster, term(R"([{"key": "zone", "operator": "In", "values": ["a", "b"]}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "zone", "operator": "In", "values": ["b"]}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "missing", "operator": "In", "values": ["a"]}])"), node));
  CHECK(selects(cluster, term(R"([{"key": "zone", "operator": "NotIn", "values": ["b"]}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "zone", "operator": "NotIn", "values": ["a"]}])"), node));
  CHECK(selects(cluster, term(R"([{"key": "missing", "operator": "NotIn", "values": ["a"]}])"), node));
  CHECK(selects(cluster, term(R"([{"key": "zone", "operator": "Exists"}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "missing", "operator": "Exists"}])"), node));
  CHECK(selects(cluster, term(R"([{"key": "missing", "operator": "DoesNotExist"}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "zone", "operator": "DoesNotExist"}])"), node));
  CHECK(selects(cluster, term(R"([{"key": "gpus", "operator": "Gt", "values": ["3"]}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "gpus", "operator": "Gt", "values": ["4"]}])"), node));
  CHECK(selects(cluster, term(R"([{"key": "gpus", "operator": "Lt", "values": ["5"]}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "gpus", "operator": "Lt", "values": ["4"]}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "version", "operator": "Gt", "values": ["1"]}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "gpus", "operator": "Gt", "values": ["1", "2"]}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "missing", "operator": "Lt", "values": ["9"]}])"), node));
  CHECK_FALSE(selects(cluster, term(R"([{"key": "zone", "operator": "Like", "values": ["a"]}])"), node));

  SECTION("expressions of a term are ANDed, terms are ORed") {
    CHECK_FALSE(selects(cluster, term(R"([{"key": "zone", "operator": "In", "values": ["a"]},
                                 {"key": "gpus", "operator": "In", "values": ["8"]}])"),
                        node));
    CHECK(selects(cluster,
                  R"([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z"]}]},
                      {"matchExpressions": [{"key": "gpus", "operator": "In", "values": ["4"]}]}])",
                  node));
  }
  SECTION("an empty term selects nothing") {
    CHECK_FALSE(selects(cluster, R"([{}])", node));
    CHECK_FALSE(selects(cluster, R"([])", node));
  }
  SECTION("matchFields selects by metadata.name") {
    CHECK(
        selects(cluster, R"([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])", node));
    CHECK_FALSE(selects(
        cluster, R"([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}])", node));
  }
  SECTION("nodeSelector and affinity must both hold") {
    const Json& pod = cluster.parse(pod_json({.spec_extra = R"(, "nodeSelector": {"zone": "b"}, "affinity":
        {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms":
        [{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]}}})"}));
    CHECK_FALSE(matches_node_selection(pod, node));
  }
}

TEST_CASE("tolerations match taints like Toleration.ToleratesTaint", "[scheduler][taint]") {
  Cluster cluster;
  const std::string taint = R"({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})";
  CHECK(tolerates_taint(cluster, R"([{"key": "dedicated", "operator": "Equal", "value": "gpu"}])", taint));
  CHECK(tolerates_taint(cluster, R"([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])", taint));
  CHECK_FALSE(tolerates_taint(cluster, R"([{"key": "dedicated", "operator": "Equal", "value": "cpu"}])", taint));
  CHECK_FALSE(tolerates_taint(cluster, R"([{"key": "dedicated"}])", taint));
  CHECK(tolerates_taint(cluster, R"([{"key": "dedicated", "operator": "Exists"}])", taint));
  CHECK_FALSE(tolerates_taint(cluster, R"([{"key": "other", "operator": "Exists"}])", taint));
  CHECK(tolerates_taint(cluster, R"([{"operator": "Exists"}])", taint));
  CHECK_FALSE(
      tolerates_taint(cluster, R"([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}])", taint));
  CHECK(tolerates_taint(cluster, R"([{"key": "other", "operator": "Exists"}, {"operator": "Exists"}])", taint));
  CHECK_FALSE(tolerates(nullptr, cluster.parse(taint)));
}

TEST_CASE("NoSchedule and NoExecute taints filter, PreferNoSchedule only scores", "[scheduler][taint]") {
  Cluster cluster;
  SECTION("NoSchedule") {
    cluster.node({.name = "n1", .taints = R"([{"key": "k", "value": "v", "effect": "NoSchedule"}])"});
    const ScheduleDecision decision = cluster.place({});
    CHECK(decision.node.empty());
    CHECK(decision.message == "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling..");
    CHECK(cluster.place({.spec_extra = R"(, "tolerations": [{"key": "k", "operator": "Exists"}])"}).node == "n1");
  }
  SECTION("NoExecute") {
    cluster.node({.name = "n1", .taints = R"([{"key": "k", "value": "v", "effect": "NoExecute"}])"});
    CHECK(cluster.place({}).message == "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling..");
    CHECK(cluster.place({.spec_extra = R"(, "tolerations": [{"key": "k", "value": "v"}])"}).node == "n1");
  }
  SECTION("PreferNoSchedule") {
    cluster.node({.name = "a", .taints = R"([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}])"});
    CHECK(cluster.decide({}).node == "a");
    cluster.node({.name = "b"});
    CHECK(cluster.decide({}).node == "b");
    CHECK(cluster.decide({.spec_extra = R"(, "tolerations": [{"operator": "Exists"}])"}).node == "a");
  }
}

TEST_CASE("nodes that are not Ready or are cordoned", "[scheduler][taint]") {
  Cluster cluster;
  cluster.node({.name = "down", .ready = "False"});
  cluster.node({.name = "lost", .ready = "Unknown"});
  cluster.node({.name = "cordoned", .unschedulable = true});
  const ScheduleDecision decision = cluster.place({});
  CHECK(decision.node.empty());
  CHECK(decision.message ==
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
        "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
        "1 node(s) had untolerated taint {node.kubernetes.io/unschedulable: }, 1 node(s) were unschedulable. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling..");
  CHECK(cluster
            .place({.spec_extra = R"(, "tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator":
                                        "Exists", "effect": "NoSchedule"}])"})
            .node == "cordoned");
  CHECK(cluster
            .place({.spec_extra = R"(, "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator":
                                        "Exists"}])"})
            .node == "down");
}

TEST_CASE("resource fit counts cpu, memory, extended resources and pods", "[scheduler][resources]") {
  Cluster cluster;
  SECTION("cpu and memory, with bound pods using their share") {
    cluster.node({.name = "n1", .cpu = "2", .memory = "4Gi"});
    cluster.pod({.name = "old", .requests = R"({"cpu": "1500m", "memory": "3Gi"})", .node = "n1"});
    CHECK(cluster.place({.requests = R"({"cpu": "500m", "memory": "1Gi"})"}).node == "n1");
    const ScheduleDecision full = cluster.place({.name = "more", .requests = R"({"cpu": "1", "memory": "1Gi"})"});
    CHECK(full.message == "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod..");
  }
  SECTION("finished and terminating pods free their resources") {
    cluster.node({.name = "n1", .cpu = "1"});
    cluster.pod({.name = "done", .requests = R"({"cpu": "1"})", .node = "n1", .phase = "Succeeded"});
    cluster.pod({.name = "going",
                 .requests = R"({"cpu": "1"})",
                 .node = "n1",
                 .metadata_extra = R"(, "deletionTimestamp": "2024-01-01T00:00:00Z")"});
    CHECK(cluster.place({.requests = R"({"cpu": "1"})"}).node == "n1");
    CHECK(cluster.place({.name = "next", .requests = R"({"cpu": "1"})"}).message ==
          "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod..");
  }
  SECTION("scenario 3: no node has a GPU") {
    for (const char* name : {"n1", "n2", "n3", "n4"})
      cluster.node({.name = name});
    const std::string gpu_pod =
        R"({"metadata": {"name": "tensorflow-mnist", "namespace": "default"}, "spec": {"containers":
            [{"name": "main", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}})";
    const ScheduleDecision pending = schedule(cluster.parse(gpu_pod), cluster.snapshot);
    CHECK(pending.node.empty());
    CHECK(pending.message == "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod..");

    cluster.node({.name = "gpu-p100",
                  .memory = "30Gi",
                  .labels = R"({"aliyun.accelerator/nvidia_count": "1", "aliyun.accelerator/nvidia_mem": "16280MiB"})",
                  .extra_allocatable = R"(, "nvidia.com/gpu": "1")"});
    CHECK(schedule(cluster.parse(gpu_pod), cluster.snapshot).node == "gpu-p100");
  }
  SECTION("pod count") {
    cluster.node({.name = "n1", .pods = "2"});
    cluster.pod({.name = "p1", .node = "n1"});
    cluster.pod({.name = "p2", .node = "n1"});
    CHECK(cluster.place({}).message == "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod..");
  }
  SECTION("limits default requests, init containers take the max") {
    cluster.node({.name = "n1", .cpu = "2"});
    const Json& limits_only = cluster.parse(
        R"({"metadata": {"name": "l"}, "spec": {"containers": [{"resources": {"limits": {"cpu": "3"}}}]}})");
    CHECK(schedule(limits_only, cluster.snapshot).message == "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod..");
    const Json& both = cluster.parse(R"({"metadata": {"name": "b"}, "spec": {"containers":
        [{"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "3"}}}]}})");
    CHECK(schedule(both, cluster.snapshot).node == "n1");
    const Json& init = cluster.parse(R"({"metadata": {"name": "i"}, "spec": {
        "initContainers": [{"resources": {"requests": {"cpu": "3"}}}],
        "containers": [{"resources": {"requests": {"cpu": "1"}}}, {"resources": {"requests": {"cpu": "500m"}}}]}})");
    CHECK(schedule(init, cluster.snapshot).message == "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod..");
    const Json& small_init = cluster.parse(R"({"metadata": {"name": "s"}, "spec": {
        "initContainers": [{"resources": {"requests": {"cpu": "1"}}}],
        "containers": [{"resources": {"requests": {"cpu": "1"}}}, {"resources": {"requests": {"cpu": "1"}}}]}})");
    CHECK(schedule(small_init, cluster.snapshot).node == "n1");
  }
}

TEST_CASE("failure reasons are counted per node and sorted like kube-scheduler", "[scheduler][message]") {
  Cluster cluster;
  cluster.node({.name = "virtual", .labels = kVirtualLabels, .taints = kVirtualTaint});
  cluster.node({.name = "small-1", .cpu = "1", .labels = R"({"pool": "a"})"});
  cluster.node({.name = "small-2", .cpu = "1", .labels = R"({"pool": "a"})"});
  cluster.node({.name = "other-1", .labels = R"({"pool": "b"})"});
  cluster.node({.name = "other-2", .labels = R"({"pool": "b"})"});
  const ScheduleDecision decision =
      cluster.place({.requests = R"({"cpu": "2"})", .spec_extra = R"(, "nodeSelector": {"pool": "a"})"});
  // kube-scheduler v1.26 runs every filter on every node: the virtual node fails two of them.
  CHECK(decision.message ==
        "0/5 nodes are available: 1 node(s) had untolerated taint {virtual-kubelet.io/provider: alibabacloud}, "
        "2 Insufficient cpu, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are available: "
        "2 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling..");
}

TEST_CASE("scoring: preferred weight, then least allocated, then name", "[scheduler][score]") {
  Cluster cluster;
  const std::string prefer_ssd = R"(, "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
      [{"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
       {"weight": 5, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}})";
  cluster.node({.name = "a-busy-ssd", .labels = R"({"disk": "ssd"})"});
  cluster.node({.name = "b-zone-a", .labels = R"({"zone": "a"})"});
  cluster.node({.name = "c-empty"});
  cluster.node({.name = "d-empty"});
  cluster.pod({.name = "load", .requests = R"({"cpu": "3", "memory": "12Gi"})", .node = "a-busy-ssd"});

  CHECK(cluster.place({.name = "weighted", .spec_extra = prefer_ssd}).node == "a-busy-ssd");
  cluster.pod({.name = "load-b", .requests = R"({"cpu": "1"})", .node = "b-zone-a"});
  CHECK(cluster.place({.name = "spread-1"}).node == "c-empty");
  CHECK(cluster.place({.name = "spread-2"}).node == "d-empty");
  CHECK(cluster.place({.name = "spread-3"}).node == "c-empty");
}

TEST_CASE("scenario 6: a gateway prefers the labelled ECS node, then the virtual node", "[scheduler][scenario]") {
  Cluster cluster;
  cluster.node({.name = "ecs-gateway",
                .cpu = "2",
                .labels = R"({"mykey4pod": "asmgateway"})",
                .taints = R"([{"key": "mykey4pod", "value": "asmgateway", "effect": "NoSchedule"}])"});
  cluster.node({.name = "ecs-plain", .cpu = "8"});
  cluster.node({.name = "virtual-kubelet-cn-hangzhou-i",
                .cpu = "1000",
                .memory = "4Ti",
                .labels = kVirtualLabels,
                .taints = kVirtualTaint});
  const std::string gateway = R"(,
      "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists", "effect": "NoSchedule"},
                      {"key": "mykey4pod", "operator": "Equal", "value": "asmgateway", "effect": "NoSchedule"}],
      "affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
          {"matchExpressions": [{"key": "mykey4pod", "operator": "In", "values": ["asmgateway"]}]},
          {"matchExpressions": [{"key": "type", "operator": "In", "values": ["virtual-kubelet"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [
          {"weight": 80, "preference": {"matchExpressions":
            [{"key": "mykey4pod", "operator": "In", "values": ["asmgateway"]}]}},
          {"weight": 20, "preference": {"matchExpressions":
            [{"key": "type", "operator": "In", "values": ["virtual-kubelet"]}]}}]}})";
  const std::string requests = R"({"cpu": "1", "memory": "1Gi"})";
  CHECK(cluster.place({.name = "gw-1", .requests = requests, .spec_extra = gateway}).node == "ecs-gateway");
  CHECK(cluster.place({.name = "gw-2", .requests = requests, .spec_extra = gateway}).node == "ecs-gateway");
  CHECK(cluster.place({.name = "gw-3", .requests = requests, .spec_extra = gateway}).node ==
        "virtual-kubelet-cn-hangzhou-i");
}

namespace {
const std::string kCase1Policy = R"({"kind": "ResourcePolicy", "metadata": {"name": "nginx", "namespace": "default"},
    "spec": {"selector": {"app": "nginx"}, "strategy": "prefer", "units": [
      {"resource": "idc"},
      {"resource": "ecs", "nodeSelector": {"alibabacloud.com/nodepool-id": "np7b30xxx"}}]}})";
const std::string kCase2Policy = R"({"kind": "ResourcePolicy", "metadata": {"name": "nginx", "namespace": "default"},
    "spec": {"selector": {"app": "nginx"}, "strategy": "prefer", "units": [
      {"resource": "idc", "max": 2},
      {"resource": "ecs", "max": 4, "podLabels": {"unit": "ecs"}, "podAnnotations": {"note": "cloud"}}]}})";
const std::string kNginx = R"({"app": "nginx"})";
const std::string kPool = R"({"alibabacloud.com/nodepool-id": "np7b30xxx"})";

PodShape nginx(int replica) { return {.name = "nginx-" + std::to_string(replica), .labels = kNginx}; }
} // namespace

TEST_CASE("ResourcePolicy case 1: idc first, then the ECS node pool", "[scheduler][resourcepolicy]") {
  Cluster cluster;
  cluster.snapshot.registered = true;
  cluster.node({.name = "idc-master", .cpu = "2"});
  cluster.node({.name = "ecs-1", .cpu = "4", .labels = kPool});
  cluster.node({.name = "ecs-other", .cpu = "64", .labels = R"({"alibabacloud.com/nodepool-id": "npother"})"});
  cluster.policy(kCase1Policy);
  PodShape pod = nginx(1);
  pod.requests = R"({"cpu": "1"})";
  for (int replica = 1; replica <= 6; ++replica) {
    pod.name = "nginx-" + std::to_string(replica);
    const ScheduleDecision decision = cluster.place(pod);
    CHECK(decision.node == (replica <= 2 ? "idc-master" : "ecs-1"));
    CHECK(decision.unit == (replica <= 2 ? 0 : 1));
  }
  pod.name = "nginx-7";
  const ScheduleDecision pending = cluster.place(pod);
  CHECK(pending.node.empty());
  CHECK(pending.message ==
        "0/3 nodes are available: 1 node(s) didn't match any ResourcePolicy unit, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..");

  SECTION("pods outside the selector ignore the policy") {
    CHECK(cluster.place({.name = "other", .requests = R"({"cpu": "1"})"}).node == "ecs-other");
  }
  SECTION("idc needs a Registered cluster") {
    cluster.snapshot.registered = false;
    cluster.snapshot.pods.clear();
    CHECK(cluster.place(nginx(1)).node == "ecs-1");
  }
}

TEST_CASE("ResourcePolicy case 2: max per unit, podLabels on placed pods", "[scheduler][resourcepolicy]") {
  Cluster cluster;
  cluster.snapshot.registered = true;
  cluster.node({.name = "idc-master"});
  cluster.node({.name = "ecs-1", .cpu = "64", .memory = "256Gi", .labels = kPool});
  cluster.policy(kCase2Policy);
  for (int replica = 1; replica <= 6; ++replica) {
    const ScheduleDecision decision = cluster.place(nginx(replica));
    INFO("replica " << replica);
    CHECK(decision.node == (replica <= 2 ? "idc-master" : "ecs-1"));
    if (replica <= 2) {
      CHECK(decision.labels.empty());
      continue;
    }
    CHECK(decision.labels == std::map<std::string, std::string>{{"unit", "ecs"}});
    CHECK(decision.annotations == std::map<std::string, std::string>{{"note", "cloud"}});
  }
  const ScheduleDecision seventh = cluster.place(nginx(7));
  CHECK(seventh.node.empty());
  CHECK(seventh.unit == -1);
  CHECK(seventh.message == "0/2 nodes are available: 2 node(s) exceed ResourcePolicy unit max. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling..");
}

TEST_CASE("ResourcePolicy counts only pods that carry the unit's podLabels", "[scheduler][resourcepolicy]") {
  Cluster cluster;
  cluster.node({.name = "ecs-1", .cpu = "64", .memory = "256Gi"});
  cluster.node({.name = "virtual", .cpu = "1000", .memory = "4Ti", .labels = kVirtualLabels, .taints = kVirtualTaint});
  cluster.policy(R"({"metadata": {"name": "p", "namespace": "default"}, "spec": {"selector": {"app": "nginx"},
      "units": [{"resource": "ecs", "max": 1, "podLabels": {"unit": "first"}}, {"resource": "eci"}]}})");
  cluster.pod({.name = "unlabelled", .labels = kNginx, .node = "ecs-1"});
  cluster.pod({.name = "other-namespace-style", .labels = R"({"app": "other", "unit": "first"})", .node = "ecs-1"});
  cluster.pod({.name = "terminating",
               .labels = R"({"app": "nginx", "unit": "first"})",
               .node = "ecs-1",
               .metadata_extra = R"(, "deletionTimestamp": "2024-01-01T00:00:00Z")"});
  const ScheduleDecision first = cluster.place(nginx(1));
  CHECK(first.node == "ecs-1");
  CHECK(first.unit == 0);
  const ScheduleDecision second = cluster.place(nginx(2));
  CHECK(second.node == "virtual");
  CHECK(second.unit == 1);
}

TEST_CASE("ResourcePolicy whenTryNextUnits", "[scheduler][resourcepolicy]") {
  Cluster cluster;
  cluster.node({.name = "ecs-1", .cpu = "1"});
  cluster.node({.name = "virtual", .cpu = "1000", .memory = "4Ti", .labels = kVirtualLabels, .taints = kVirtualTaint});
  PodShape pod = nginx(1);
  pod.requests = R"({"cpu": "1"})";
  cluster.pod({.name = "filler", .requests = R"({"cpu": "1"})", .node = "ecs-1"});
  SECTION("LackResourceOrExceedMax spills to the next unit") {
    cluster.policy(R"({"metadata": {"name": "p"}, "spec": {"selector": {"app": "nginx"},
        "units": [{"resource": "ecs", "max": 5}, {"resource": "eci"}]}})");
    CHECK(cluster.place(pod).node == "virtual");
  }
  SECTION("ExceedMax waits in a unit below its max") {
    cluster.policy(R"({"metadata": {"name": "p"}, "spec": {"selector": {"app": "nginx"},
        "whenTryNextUnits": {"policy": "ExceedMax"}, "units": [{"resource": "ecs", "max": 5}, {"resource": "eci"}]}})");
    const ScheduleDecision decision = cluster.place(pod);
    CHECK(decision.node.empty());
    CHECK(decision.message ==
          "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) are in a later ResourcePolicy unit. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling..");
  }
  SECTION("maxResources caps the unit's total requests") {
    cluster.node({.name = "ecs-2", .cpu = "8"});
    cluster.policy(R"({"metadata": {"name": "p"}, "spec": {"selector": {"app": "nginx"},
        "units": [{"resource": "ecs", "maxResources": {"cpu": "2"}}, {"resource": "eci"}]}})");
    CHECK(cluster.place(pod).node == "ecs-2");
    pod.name = "nginx-2";
    CHECK(cluster.place(pod).node == "ecs-2");
    pod.name = "nginx-3";
    CHECK(cluster.place(pod).node == "virtual");
  }
  SECTION("ExceedMax moves on from a unit without max") {
    cluster.policy(R"({"metadata": {"name": "p"}, "spec": {"selector": {"app": "nginx"},
        "whenTryNextUnits": {"policy": "ExceedMax"}, "units": [{"resource": "ecs"}, {"resource": "eci"}]}})");
    CHECK(cluster.place(pod).node == "virtual");
  }
  SECTION("LackResourceAndNoTerminating waits while a pod of the unit terminates") {
    cluster.policy(R"({"metadata": {"name": "p"}, "spec": {"selector": {"app": "nginx"},
        "whenTryNextUnits": {"policy": "LackResourceAndNoTerminating"},
        "units": [{"resource": "ecs"}, {"resource": "eci"}]}})");
    cluster.pod({.name = "old",
                 .labels = kNginx,
                 .requests = "{}",
                 .node = "ecs-1",
                 .metadata_extra = R"(, "deletionTimestamp": "2024-01-01T00:00:00Z")"});
    CHECK(cluster.place(pod).node.empty());
  }
  SECTION("a virtual unit tolerates the provider taint, an ecs unit does not") {
    cluster.policy(R"({"metadata": {"name": "p"}, "spec": {"selector": {"app": "nginx"},
        "units": [{"resource": "ecs"}]}})");
    CHECK(cluster.place(pod).message ==
          "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match any ResourcePolicy unit. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling..");
  }
}

TEST_CASE("scale-in removes pods of the last unit first", "[scheduler][resourcepolicy]") {
  Cluster cluster;
  cluster.snapshot.registered = true;
  cluster.node({.name = "idc-master"});
  cluster.node({.name = "ecs-1", .cpu = "64", .memory = "256Gi", .labels = kPool});
  cluster.policy(kCase2Policy);
  for (int replica = 1; replica <= 6; ++replica) {
    PodShape pod = nginx(replica);
    // Older pods in the later unit: the unit decides before age does.
    pod.metadata_extra = R"(, "creationTimestamp": "2024-01-01T00:00:)" + std::to_string(20 - replica) + R"(Z")";
    REQUIRE_FALSE(cluster.place(pod).node.empty());
  }
  PodShape pending = nginx(7);
  pending.phase = "Pending";
  const Json& unbound = cluster.pod(pending);

  std::vector<const Json*> candidates = cluster.snapshot.pods;
  std::reverse(candidates.begin(), candidates.end());
  const std::vector<const Json*> order = scale_in_order(candidates, cluster.snapshot);
  std::vector<std::string> names;
  for (const Json* pod : order)
    names.emplace_back((*pod)["metadata"]["name"].GetString());
  CHECK(order.front() == &unbound);
  CHECK(names == std::vector<std::string>{"nginx-7", "nginx-3", "nginx-4", "nginx-5", "nginx-6", "nginx-1", "nginx-2"});
}

TEST_CASE("scale-in without a policy: Pending first, then newest, then name", "[scheduler]") {
  Cluster cluster;
  cluster.node({.name = "n1"});
  cluster.pod({.name = "old", .node = "n1", .metadata_extra = R"(, "creationTimestamp": "2024-01-01T00:00:00Z")"});
  cluster.pod({.name = "new-b", .node = "n1", .metadata_extra = R"(, "creationTimestamp": "2024-01-02T00:00:00Z")"});
  cluster.pod({.name = "new-a", .node = "n1", .metadata_extra = R"(, "creationTimestamp": "2024-01-02T00:00:00Z")"});
  cluster.pod({.name = "starting",
               .node = "n1",
               .metadata_extra = R"(, "creationTimestamp": "2023-01-01T00:00:00Z")",
               .phase = "Pending"});
  std::vector<std::string> names;
  for (const Json* pod : scale_in_order(cluster.snapshot.pods, cluster.snapshot))
    names.emplace_back((*pod)["metadata"]["name"].GetString());
  CHECK(names == std::vector<std::string>{"starting", "new-a", "new-b", "old"});
}

TEST_CASE("daemon pods get the daemon controller's automatic tolerations", "[scheduler][daemon]") {
  Cluster cluster;
  const Json& agent = cluster.parse(pod_json({.name = "agent"}));
  const Json& cordoned =
      cluster.node({.name = "cordoned",
                    .taints = R"([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])",
                    .unschedulable = true});
  CHECK_FALSE(daemon_pod_misfit(agent, cordoned, cluster.snapshot));
  CHECK(schedule(agent, cluster.snapshot).message == "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unschedulable: }, 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling..");

  const Json& dedicated =
      cluster.node({.name = "dedicated", .taints = R"([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])"});
  CHECK(daemon_pod_misfit(agent, dedicated, cluster.snapshot) == "node(s) had untolerated taint {dedicated: db}");
  const Json& tolerant = cluster.parse(
      pod_json({.name = "tolerant", .spec_extra = R"(, "tolerations": [{"key": "dedicated", "operator": "Exists"}])"}));
  CHECK_FALSE(daemon_pod_misfit(tolerant, dedicated, cluster.snapshot));

  const Json& pressured = cluster.node(
      {.name = "pressured", .taints = R"([{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}])"});
  CHECK_FALSE(daemon_pod_misfit(agent, pressured, cluster.snapshot));
  const Json& no_network =
      cluster.node({.name = "no-network",
                    .taints = R"([{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}])"});
  CHECK(daemon_pod_misfit(agent, no_network, cluster.snapshot));
  const Json& host_network = cluster.parse(pod_json({.name = "host", .spec_extra = R"(, "hostNetwork": true)"}));
  CHECK_FALSE(daemon_pod_misfit(host_network, no_network, cluster.snapshot));

  const Json& busy = cluster.node({.name = "busy", .cpu = "100m"});
  const Json& running = cluster.pod({.name = "agent", .node = "busy"});
  CHECK_FALSE(daemon_pod_misfit(running, busy, cluster.snapshot));
  CHECK(daemon_pod_misfit(cluster.parse(pod_json({.name = "agent-2"})), busy, cluster.snapshot) == "Insufficient cpu");

  const Json& tiny = cluster.node({.name = "tiny", .cpu = "50m", .memory = "64Mi"});
  CHECK(daemon_pod_misfit(agent, tiny, cluster.snapshot) == "Insufficient cpu, Insufficient memory");
  const Json& other_pool = cluster.node({.name = "other-pool", .labels = R"({"pool": "b"})"});
  const Json& pinned = cluster.parse(pod_json({.name = "pinned", .spec_extra = R"(, "nodeSelector": {"pool": "a"})"}));
  CHECK(daemon_pod_misfit(pinned, other_pool, cluster.snapshot) == "node(s) didn't match Pod's node affinity/selector");
}

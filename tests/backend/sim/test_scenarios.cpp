// PRODUCT.md's scenarios played on the simulator through the Backend interface: fixture and
// example manifests in, the exact live outcome out.
#include "sim_fixture.h"

#include "kube_sched/scheduler.h"
#include "base/error.h"
#include "kube_rules/quantity.h"

#include <regex>

using namespace sim_test;

namespace {

std::shared_ptr<JsonDocument> with_replicas(const Manifest& manifest, int replicas) {
  auto copy = std::make_shared<JsonDocument>();
  copy->CopyFrom(*manifest.object, copy->GetAllocator());
  (*copy)["spec"]["replicas"].SetInt64(replicas);
  return copy;
}

int on_nodes_with_prefix(const std::vector<PodPlacement>& placements, const std::string& prefix) {
  return static_cast<int>(std::count_if(placements.begin(), placements.end(),
                                        [&](const PodPlacement& p) { return p.node.rfind(prefix, 0) == 0; }));
}

int pending(const std::vector<PodPlacement>& placements) {
  return static_cast<int>(std::count_if(placements.begin(), placements.end(), [](const PodPlacement& p) { return p.node.empty(); }));
}

} // namespace

TEST_CASE("scenario 3: a GPU pod stays Pending, then runs on a GPU pool added in another region", "[scenario]") {
  Fleet fleet("gpu-shortage");
  auto manifests = fleet.apply_example("gpu-shortage");
  const ObjectRef deployment = manifests.at("Deployment/tensorflow-mnist").ref;
  fleet.sim->wait(3min);

  const auto placements = fleet.sim->placements(deployment);
  REQUIRE(placements.size() == 1);
  CHECK(placements[0].node.empty());
  CHECK(placements[0].phase == "Pending");
  CHECK(placements[0].message == "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod..");
  CHECK(std::regex_match(placements[0].name, std::regex("tensorflow-mnist-[4-9bcdf]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}")));
  const Health health = fleet.sim->health(deployment);
  CHECK(health.status == HealthStatus::degraded);
  CHECK(health.message.find("0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod..") != std::string::npos);

  // describe shows the scheduler's reason as an event, like kubectl describe pod.
  const std::string described = fleet.sim->describe({"ml-prod", "", "Pod", "default", placements[0].name});
  CHECK(described.find("FailedScheduling") != std::string::npos);
  CHECK(described.find("default-scheduler") != std::string::npos);
  CHECK(described.find("0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod..") != std::string::npos);

  // The plan's forecast for the GPU pool: the pod would run in cn-beijing; nothing changes yet.
  Fleet step2_files;
  const auto step2 = step2_files.example("gpu-shortage.step2");
  REQUIRE(step2.size() == 1);
  const long long clock = fleet.sim->now_ms();
  const auto forecasts = fleet.sim->predict({{step2[0].ref, step2[0].object.get()}});
  CHECK(fleet.sim->now_ms() == clock);
  CHECK(fleet.sim->get(step2[0].ref) == nullptr);
  CHECK(fleet.nodes("ml-prod").size() == 4);
  REQUIRE(forecasts.size() == 1);
  CHECK(forecasts[0].workload == deployment);
  CHECK(forecasts[0].pending == 0);
  REQUIRE(forecasts[0].placements.size() == 1);
  CHECK(forecasts[0].placements[0].region == "cn-beijing");
  CHECK(fleet.sim->placements(deployment)[0].node.empty());

  fleet.apply(step2[0]);
  fleet.sim->wait(2min);
  const auto after = fleet.sim->placements(deployment);
  REQUIRE(after.size() == 1);
  CHECK(after[0].phase == "Running");
  CHECK(after[0].region == "cn-beijing");
  const auto node = fleet.sim->get({"ml-prod", "", "Node", "", after[0].node});
  REQUIRE(node);
  CHECK(label(*node, "node.kubernetes.io/instance-type") == "ecs.gn6i-c4g1.xlarge");
  CHECK(label(*node, "alibabacloud.com/nodepool-id") == "gpu-beijing");
  CHECK(label(*node, "accelerator") == "t4");
  CHECK(label(*node, "aliyun.accelerator/nvidia_name") == "Tesla-T4");
  CHECK(fleet.sim->health(deployment).status == HealthStatus::healthy);
  CHECK(fleet.sim->node_regions("ml-prod") == std::vector<std::string>{"cn-beijing", "cn-hangzhou"});
}

TEST_CASE("scenario 3: predict reports the Pending pod before anything is applied", "[scenario][predict]") {
  Fleet fleet("gpu-shortage");
  std::vector<std::pair<ObjectRef, const Json*>> changes;
  const auto manifests = fleet.example("gpu-shortage");
  for (const Manifest& manifest : manifests)
    changes.emplace_back(manifest.ref, manifest.object.get());
  const auto forecasts = fleet.sim->predict(changes);
  REQUIRE(forecasts.size() == 1);
  CHECK(forecasts[0].workload.kind == "Deployment");
  CHECK(forecasts[0].pods == 1);
  CHECK(forecasts[0].pending == 1);
  CHECK(forecasts[0].message == "1 pod will stay Pending: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu. "
        "preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod..");
  // Rolled back: the fleet is still empty and time did not move.
  CHECK(fleet.sim->list("clusters", "", "").empty());
  CHECK(fleet.sim->now_ms() == 0);
}

TEST_CASE("scenario 4: an IDC cluster borrows a cloud P100 node with ACK's labels and capacity", "[scenario]") {
  Fleet fleet("idc");
  auto manifests = fleet.apply_example("idc-borrow-gpu");
  fleet.sim->wait(2min);
  std::vector<LiveObject> gpu_nodes;
  for (LiveObject& node : fleet.nodes("idc-cluster")) {
    if (label(*node.object, "alibabacloud.com/nodepool-id") == "gpu-p100")
      gpu_nodes.push_back(node);
  }
  REQUIRE(gpu_nodes.size() == 1);
  const Json& node = *gpu_nodes[0].object;
  CHECK(label(node, "aliyun.accelerator/nvidia_count") == "1");
  CHECK(label(node, "aliyun.accelerator/nvidia_mem") == "16280MiB");
  CHECK(label(node, "aliyun.accelerator/nvidia_name") == "Tesla-P100-PCIE-16GB");
  CHECK(label(node, "node.kubernetes.io/instance-type") == "ecs.gn5-c4g1.xlarge");
  CHECK(label(node, "topology.kubernetes.io/region") == "cn-zhangjiakou");
  CHECK(label(node, "topology.kubernetes.io/zone") == "cn-zhangjiakou-a");
  CHECK(label(node, "kubernetes.io/hostname") == gpu_nodes[0].ref.name);
  CHECK(label(node, "accelerator") == "p100");
  CHECK(text_of(node, "/status/capacity/nvidia.com~1gpu") == "1");
  CHECK(text_of(node, "/status/capacity/cpu") == "4");
  CHECK(text_of(node, "/status/capacity/pods") == "110");
  const auto memory = rules::parse_quantity_milli(text_of(node, "/status/capacity/memory"));
  REQUIRE(memory);
  CHECK(*memory / 1000 == 30LL << 30);
  CHECK(text_of(node, "/status/allocatable/nvidia.com~1gpu") == "1");
  CHECK(text_of(node, "/spec/taints/0/key") == "nvidia.com/gpu");

  const auto placements = fleet.sim->placements(manifests.at("Deployment/gpu-job").ref);
  REQUIRE(placements.size() == 1);
  CHECK(placements[0].node == gpu_nodes[0].ref.name);
  CHECK(placements[0].phase == "Running");
  // The IDC master is still there, tainted, with no pool label.
  const auto master = fleet.sim->get({"idc-cluster", "", "Node", "", "idc-master-01"});
  REQUIRE(master);
  CHECK(label(*master, "alibabacloud.com/nodepool-id").empty());
  CHECK(text_of(*master, "/spec/taints/0/key") == "node-role.kubernetes.io/control-plane");
}

TEST_CASE("scenario 5: ResourcePolicy fills units in order and scales in from the last", "[scenario][resourcepolicy]") {
  Fleet fleet("idc");
  auto manifests = fleet.apply_example("resource-policy");
  const Manifest nginx = manifests.at("Deployment/nginx");
  const auto idc = [](const std::vector<PodPlacement>& p) { return on_nodes_with_prefix(p, "idc-worker-"); };
  const auto ecs = [](const std::vector<PodPlacement>& p) { return on_nodes_with_prefix(p, "cn-hangzhou."); };
  const auto scale = [&](int replicas) {
    fleet.apply(nginx.ref, with_replicas(nginx, replicas));
    fleet.sim->wait(30s);
    return fleet.sim->placements(nginx.ref);
  };

  SECTION("case 2: idc with max 2, then ecs with max 4") {
    fleet.sim->wait(2min);
    auto placements = fleet.sim->placements(nginx.ref);
    CHECK(idc(placements) == 2);
    CHECK(ecs(placements) == 0);
    placements = scale(4);
    CHECK(idc(placements) == 2);
    CHECK(ecs(placements) == 2);
    placements = scale(6);
    CHECK(idc(placements) == 2);
    CHECK(ecs(placements) == 4);
    CHECK(pending(placements) == 0);
    placements = scale(7); // every unit is at its max: the pod stays Pending
    CHECK(pending(placements) == 1);
    CHECK(fleet.sim->health(nginx.ref).status == HealthStatus::degraded);
    placements = scale(4); // scale-in removes pods of the last unit first
    CHECK(idc(placements) == 2);
    CHECK(ecs(placements) == 2);
    CHECK(pending(placements) == 0);
    placements = scale(2);
    CHECK(idc(placements) == 2);
    CHECK(ecs(placements) == 0);
  }
  SECTION("case 1: idc first until it lacks resources, then the ecs pool np7b30xxx") {
    const ObjectRef policy = manifests.at("ResourcePolicy/nginx").ref;
    fleet.apply(policy, edited(*edited(*manifests.at("ResourcePolicy/nginx").object, R"(,"max":2)", ""), R"("max":4,)", ""));
    fleet.sim->wait(2min);
    auto placements = fleet.sim->placements(nginx.ref);
    CHECK(idc(placements) == 2);
    placements = scale(4);
    CHECK(idc(placements) == 4);
    CHECK(ecs(placements) == 0);
    placements = scale(6);
    CHECK(idc(placements) == 4);
    CHECK(ecs(placements) == 2);
    placements = scale(4);
    CHECK(idc(placements) == 4);
    CHECK(ecs(placements) == 0);
  }
}

TEST_CASE("scenario 6: the gateway prefers the labelled ECS node (80) and spills to the virtual node (20)", "[scenario]") {
  Fleet fleet("virtual-node");
  auto manifests = fleet.apply_example("virtual-node-gateway");
  const Manifest gateway = manifests.at("Deployment/istio-ingressgateway");
  fleet.sim->wait(2min);
  const auto virtual_node = fleet.sim->get({"gateway-prod", "", "Node", "", "virtual-kubelet-cn-hangzhou-k"});
  REQUIRE(virtual_node);
  CHECK(label(*virtual_node, "type") == "virtual-kubelet");
  CHECK(text_of(*virtual_node, "/spec/taints/0/key") == "virtual-kubelet.io/provider");
  CHECK(text_of(*virtual_node, "/spec/taints/0/value") == "alibabacloud");
  CHECK(text_of(*virtual_node, "/spec/taints/0/effect") == "NoSchedule");

  // kube-scheduler v1.26's weighted scores: for the second replica, spreading over hostname and
  // zone (weight 2) and the ECS node's full cpu (LeastAllocated, BalancedAllocation) outweigh the
  // 80/20 preference (NodeAffinity, weight 2): one replica on each node.
  auto placements = fleet.sim->placements(gateway.ref);
  REQUIRE(placements.size() == 2);
  CHECK(on_nodes_with_prefix(placements, "cn-hangzhou.") == 1); // the ECS node of pool gateway-ecs
  CHECK(pods_per_node(placements).count("virtual-kubelet-cn-hangzhou-k") == 1);
  for (const PodPlacement& placement : placements)
    CHECK(placement.phase == "Running");
  fleet.apply(gateway.ref, with_replicas(gateway, 3));
  fleet.sim->wait(30s);
  placements = fleet.sim->placements(gateway.ref);
  const auto count = pods_per_node(placements);
  CHECK(count.at("virtual-kubelet-cn-hangzhou-k") == 1);
  CHECK(on_nodes_with_prefix(placements, "cn-hangzhou.") == 2);
  CHECK(fleet.sim->health(gateway.ref).status == HealthStatus::healthy);
}

TEST_CASE("scenario 7: every pod of a Serverless cluster runs on a virtual node", "[scenario]") {
  Fleet fleet("serverless");
  auto manifests = fleet.apply_example("serverless");
  fleet.sim->wait(2min);
  const auto placements = fleet.sim->placements(manifests.at("Deployment/web").ref);
  REQUIRE(placements.size() == 3);
  for (const PodPlacement& placement : placements) {
    CHECK(placement.node == "virtual-kubelet-cn-hangzhou-k");
    CHECK(placement.phase == "Running");
  }
  CHECK(fleet.nodes("serverless-prod").size() == 1);
  // A Serverless cluster has no node pools.
  const auto pool = parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"NodePool","metadata":{"name":"p"},
    "spec":{"cluster":"serverless-prod","region":"cn-hangzhou","instanceTypes":["ecs.g7.large"],"desiredSize":1}})");
  CHECK_THROWS_AS(fleet.sim->apply(pool_ref("p"), *pool, false), UserError);
}

TEST_CASE("scenario 8: an autoscaling pool grows for Pending pods up to maxSize and shrinks empty nodes", "[scenario][autoscaler]") {
  Fleet fleet("virtual-node");
  fleet.apply(cluster_ref("auto"), parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"Cluster","metadata":{"name":"auto"},
    "spec":{"type":"Managed","region":"cn-hangzhou"}})"));
  fleet.apply(pool_ref("elastic"), parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"NodePool","metadata":{"name":"elastic"},
    "spec":{"cluster":"auto","region":"cn-hangzhou","type":"ess","instanceTypes":["ecs.g7.large"],
            "autoScaling":{"enabled":true,"minSize":1,"maxSize":3}}})"));
  const ObjectRef web{"auto", "apps", "Deployment", "default", "web"};
  const auto deployment = [&](int replicas) {
    return parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
      "spec":{"replicas":)" + std::to_string(replicas) + R"(,"selector":{"matchLabels":{"app":"web"}},
      "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx",
      "resources":{"requests":{"cpu":"1","memory":"1Gi"}}}]}}}})");
  };
  fleet.sim->wait(2min);
  CHECK(fleet.nodes("auto").size() == 1);
  fleet.apply(web, deployment(4)); // 2 pods per 2-vCPU node: one more node is needed
  fleet.sim->wait(90s);
  CHECK(fleet.nodes("auto").size() == 2);
  CHECK(pending(fleet.sim->placements(web)) == 0);
  CHECK(int_of(*fleet.sim->get(pool_ref("elastic")), "/status/desiredNodes") == 2);

  fleet.apply(web, deployment(8)); // needs 4 nodes; maxSize is 3
  fleet.sim->wait(2min);
  CHECK(fleet.nodes("auto").size() == 3);
  CHECK(pending(fleet.sim->placements(web)) == 2);
  bool not_triggered = false;
  for (const auto& event : fleet.sim->events(nullptr))
    not_triggered = not_triggered || (event.reason == "NotTriggerScaleUp" && event.message.find("max node group size reached") != std::string::npos);
  CHECK(not_triggered);

  fleet.apply(web, deployment(1));
  fleet.sim->wait(5min);
  CHECK(fleet.nodes("auto").size() == 3); // empty, but not for 10 minutes yet
  fleet.sim->wait(6min);
  CHECK(fleet.nodes("auto").size() == 1); // back to minSize, the node with the pod kept
  CHECK(pending(fleet.sim->placements(web)) == 0);
  CHECK(fleet.sim->health(pool_ref("elastic")).status == HealthStatus::healthy);
}

// The cloud layer: ACK clusters, node pools and their ECS nodes, virtual (ECI) nodes, instance
// stock, and cluster-autoscaler.
#include "backend/sim/world.h"

#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace meridian::sim {
namespace {

constexpr std::array<InstanceType, 12> kCatalogue = {{
    {"ecs.c7.large", 2, 4, 0, "", ""},
    {"ecs.c7.xlarge", 4, 8, 0, "", ""},
    {"ecs.g7.2xlarge", 8, 32, 0, "", ""},
    {"ecs.g7.4xlarge", 16, 64, 0, "", ""},
    {"ecs.g7.large", 2, 8, 0, "", ""},
    {"ecs.g7.xlarge", 4, 16, 0, "", ""},
    {"ecs.gn5-c4g1.xlarge", 4, 30, 1, "Tesla-P100-PCIE-16GB", "16280MiB"},
    {"ecs.gn6i-c4g1.xlarge", 4, 15, 1, "Tesla-T4", "15109MiB"},
    {"ecs.gn6i-c8g1.2xlarge", 8, 31, 1, "Tesla-T4", "15109MiB"},
    {"ecs.gn6v-c8g1.2xlarge", 8, 32, 1, "Tesla-V100-SXM2-16GB", "16160MiB"},
    {"ecs.r7.large", 2, 16, 0, "", ""},
    {"ecs.r7.xlarge", 4, 32, 0, "", ""},
}};

constexpr std::array<std::string_view, 4> kClusterTypes = {"Managed", "Edge", "Serverless", "Registered"};

constexpr std::array<std::string_view, 27> kRegions = {
    "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-3", "ap-southeast-5", "ap-southeast-6",
    "ap-southeast-7", "cn-beijing",     "cn-chengdu",     "cn-fuzhou",      "cn-guangzhou",   "cn-hangzhou",
    "cn-heyuan",      "cn-hongkong",    "cn-huhehaote",   "cn-nanjing",     "cn-qingdao",     "cn-shanghai",
    "cn-shenzhen",    "cn-wulanchabu",  "cn-zhangjiakou", "eu-central-1",   "eu-west-1",      "me-central-1",
    "me-east-1",      "us-east-1",      "us-west-1"};

constexpr std::string_view kDefaultKubernetesVersion = "1.30.7-aliyun.1";
constexpr std::string_view kUnneededSince = "sim.meridian.io/unneeded-since";

template <typename List> bool contains(const List& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::vector<std::string> string_list(const Json* value) {
  std::vector<std::string> result;
  if (value == nullptr || !value->IsArray())
    return result;
  for (const auto& item : value->GetArray()) {
    if (item.IsString())
      result.emplace_back(item.GetString(), item.GetStringLength());
  }
  return result;
}

std::string kubelet_version(World& world, std::string_view cluster) {
  const Object* owner = cluster_object(world, cluster);
  const std::string version = owner == nullptr ? std::string() : text_at(owner->body(), "spec.kubernetesVersion");
  return "v" + (version.empty() ? std::string(kDefaultKubernetesVersion) : version);
}

bool has_addon(const Json& cluster, std::string_view addon) {
  return contains(string_list(find_path(cluster, "spec.addons")), addon);
}

std::string pool_cluster(const Object& pool) { return text_at(pool.body(), "spec.cluster"); }

std::string pool_region(World& world, const Object& pool) {
  const std::string region = text_at(pool.body(), "spec.region");
  if (!region.empty())
    return region;
  const Object* owner = cluster_object(world, pool_cluster(pool));
  return owner == nullptr ? std::string() : text_at(owner->body(), "spec.region");
}

bool autoscaling(const Object& pool) {
  const Json* enabled = find_path(pool.body(), "spec.autoScaling.enabled");
  return enabled != nullptr && enabled->IsTrue();
}

//! How many nodes the pool should have now: desiredSize, or the autoscaler's target within bounds.
long long pool_target(const Object& pool) {
  if (!autoscaling(pool))
    return std::max(0LL, int_at(pool.body(), "spec.desiredSize", 0));
  const long long min = std::max(0LL, int_at(pool.body(), "spec.autoScaling.minSize", 0));
  const long long max = std::max(min, int_at(pool.body(), "spec.autoScaling.maxSize", min));
  return std::clamp(int_at(pool.body(), "status.desiredNodes", min), min, max);
}

std::vector<Object*> pool_nodes(World& world, const Object& pool) {
  std::vector<Object*> nodes;
  for (Object* node : world.list(pool_cluster(pool), "", "Node")) {
    if (string_map_at(node->body(), "metadata.labels")[std::string(kNodePoolLabel)] == pool.ref.name)
      nodes.push_back(node);
  }
  return nodes;
}

std::map<std::string, std::string> pool_labels(const Object& pool, std::string_view type) {
  std::map<std::string, std::string> labels = string_map_at(pool.body(), "spec.labels");
  labels[std::string(kNodePoolLabel)] = pool.ref.name;
  if (type == "edge")
    labels["alibabacloud.com/is-edge-worker"] = "true";
  return labels;
}

NodeShape pool_node_shape(World& world, const Object& pool, const InstanceType& type, std::string_view zone_letter) {
  NodeShape shape;
  shape.region = pool_region(world, pool);
  shape.zone = shape.region + "-" + std::string(zone_letter);
  shape.ip = world.next_ip("node");
  shape.name = shape.region + "." + shape.ip; // ACK's default node name: <region>.<private IP>
  shape.kubelet_version = kubelet_version(world, pool_cluster(pool));
  shape.provider_id = shape.region + "." + world.next_id("i-", 20);
  shape.type = &type;
  shape.labels = pool_labels(pool, text_at(pool.body(), "spec.type", "ess"));
  shape.taints = find_path(pool.body(), "spec.taints");
  return shape;
}

//! The first of the pool's instance types with stock left in its region, or nullptr.
const InstanceType* type_in_stock(World& world, const Object& pool, long long already_planned = 0) {
  const std::string region = pool_region(world, pool);
  for (const std::string& name : string_list(find_path(pool.body(), "spec.instanceTypes"))) {
    const InstanceType* type = find_instance_type(name);
    if (type == nullptr)
      continue;
    const auto left = world.stock(region, name);
    if (!left || *left > already_planned)
      return type;
  }
  return nullptr;
}

std::string out_of_stock_message(World& world, const Object& pool) {
  const std::vector<std::string> types = string_list(find_path(pool.body(), "spec.instanceTypes"));
  std::string joined;
  for (const std::string& type : types)
    joined += (joined.empty() ? "" : ", ") + type;
  // The wording of ESS's scaling-activity failure as ACK surfaces it on the node pool.
  return fmt::format("OperationDenied.NoStock: The instance type{} {} {} out of stock in {}. Please try other instance "
                     "types, or choose other regions and zones.",
                     types.size() == 1 ? "" : "s", joined, types.size() == 1 ? "is" : "are", pool_region(world, pool));
}

void set_pool_state(World& world, Object& pool, std::string_view state, std::string_view message) {
  Json& status = object_member(pool.body(), "status", pool.allocator());
  if (text_at(status, "state") != state) {
    set_string(status, "state", state, pool.allocator());
    set_string(status, "lastTransitionTime", format_time(world.now()), pool.allocator());
  }
  if (message.empty())
    erase_member(status, "message");
  else
    set_string(status, "message", message, pool.allocator());
}

//! Sets the labels and taints of a pool's node as the pool now declares them.
void sync_node_with_pool(const Object& pool, Object& node) {
  JsonAllocator& allocator = node.allocator();
  Json& metadata = object_member(node.body(), "metadata", allocator);
  const std::map<std::string, std::string> previous = string_map_at(node.body(), "metadata.annotations");
  std::map<std::string, std::string> labels = string_map_at(node.body(), "metadata.labels");
  // Labels the pool set before live in an annotation, so labels dropped from the pool leave the node.
  JsonDocument old_keys;
  if (const auto found = previous.find("sim.meridian.io/pool-labels"); found != previous.end() && !parse_json(found->second, old_keys)) {
    for (const auto& key : old_keys.GetArray())
      labels.erase(key.GetString());
  }
  const std::map<std::string, std::string> wanted = pool_labels(pool, text_at(pool.body(), "spec.type", "ess"));
  Json keys(rapidjson::kArrayType);
  for (const auto& [key, value] : wanted) {
    labels[key] = value;
    keys.PushBack(string_value(key, allocator), allocator);
  }
  set_member(metadata, "labels", string_map_value(labels, allocator), allocator);
  set_string(object_member(metadata, "annotations", allocator), "sim.meridian.io/pool-labels", write_compact(keys), allocator);
  Json& spec = object_member(node.body(), "spec", allocator);
  const Json* taints = find_path(pool.body(), "spec.taints");
  if (taints != nullptr && taints->IsArray() && !taints->Empty())
    set_member(spec, "taints", Json(*taints, allocator), allocator);
  else
    erase_member(spec, "taints");
}

Object& create_pool_node(World& world, Object& pool, const InstanceType& type, size_t index) {
  static constexpr std::string_view kZones = "abc";
  const NodeShape shape = pool_node_shape(world, pool, type, kZones.substr(index % kZones.size(), 1));
  const JsonDocument document = node_document(shape);
  Object& node = world.insert({pool_cluster(pool), "", "Node", "", shape.name}, document);
  sync_node_with_pool(pool, node);
  world.take_stock(shape.region, type.name);
  world.event(node.ref, "Normal", "RegisteredNode", fmt::format("Node {} event: Registered Node {} in Controller", shape.name, shape.name),
              "node-controller");
  return node;
}

void release_node(World& world, Object& node, std::string_view reason) {
  const std::map<std::string, std::string> labels = string_map_at(node.body(), "metadata.labels");
  const auto region = labels.find(std::string(kRegionLabel));
  const auto type = labels.find(std::string(kInstanceTypeLabel));
  if (region != labels.end() && type != labels.end())
    world.return_stock(region->second, type->second);
  remove_node(world, node.ref, reason);
}

//! Pods on `node` that cluster-autoscaler counts (DaemonSet pods do not keep a node alive).
size_t workload_pods_on(World& world, const Object& node) {
  size_t count = 0;
  for (Object* pod : world.list(node.ref.cluster, "", "Pod")) {
    if (text_at(pod->body(), "spec.nodeName") != node.ref.name || pod_terminating(pod->body()))
      continue;
    const auto owner = controller_of(pod->body());
    if (!owner || owner->kind != "DaemonSet")
      ++count;
  }
  return count;
}

// ---- clusters ----

void delete_cluster_now(World& world, Object& cluster) {
  const std::string name = cluster.ref.name;
  for (Object* pool : world.list("", kFleetGroup, "NodePool")) {
    if (pool_cluster(*pool) == name)
      world.erase(pool->ref);
  }
  for (Object* node : world.list(name, "", "Node"))
    release_node(world, *node, "deleted with its cluster");
  for (Object* object : world.in_cluster(name))
    world.erase(object->ref);
  world.erase(cluster.ref);
}

void run_cluster(World& world, Object& cluster) {
  Json& status = object_member(cluster.body(), "status", cluster.allocator());
  const std::string state = text_at(status, "state");
  const long long since = parse_time(text_at(status, "updated")).value_or(0);
  const long long elapsed = world.now() - since;
  if (state == "initial" && elapsed >= kClusterCreateMs) {
    set_string(status, "state", "running", cluster.allocator());
    set_string(status, "updated", format_time(world.now()), cluster.allocator());
    set_string(status, "currentVersion", text_at(cluster.body(), "spec.kubernetesVersion", kDefaultKubernetesVersion), cluster.allocator());
    world.event(cluster.ref, "Normal", "ClusterRunning", "cluster created", "ack");
  } else if (state == "updating" && elapsed >= kClusterUpdateMs) {
    set_string(status, "state", "running", cluster.allocator());
    set_string(status, "updated", format_time(world.now()), cluster.allocator());
    set_string(status, "currentVersion", text_at(cluster.body(), "spec.kubernetesVersion", kDefaultKubernetesVersion), cluster.allocator());
    world.event(cluster.ref, "Normal", "ClusterUpdated", "cluster updated", "ack");
  } else if (state == "deleting" && elapsed >= kClusterDeleteMs) {
    delete_cluster_now(world, cluster);
  }
}

//! A node this file made for the add-on (`virtual-kubelet-<region>-k`), as opposed to a virtual
//! node a fixture declared (a cluster's real virtual node), which the add-on leaves alone.
bool is_builtin_virtual_node(const Object& node) {
  const std::string& name = node.ref.name;
  return name.starts_with("virtual-kubelet-") && name.ends_with("-k") &&
         string_map_at(node.body(), "metadata.labels")["type"] == "virtual-kubelet";
}

//! Serverless clusters and clusters with ack-virtual-node get one virtual node in their region,
//! unless the cluster already has a virtual node of its own (declared by a fixture).
void run_virtual_node(World& world, Object& cluster) {
  const std::string name = cluster.ref.name;
  const bool wanted = cluster_serving(world, name) &&
                      (text_at(cluster.body(), "spec.type") == "Serverless" || has_addon(cluster.body(), "ack-virtual-node"));
  const std::string region = text_at(cluster.body(), "spec.region");
  const std::string node_name = "virtual-kubelet-" + region + "-k";
  bool declared = false;
  for (Object* node : world.list(name, "", "Node")) {
    if (string_map_at(node->body(), "metadata.labels")["type"] != "virtual-kubelet")
      continue;
    if (!is_builtin_virtual_node(*node))
      declared = true;
    else if (!wanted || node->ref.name != node_name)
      remove_node(world, node->ref, "removed with the ack-virtual-node add-on");
  }
  if (!wanted || declared || world.find({name, "", "Node", "", node_name}) != nullptr)
    return;
  NodeShape shape;
  shape.name = node_name;
  shape.region = region;
  shape.zone = region + "-k";
  shape.ip = world.next_ip("node");
  shape.kubelet_version = kubelet_version(world, name);
  shape.labels = {{"type", "virtual-kubelet"}, {"kubernetes.io/role", "agent"}, {"k8s.aliyun.com/vnode", "true"}};
  shape.capacity = {{"cpu", "2000"}, {"memory", "8Ti"}, {"pods", "2000"}, {"ephemeral-storage", "8Ti"}};
  JsonDocument taints(rapidjson::kArrayType);
  Json taint(rapidjson::kObjectType);
  set_string(taint, "key", kVirtualTaintKey, taints.GetAllocator());
  set_string(taint, "value", "alibabacloud", taints.GetAllocator());
  set_string(taint, "effect", "NoSchedule", taints.GetAllocator());
  taints.PushBack(taint, taints.GetAllocator());
  shape.taints = &taints;
  shape.ready = true;
  world.insert({name, "", "Node", "", node_name}, node_document(shape));
}

// ---- node pools ----

void remove_pool_nodes(World& world, Object& pool, std::vector<Object*> nodes, size_t count, std::string_view reason) {
  // ESS's default removal policy: the oldest instances go first.
  std::sort(nodes.begin(), nodes.end(), [](Object* a, Object* b) {
    const bool a_ready = node_ready(a->body());
    const bool b_ready = node_ready(b->body());
    if (a_ready != b_ready)
      return !a_ready;
    const std::string a_created = text_at(a->body(), "metadata.creationTimestamp");
    const std::string b_created = text_at(b->body(), "metadata.creationTimestamp");
    return std::tie(a_created, a->ref.name) < std::tie(b_created, b->ref.name);
  });
  for (size_t i = 0; i < count && i < nodes.size(); ++i) {
    world.event(pool.ref, "Normal", "ScaleIn", fmt::format("removed node {}: {}", nodes[i]->ref.name, reason), "ess");
    release_node(world, *nodes[i], reason);
  }
}

void run_pool(World& world, Object& pool) {
  const std::string cluster = pool_cluster(pool);
  Json& status = object_member(pool.body(), "status", pool.allocator());
  if (text_at(status, "state") == "deleting") {
    std::vector<Object*> nodes = pool_nodes(world, pool);
    remove_pool_nodes(world, pool, nodes, nodes.size(), "its node pool was deleted");
    world.erase(pool.ref);
    return;
  }
  if (!cluster_serving(world, cluster)) {
    set_pool_state(world, pool, "scaling", fmt::format("waiting for cluster {} to be running", cluster));
    return;
  }
  std::vector<Object*> nodes = pool_nodes(world, pool);
  const long long generation = int_at(pool.body(), "metadata.generation", 1);
  if (int_at(status, "observedGeneration", 0) != generation) {
    for (Object* node : nodes)
      sync_node_with_pool(pool, *node);
    set_int(object_member(pool.body(), "status", pool.allocator()), "observedGeneration", generation, pool.allocator());
  }
  const long long target = pool_target(pool);
  set_int(object_member(pool.body(), "status", pool.allocator()), "desiredNodes", target, pool.allocator());
  const long long have = static_cast<long long>(nodes.size());
  if (have > target)
    remove_pool_nodes(world, pool, nodes, static_cast<size_t>(have - target), "node pool scaled in");
  std::string failure;
  if (have < target) {
    long long created = 0;
    for (long long index = have; index < target; ++index) {
      const InstanceType* type = type_in_stock(world, pool);
      if (type == nullptr) {
        failure = out_of_stock_message(world, pool);
        break;
      }
      create_pool_node(world, pool, *type, static_cast<size_t>(index));
      ++created;
    }
    if (created > 0)
      world.event(pool.ref, "Normal", "ScaleOut", fmt::format("scaled out {} node(s)", created), "ess");
    if (!failure.empty()) {
      world.event(pool.ref, "Warning", "ScaleOutFailed", failure, "ess");
      if (created > 0 || have > 0)
        failure = fmt::format("{} of {} nodes: {}", have + created, target, failure);
    }
  }
  nodes = pool_nodes(world, pool);
  long long healthy = 0;
  for (const Object* node : nodes)
    healthy += node_ready(node->body()) ? 1 : 0;
  const long long total = static_cast<long long>(nodes.size());
  Json& fresh = object_member(pool.body(), "status", pool.allocator());
  set_int(fresh, "totalNodes", total, pool.allocator());
  set_int(fresh, "healthyNodes", healthy, pool.allocator());
  set_int(fresh, "initialNodes", total - healthy, pool.allocator());
  if (!failure.empty())
    set_pool_state(world, pool, "failed", failure);
  else if (total != target || healthy != total)
    set_pool_state(world, pool, total > target ? "removing" : "scaling", "");
  else
    set_pool_state(world, pool, "active", "");
}

void run_node_readiness(World& world, Object& node) {
  if (node_ready(node.body()))
    return;
  const long long created = parse_time(text_at(node.body(), "metadata.creationTimestamp")).value_or(0);
  if (world.now() - created < kNodeReadyMs)
    return;
  Json* conditions = find_path_mut(node.body(), "status.conditions");
  if (conditions == nullptr || !conditions->IsArray())
    return;
  for (auto& condition : conditions->GetArray()) {
    if (string_member(condition, "type") != "Ready")
      continue;
    set_string(condition, "status", "True", node.allocator());
    set_string(condition, "reason", "KubeletReady", node.allocator());
    set_string(condition, "message", "kubelet is posting ready status", node.allocator());
    set_string(condition, "lastTransitionTime", format_time(world.now()), node.allocator());
  }
  world.event(node.ref, "Normal", "NodeReady", fmt::format("Node {} status is now: NodeReady", node.ref.name), "kubelet");
}

// ---- cluster-autoscaler ----

//! A node group as the autoscaler simulates it: upcoming nodes and the pods it would put there.
struct NodeGroupPlan {
  Object* pool = nullptr;
  long long target = 0;
  long long max = 0;
  long long added = 0;
  std::vector<std::unique_ptr<JsonDocument>> nodes;
  std::vector<std::unique_ptr<JsonDocument>> pods;
};

JsonDocument template_node(World& world, const Object& pool, const InstanceType& type, size_t index) {
  NodeShape shape;
  shape.region = pool_region(world, pool);
  shape.zone = shape.region + "-a";
  shape.name = fmt::format("template-node-for-{}-{}", pool.ref.name, index);
  shape.type = &type;
  shape.labels = pool_labels(pool, text_at(pool.body(), "spec.type", "ess"));
  shape.taints = find_path(pool.body(), "spec.taints");
  JsonDocument node = node_document(shape);
  erase_member(node["status"], "conditions"); // an upcoming node counts as ready
  return node;
}

ClusterSnapshot plan_snapshot(const NodeGroupPlan& plan) {
  ClusterSnapshot snapshot;
  for (const auto& node : plan.nodes)
    snapshot.nodes.push_back(node.get());
  for (const auto& pod : plan.pods)
    snapshot.pods.push_back(pod.get());
  return snapshot;
}

void place_on_plan(NodeGroupPlan& plan, const Json& pod, const std::string& node) {
  auto copy = std::make_unique<JsonDocument>();
  copy->CopyFrom(pod, copy->GetAllocator());
  set_string(object_member(*copy, "spec", copy->GetAllocator()), "nodeName", node, copy->GetAllocator());
  plan.pods.push_back(std::move(copy));
}

//! Tries the pod on the plan's upcoming nodes, then on one more node; returns why it cannot fit.
std::optional<std::string> try_plan(World& world, NodeGroupPlan& plan, const Json& pod) {
  if (!plan.nodes.empty()) {
    const ScheduleDecision decision = schedule(pod, plan_snapshot(plan));
    if (!decision.node.empty()) {
      place_on_plan(plan, pod, decision.node);
      return std::nullopt;
    }
  }
  if (plan.target + plan.added >= plan.max)
    return std::string("1 max node group size reached");
  const InstanceType* type = type_in_stock(world, *plan.pool, plan.added);
  if (type == nullptr)
    return std::string("1 node group out of stock");
  auto node = std::make_unique<JsonDocument>(template_node(world, *plan.pool, *type, plan.nodes.size()));
  ClusterSnapshot alone;
  alone.nodes.push_back(node.get());
  const ScheduleDecision decision = schedule(pod, alone);
  if (decision.node.empty()) {
    std::string reason = decision.message;
    const size_t colon = reason.find(": ");
    if (colon != std::string::npos)
      reason = reason.substr(colon + 2);
    if (!reason.empty() && reason.back() == '.')
      reason.pop_back();
    return reason;
  }
  plan.nodes.push_back(std::move(node));
  ++plan.added;
  place_on_plan(plan, pod, decision.node);
  return std::nullopt;
}

void scale_up(World& world, const std::string& cluster, const std::vector<Object*>& pools) {
  std::vector<Object*> pending;
  for (Object* pod : world.list(cluster, "", "Pod")) {
    if (!unschedulable_message(pod->body()).empty())
      pending.push_back(pod);
  }
  if (pending.empty())
    return;
  std::sort(pending.begin(), pending.end(), [](Object* a, Object* b) {
    const std::string a_created = text_at(a->body(), "metadata.creationTimestamp");
    const std::string b_created = text_at(b->body(), "metadata.creationTimestamp");
    return std::tie(a_created, a->ref) < std::tie(b_created, b->ref);
  });
  std::vector<NodeGroupPlan> plans;
  for (Object* pool : pools) {
    NodeGroupPlan plan;
    plan.pool = pool;
    plan.target = pool_target(*pool);
    plan.max = int_at(pool->body(), "spec.autoScaling.maxSize", plan.target);
    const std::vector<Object*> nodes = pool_nodes(world, *pool);
    // Nodes still booting, and nodes the pool is about to create, are upcoming: pods wait for them.
    for (Object* node : nodes) {
      if (node_ready(node->body()))
        continue;
      auto copy = std::make_unique<JsonDocument>();
      copy->CopyFrom(node->body(), copy->GetAllocator());
      erase_member((*copy)["status"], "conditions");
      plan.nodes.push_back(std::move(copy));
      for (Object* pod : world.list(cluster, "", "Pod")) {
        if (text_at(pod->body(), "spec.nodeName") == node->ref.name)
          place_on_plan(plan, pod->body(), node->ref.name);
      }
    }
    const InstanceType* type = type_in_stock(world, *pool);
    for (long long missing = static_cast<long long>(nodes.size()); type != nullptr && missing < plan.target; ++missing)
      plan.nodes.push_back(std::make_unique<JsonDocument>(template_node(world, *pool, *type, plan.nodes.size())));
    plans.push_back(std::move(plan));
  }
  for (Object* pod : pending) {
    std::vector<std::string> reasons;
    const NodeGroupPlan* chosen = nullptr;
    for (NodeGroupPlan& plan : plans) {
      const long long before = plan.added;
      const auto reason = try_plan(world, plan, pod->body());
      if (!reason) {
        chosen = plan.added > before ? &plan : nullptr;
        reasons.clear();
        break;
      }
      reasons.push_back(*reason);
    }
    if (chosen != nullptr) {
      world.event(pod->ref, "Normal", "TriggeredScaleUp",
                  fmt::format("pod triggered scale-up: [{{{} {}->{} (max: {})}}]", chosen->pool->ref.name, chosen->target,
                              chosen->target + chosen->added, chosen->max),
                  "cluster-autoscaler");
    } else if (!reasons.empty()) {
      std::sort(reasons.begin(), reasons.end());
      std::string joined;
      for (const std::string& reason : reasons)
        joined += (joined.empty() ? "" : ", ") + reason;
      world.event(pod->ref, "Normal", "NotTriggerScaleUp", "pod didn't trigger scale-up: " + joined, "cluster-autoscaler");
    }
  }
  for (NodeGroupPlan& plan : plans) {
    if (plan.added == 0)
      continue;
    set_int(object_member(plan.pool->body(), "status", plan.pool->allocator()), "desiredNodes", plan.target + plan.added,
            plan.pool->allocator());
    world.event(plan.pool->ref, "Normal", "ScaledUpGroup",
                fmt::format("Scale-up: setting group {} size to {} instead of {} (max: {})", plan.pool->ref.name,
                            plan.target + plan.added, plan.target, plan.max),
                "cluster-autoscaler");
  }
}

void scale_down(World& world, const std::vector<Object*>& pools) {
  for (Object* pool : pools) {
    long long target = pool_target(*pool);
    const long long min = std::max(0LL, int_at(pool->body(), "spec.autoScaling.minSize", 0));
    for (Object* node : pool_nodes(world, *pool)) {
      if (!node_ready(node->body()))
        continue;
      Json& annotations = object_member(object_member(node->body(), "metadata", node->allocator()), "annotations", node->allocator());
      if (workload_pods_on(world, *node) > 0) {
        erase_member(annotations, kUnneededSince);
        continue;
      }
      const auto since = parse_time(annotation_text(node->body(), kUnneededSince));
      if (!since) {
        set_string(annotations, kUnneededSince, format_time(world.now()), node->allocator());
        continue;
      }
      if (world.now() - *since < kScaleDownUnneededMs || target <= min)
        continue;
      world.event(pool->ref, "Normal", "ScaleDown",
                  fmt::format("removing empty node {} (unneeded for {}m)", node->ref.name, kScaleDownUnneededMs / 60'000),
                  "cluster-autoscaler");
      release_node(world, *node, "removed by cluster-autoscaler: empty");
      --target;
      set_int(object_member(pool->body(), "status", pool->allocator()), "desiredNodes", target, pool->allocator());
    }
  }
}

void run_autoscaler(World& world) {
  if (world.now() % kAutoscalerScanMs != 0)
    return;
  std::map<std::string, std::vector<Object*>> pools_by_cluster;
  for (Object* pool : world.list("", kFleetGroup, "NodePool")) {
    const std::string state = text_at(pool->body(), "status.state");
    if (autoscaling(*pool) && state != "deleting" && world.in_focus(pool_cluster(*pool)) && cluster_serving(world, pool_cluster(*pool)))
      pools_by_cluster[pool_cluster(*pool)].push_back(pool);
  }
  for (auto& [cluster, pools] : pools_by_cluster) {
    scale_up(world, cluster, pools);
    scale_down(world, pools);
  }
}

void check_cluster_field(const Object* live, const Json& desired, std::string_view field) {
  if (live == nullptr)
    return;
  const std::string before = text_at(live->body(), fmt::format("spec.{}", field));
  const std::string after = text_at(desired, fmt::format("spec.{}", field));
  if (before != after)
    throw UserError(fmt::format("Cluster/{}: spec.{}: cannot change from {} to {} (ACK cannot change it on a live cluster)",
                                live->ref.name, field, before, after));
}

} // namespace

const InstanceType* find_instance_type(std::string_view name) {
  const auto found = std::find_if(kCatalogue.begin(), kCatalogue.end(), [&](const InstanceType& type) { return type.name == name; });
  return found == kCatalogue.end() ? nullptr : &*found;
}

std::string known_instance_types() {
  std::string joined;
  for (const InstanceType& type : kCatalogue)
    joined += (joined.empty() ? "" : ", ") + std::string(type.name);
  return joined;
}

JsonDocument node_document(const NodeShape& shape) {
  JsonDocument node(rapidjson::kObjectType);
  JsonAllocator& allocator = node.GetAllocator();
  set_string(node, "apiVersion", "v1", allocator);
  set_string(node, "kind", "Node", allocator);
  Json& metadata = object_member(node, "metadata", allocator);
  set_string(metadata, "name", shape.name, allocator);
  std::map<std::string, std::string> labels = {
      {"beta.kubernetes.io/arch", "amd64"}, {"beta.kubernetes.io/os", "linux"}, {"kubernetes.io/arch", "amd64"},
      {"kubernetes.io/os", "linux"},        {std::string(kHostnameLabel), shape.name}};
  std::map<std::string, std::string> capacity = shape.capacity;
  if (!shape.region.empty()) {
    labels[std::string(kRegionLabel)] = shape.region;
    labels["failure-domain.beta.kubernetes.io/region"] = shape.region;
  }
  if (!shape.zone.empty()) {
    labels[std::string(kZoneLabel)] = shape.zone;
    labels["failure-domain.beta.kubernetes.io/zone"] = shape.zone;
  }
  if (shape.type != nullptr) {
    const InstanceType& type = *shape.type;
    labels[std::string(kInstanceTypeLabel)] = type.name;
    labels["beta.kubernetes.io/instance-type"] = type.name;
    capacity["cpu"] = std::to_string(type.vcpu);
    capacity["memory"] = fmt::format("{}Ki", static_cast<long long>(type.memory_gib) * 1024 * 1024);
    capacity["pods"] = "110";
    capacity["ephemeral-storage"] = "123722704Ki";
    if (type.gpus > 0) {
      labels["aliyun.accelerator/nvidia_count"] = std::to_string(type.gpus);
      labels["aliyun.accelerator/nvidia_mem"] = type.gpu_memory;
      labels["aliyun.accelerator/nvidia_name"] = type.gpu_name;
      capacity["nvidia.com/gpu"] = std::to_string(type.gpus);
    }
  }
  capacity.try_emplace("pods", "110");
  for (const auto& [key, value] : shape.labels)
    labels[key] = value;
  set_member(metadata, "labels", string_map_value(labels, allocator), allocator);
  Json& spec = object_member(node, "spec", allocator);
  if (!shape.provider_id.empty())
    set_string(spec, "providerID", shape.provider_id, allocator);
  if (shape.taints != nullptr && shape.taints->IsArray() && !shape.taints->Empty())
    set_member(spec, "taints", Json(*shape.taints, allocator), allocator);
  Json& status = object_member(node, "status", allocator);
  set_member(status, "capacity", string_map_value(capacity, allocator), allocator);
  set_member(status, "allocatable", string_map_value(capacity, allocator), allocator);
  Json conditions(rapidjson::kArrayType);
  Json ready(rapidjson::kObjectType);
  set_string(ready, "type", "Ready", allocator);
  set_string(ready, "status", shape.ready ? "True" : "False", allocator);
  set_string(ready, "reason", shape.ready ? "KubeletReady" : "KubeletNotReady", allocator);
  set_string(ready, "message", shape.ready ? "kubelet is posting ready status" : "container runtime network not ready: cni plugin not initialized",
             allocator);
  conditions.PushBack(ready, allocator);
  set_member(status, "conditions", std::move(conditions), allocator);
  Json addresses(rapidjson::kArrayType);
  if (!shape.ip.empty()) {
    Json internal(rapidjson::kObjectType);
    set_string(internal, "type", "InternalIP", allocator);
    set_string(internal, "address", shape.ip, allocator);
    addresses.PushBack(internal, allocator);
  }
  Json hostname(rapidjson::kObjectType);
  set_string(hostname, "type", "Hostname", allocator);
  set_string(hostname, "address", shape.name, allocator);
  addresses.PushBack(hostname, allocator);
  set_member(status, "addresses", std::move(addresses), allocator);
  Json& info = object_member(status, "nodeInfo", allocator);
  set_string(info, "architecture", "amd64", allocator);
  set_string(info, "containerRuntimeVersion", "containerd://1.6.32", allocator);
  set_string(info, "kernelVersion", "5.10.134-16.3.al8.x86_64", allocator);
  set_string(info, "kubeletVersion", shape.kubelet_version, allocator);
  set_string(info, "operatingSystem", "linux", allocator);
  set_string(info, "osImage", "Alibaba Cloud Linux 3.2104 U10 (OpenAnolis Edition)", allocator);
  return node;
}

void run_cloud(World& world) {
  std::vector<Object*> clusters;
  for (Object* cluster : world.list("", kFleetGroup, "Cluster"))
    if (world.in_focus(cluster->ref.name))
      clusters.push_back(cluster);
  for (Object* cluster : clusters)
    run_cluster(world, *cluster);
  for (Object* cluster : clusters)
    run_virtual_node(world, *cluster);
  for (Object* cluster : clusters) {
    for (Object* node : world.list(cluster->ref.name, "", "Node"))
      run_node_readiness(world, *node);
  }
  for (Object* pool : world.list("", kFleetGroup, "NodePool"))
    if (world.in_focus(pool_cluster(*pool)))
      run_pool(world, *pool);
  run_autoscaler(world);
}

void check_cluster(const Object* live, const Json& desired) {
  const std::string name = name_of(desired);
  const std::string type = text_at(desired, "spec.type");
  if (!contains(kClusterTypes, type))
    throw UserError(fmt::format("Cluster/{}: spec.type: expected Managed, Edge, Serverless or Registered, got \"{}\"", name, type));
  if (text_at(desired, "spec.region").empty())
    throw UserError(fmt::format("Cluster/{}: spec.region: required", name));
  if (type == "Registered" && live == nullptr)
    throw UserError(fmt::format("Cluster/{}: a Registered cluster must already exist (register it with ACK One first; the "
                                "simulator's fixture does not have it)",
                                name));
  if (live != nullptr && text_at(live->body(), "status.state") == "deleting")
    throw TransientError(fmt::format("Cluster/{}: the cluster is being deleted", name));
  check_cluster_field(live, desired, "type");
  check_cluster_field(live, desired, "region");
}

void cluster_applied(World& world, Object& cluster, bool created, bool spec_changed) {
  JsonAllocator& allocator = cluster.allocator();
  Json& status = object_member(cluster.body(), "status", allocator);
  const std::string region = text_at(cluster.body(), "spec.region");
  if (created) {
    set_string(status, "clusterId", world.next_id("c", 32), allocator);
    set_string(status, "created", format_time(world.now()), allocator);
    set_string(status, "updated", format_time(world.now()), allocator);
    if (!contains(kRegions, region)) {
      set_string(status, "state", "failed", allocator);
      set_string(status, "reason", fmt::format("ErrorRegionNotSupported: region {} is not supported by ACK", region), allocator);
      world.event(cluster.ref, "Warning", "ClusterFailed", text_at(status, "reason"), "ack");
      return;
    }
    set_string(status, "state", "initial", allocator);
    world.event(cluster.ref, "Normal", "CreatingCluster", "creating cluster", "ack");
    return;
  }
  if (!spec_changed || text_at(cluster.body(), "spec.type") == "Registered")
    return;
  if (text_at(status, "state") == "running" || text_at(status, "state") == "updating") {
    set_string(status, "state", "updating", allocator);
    set_string(status, "updated", format_time(world.now()), allocator);
    world.event(cluster.ref, "Normal", "UpdatingCluster", "updating cluster", "ack");
  }
}

void cluster_removed(World& world, Object& cluster) {
  if (text_at(cluster.body(), "spec.type") == "Registered")
    throw UserError(fmt::format("Cluster/{}: a Registered cluster is never deleted by Meridian (deregister it in ACK One)", cluster.ref.name));
  Json& status = object_member(cluster.body(), "status", cluster.allocator());
  if (text_at(status, "state") == "deleting")
    return;
  set_string(status, "state", "deleting", cluster.allocator());
  set_string(status, "updated", format_time(world.now()), cluster.allocator());
  world.event(cluster.ref, "Normal", "DeletingCluster", "deleting cluster", "ack");
}

void check_nodepool(World& world, const Object* live, const Json& desired) {
  const std::string name = name_of(desired);
  const std::string cluster = text_at(desired, "spec.cluster");
  if (cluster.empty())
    throw UserError(fmt::format("NodePool/{}: spec.cluster: required", name));
  const Object* owner = cluster_object(world, cluster);
  if (owner == nullptr)
    throw UserError(fmt::format("NodePool/{}: spec.cluster: cluster {} does not exist", name, cluster));
  if (text_at(owner->body(), "status.state") == "deleting")
    throw TransientError(fmt::format("NodePool/{}: cluster {} is being deleted", name, cluster));
  if (text_at(owner->body(), "spec.type") == "Serverless")
    throw UserError(fmt::format("NodePool/{}: spec.cluster: cluster {} is Serverless and has no node pools", name, cluster));
  if (live != nullptr && pool_cluster(*live) != cluster)
    throw UserError(fmt::format("NodePool/{}: spec.cluster: cannot move a node pool from {} to {}", name, pool_cluster(*live), cluster));
  const std::vector<std::string> types = string_list(find_path(desired, "spec.instanceTypes"));
  if (types.empty())
    throw UserError(fmt::format("NodePool/{}: spec.instanceTypes: at least one instance type is required", name));
  for (size_t index = 0; index < types.size(); ++index) {
    if (find_instance_type(types[index]) == nullptr)
      throw UserError(fmt::format("NodePool/{}: spec.instanceTypes[{}]: unknown instance type {} (known: {})", name, index,
                                  types[index], known_instance_types()));
  }
  const long long size = int_at(desired, "spec.desiredSize", 0);
  if (size < 0)
    throw UserError(fmt::format("NodePool/{}: spec.desiredSize: must be >= 0, got {}", name, size));
}

void nodepool_applied(World& world, Object& pool, bool created, bool spec_changed) {
  if (!created && !spec_changed)
    return;
  Json& status = object_member(pool.body(), "status", pool.allocator());
  if (created)
    set_string(status, "nodePoolId", world.next_id("np", 32), pool.allocator());
  set_pool_state(world, pool, created ? "scaling" : "updating", "");
}

void nodepool_removed(World& world, Object& pool) {
  set_pool_state(world, pool, "deleting", "");
  world.event(pool.ref, "Normal", "DeletingNodePool", "deleting node pool", "ack");
}

} // namespace meridian::sim

// The Kubernetes layer of one cluster: kubelet, garbage collector, Deployment → ReplicaSet → Pod,
// DaemonSet (apps/v1 and OpenKruise), and the scheduler loop around sim::schedule.
#include "backend/sim/world.h"
#include "kube_rules/int_or_percent.h"
#include "kube_rules/selector.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

namespace meridian::sim {
namespace {

constexpr std::string_view kKruiseGroup = "apps.kruise.io";
constexpr std::string_view kRevisionHashLabel = "controller-revision-hash";
constexpr std::string_view kTemplateHashLabel = "pod-template-hash";
constexpr std::string_view kRevisionAnnotation = "deployment.kubernetes.io/revision";

std::string group_of_api_version(std::string_view api_version) {
  const size_t slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(api_version.substr(0, slash));
}

//! A pod that no longer runs (Succeeded or Failed) does not count for its controller.
bool pod_active(const Json& pod) {
  const std::string phase = pod_phase(pod);
  return phase != "Succeeded" && phase != "Failed" && !pod_terminating(pod);
}

long long ready_since(const Json& pod) {
  const Json* conditions = find_path(pod, "status.conditions");
  if (conditions == nullptr || !conditions->IsArray())
    return 0;
  for (const auto& condition : conditions->GetArray()) {
    if (string_member(condition, "type") == "Ready")
      return parse_time(text_at(condition, "lastTransitionTime")).value_or(0);
  }
  return 0;
}

//! Ready for at least minReadySeconds, as the controllers count "available".
bool pod_available(const Json& pod, long long min_ready_seconds, long long now) {
  return pod_ready(pod) && now - ready_since(pod) >= min_ready_seconds * 1000;
}

//! Pods whose controller is the object with `uid`, in name order.
std::vector<Object*> pods_owned_by(World& world, const std::string& cluster, std::string_view uid) {
  return world.owned_by(cluster, "", "Pod", uid);
}

std::vector<Object*> replicasets_owned_by(World& world, const std::string& cluster, std::string_view uid) {
  return world.owned_by(cluster, "apps", "ReplicaSet", uid);
}

Json owner_reference(const Object& owner, JsonAllocator& allocator) {
  Json reference(rapidjson::kObjectType);
  set_string(reference, "apiVersion", text_at(owner.body(), "apiVersion"), allocator);
  set_string(reference, "kind", owner.ref.kind, allocator);
  set_string(reference, "name", owner.ref.name, allocator);
  set_string(reference, "uid", text_at(owner.body(), "metadata.uid"), allocator);
  set_bool(reference, "controller", true, allocator);
  set_bool(reference, "blockOwnerDeletion", true, allocator);
  return reference;
}

void set_condition(Json& status, std::string_view type, std::string_view value, std::string_view reason, std::string_view message,
                   long long now, JsonAllocator& allocator, bool touch_update_time = false) {
  Json* conditions = nullptr;
  if (const auto found = status.FindMember("conditions"); found != status.MemberEnd() && found->value.IsArray())
    conditions = &found->value;
  if (conditions == nullptr) {
    set_member(status, "conditions", Json(rapidjson::kArrayType), allocator);
    conditions = &status["conditions"];
  }
  for (auto& condition : conditions->GetArray()) {
    if (string_member(condition, "type") != type)
      continue;
    if (string_member(condition, "status") != value)
      set_string(condition, "lastTransitionTime", format_time(now), allocator);
    if (touch_update_time || string_member(condition, "reason") != reason)
      set_string(condition, "lastUpdateTime", format_time(now), allocator);
    set_string(condition, "status", value, allocator);
    set_string(condition, "reason", reason, allocator);
    set_string(condition, "message", message, allocator);
    return;
  }
  Json condition(rapidjson::kObjectType);
  set_string(condition, "type", type, allocator);
  set_string(condition, "status", value, allocator);
  set_string(condition, "lastTransitionTime", format_time(now), allocator);
  if (touch_update_time)
    set_string(condition, "lastUpdateTime", format_time(now), allocator);
  set_string(condition, "reason", reason, allocator);
  set_string(condition, "message", message, allocator);
  conditions->PushBack(condition, allocator);
}

//! An IntOrString like maxUnavailable: an integer, or a percentage of `total` rounded up or down.
long long scaled_value(const Json* value, long long total, bool round_up, long long fallback) {
  if (value == nullptr)
    return fallback;
  return rules::scaled_int_or_percent(*value, total, round_up).value_or(fallback);
}

bool is_serverless(World& world, const std::string& cluster) {
  const Object* owner = cluster_object(world, cluster);
  return owner != nullptr && text_at(owner->body(), "spec.type") == "Serverless";
}

void add_toleration(Json& spec, std::string_view key, std::string_view effect, JsonAllocator& allocator) {
  Json* tolerations = nullptr;
  if (const auto found = spec.FindMember("tolerations"); found != spec.MemberEnd() && found->value.IsArray())
    tolerations = &found->value;
  if (tolerations == nullptr) {
    set_member(spec, "tolerations", Json(rapidjson::kArrayType), allocator);
    tolerations = &spec["tolerations"];
  }
  for (const auto& existing : tolerations->GetArray()) {
    if (string_member(existing, "key") == key && string_member(existing, "operator") == "Exists" &&
        string_member(existing, "effect") == effect)
      return;
  }
  Json toleration(rapidjson::kObjectType);
  set_string(toleration, "key", key, allocator);
  set_string(toleration, "operator", "Exists", allocator);
  if (!effect.empty())
    set_string(toleration, "effect", effect, allocator);
  tolerations->PushBack(toleration, allocator);
}

//! Creates a pod from a controller's template, named `<prefix>-<5 random characters>`.
Object& create_pod(World& world, const std::string& cluster, Object& owner, const Json& pod_template, std::string_view prefix,
                   const std::map<std::string, std::string>& extra_labels, std::string_view source) {
  const std::string ns = owner.ref.namespace_;
  std::string name;
  do {
    name = fmt::format("{}-{}", prefix, world.random_string(5));
  } while (world.find({cluster, "", "Pod", ns, name}) != nullptr);
  JsonDocument pod(rapidjson::kObjectType);
  JsonAllocator& allocator = pod.GetAllocator();
  set_string(pod, "apiVersion", "v1", allocator);
  set_string(pod, "kind", "Pod", allocator);
  Json& metadata = object_member(pod, "metadata", allocator);
  set_string(metadata, "generateName", fmt::format("{}-", prefix), allocator);
  std::map<std::string, std::string> labels = string_map_at(pod_template, "metadata.labels");
  for (const auto& [key, value] : extra_labels)
    labels[key] = value;
  set_member(metadata, "labels", string_map_value(labels, allocator), allocator);
  if (const Json* annotations = find_path(pod_template, "metadata.annotations"); annotations != nullptr && annotations->IsObject())
    set_member(metadata, "annotations", Json(*annotations, allocator), allocator);
  Json owners(rapidjson::kArrayType);
  owners.PushBack(owner_reference(owner, allocator), allocator);
  set_member(metadata, "ownerReferences", std::move(owners), allocator);
  const Json* template_spec = find_member(pod_template, "spec");
  set_member(pod, "spec", template_spec != nullptr ? Json(*template_spec, allocator) : Json(rapidjson::kObjectType), allocator);
  if (is_serverless(world, cluster))
    add_toleration(pod["spec"], kVirtualTaintKey, "", allocator); // ACK Serverless admits every pod onto virtual nodes
  set_string(object_member(pod, "status", allocator), "phase", "Pending", allocator);
  Object& created = world.insert({cluster, "", "Pod", ns, name}, pod);
  world.event(owner.ref, "Normal", "SuccessfulCreate", fmt::format("Created pod: {}", name), source);
  return created;
}

void delete_owned_pod(World& world, Object& owner, const ObjectRef& pod, std::string_view source) {
  world.event(owner.ref, "Normal", "SuccessfulDelete", fmt::format("Deleted pod: {}", pod.name), source);
  delete_pod(world, pod, "");
}

// ---- kubelet and garbage collector ----

void start_pod(World& world, Object& pod, const Object& node) {
  JsonAllocator& allocator = pod.allocator();
  const bool is_virtual = string_map_at(node.body(), "metadata.labels")["type"] == "virtual-kubelet";
  std::string host_ip;
  if (const Json* addresses = find_path(node.body(), "status.addresses"); addresses != nullptr && addresses->IsArray()) {
    for (const auto& address : addresses->GetArray()) {
      if (string_member(address, "type") == "InternalIP")
        host_ip = text_at(address, "address");
    }
  }
  const Json* host_network = find_path(pod.body(), "spec.hostNetwork");
  const std::string pod_ip = host_network != nullptr && host_network->IsTrue() && !is_virtual ? host_ip : world.next_ip("pod");
  Json& status = object_member(pod.body(), "status", allocator);
  set_string(status, "phase", "Running", allocator);
  set_string(status, "hostIP", is_virtual ? pod_ip : host_ip, allocator);
  set_string(status, "podIP", pod_ip, allocator);
  Json ips(rapidjson::kArrayType);
  Json ip(rapidjson::kObjectType);
  set_string(ip, "ip", pod_ip, allocator);
  ips.PushBack(ip, allocator);
  set_member(status, "podIPs", std::move(ips), allocator);
  set_string(status, "startTime", format_time(world.now()), allocator);
  for (const std::string_view type : {"Initialized", "Ready", "ContainersReady", "PodScheduled"})
    set_condition(status, type, "True", "", "", world.now(), allocator);
  Json statuses(rapidjson::kArrayType);
  if (const Json* containers = find_path(pod.body(), "spec.containers"); containers != nullptr && containers->IsArray()) {
    for (const auto& container : containers->GetArray()) {
      const std::string name = text_at(container, "name");
      const std::string image = text_at(container, "image");
      Json entry(rapidjson::kObjectType);
      set_string(entry, "name", name, allocator);
      set_string(entry, "image", image, allocator);
      set_bool(entry, "ready", true, allocator);
      set_bool(entry, "started", true, allocator);
      set_int(entry, "restartCount", 0, allocator);
      Json& state = object_member(entry, "state", allocator);
      set_string(object_member(state, "running", allocator), "startedAt", format_time(world.now()), allocator);
      statuses.PushBack(entry, allocator);
      world.event(pod.ref, "Normal", "Pulled", fmt::format("Container image \"{}\" already present on machine", image), "kubelet");
      world.event(pod.ref, "Normal", "Created", fmt::format("Created container {}", name), "kubelet");
      world.event(pod.ref, "Normal", "Started", fmt::format("Started container {}", name), "kubelet");
    }
  }
  set_member(status, "containerStatuses", std::move(statuses), allocator);
}

void run_kubelet(World& world, const std::string& cluster) {
  for (Object* pod : world.list(cluster, "", "Pod")) {
    if (const auto removal = pod_removal_time(pod->body())) {
      if (world.now() >= *removal)
        world.erase(pod->ref); // its containers stopped
      continue;
    }
    const std::string node_name = text_at(pod->body(), "spec.nodeName");
    if (node_name.empty())
      continue;
    const Object* node = world.find({cluster, "", "Node", "", node_name});
    if (node == nullptr) {
      force_delete_pod(world, pod->ref); // the pod garbage collector removes pods of deleted nodes
      continue;
    }
    if (pod_phase(pod->body()) == "Pending" && node_ready(node->body()))
      start_pod(world, *pod, *node);
  }
}

bool builtin_namespace(std::string_view ns) {
  return ns == "default" || ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease";
}

void collect_garbage(World& world, const std::string& cluster) {
  std::set<std::string> namespaces;
  for (Object* ns : world.list(cluster, "", "Namespace"))
    namespaces.insert(ns->ref.name);
  for (Object* object : world.in_cluster(cluster)) {
    if (object->ref.kind == "Node")
      continue;
    const std::string& ns = object->ref.namespace_;
    if (!ns.empty() && !builtin_namespace(ns) && namespaces.count(ns) == 0) {
      if (object->ref.kind == "Pod" && object->ref.group.empty())
        force_delete_pod(world, object->ref);
      else
        world.erase(object->ref);
      continue;
    }
    const auto owner = controller_of(object->body());
    if (!owner)
      continue;
    const Json* references = find_path(object->body(), "metadata.ownerReferences");
    std::string group;
    for (const auto& reference : references->GetArray()) {
      if (text_at(reference, "uid") == owner->uid)
        group = group_of_api_version(text_at(reference, "apiVersion"));
    }
    const Object* found = world.find({cluster, group, owner->kind, ns, owner->name});
    if (found != nullptr && text_at(found->body(), "metadata.uid") == owner->uid)
      continue;
    if (object->ref.kind == "Pod" && object->ref.group.empty())
      delete_pod(world, object->ref, "");
    else
      world.erase(object->ref);
  }
}

// ---- ReplicaSet ----

long long min_ready_seconds(const Json& object) { return int_at(object, "spec.minReadySeconds", 0); }

void run_replicaset(World& world, const std::string& cluster, Object& set, const ClusterSnapshot& snapshot) {
  const long long replicas = int_at(set.body(), "spec.replicas", 1);
  std::vector<Object*> pods = pods_owned_by(world, cluster, text_at(set.body(), "metadata.uid"));
  std::vector<const Json*> active;
  for (Object* pod : pods) {
    if (pod_active(pod->body()))
      active.push_back(&pod->body());
  }
  const long long have = static_cast<long long>(active.size());
  if (have < replicas) {
    const Json* pod_template = find_path(set.body(), "spec.template");
    for (long long i = have; i < replicas && pod_template != nullptr; ++i)
      create_pod(world, cluster, set, *pod_template, set.ref.name, {}, "replicaset-controller");
    return;
  }
  if (have == replicas)
    return;
  const std::vector<const Json*> order = scale_in_order(active, snapshot);
  for (long long i = 0; i < have - replicas && i < static_cast<long long>(order.size()); ++i)
    delete_owned_pod(world, set, {cluster, "", "Pod", set.ref.namespace_, name_of(*order[static_cast<size_t>(i)])}, "replicaset-controller");
}

void update_replicaset_status(World& world, const std::string& cluster, Object& set) {
  long long count = 0;
  long long ready = 0;
  long long available = 0;
  for (Object* pod : pods_owned_by(world, cluster, text_at(set.body(), "metadata.uid"))) {
    if (!pod_active(pod->body()))
      continue;
    ++count;
    ready += pod_ready(pod->body()) ? 1 : 0;
    available += pod_available(pod->body(), min_ready_seconds(set.body()), world.now()) ? 1 : 0;
  }
  JsonAllocator& allocator = set.allocator();
  Json& status = object_member(set.body(), "status", allocator);
  set_int(status, "replicas", count, allocator);
  set_int(status, "fullyLabeledReplicas", count, allocator);
  set_int(status, "readyReplicas", ready, allocator);
  set_int(status, "availableReplicas", available, allocator);
  set_int(status, "observedGeneration", int_at(set.body(), "metadata.generation", 1), allocator);
}

// ---- Deployment ----

void scale_replicaset(World& world, Object& deployment, Object& set, long long replicas) {
  const long long before = int_at(set.body(), "spec.replicas", 0);
  if (before == replicas)
    return;
  set_int(object_member(set.body(), "spec", set.allocator()), "replicas", replicas, set.allocator());
  set_int(object_member(set.body(), "metadata", set.allocator()), "generation", int_at(set.body(), "metadata.generation", 1) + 1,
          set.allocator());
  world.event(deployment.ref, "Normal", "ScalingReplicaSet",
              fmt::format("Scaled {} replica set {} from {} to {}", replicas > before ? "up" : "down", set.ref.name, before, replicas),
              "deployment-controller");
}

Object& create_replicaset(World& world, const std::string& cluster, Object& deployment, const std::string& hash, long long revision) {
  JsonDocument set(rapidjson::kObjectType);
  JsonAllocator& allocator = set.GetAllocator();
  set_string(set, "apiVersion", "apps/v1", allocator);
  set_string(set, "kind", "ReplicaSet", allocator);
  Json& metadata = object_member(set, "metadata", allocator);
  std::map<std::string, std::string> labels = string_map_at(deployment.body(), "spec.template.metadata.labels");
  labels[std::string(kTemplateHashLabel)] = hash;
  set_member(metadata, "labels", string_map_value(labels, allocator), allocator);
  Json& annotations = object_member(metadata, "annotations", allocator);
  set_string(annotations, kRevisionAnnotation, std::to_string(revision), allocator);
  set_string(annotations, "deployment.kubernetes.io/desired-replicas", std::to_string(int_at(deployment.body(), "spec.replicas", 1)), allocator);
  Json owners(rapidjson::kArrayType);
  owners.PushBack(owner_reference(deployment, allocator), allocator);
  set_member(metadata, "ownerReferences", std::move(owners), allocator);
  Json& spec = object_member(set, "spec", allocator);
  set_int(spec, "replicas", 0, allocator);
  if (const Json* ready = find_path(deployment.body(), "spec.minReadySeconds"))
    set_member(spec, "minReadySeconds", Json(*ready, allocator), allocator);
  Json selector(rapidjson::kObjectType);
  if (const Json* existing = find_path(deployment.body(), "spec.selector"); existing != nullptr && existing->IsObject())
    selector.CopyFrom(*existing, allocator);
  set_string(object_member(selector, "matchLabels", allocator), kTemplateHashLabel, hash, allocator);
  set_member(spec, "selector", std::move(selector), allocator);
  Json pod_template(rapidjson::kObjectType);
  if (const Json* existing = find_path(deployment.body(), "spec.template"); existing != nullptr && existing->IsObject())
    pod_template.CopyFrom(*existing, allocator);
  set_string(object_member(object_member(pod_template, "metadata", allocator), "labels", allocator), kTemplateHashLabel, hash, allocator);
  set_member(spec, "template", std::move(pod_template), allocator);
  Object& created = world.insert({cluster, "apps", "ReplicaSet", deployment.ref.namespace_, fmt::format("{}-{}", deployment.ref.name, hash)}, set);
  return created;
}

//! maxSurge and maxUnavailable as the deployment controller resolves them.
std::pair<long long, long long> surge_and_unavailable(const Json& deployment, long long replicas) {
  const Json* rolling = find_path(deployment, "spec.strategy.rollingUpdate");
  const Json* surge = rolling == nullptr ? nullptr : find_member(*rolling, "maxSurge");
  const Json* unavailable = rolling == nullptr ? nullptr : find_member(*rolling, "maxUnavailable");
  static const Json kDefault("25%");
  long long max_surge = scaled_value(surge != nullptr ? surge : &kDefault, replicas, true, 0);
  long long max_unavailable = scaled_value(unavailable != nullptr ? unavailable : &kDefault, replicas, false, 0);
  if (max_surge == 0 && max_unavailable == 0)
    max_unavailable = 1;
  return {max_surge, max_unavailable};
}

long long sum_of(const std::vector<Object*>& sets, std::string_view path) {
  long long total = 0;
  for (const Object* set : sets)
    total += int_at(set->body(), path, 0);
  return total;
}

void run_deployment(World& world, const std::string& cluster, Object& deployment) {
  const Json* paused = find_path(deployment.body(), "spec.paused");
  if (paused != nullptr && paused->IsTrue())
    return;
  const long long replicas = int_at(deployment.body(), "spec.replicas", 1);
  const Json* pod_template = find_path(deployment.body(), "spec.template");
  if (pod_template == nullptr)
    return;
  const std::string hash = object_template_hash(deployment);
  std::vector<Object*> sets = replicasets_owned_by(world, cluster, text_at(deployment.body(), "metadata.uid"));
  Object* fresh = nullptr;
  std::vector<Object*> old;
  long long revision = 0;
  for (Object* set : sets) {
    revision = std::max(revision, std::atoll(annotation_text(set->body(), kRevisionAnnotation).c_str()));
    if (string_map_at(set->body(), "metadata.labels")[std::string(kTemplateHashLabel)] == hash)
      fresh = set;
    else
      old.push_back(set);
  }
  if (fresh == nullptr) {
    fresh = &create_replicaset(world, cluster, deployment, hash, revision + 1);
    Json& annotations = object_member(object_member(deployment.body(), "metadata", deployment.allocator()), "annotations", deployment.allocator());
    set_string(annotations, kRevisionAnnotation, std::to_string(revision + 1), deployment.allocator());
    sets.push_back(fresh);
  }
  const long long old_replicas = sum_of(old, "spec.replicas");
  if (text_at(deployment.body(), "spec.strategy.type") == "Recreate") {
    for (Object* set : old)
      scale_replicaset(world, deployment, *set, 0);
    long long old_pods = 0;
    for (Object* set : old)
      old_pods += static_cast<long long>(pods_owned_by(world, cluster, text_at(set->body(), "metadata.uid")).size());
    if (old_pods == 0)
      scale_replicaset(world, deployment, *fresh, replicas);
    return;
  }
  const auto [max_surge, max_unavailable] = surge_and_unavailable(deployment.body(), replicas);
  // Scale the new ReplicaSet up within maxSurge (or straight down when replicas shrank).
  const long long fresh_replicas = int_at(fresh->body(), "spec.replicas", 0);
  if (old_replicas == 0 || fresh_replicas > replicas) {
    scale_replicaset(world, deployment, *fresh, replicas);
  } else if (fresh_replicas < replicas) {
    const long long allowed = replicas + max_surge - (old_replicas + fresh_replicas);
    const long long up = std::min(allowed, replicas - fresh_replicas);
    if (up > 0)
      scale_replicaset(world, deployment, *fresh, fresh_replicas + up);
  }
  if (old_replicas == 0)
    return;
  // Scale old ReplicaSets down while keeping replicas - maxUnavailable available.
  const long long all_replicas = sum_of(sets, "spec.replicas");
  const long long min_available = replicas - max_unavailable;
  const long long fresh_unavailable = int_at(fresh->body(), "spec.replicas", 0) - int_at(fresh->body(), "status.availableReplicas", 0);
  long long budget = all_replicas - min_available - fresh_unavailable;
  if (budget <= 0)
    return;
  std::sort(old.begin(), old.end(), [](Object* a, Object* b) {
    const std::string a_created = text_at(a->body(), "metadata.creationTimestamp");
    const std::string b_created = text_at(b->body(), "metadata.creationTimestamp");
    return std::tie(a_created, a->ref.name) < std::tie(b_created, b->ref.name);
  });
  for (Object* set : old) { // unhealthy replicas go first, they cost no availability
    const long long unhealthy = int_at(set->body(), "spec.replicas", 0) - int_at(set->body(), "status.availableReplicas", 0);
    const long long down = std::min(budget, std::max(0LL, unhealthy));
    if (down > 0) {
      scale_replicaset(world, deployment, *set, int_at(set->body(), "spec.replicas", 0) - down);
      budget -= down;
    }
  }
  long long available = sum_of(sets, "status.availableReplicas");
  if (available <= min_available)
    return;
  long long total_down = std::min(budget, available - min_available);
  for (Object* set : old) {
    const long long down = std::min(total_down, int_at(set->body(), "spec.replicas", 0));
    if (down <= 0)
      continue;
    scale_replicaset(world, deployment, *set, int_at(set->body(), "spec.replicas", 0) - down);
    total_down -= down;
  }
}

void update_deployment_status(World& world, const std::string& cluster, Object& deployment) {
  const long long replicas = int_at(deployment.body(), "spec.replicas", 1);
  const std::vector<Object*> sets = replicasets_owned_by(world, cluster, text_at(deployment.body(), "metadata.uid"));
  const std::string hash = object_template_hash(deployment);
  const Object* fresh = nullptr;
  for (const Object* set : sets) {
    if (string_map_at(set->body(), "metadata.labels")[std::string(kTemplateHashLabel)] == hash)
      fresh = set;
  }
  JsonAllocator& allocator = deployment.allocator();
  Json& status = object_member(deployment.body(), "status", allocator);
  const long long before_updated = int_at(status, "updatedReplicas", -1);
  const long long before_available = int_at(status, "availableReplicas", -1);
  const long long before_replicas = int_at(status, "replicas", -1);
  const long long total = sum_of(sets, "status.replicas");
  const long long updated = fresh == nullptr ? 0 : int_at(fresh->body(), "status.replicas", 0);
  const long long ready = sum_of(sets, "status.readyReplicas");
  const long long available = sum_of(sets, "status.availableReplicas");
  set_int(status, "observedGeneration", int_at(deployment.body(), "metadata.generation", 1), allocator);
  set_int(status, "replicas", total, allocator);
  set_int(status, "updatedReplicas", updated, allocator);
  set_int(status, "readyReplicas", ready, allocator);
  set_int(status, "availableReplicas", available, allocator);
  const long long unavailable = std::max(0LL, sum_of(sets, "spec.replicas") - available);
  if (unavailable > 0)
    set_int(status, "unavailableReplicas", unavailable, allocator);
  else
    erase_member(status, "unavailableReplicas");
  const long long max_unavailable = surge_and_unavailable(deployment.body(), replicas).second;
  if (available >= replicas - max_unavailable)
    set_condition(status, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", world.now(), allocator);
  else
    set_condition(status, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", world.now(), allocator);
  const std::string set_name = fresh == nullptr ? deployment.ref.name : fresh->ref.name;
  const bool complete = updated == replicas && total == replicas && available == replicas;
  const bool progressed = updated != before_updated || available != before_available || total != before_replicas;
  if (complete) {
    set_condition(status, "Progressing", "True", "NewReplicaSetAvailable", fmt::format("ReplicaSet \"{}\" has successfully progressed.", set_name),
                  world.now(), allocator, progressed);
    return;
  }
  if (progressed) {
    set_condition(status, "Progressing", "True", "ReplicaSetUpdated", fmt::format("ReplicaSet \"{}\" is progressing.", set_name), world.now(),
                  allocator, true);
    return;
  }
  const long long deadline = int_at(deployment.body(), "spec.progressDeadlineSeconds", kProgressDeadlineMs / 1000) * 1000;
  const Json* conditions = find_member(status, "conditions");
  for (const auto& condition : conditions->GetArray()) {
    if (string_member(condition, "type") != "Progressing" || string_member(condition, "reason") == "ProgressDeadlineExceeded")
      continue;
    const long long last = parse_time(text_at(condition, "lastUpdateTime")).value_or(world.now());
    if (world.now() - last > deadline) {
      set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                    fmt::format("ReplicaSet \"{}\" has timed out progressing.", set_name), world.now(), allocator, true);
      world.event(deployment.ref, "Warning", "ProgressDeadlineExceeded", fmt::format("ReplicaSet \"{}\" has timed out progressing.", set_name),
                  "deployment-controller");
    }
    return;
  }
}

// ---- DaemonSet ----

//! The node a daemon pod is for: its nodeName, or the node its required matchFields affinity names.
std::string daemon_pod_node(const Json& pod) {
  const std::string bound = text_at(pod, "spec.nodeName");
  if (!bound.empty())
    return bound;
  const Json* terms = find_path(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
  if (terms == nullptr || !terms->IsArray())
    return {};
  for (const auto& term : terms->GetArray()) {
    const Json* fields = find_member(term, "matchFields");
    if (fields == nullptr || !fields->IsArray())
      continue;
    for (const auto& field : fields->GetArray()) {
      const Json* values = find_member(field, "values");
      if (text_at(field, "key") == "metadata.name" && values != nullptr && values->IsArray() && !values->Empty() && (*values)[0].IsString())
        return (*values)[0].GetString();
    }
  }
  return {};
}

struct DaemonNode {
  Object* node = nullptr;
  bool should_run = false;
  bool selected = true; //!< matches a Kruise rollingUpdate.selector (true without one)
  std::vector<Object*> pods;
};

struct DaemonState {
  std::string hash;
  std::vector<DaemonNode> nodes;
  std::vector<Object*> orphans; //!< pods for nodes that no longer exist
};

JsonDocument daemon_candidate(const Json& ds, const std::string& name) {
  JsonDocument pod(rapidjson::kObjectType);
  JsonAllocator& allocator = pod.GetAllocator();
  if (const Json* pod_template = find_path(ds, "spec.template"); pod_template != nullptr)
    pod.CopyFrom(*pod_template, allocator);
  if (!pod.IsObject())
    pod.SetObject();
  Json& metadata = object_member(pod, "metadata", allocator);
  set_string(metadata, "name", name, allocator);
  set_string(metadata, "namespace", namespace_of(ds), allocator);
  object_member(pod, "spec", allocator);
  return pod;
}

DaemonState daemon_state(World& world, const std::string& cluster, Object& ds) {
  DaemonState state;
  state.hash = object_template_hash(ds);
  std::map<std::string, std::vector<Object*>> by_node;
  for (Object* pod : pods_owned_by(world, cluster, text_at(ds.body(), "metadata.uid"))) {
    if (!pod_terminating(pod->body())) // on its way out: the node needs a pod of its own
      by_node[daemon_pod_node(pod->body())].push_back(pod);
  }
  const Json* selector = find_path(ds.body(), "spec.updateStrategy.rollingUpdate.selector");
  const bool kruise = ds.ref.group == kKruiseGroup;
  // Resources never decide where a daemon pod should run (a pod that does not fit stays Pending),
  // so the check needs no other pods: it stays linear in the number of nodes.
  const JsonDocument candidate = daemon_candidate(ds.body(), "");
  const ClusterSnapshot no_pods;
  for (Object* node : world.list(cluster, "", "Node")) {
    DaemonNode entry;
    entry.node = node;
    const auto found = by_node.find(node->ref.name);
    if (found != by_node.end()) {
      entry.pods = found->second;
      by_node.erase(found);
    }
    const auto misfit = daemon_pod_misfit(candidate, node->body(), no_pods);
    entry.should_run = !misfit || lacks_only_resources(*misfit);
    entry.selected = !kruise || (selector == nullptr || rules::selector_or_map_matches(*selector, find_path(node->body(), "metadata.labels")));
    state.nodes.push_back(std::move(entry));
  }
  for (auto& [node, pods] : by_node)
    state.orphans.insert(state.orphans.end(), pods.begin(), pods.end());
  return state;
}

bool pod_updated(const Object& pod, const std::string& hash) {
  return string_map_at(pod.body(), "metadata.labels")[std::string(kRevisionHashLabel)] == hash;
}

Object* create_daemon_pod(World& world, const std::string& cluster, Object& ds, const std::string& node, const std::string& hash) {
  const Json* pod_template = find_path(ds.body(), "spec.template");
  if (pod_template == nullptr)
    return nullptr;
  std::map<std::string, std::string> labels = {{std::string(kRevisionHashLabel), hash}};
  if (ds.ref.group == "apps")
    labels["pod-template-generation"] = std::to_string(int_at(ds.body(), "metadata.generation", 1));
  Object& pod = create_pod(world, cluster, ds, *pod_template, ds.ref.name, labels, "daemonset-controller");
  JsonAllocator& allocator = pod.allocator();
  Json& spec = object_member(pod.body(), "spec", allocator);
  // Like ReplaceDaemonSetPodNodeNameNodeAffinity: the pod may go to this node only.
  Json field(rapidjson::kObjectType);
  set_string(field, "key", "metadata.name", allocator);
  set_string(field, "operator", "In", allocator);
  Json values(rapidjson::kArrayType);
  values.PushBack(string_value(node, allocator), allocator);
  set_member(field, "values", std::move(values), allocator);
  Json fields(rapidjson::kArrayType);
  fields.PushBack(field, allocator);
  Json term(rapidjson::kObjectType);
  set_member(term, "matchFields", std::move(fields), allocator);
  Json terms(rapidjson::kArrayType);
  terms.PushBack(term, allocator);
  Json& affinity = object_member(object_member(spec, "affinity", allocator), "nodeAffinity", allocator);
  set_member(object_member(affinity, "requiredDuringSchedulingIgnoredDuringExecution", allocator), "nodeSelectorTerms", std::move(terms),
             allocator);
  add_toleration(spec, "node.kubernetes.io/not-ready", "NoExecute", allocator);
  add_toleration(spec, "node.kubernetes.io/unreachable", "NoExecute", allocator);
  add_toleration(spec, "node.kubernetes.io/disk-pressure", "NoSchedule", allocator);
  add_toleration(spec, "node.kubernetes.io/memory-pressure", "NoSchedule", allocator);
  add_toleration(spec, "node.kubernetes.io/pid-pressure", "NoSchedule", allocator);
  add_toleration(spec, "node.kubernetes.io/unschedulable", "NoSchedule", allocator);
  if (const Json* host_network = find_member(spec, "hostNetwork"); host_network != nullptr && host_network->IsTrue())
    add_toleration(spec, "node.kubernetes.io/network-unavailable", "NoSchedule", allocator);
  return &pod;
}

bool kruise_paused(const Object& ds) {
  const Json* paused = find_path(ds.body(), "spec.updateStrategy.rollingUpdate.paused");
  return ds.ref.group == kKruiseGroup && paused != nullptr && paused->IsTrue();
}

//! Old pods replaced one step at a time within maxUnavailable / maxSurge, partition and selector.
void daemon_rolling_update(World& world, const std::string& cluster, Object& ds, DaemonState& state) {
  const Json* rolling = find_path(ds.body(), "spec.updateStrategy.rollingUpdate");
  long long desired = 0;
  long long updated_nodes = 0;
  for (const DaemonNode& entry : state.nodes) {
    if (!entry.should_run)
      continue;
    ++desired;
    updated_nodes += std::any_of(entry.pods.begin(), entry.pods.end(), [&](Object* pod) { return pod_updated(*pod, state.hash); }) ? 1 : 0;
  }
  const Json* surge_value = rolling == nullptr ? nullptr : find_member(*rolling, "maxSurge");
  const Json* unavailable_value = rolling == nullptr ? nullptr : find_member(*rolling, "maxUnavailable");
  const long long max_surge = scaled_value(surge_value, desired, true, 0);
  long long max_unavailable = scaled_value(unavailable_value, desired, true, max_surge == 0 ? 1 : 0);
  if (max_surge == 0 && max_unavailable == 0)
    max_unavailable = 1;
  long long partition = 0;
  if (ds.ref.group == kKruiseGroup && rolling != nullptr)
    partition = std::clamp(scaled_value(find_member(*rolling, "partition"), desired, true, 0), 0LL, desired);
  // Partition: at most desired - partition nodes run the new revision.
  long long update_budget = std::max(0LL, desired - partition - updated_nodes);
  const long long min_ready = min_ready_seconds(ds.body());
  const auto available = [&](const Object* pod) { return pod_available(pod->body(), min_ready, world.now()); };
  long long unavailable = 0;
  for (const DaemonNode& entry : state.nodes) {
    if (entry.should_run && std::none_of(entry.pods.begin(), entry.pods.end(), available))
      ++unavailable;
  }
  long long surging = 0;
  for (DaemonNode& entry : state.nodes) {
    if (!entry.should_run || entry.pods.empty())
      continue;
    std::vector<Object*> old_pods;
    Object* fresh = nullptr;
    for (Object* pod : entry.pods) {
      if (pod_updated(*pod, state.hash))
        fresh = pod;
      else
        old_pods.push_back(pod);
    }
    if (old_pods.empty())
      continue;
    if (fresh != nullptr) {
      // A surge pod exists: the old one goes once the new one is available.
      ++surging;
      if (available(fresh)) {
        for (Object* pod : old_pods)
          delete_owned_pod(world, ds, pod->ref, "daemonset-controller");
        --surging;
      }
      continue;
    }
    if (!entry.selected || update_budget <= 0)
      continue;
    const bool old_available = std::any_of(old_pods.begin(), old_pods.end(), available);
    if (max_surge > 0 && old_available) {
      if (surging >= max_surge)
        continue;
      create_daemon_pod(world, cluster, ds, entry.node->ref.name, state.hash);
      ++surging;
      --update_budget;
      continue;
    }
    if (old_available) {
      if (unavailable >= max_unavailable)
        continue;
      ++unavailable;
    }
    for (Object* pod : old_pods)
      delete_owned_pod(world, ds, pod->ref, "daemonset-controller");
    entry.pods.clear();
    --update_budget;
  }
}

void run_daemonset(World& world, const std::string& cluster, Object& ds) {
  DaemonState state = daemon_state(world, cluster, ds);
  for (Object* pod : state.orphans)
    delete_owned_pod(world, ds, pod->ref, "daemonset-controller");
  for (DaemonNode& entry : state.nodes) {
    if (!entry.should_run) {
      for (Object* pod : entry.pods)
        delete_owned_pod(world, ds, pod->ref, "daemonset-controller");
      entry.pods.clear();
      continue;
    }
    // Failed pods are replaced; a node without a pod gets one of the newest revision.
    std::vector<Object*> kept;
    for (Object* pod : entry.pods) {
      if (pod_active(pod->body()))
        kept.push_back(pod);
      else
        delete_owned_pod(world, ds, pod->ref, "daemonset-controller");
    }
    entry.pods = kept;
    if (entry.pods.empty()) {
      // The new pod counts as updated at once, so a partition is never overshot.
      if (Object* pod = create_daemon_pod(world, cluster, ds, entry.node->ref.name, state.hash))
        entry.pods.push_back(pod);
    }
  }
  if (text_at(ds.body(), "spec.updateStrategy.type", "RollingUpdate") != "RollingUpdate" || kruise_paused(ds))
    return;
  daemon_rolling_update(world, cluster, ds, state);
}

void update_daemonset_status(World& world, const std::string& cluster, Object& ds) {
  const DaemonState state = daemon_state(world, cluster, ds);
  const long long min_ready = min_ready_seconds(ds.body());
  long long desired = 0, current = 0, updated = 0, ready = 0, available = 0, misscheduled = 0;
  for (const DaemonNode& entry : state.nodes) {
    if (!entry.should_run) {
      misscheduled += entry.pods.empty() ? 0 : 1;
      continue;
    }
    ++desired;
    if (entry.pods.empty())
      continue;
    ++current;
    const auto any = [&](auto predicate) { return std::any_of(entry.pods.begin(), entry.pods.end(), predicate); };
    updated += any([&](const Object* pod) { return pod_updated(*pod, state.hash); }) ? 1 : 0;
    ready += any([&](const Object* pod) { return pod_ready(pod->body()); }) ? 1 : 0;
    available += any([&](const Object* pod) { return pod_available(pod->body(), min_ready, world.now()); }) ? 1 : 0;
  }
  JsonAllocator& allocator = ds.allocator();
  Json& status = object_member(ds.body(), "status", allocator);
  set_int(status, "currentNumberScheduled", current, allocator);
  set_int(status, "desiredNumberScheduled", desired, allocator);
  set_int(status, "numberMisscheduled", misscheduled, allocator);
  set_int(status, "numberReady", ready, allocator);
  set_int(status, "updatedNumberScheduled", updated, allocator);
  set_int(status, "numberAvailable", available, allocator);
  if (desired - available > 0)
    set_int(status, "numberUnavailable", desired - available, allocator);
  else
    erase_member(status, "numberUnavailable");
  set_int(status, "observedGeneration", int_at(ds.body(), "metadata.generation", 1), allocator);
  if (ds.ref.group == kKruiseGroup) {
    const bool beta = text_at(ds.body(), "apiVersion") == "apps.kruise.io/v1beta1";
    set_string(status, beta ? "updateRevision" : "daemonSetHash", state.hash, allocator);
    erase_member(status, beta ? "daemonSetHash" : "updateRevision");
  }
}

// ---- scheduler ----

void run_scheduler(World& world, const std::string& cluster) {
  ClusterView view = cluster_view(world, cluster);
  std::vector<Object*> queue;
  for (Object* pod : view.pods) {
    if (text_at(pod->body(), "spec.nodeName").empty() && pod_phase(pod->body()) == "Pending" && !pod_terminating(pod->body()))
      queue.push_back(pod);
  }
  std::sort(queue.begin(), queue.end(), [](Object* a, Object* b) {
    const std::string a_created = text_at(a->body(), "metadata.creationTimestamp");
    const std::string b_created = text_at(b->body(), "metadata.creationTimestamp");
    return std::tie(a_created, a->ref) < std::tie(b_created, b->ref);
  });
  for (Object* pod : queue) {
    const ScheduleDecision decision = schedule(pod->body(), view.snapshot);
    JsonAllocator& allocator = pod->allocator();
    Json& status = object_member(pod->body(), "status", allocator);
    if (decision.node.empty()) {
      set_condition(status, "PodScheduled", "False", "Unschedulable", decision.message, world.now(), allocator);
      world.event(pod->ref, "Warning", "FailedScheduling", decision.message, "default-scheduler");
      continue;
    }
    Json& metadata = object_member(pod->body(), "metadata", allocator);
    for (const auto& [key, value] : decision.labels)
      set_string(object_member(metadata, "labels", allocator), key, value, allocator);
    for (const auto& [key, value] : decision.annotations)
      set_string(object_member(metadata, "annotations", allocator), key, value, allocator);
    set_string(object_member(pod->body(), "spec", allocator), "nodeName", decision.node, allocator);
    set_condition(object_member(pod->body(), "status", allocator), "PodScheduled", "True", "", "", world.now(), allocator);
    world.event(pod->ref, "Normal", "Scheduled",
                fmt::format("Successfully assigned {}/{} to {}", pod->ref.namespace_, pod->ref.name, decision.node), "default-scheduler");
  }
}

std::vector<Object*> daemonsets(World& world, const std::string& cluster) {
  std::vector<Object*> sets = world.list(cluster, "apps", "DaemonSet");
  for (Object* set : world.list(cluster, kKruiseGroup, "DaemonSet"))
    sets.push_back(set);
  return sets;
}

} // namespace

void run_kubernetes(World& world, const std::string& cluster) {
  run_kubelet(world, cluster);
  collect_garbage(world, cluster);
  for (Object* deployment : world.list(cluster, "apps", "Deployment"))
    run_deployment(world, cluster, *deployment);
  for (Object* set : world.list(cluster, "apps", "ReplicaSet")) {
    const ClusterView view = cluster_view(world, cluster); // pods deleted by one set must leave the snapshot
    run_replicaset(world, cluster, *set, view.snapshot);
  }
  for (Object* ds : daemonsets(world, cluster))
    run_daemonset(world, cluster, *ds);
  run_scheduler(world, cluster);
  for (Object* set : world.list(cluster, "apps", "ReplicaSet"))
    update_replicaset_status(world, cluster, *set);
  for (Object* deployment : world.list(cluster, "apps", "Deployment"))
    update_deployment_status(world, cluster, *deployment);
  for (Object* ds : daemonsets(world, cluster))
    update_daemonset_status(world, cluster, *ds);
}

std::vector<Object*> workload_pods(World& world, const Object& workload) {
  const std::string& cluster = workload.ref.cluster;
  if (workload.ref.kind == "Pod" && workload.ref.group.empty())
    return {world.find(workload.ref)};
  const std::string uid = text_at(workload.body(), "metadata.uid");
  if (workload.ref.kind != "Deployment")
    return pods_owned_by(world, cluster, uid);
  std::vector<Object*> pods;
  for (Object* set : replicasets_owned_by(world, cluster, uid)) {
    for (Object* pod : pods_owned_by(world, cluster, text_at(set->body(), "metadata.uid")))
      pods.push_back(pod);
  }
  std::sort(pods.begin(), pods.end(), [](Object* a, Object* b) { return a->ref < b->ref; });
  return pods;
}

} // namespace meridian::sim

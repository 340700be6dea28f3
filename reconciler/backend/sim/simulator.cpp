// The simulator as a Backend: apply (server-side apply with one field manager), remove, health,
// placements, predict, wait; plus the fixture and the queries the command line needs.
#include "backend/sim/sim.h"

#include "backend/sim/world.h"
#include "base/error.h"
#include "kube_rules/health.h"
#include "kube_rules/quantity.h"
#include "kube_rules/scope.h"
#include "kube_rules/server_fields.h"
#include "manifest/yaml_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <filesystem>
#include <set>

namespace meridian::sim {
namespace {

constexpr long long kPredictHorizonMs = 300'000;
constexpr long long kPredictSettleTicks = 10;

bool builtin_namespace(std::string_view ns) {
  return ns == "default" || ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease";
}

//! An empty document (JsonAllocator's small chunks suit one object).
std::shared_ptr<JsonDocument> new_document() { return std::make_shared<JsonDocument>(); }

std::shared_ptr<const JsonDocument> copy_document(const Json& value) {
  auto document = new_document();
  document->CopyFrom(value, document->GetAllocator());
  return document;
}

//! The desired object without what the server owns (status, uid, resourceVersion...).
JsonDocument sanitize(const Json& desired) {
  JsonDocument clean;
  clean.CopyFrom(desired, clean.GetAllocator());
  rules::remove_server_owned(clean);
  return clean;
}

//! Removes from `live` what `previous` set and `desired` no longer does (server-side apply's
//! field removal for the single field manager Meridian is).
void remove_dropped_fields(Json& live, const Json& previous, const Json& desired) {
  if (!live.IsObject() || !previous.IsObject())
    return;
  for (const auto& member : previous.GetObject()) {
    const std::string_view key(member.name.GetString(), member.name.GetStringLength());
    const Json* wanted = desired.IsObject() ? find_member(desired, key) : nullptr;
    if (wanted == nullptr) {
      erase_member(live, key);
      continue;
    }
    const auto current = live.FindMember(Json(rapidjson::StringRef(key.data(), key.size())));
    if (current != live.MemberEnd() && member.value.IsObject() && wanted->IsObject())
      remove_dropped_fields(current->value, member.value, *wanted);
  }
}

//! Sets every field of `desired` on `live`: maps merge key by key, lists and scalars replace; a null removes.
void merge_fields(Json& live, const Json& desired, JsonAllocator& allocator) {
  for (const auto& member : desired.GetObject()) {
    const std::string_view key(member.name.GetString(), member.name.GetStringLength());
    if (member.value.IsNull()) {
      erase_member(live, key);
      continue;
    }
    const auto current = live.FindMember(Json(rapidjson::StringRef(key.data(), key.size())));
    if (current != live.MemberEnd() && current->value.IsObject() && member.value.IsObject()) {
      merge_fields(current->value, member.value, allocator);
      continue;
    }
    set_member(live, key, Json(member.value, allocator), allocator);
  }
}

bool spec_equal(const Json* a, const Json* b) {
  if (a == nullptr || b == nullptr)
    return a == b;
  return json_equal(*a, *b);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string plural(std::string_view kind) {
  std::string name = lower(kind);
  if (!name.empty() && name.back() == 'y')
    return name.substr(0, name.size() - 1) + "ies";
  if (!name.empty() && (name.back() == 's' || name.back() == 'x' || name.ends_with("ch") || name.ends_with("sh")))
    return name + "es";
  return name + "s";
}

enum class Manager { meridian, foreign };

void check_kubernetes_target(World& world, const ObjectRef& ref) {
  const Object* owner = cluster_object(world, ref.cluster);
  if (owner == nullptr)
    throw UserError(fmt::format("{}: cluster {} does not exist", ref.display(), ref.cluster));
  const std::string state = text_at(owner->body(), "status.state");
  if (state == "deleting")
    throw TransientError(fmt::format("{}: cluster {} is being deleted", ref.display(), ref.cluster));
  if (state == "failed")
    throw UserError(fmt::format("{}: cluster {} failed: {}", ref.display(), ref.cluster, text_at(owner->body(), "status.reason")));
  if (ref.namespace_.empty() || builtin_namespace(ref.namespace_) || ref.kind == "Namespace")
    return;
  if (world.find({ref.cluster, "", "Namespace", "", ref.namespace_}) == nullptr)
    throw UserError(fmt::format("{}: namespaces \"{}\" not found in cluster {}", ref.display(), ref.namespace_, ref.cluster));
}

//! The API server accepts a new CRD's names and serves it within milliseconds: the conditions it
//! sets (the simulator models no name conflicts).
void establish_crd(Object& crd) {
  JsonAllocator& allocator = crd.allocator();
  Json conditions(rapidjson::kArrayType);
  for (const auto& [type, reason, message] : {std::tuple{"NamesAccepted", "NoConflicts", "no conflicts found"},
                                              std::tuple{"Established", "InitialNamesAccepted", "the initial names have been accepted"}}) {
    Json condition(rapidjson::kObjectType);
    set_string(condition, "type", type, allocator);
    set_string(condition, "status", "True", allocator);
    set_string(condition, "reason", reason, allocator);
    set_string(condition, "message", message, allocator);
    conditions.PushBack(condition, allocator);
  }
  set_member(object_member(crd.body(), "status", allocator), "conditions", std::move(conditions), allocator);
}

//! Applies `desired` to `ref` in `world`; returns the live object.
Object& apply_in(World& world, const ObjectRef& ref, const Json& raw, Manager manager) {
  if (!raw.IsObject())
    throw UserError(fmt::format("{}: the manifest is not an object", ref.display()));
  world.forget_owners(ref.cluster); // an apply may set ownerReferences in place
  const JsonDocument desired = sanitize(raw);
  const std::string desired_name = name_of(desired);
  if (!desired_name.empty() && desired_name != ref.name)
    throw UserError(fmt::format("{}: metadata.name: is {}, expected {}", ref.display(), desired_name, ref.name));
  Object* live = world.find(ref);
  if (ref.group == kFleetGroup && ref.kind == "Cluster")
    check_cluster(live, desired);
  else if (ref.group == kFleetGroup && ref.kind == "NodePool")
    check_nodepool(world, live, desired);
  else if (!ref.is_fleet_level())
    check_kubernetes_target(world, ref);
  const bool created = live == nullptr;
  bool spec_changed = false;
  if (created) {
    live = &world.insert(ref, desired);
    if (ref.kind == "CustomResourceDefinition" && ref.group == "apiextensions.k8s.io")
      establish_crd(*live);
    if (ref.kind == "Pod" && ref.group.empty()) {
      set_string(object_member(live->body(), "status", live->allocator()), "phase", "Pending", live->allocator());
      const Object* owner = cluster_object(world, ref.cluster);
      if (owner != nullptr && text_at(owner->body(), "spec.type") == "Serverless") {
        Json toleration(rapidjson::kObjectType);
        set_string(toleration, "key", kVirtualTaintKey, live->allocator());
        set_string(toleration, "operator", "Exists", live->allocator());
        Json& spec = object_member(live->body(), "spec", live->allocator());
        if (!spec.HasMember("tolerations") || !spec["tolerations"].IsArray())
          set_member(spec, "tolerations", Json(rapidjson::kArrayType), live->allocator());
        spec["tolerations"].PushBack(toleration, live->allocator());
      }
    }
  } else {
    JsonDocument before;
    before.CopyFrom(live->body(), before.GetAllocator());
    if (manager == Manager::meridian && !live->applied.empty()) {
      JsonDocument previous;
      if (!parse_json(live->applied, previous))
        remove_dropped_fields(live->body(), previous, desired);
    }
    merge_fields(live->body(), desired, live->allocator());
    spec_changed = !spec_equal(find_member(before, "spec"), find_member(live->body(), "spec"));
    if (spec_changed && find_path(live->body(), "metadata.generation") != nullptr) {
      Json& metadata = object_member(live->body(), "metadata", live->allocator());
      set_int(metadata, "generation", int_at(live->body(), "metadata.generation", 1) + 1, live->allocator());
    }
  }
  if (manager == Manager::meridian)
    live->applied = write_compact(desired);
  if (ref.group == kFleetGroup && ref.kind == "Cluster")
    cluster_applied(world, *live, created, spec_changed);
  else if (ref.group == kFleetGroup && ref.kind == "NodePool")
    nodepool_applied(world, *live, created, spec_changed);
  return *live;
}

void remove_in(World& world, const ObjectRef& ref) {
  Object* live = world.find(ref);
  if (live == nullptr)
    return;
  if (ref.group == kFleetGroup && ref.kind == "Cluster") {
    cluster_removed(world, *live);
    return;
  }
  if (ref.group == kFleetGroup && ref.kind == "NodePool") {
    nodepool_removed(world, *live);
    return;
  }
  if (ref.kind == "Node" && ref.group.empty()) {
    remove_node(world, ref, "was deleted");
    return;
  }
  if (ref.kind == "Pod" && ref.group.empty()) {
    delete_pod(world, ref, "");
    return;
  }
  world.erase(ref); // dependents go with the garbage collector on the next tick, like background deletion
}

bool is_workload(const ObjectRef& ref) {
  if (ref.group == "apps")
    return ref.kind == "Deployment" || ref.kind == "DaemonSet" || ref.kind == "ReplicaSet";
  if (ref.group == "apps.kruise.io")
    return ref.kind == "DaemonSet";
  return ref.group.empty() && ref.kind == "Pod";
}

std::vector<PodPlacement> placements_in(World& world, const ObjectRef& workload) {
  std::vector<PodPlacement> result;
  Object* object = world.find(workload);
  if (object == nullptr)
    return result;
  for (Object* pod : workload_pods(world, *object)) {
    if (pod == nullptr)
      continue;
    PodPlacement placement;
    placement.name = pod->ref.name;
    placement.node = text_at(pod->body(), "spec.nodeName");
    placement.phase = pod_terminating(pod->body()) ? "Terminating" : pod_phase(pod->body());
    placement.message = unschedulable_message(pod->body());
    if (!placement.node.empty()) {
      if (const Object* node = world.find({workload.cluster, "", "Node", "", placement.node}))
        placement.region = string_map_at(node->body(), "metadata.labels")[std::string(kRegionLabel)];
    }
    result.push_back(std::move(placement));
  }
  std::sort(result.begin(), result.end(), [](const PodPlacement& a, const PodPlacement& b) { return a.name < b.name; });
  return result;
}

//! Whether the fleet has nothing in flight that time alone would change.
bool settled(World& world) {
  for (Object* cluster : world.list("", kFleetGroup, "Cluster")) {
    const std::string state = text_at(cluster->body(), "status.state");
    if (state == "initial" || state == "updating" || state == "deleting")
      return false;
    for (Object* node : world.list(cluster->ref.name, "", "Node")) {
      if (!node_ready(node->body()))
        return false;
    }
    for (Object* pod : world.list(cluster->ref.name, "", "Pod")) {
      if (pod_terminating(pod->body()) || (!text_at(pod->body(), "spec.nodeName").empty() && pod_phase(pod->body()) == "Pending"))
        return false;
    }
  }
  for (Object* pool : world.list("", kFleetGroup, "NodePool")) {
    const std::string state = text_at(pool->body(), "status.state");
    if (state != "active" && state != "failed")
      return false;
  }
  return true;
}

//! A node pool of the workload's cluster still scaling explains a pod the scheduler cannot place:
//! the autoscaler's nodes are on their way, which no object in the cluster says.
std::optional<Health> scaling_pool(World& world, const std::string& cluster, const Json& pod, std::string_view message) {
  for (Object* pool : world.list("", kFleetGroup, "NodePool")) {
    if (text_at(pool->body(), "spec.cluster") == cluster && text_at(pool->body(), "status.state") == "scaling")
      return Health{HealthStatus::progressing,
                    fmt::format("pod {} is Pending while node pool {} scales: {}", text_at(pod, "metadata.name"), pool->ref.name, message)};
  }
  return std::nullopt;
}

Health nodepool_health(const Object& pool) {
  const std::string state = text_at(pool.body(), "status.state");
  const long long desired = int_at(pool.body(), "status.desiredNodes", int_at(pool.body(), "spec.desiredSize", 0));
  const long long healthy = int_at(pool.body(), "status.healthyNodes", 0);
  if (state == "failed")
    return {HealthStatus::degraded, text_at(pool.body(), "status.message", "node pool failed")};
  if (state == "active" && healthy >= desired)
    return {HealthStatus::healthy, fmt::format("{} of {} nodes ready", healthy, desired)};
  const std::string message = text_at(pool.body(), "status.message");
  return {HealthStatus::progressing,
          fmt::format("node pool is {}: {} of {} nodes ready{}", state.empty() ? "scaling" : state, healthy, desired, message.empty() ? "" : ": " + message)};
}

Health cluster_health(const Object& cluster) {
  const std::string state = text_at(cluster.body(), "status.state");
  if (state == "running")
    return {HealthStatus::healthy, "cluster is running"};
  if (state == "failed")
    return {HealthStatus::degraded, text_at(cluster.body(), "status.reason", "cluster failed")};
  return {HealthStatus::progressing, fmt::format("cluster is {}", state)};
}

} // namespace

Health health_in(World& world, const ObjectRef& ref) {
  Object* object = world.find(ref);
  if (object == nullptr)
    return {HealthStatus::missing, fmt::format("{} does not exist", ref.display())};
  if (ref.group == kFleetGroup && ref.kind == "Cluster")
    return cluster_health(*object);
  if (ref.group == kFleetGroup && ref.kind == "NodePool")
    return nodepool_health(*object);
  rules::HealthInputs inputs;
  if (rules::health_needs_pods(ref.group, ref.kind)) {
    for (const Object* pod : workload_pods(world, *object))
      if (pod != nullptr)
        inputs.pods.push_back(&pod->body());
    if (ref.group == "apps.kruise.io" && find_path(object->body(), "spec.updateStrategy.rollingUpdate.selector") != nullptr)
      for (const Object* node : world.list(ref.cluster, "", "Node"))
        inputs.nodes.push_back(&node->body());
  }
  inputs.explain_unschedulable = [&](const Json& pod, std::string_view message) { return scaling_pool(world, ref.cluster, pod, message); };
  return rules::live_health(ref.group, ref.kind, ref.name, object->body(), inputs);
}

namespace {

// ---- fixture ----

std::string fixture_text_at(const Json& value, std::string_view key) {
  const Json* member = find_member(value, key);
  if (member == nullptr)
    return {};
  if (member->IsString())
    return std::string(member->GetString(), member->GetStringLength());
  if (member->IsNumber())
    return write_compact(*member);
  return {};
}

void load_fixture_node(World& world, const std::string& origin, const std::string& cluster, const std::string& region,
                       const std::string& version, const Json& spec, size_t cluster_index, size_t node_index) {
  const std::string where = fmt::format("{}: clusters[{}].nodes[{}]", origin, cluster_index, node_index);
  if (!spec.IsObject())
    throw UserError(fmt::format("{}: expected a mapping", where));
  NodeShape shape;
  shape.name = fixture_text_at(spec, "name");
  if (shape.name.empty())
    throw UserError(fmt::format("{}.name: required", where));
  shape.ip = fixture_text_at(spec, "ip");
  if (shape.ip.empty())
    shape.ip = world.next_ip("node");
  shape.kubelet_version = "v" + version;
  shape.labels = string_map_at(spec, "labels");
  const std::string instance_type = fixture_text_at(spec, "instanceType");
  if (!instance_type.empty()) {
    shape.type = find_instance_type(instance_type);
    if (shape.type == nullptr)
      throw UserError(fmt::format("{}.instanceType: unknown instance type {} (known: {})", where, instance_type, known_instance_types()));
    shape.region = region;
    shape.zone = fixture_text_at(spec, "zone").empty() ? region + "-a" : fixture_text_at(spec, "zone");
  }
  shape.capacity = string_map_at(spec, "capacity");
  if (shape.type == nullptr && (shape.capacity.count("cpu") == 0 || shape.capacity.count("memory") == 0))
    throw UserError(fmt::format("{}.capacity: cpu and memory are required for a node without instanceType", where));
  for (const auto& [resource, amount] : shape.capacity) {
    if (!rules::parse_quantity_milli(amount))
      throw UserError(fmt::format("{}.capacity.{}: not a Kubernetes quantity: \"{}\"", where, resource, amount));
  }
  JsonDocument taints(rapidjson::kArrayType);
  if (const Json* listed = find_member(spec, "taints"); listed != nullptr && listed->IsArray())
    taints.CopyFrom(*listed, taints.GetAllocator());
  if (const Json* roles = find_member(spec, "roles"); roles != nullptr && roles->IsArray()) {
    for (const auto& role : roles->GetArray()) {
      if (!role.IsString())
        continue;
      shape.labels[fmt::format("node-role.kubernetes.io/{}", role.GetString())] = "";
      if (std::string_view(role.GetString()) == "control-plane" || std::string_view(role.GetString()) == "master") {
        Json taint(rapidjson::kObjectType);
        set_string(taint, "key", fmt::format("node-role.kubernetes.io/{}", role.GetString()), taints.GetAllocator());
        set_string(taint, "effect", "NoSchedule", taints.GetAllocator());
        taints.PushBack(taint, taints.GetAllocator());
      }
    }
  }
  shape.taints = &taints;
  shape.ready = true;
  world.insert({cluster, "", "Node", "", shape.name}, node_document(shape));
}

void load_fixture_cluster(World& world, const std::string& origin, const Json& spec, size_t index) {
  const std::string where = fmt::format("{}: clusters[{}]", origin, index);
  if (!spec.IsObject())
    throw UserError(fmt::format("{}: expected a mapping", where));
  const std::string name = fixture_text_at(spec, "name");
  if (name.empty())
    throw UserError(fmt::format("{}.name: required", where));
  const std::string type = fixture_text_at(spec, "type");
  if (type != "Managed" && type != "Edge" && type != "Serverless" && type != "Registered")
    throw UserError(fmt::format("{}.type: expected Managed, Edge, Serverless or Registered, got \"{}\"", where, type));
  const std::string region = fixture_text_at(spec, "region");
  if (region.empty())
    throw UserError(fmt::format("{}.region: required", where));
  std::string version = fixture_text_at(spec, "kubernetesVersion");
  if (version.empty())
    version = type == "Registered" ? "1.28.3" : "1.30.7-aliyun.1";
  JsonDocument cluster(rapidjson::kObjectType);
  JsonAllocator& allocator = cluster.GetAllocator();
  set_string(cluster, "apiVersion", "meridian.io/v1alpha1", allocator);
  set_string(cluster, "kind", "Cluster", allocator);
  set_string(object_member(cluster, "metadata", allocator), "name", name, allocator);
  Json& cluster_spec = object_member(cluster, "spec", allocator);
  set_string(cluster_spec, "type", type, allocator);
  set_string(cluster_spec, "region", region, allocator);
  set_string(cluster_spec, "kubernetesVersion", version, allocator);
  if (const Json* addons = find_member(spec, "addons"); addons != nullptr && addons->IsArray())
    set_member(cluster_spec, "addons", Json(*addons, allocator), allocator);
  Json& status = object_member(cluster, "status", allocator);
  set_string(status, "state", "running", allocator);
  set_string(status, "clusterId", world.next_id("c", 32), allocator);
  set_string(status, "created", format_time(0), allocator);
  set_string(status, "updated", format_time(0), allocator);
  set_string(status, "currentVersion", version, allocator);
  if (world.find({"", std::string(kFleetGroup), "Cluster", "", name}) != nullptr)
    throw UserError(fmt::format("{}.name: cluster {} is listed twice", where, name));
  world.insert({"", std::string(kFleetGroup), "Cluster", "", name}, cluster);
  if (const Json* nodes = find_member(spec, "nodes"); nodes != nullptr) {
    if (!nodes->IsArray())
      throw UserError(fmt::format("{}.nodes: expected a list", where));
    for (rapidjson::SizeType node = 0; node < nodes->Size(); ++node)
      load_fixture_node(world, origin, name, region, version, (*nodes)[node], index, node);
  }
}

} // namespace

namespace {
std::unique_ptr<Store> open_store(const std::string& db_path) {
  const std::filesystem::path parent = std::filesystem::path(db_path).parent_path();
  std::error_code error;
  if (!parent.empty())
    std::filesystem::create_directories(parent, error);
  if (error)
    throw UserError(fmt::format("{}: cannot create the state directory: {}", parent.string(), error.message()));
  return std::make_unique<Store>(db_path);
}
} // namespace

Simulator::Simulator(const std::string& db_path) : store_(open_store(db_path)) {}

Simulator::~Simulator() = default;

long long Simulator::data_version() { return store_->data_version(); }

World& Simulator::snapshot() {
  const long long version = data_version();
  if (snapshot_ == nullptr || version != snapshot_version_) {
    snapshot_.reset();
    history_since_ = -1;
    history_.clear();
    snapshot_ = std::make_unique<World>(*store_);
    snapshot_version_ = version;
    // From here on every write goes through change(), which keeps the history.
    history_since_ = std::atoll(store_->meta_value("revision").c_str());
  }
  return *snapshot_;
}

template <typename Edit>
auto Simulator::change(Edit&& edit) {
  constexpr size_t kHistoryBound = 1 << 20; // objects; past it changes_since forgets the oldest writes
  Store::Transaction transaction(*store_, true);
  try {
    World& world = snapshot(); // inside the write lock: nobody can commit between the check and the save
    world.forget_touched();    // read-only calls before this one changed nothing
    auto result = edit(world);
    std::vector<ObjectRef> written = world.save();
    snapshot_version_ = data_version();
    transaction.commit();
    if (!written.empty()) {
      const long long revision = std::atoll(store_->meta_value("revision").c_str());
      if (history_.size() + written.size() > kHistoryBound) {
        history_.clear();
        history_since_ = revision;
      } else {
        for (ObjectRef& ref : written)
          history_.emplace_back(revision, std::move(ref));
      }
    }
    return result;
  } catch (...) {
    snapshot_.reset();
    history_since_ = -1;
    history_.clear();
    throw;
  }
}

std::optional<std::vector<ObjectRef>> Simulator::changes_since(const std::string& revision) {
  Store::Transaction transaction(*store_, false);
  char* end = nullptr;
  const long long since = std::strtoll(revision.c_str(), &end, 10);
  if (revision.empty() || end == nullptr || *end != '\0' || snapshot_ == nullptr || history_since_ < 0 ||
      since < history_since_ || data_version() != snapshot_version_)
    return std::nullopt;
  std::vector<ObjectRef> changed;
  // The history is in revision order: the writes after `since` are its tail.
  auto first = std::upper_bound(history_.begin(), history_.end(), since,
                                [](long long value, const std::pair<long long, ObjectRef>& entry) { return value < entry.first; });
  for (; first != history_.end(); ++first)
    changed.push_back(first->second);
  return changed;
}


std::unique_ptr<Backend> open_simulator(const std::string& db_path) { return std::make_unique<Simulator>(db_path); }

std::optional<std::vector<LiveObject>> Simulator::namespace_contents(const std::string& cluster, const std::string& ns) {
  Store::Transaction transaction(*store_, false);
  World world(*store_);
  std::vector<LiveObject> result;
  for (Object* object : world.in_cluster(cluster))
    if (object->ref.namespace_ == ns && object->ref.kind != "Namespace")
      result.push_back({object->ref, copy_document(object->body())});
  return result;
}

std::vector<LiveObject> Simulator::list_managed(std::string_view owner) {
  std::vector<LiveObject> result;
  visit_managed(owner, [&](LiveObject&& live) { result.push_back(std::move(live)); });
  std::sort(result.begin(), result.end(), [](const LiveObject& a, const LiveObject& b) { return a.ref < b.ref; });
  return result;
}

namespace {

// Batches of live objects from the thread reading rows to the thread visiting them, at most
// `capacity` batches in flight (so the fleet is never held whole).
class BatchQueue {
public:
  using Batch = std::vector<LiveObject>;
  explicit BatchQueue(size_t capacity) : capacity_(capacity) {}

  //! False once the consumer has stopped.
  bool push(Batch batch) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return batches_.size() < capacity_ || stopped_; });
    if (stopped_)
      return false;
    batches_.push_back(std::move(batch));
    not_empty_.notify_one();
    return true;
  }
  //! The producer is done (with the error that ended it, if any).
  void close(std::exception_ptr error) {
    const std::lock_guard lock(mutex_);
    done_ = true;
    error_ = std::move(error);
    not_empty_.notify_all();
  }
  //! The consumer gives up: the producer's next push fails.
  void stop() {
    const std::lock_guard lock(mutex_);
    stopped_ = true;
    not_full_.notify_all();
  }
  //! The next batch; nullopt at the end (rethrowing the producer's error).
  std::optional<Batch> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !batches_.empty() || done_; });
    if (batches_.empty()) {
      if (error_)
        std::rethrow_exception(error_);
      return std::nullopt;
    }
    Batch batch = std::move(batches_.front());
    batches_.pop_front();
    not_full_.notify_one();
    return batch;
  }

private:
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<Batch> batches_;
  bool done_ = false;
  bool stopped_ = false;
  std::exception_ptr error_;
};

struct ConsumerStopped {};

} // namespace

void Simulator::visit_managed(std::string_view owner, const std::function<void(LiveObject&&)>& visit) {
  // Straight from the rows, parsing only those that can qualify: pods, nodes and replica sets
  // (most of a fleet) never carry the annotation, and SQLite leaves them out. Reading and parsing
  // run on a thread of their own while the caller diffs what arrived (this connection is used by
  // that thread alone until it is joined).
  Store::Transaction transaction(*store_, false);
  const auto qualify = [&](StoredObject&& stored) -> std::optional<LiveObject> {
    const bool fleet = stored.ref.group == kFleetGroup && (stored.ref.kind == "Cluster" || stored.ref.kind == "NodePool");
    if (!fleet && !owner.empty() && stored.body.find(kManagedByAnnotation) == std::string::npos)
      return std::nullopt;
    auto document = new_document();
    if (const auto error = parse_json(stored.body, *document))
      throw UserError(fmt::format("{}: object {}: corrupt JSON: {}", store_->path(), stored.ref.key(), *error));
    if (!fleet && annotation_text(*document, kManagedByAnnotation) != owner)
      return std::nullopt;
    return LiveObject{std::move(stored.ref), std::move(document)};
  };
  if (owner.empty()) {
    for (StoredObject& stored : store_->load_objects())
      if (auto live = qualify(std::move(stored)))
        visit(std::move(*live));
    return;
  }
  constexpr size_t kBatch = 64;
  BatchQueue queue(8);
  std::thread reader([&] {
    try {
      BatchQueue::Batch batch;
      store_->visit_objects_mentioning(kFleetGroup, kManagedByAnnotation, [&](StoredObject&& stored) {
        if (auto live = qualify(std::move(stored)))
          batch.push_back(std::move(*live));
        if (batch.size() == kBatch) {
          if (!queue.push(std::move(batch)))
            throw ConsumerStopped{};
          batch = {};
        }
      });
      if (!batch.empty())
        queue.push(std::move(batch));
      queue.close(nullptr);
    } catch (const ConsumerStopped&) {
      queue.close(nullptr);
    } catch (...) {
      queue.close(std::current_exception());
    }
  });
  try {
    while (auto batch = queue.pop())
      for (LiveObject& live : *batch)
        visit(std::move(live));
  } catch (...) {
    queue.stop();
    reader.join();
    throw;
  }
  reader.join();
}

std::optional<std::string> Simulator::revision() { return store_->meta_value("revision"); }

std::shared_ptr<const JsonDocument> Simulator::get(const ObjectRef& ref) {
  const auto stored = store_->load_object(ref);
  if (!stored)
    return nullptr;
  auto document = new_document();
  if (const auto error = parse_json(stored->body, *document))
    throw UserError(fmt::format("{}: object {}: corrupt JSON: {}", store_->path(), ref.key(), *error));
  return document;
}

std::shared_ptr<const JsonDocument> Simulator::apply(const ObjectRef& ref, const Json& desired, bool dry_run) {
  if (dry_run) {
    // A World of its own that is never saved: the kept one must not see the change.
    Store::Transaction transaction(*store_, false);
    World world(*store_);
    Object& live = apply_in(world, ref, desired, Manager::meridian);
    world.stamp();
    return copy_document(live.body());
  }
  return change([&](World& world) {
    Object& live = apply_in(world, ref, desired, Manager::meridian);
    world.stamp();
    return copy_document(live.body());
  });
}

void Simulator::remove(const ObjectRef& ref, bool dry_run) {
  if (dry_run) {
    Store::Transaction transaction(*store_, false);
    World world(*store_);
    remove_in(world, ref);
    return;
  }
  change([&](World& world) {
    remove_in(world, ref);
    return 0;
  });
}

Health Simulator::health(const ObjectRef& ref) {
  Store::Transaction transaction(*store_, false);
  return health_in(snapshot(), ref);
}

std::vector<PodPlacement> Simulator::placements(const ObjectRef& workload) {
  Store::Transaction transaction(*store_, false);
  return placements_in(snapshot(), workload);
}

std::vector<PlacementForecast> Simulator::predict(const std::vector<std::pair<ObjectRef, const Json*>>& changes) {
  // A read transaction that is never committed: the forecast happens in memory and is dropped.
  // Only the clusters the changes touch are loaded and run: the rest of the fleet cannot move
  // their pods (they share nothing but instance stock, which the forecast takes as it stands).
  Store::Transaction transaction(*store_, false);
  std::set<std::string> clusters;
  std::set<ObjectRef> changed_workloads;
  for (const auto& [ref, desired] : changes) {
    if (ref.is_fleet_level()) {
      if (ref.kind == "Cluster")
        clusters.insert(ref.name);
      else if (const auto pool = store_->load_object(ref)) {
        JsonDocument body;
        if (!parse_json(pool->body, body))
          clusters.insert(text_at(body, "spec.cluster"));
      }
      if (desired != nullptr && ref.kind == "NodePool")
        clusters.insert(text_at(*desired, "spec.cluster"));
    } else {
      clusters.insert(ref.cluster);
      if (is_workload(ref) && desired != nullptr)
        changed_workloads.insert(ref);
    }
  }
  World world(*store_, clusters);
  const auto workloads_of = [&](World& state) {
    std::map<ObjectRef, std::vector<PodPlacement>> result;
    for (const std::string& cluster : clusters) {
      for (Object* object : state.in_cluster(cluster)) {
        if (is_workload(object->ref) && object->ref.kind != "ReplicaSet" &&
            !(object->ref.kind == "Pod" && controller_of(object->body())))
          result[object->ref] = placements_in(state, object->ref);
      }
    }
    return result;
  };
  const auto before = workloads_of(world);
  for (const auto& [ref, desired] : changes) {
    if (desired == nullptr)
      remove_in(world, ref);
    else
      apply_in(world, ref, *desired, Manager::meridian);
  }
  std::string previous = world.fingerprint();
  for (long long elapsed = 0; elapsed < kPredictHorizonMs; elapsed += kTickMs) {
    tick(world);
    if ((elapsed / kTickMs + 1) % kPredictSettleTicks != 0)
      continue;
    std::string current = world.fingerprint();
    if (current == previous && settled(world))
      break;
    previous = std::move(current);
  }
  std::vector<PlacementForecast> forecasts;
  for (auto& [ref, placements] : workloads_of(world)) {
    const auto old = before.find(ref);
    const auto same_nodes = [&]() {
      if (old == before.end() || old->second.size() != placements.size())
        return false;
      for (size_t i = 0; i < placements.size(); ++i) {
        if (old->second[i].node != placements[i].node)
          return false;
      }
      return true;
    };
    if (changed_workloads.count(ref) == 0 && same_nodes())
      continue;
    PlacementForecast forecast;
    forecast.workload = ref;
    forecast.pods = static_cast<int>(placements.size());
    forecast.pending = static_cast<int>(std::count_if(placements.begin(), placements.end(), [](const PodPlacement& p) { return p.node.empty(); }));
    forecast.message = forecast_message(placements);
    forecast.placements = std::move(placements);
    forecasts.push_back(std::move(forecast));
  }
  return forecasts;
}

void Simulator::wait(std::chrono::milliseconds duration) {
  if (duration.count() <= 0)
    return;
  change([&](World& world) {
    const long long ticks = (duration.count() + kTickMs - 1) / kTickMs;
    for (long long step = 0; step < ticks; ++step)
      tick(world);
    return 0;
  });
}

long long Simulator::now_ms() {
  const auto meta = store_->load_meta();
  const auto clock = meta.find("clock_ms");
  return clock == meta.end() ? 0 : std::stoll(clock->second);
}

std::vector<std::string> Simulator::node_regions(const std::string& cluster) {
  Store::Transaction transaction(*store_, false);
  World& world = snapshot();
  std::set<std::string> regions;
  for (Object* node : world.list(cluster, "", "Node")) {
    const std::string region = string_map_at(node->body(), "metadata.labels")[std::string(kRegionLabel)];
    if (!region.empty())
      regions.insert(region);
  }
  if (regions.empty()) {
    if (const Object* owner = cluster_object(world, cluster); owner != nullptr && !text_at(owner->body(), "spec.region").empty())
      regions.insert(text_at(owner->body(), "spec.region"));
  }
  return {regions.begin(), regions.end()};
}

void Simulator::init(std::string_view text, const std::string& origin) {
  const auto file = parse_yaml(text);
  if (file->error)
    throw UserError(fmt::format("{}:{}: {}", origin, file->error->line, file->error->message));
  if (file->documents.size() != 1 || !file->documents[0].value.IsObject())
    throw UserError(fmt::format("{}: expected one YAML mapping with stock, clusters and objects", origin));
  const Json& fixture = file->documents[0].value;
  for (const auto& member : fixture.GetObject()) {
    const std::string_view key(member.name.GetString(), member.name.GetStringLength());
    if (key != "seed" && key != "stock" && key != "clusters" && key != "objects" && key != "apiVersion" && key != "kind")
      throw UserError(fmt::format("{}: {}: unknown field (expected seed, stock, clusters, objects)", origin, key));
  }
  Store::Transaction transaction(*store_, true);
  snapshot_.reset();
  const std::string revision = store_->meta_value("revision"); // carried on: a reset fleet is a new revision
  store_->clear();
  World world(*store_);
  world.set_meta("revision", std::to_string(std::atoll(revision.c_str()) + 1));
  world.set_meta("seed", std::to_string(int_at(fixture, "seed", 1)));
  world.set_meta("fixture", std::string(text));
  world.set_meta("fixture_origin", origin);
  if (const Json* stock = find_member(fixture, "stock"); stock != nullptr) {
    if (!stock->IsArray())
      throw UserError(fmt::format("{}: stock: expected a list", origin));
    for (rapidjson::SizeType index = 0; index < stock->Size(); ++index) {
      const Json& entry = (*stock)[index];
      const std::string region = fixture_text_at(entry, "region");
      const std::string type = fixture_text_at(entry, "instanceType");
      const Json* count = find_member(entry, "count");
      if (region.empty() || type.empty() || count == nullptr || !count->IsInt64() || count->GetInt64() < 0)
        throw UserError(fmt::format("{}: stock[{}]: expected region, instanceType and a count >= 0", origin, index));
      if (find_instance_type(type) == nullptr)
        throw UserError(fmt::format("{}: stock[{}].instanceType: unknown instance type {} (known: {})", origin, index, type, known_instance_types()));
      world.set_stock(region, type, count->GetInt64());
    }
  }
  if (const Json* clusters = find_member(fixture, "clusters"); clusters != nullptr) {
    if (!clusters->IsArray())
      throw UserError(fmt::format("{}: clusters: expected a list", origin));
    for (rapidjson::SizeType index = 0; index < clusters->Size(); ++index)
      load_fixture_cluster(world, origin, (*clusters)[index], index);
  }
  if (const Json* objects = find_member(fixture, "objects"); objects != nullptr) {
    if (!objects->IsArray())
      throw UserError(fmt::format("{}: objects: expected a list", origin));
    for (rapidjson::SizeType index = 0; index < objects->Size(); ++index) {
      try {
        apply_in(world, ref_for((*objects)[index], ""), (*objects)[index], Manager::foreign);
      } catch (const Error& error) {
        throw UserError(fmt::format("{}: objects[{}]: {}", origin, index, error.what()));
      }
    }
  }
  world.save();
  transaction.commit();
}

void Simulator::reset() {
  const auto meta = store_->load_meta();
  const auto fixture = meta.find("fixture");
  if (fixture == meta.end())
    throw UserError(fmt::format("{}: no fixture to reset to (run meridian sim init --fixture FILE first)", store_->path()));
  const auto origin = meta.find("fixture_origin");
  init(fixture->second, origin == meta.end() ? std::string("fixture") : origin->second);
}

std::vector<std::pair<std::string, std::string>> Simulator::resolve_kind(std::string_view resource) {
  static const std::vector<std::tuple<std::string_view, std::string_view, std::string_view>> kKnown = {
      {"cluster", "meridian.io", "Cluster"},   {"nodepool", "meridian.io", "NodePool"}, {"np", "meridian.io", "NodePool"},
      {"no", "", "Node"},                      {"po", "", "Pod"},                       {"ds", "apps", "DaemonSet"},
      {"ds", "apps.kruise.io", "DaemonSet"},   {"deploy", "apps", "Deployment"},        {"rs", "apps", "ReplicaSet"},
      {"cm", "", "ConfigMap"},                 {"ns", "", "Namespace"},                 {"svc", "", "Service"},
      {"ads", "apps.kruise.io", "DaemonSet"},  {"node", "", "Node"},                    {"pod", "", "Pod"},
      {"daemonset", "apps", "DaemonSet"},      {"daemonset", "apps.kruise.io", "DaemonSet"}, {"deployment", "apps", "Deployment"},
      {"replicaset", "apps", "ReplicaSet"},    {"namespace", "", "Namespace"},          {"configmap", "", "ConfigMap"},
      {"resourcepolicy", "scheduling.alibabacloud.com", "ResourcePolicy"}};
  const std::string query = lower(resource);
  std::set<std::pair<std::string, std::string>> kinds;
  for (const auto& [name, group, kind] : kKnown)
    kinds.emplace(group, kind);
  {
    Store::Transaction transaction(*store_, false);
    World world(*store_);
    for (Object* object : world.all())
      kinds.emplace(object->ref.group, object->ref.kind);
  }
  std::vector<std::pair<std::string, std::string>> matches;
  for (const auto& [group, kind] : kinds) {
    std::vector<std::string> names = {lower(kind), plural(kind)};
    for (const auto& [alias, alias_group, alias_kind] : kKnown) {
      if (alias_group == group && alias_kind == kind)
        names.emplace_back(alias);
    }
    for (const std::string& name : names) {
      if (query == name || (!group.empty() && (query == name + "." + group))) {
        matches.emplace_back(group, kind);
        break;
      }
    }
  }
  return matches;
}

std::vector<LiveObject> Simulator::list(std::string_view resource, const std::string& cluster, const std::string& ns) {
  const auto kinds = resolve_kind(resource);
  if (kinds.empty())
    throw UserError(fmt::format("the server doesn't have a resource type \"{}\"", resource));
  Store::Transaction transaction(*store_, false);
  World world(*store_);
  std::vector<LiveObject> result;
  for (Object* object : world.all()) {
    const bool kind_matches = std::any_of(kinds.begin(), kinds.end(), [&](const auto& kind) {
      return kind.first == object->ref.group && kind.second == object->ref.kind;
    });
    if (!kind_matches)
      continue;
    const bool fleet = object->ref.is_fleet_level();
    if (!cluster.empty()) {
      const std::string owner = !fleet ? object->ref.cluster
                                : object->ref.kind == "NodePool" ? text_at(object->body(), "spec.cluster")
                                                                 : object->ref.name;
      if (owner != cluster)
        continue;
    }
    if (!ns.empty() && !object->ref.namespace_.empty() && object->ref.namespace_ != ns)
      continue;
    result.push_back({object->ref, copy_document(object->body())});
  }
  return result;
}

std::vector<EventRecord> Simulator::events(const ObjectRef* involved) {
  std::vector<EventRecord> result;
  for (const StoredEvent& event : store_->load_events()) {
    if (involved != nullptr && !(event.involved == *involved))
      continue;
    result.push_back({event.type, event.reason, event.source, event.message, event.count, event.first_ms, event.last_ms, event.involved});
  }
  return result;
}

ObjectRef Simulator::ref_for(const Json& object, const std::string& default_cluster) {
  if (!object.IsObject())
    throw UserError("expected a Kubernetes object (a mapping)");
  const std::string api_version = text_at(object, "apiVersion");
  const std::string kind = text_at(object, "kind");
  const std::string name = name_of(object);
  if (api_version.empty() || kind.empty() || name.empty())
    throw UserError("apiVersion, kind and metadata.name are required");
  const size_t slash = api_version.find('/');
  ObjectRef ref;
  ref.group = slash == std::string::npos ? std::string() : api_version.substr(0, slash);
  ref.kind = kind;
  ref.name = name;
  if (ref.is_fleet_level())
    return ref;
  ref.cluster = annotation_text(object, "meridian.io/cluster");
  if (ref.cluster.empty())
    ref.cluster = default_cluster;
  if (ref.cluster.empty())
    throw UserError(fmt::format("{}/{}: no target cluster (set the meridian.io/cluster annotation or --cluster)", kind, name));
  if (!rules::is_cluster_scoped_kind(kind)) {
    ref.namespace_ = namespace_of(object);
    if (ref.namespace_.empty())
      ref.namespace_ = "default";
  }
  return ref;
}

std::shared_ptr<const JsonDocument> Simulator::apply_foreign(const ObjectRef& ref, const Json& object) {
  return change([&](World& world) {
    Object& live = apply_in(world, ref, object, Manager::foreign);
    world.stamp();
    return copy_document(live.body());
  });
}

void Simulator::delete_foreign(const ObjectRef& ref) {
  change([&](World& world) {
    if (world.find(ref) == nullptr)
      throw UserError(fmt::format("{}: not found{}", ref.display(), ref.cluster.empty() ? "" : " in cluster " + ref.cluster));
    remove_in(world, ref);
    return 0;
  });
}

std::string Simulator::integrity_check() { return store_->integrity_check(); }

} // namespace meridian::sim

// The simulated fleet held in memory for one operation (internal to the simulator).
//
// Every Backend call opens a transaction, loads the World from the Store, works on it (apply,
// controllers, queries) and, for changes, saves what differs from what was loaded before
// committing. Objects are kept in ObjectRef order, so every iteration is deterministic; objects of
// one (cluster, group, kind) are contiguous. Names, uids and IPs come from counters in `meta`, so
// the same operations always produce the same fleet.
#pragma once

#include "backend/backend.h"
#include "backend/sim/store.h"
#include "kube_rules/accessors.h"
#include "kube_rules/health.h"
#include "kube_sched/scheduler.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <string_view>
#include <vector>

namespace meridian::sim {

// The scheduler model is kube_sched/'s (the kube backend's forecast uses it too).
using sched::ClusterSnapshot;
using sched::daemon_pod_misfit;
using sched::daemon_pod_tolerations;
using sched::lacks_only_resources;
using sched::matches_node_selection;
using sched::scale_in_order;
using sched::schedule;
using sched::ScheduleDecision;
using sched::tolerates;

inline constexpr std::string_view kFleetGroup = "meridian.io";
inline constexpr std::string_view kNodePoolLabel = "alibabacloud.com/nodepool-id";
inline constexpr std::string_view kRegionLabel = "topology.kubernetes.io/region";
inline constexpr std::string_view kZoneLabel = "topology.kubernetes.io/zone";
inline constexpr std::string_view kInstanceTypeLabel = "node.kubernetes.io/instance-type";
inline constexpr std::string_view kHostnameLabel = "kubernetes.io/hostname";
inline constexpr std::string_view kManagedByAnnotation = "meridian.io/managed-by";
inline constexpr std::string_view kVirtualTaintKey = "virtual-kubelet.io/provider";

// Simulated durations, close to what ACK takes (scaled down where real waits are minutes).
inline constexpr long long kTickMs = 1000;
inline constexpr long long kClusterCreateMs = 60'000;
inline constexpr long long kClusterUpdateMs = 30'000;
inline constexpr long long kClusterDeleteMs = 30'000;
inline constexpr long long kNodeReadyMs = 20'000;
inline constexpr long long kAutoscalerScanMs = 10'000;
inline constexpr long long kScaleDownUnneededMs = 600'000;
inline constexpr long long kProgressDeadlineMs = 600'000;
inline constexpr long long kPodStopMs = 2000; //!< how long a deleted pod stays Terminating (its containers exit)

//! One object during an operation, with what the database held when it was loaded.
struct Object {
  ObjectRef ref;
  JsonDocument doc;
  std::string applied;        //!< configuration Meridian last applied (JSON text), "" when none
  std::string stored_body;    //!< as loaded; "" for an object created during this operation
  std::string stored_applied;
  std::string stamped;        //!< body text when it last received a resourceVersion, unless stamped_is_stored
  //! The stamped text is stored_body (and `stamped` is empty): true after a load or a save, which
  //! is most objects most of the time; one copy of each body instead of two.
  bool stamped_is_stored = false;
  const std::string& stamped_text() const { return stamped_is_stored ? stored_body : stamped; }
  //! Handed out for editing (find, list, all, insert) since the last save: only these can have
  //! changed, so stamp and save serialize them and skip the rest of the fleet.
  bool touched = false;
  bool erased = false; //!< erased or replaced during this operation (kept until save: see World::graveyard_)
  //! object_template_hash, as of the metadata.generation and status.collisionCount it was made at.
  std::string template_hash;
  long long template_hash_generation = -1;
  long long template_hash_collisions = -1;

  Json& body() { return doc; }
  const Json& body() const { return doc; }
  JsonAllocator& allocator() { return doc.GetAllocator(); }
};

class World {
public:
  //! Loads everything from `store` (call inside a transaction).
  explicit World(Store& store);
  //! Loads the fleet-level objects and the Kubernetes objects of `clusters` only, and runs the
  //! controllers of those clusters only (their pools, nodes and pods): the rest of the fleet is not
  //! there. For forecasts that touch a few clusters of a large fleet; never saved.
  World(Store& store, const std::set<std::string>& clusters);

  //! Whether the controllers of `cluster` run (always, unless the World was loaded for some clusters).
  bool in_focus(std::string_view cluster) const;
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  //! Stamps changed objects with a new resourceVersion and writes every change (inside a write
  //! transaction); afterwards the World matches the database again and can serve the next call.
  //! Returns the objects written or deleted (the revision was raised when there are any).
  std::vector<ObjectRef> save();
  //! Gives changed objects a new metadata.resourceVersion (idempotent until the next change).
  void stamp();
  //! Forgets what read-only calls handed out since the last save (they change nothing): the next
  //! save then serializes only what its own operation touched, not every object a status poll read.
  void forget_touched();

  long long now() const { return now_; }
  void advance(long long ms) { now_ += ms; }

  Object* find(const ObjectRef& ref);
  //! Creates `ref` from `body` and sets uid, creationTimestamp, generation and resourceVersion.
  Object& insert(const ObjectRef& ref, const Json& body);
  void erase(const ObjectRef& ref);
  //! Objects of one kind in one cluster ("" for fleet-level), in ref order.
  std::vector<Object*> list(std::string_view cluster, std::string_view group, std::string_view kind);
  //! Every object, in ref order.
  std::vector<Object*> all();
  //! The Kubernetes objects of one cluster, in ref order (they are contiguous: cluster sorts first).
  std::vector<Object*> in_cluster(std::string_view cluster);
  //! Objects of one kind in `cluster` whose controller (ownerReference with controller: true) has
  //! `uid`, in ref order. Served from an index of the cluster built on first use and dropped by any
  //! insert or erase in it, or by forget_owners: controllers ask it for every workload on every
  //! tick, and a scan of the cluster's pods per question made ticks quadratic.
  std::vector<Object*> owned_by(const std::string& cluster, std::string_view group, std::string_view kind, std::string_view uid);
  //! Drops the ownership index of `cluster`: after an edit that may have changed ownerReferences
  //! of an object in place (an apply).
  void forget_owners(const std::string& cluster) { owners_.erase(cluster); }

  //! `length` characters of Kubernetes' name alphabet from the seeded generator.
  std::string random_string(size_t length);
  std::string new_uid();
  //! The next address of a pool: "node" (192.168.0.0/16) or "pod" (172.16.0.0/12).
  std::string next_ip(std::string_view pool);
  std::string next_id(std::string_view prefix, size_t length);

  //! Instances of `instance_type` left in `region`; nullopt when stock is not modelled (no fixture stock).
  std::optional<long long> stock(std::string_view region, std::string_view instance_type) const;
  void take_stock(std::string_view region, std::string_view instance_type);
  void return_stock(std::string_view region, std::string_view instance_type);
  void set_stock(std::string_view region, std::string_view instance_type, long long count);
  const std::map<std::pair<std::string, std::string>, long long>& stock_table() const { return stock_; }

  //! Records an event, folding it into the previous one when identical (count, last time).
  void event(const ObjectRef& involved, std::string_view type, std::string_view reason, std::string_view message,
             std::string_view source);
  std::vector<const StoredEvent*> events_for(const ObjectRef& involved) const;

  std::string meta(const std::string& key, const std::string& fallback = {}) const;
  void set_meta(const std::string& key, const std::string& value) { meta_[key] = value; }

  //! Stable digest of the whole state (to tell when controllers have nothing left to do).
  std::string fingerprint();

private:
  long long counter(const std::string& key);

  //! Marks `object` as handed out for editing.
  void touch(Object& object);

  void load(std::vector<StoredObject> rows);

  Store& store_;
  std::optional<std::set<std::string>> focus_;
  std::map<ObjectRef, std::unique_ptr<Object>> objects_;
  std::vector<Object*> touched_;                    //!< objects with `touched` set, in the order first touched
  std::vector<std::unique_ptr<Object>> graveyard_; //!< erased objects, alive until save so touched_ never dangles
  std::set<ObjectRef> erased_;
  //! owned_by's index: cluster → (group, kind, controller uid) → objects in ref order.
  std::map<std::string, std::map<std::tuple<std::string, std::string, std::string>, std::vector<Object*>>, std::less<>> owners_;
  std::map<std::string, std::string> meta_;
  std::map<std::string, std::string> stored_meta_;
  std::map<std::pair<std::string, std::string>, long long> stock_;
  std::map<std::pair<std::string, std::string>, long long> stored_stock_;
  void load_events() const;

  mutable std::vector<StoredEvent> events_; // loaded on first use: most operations never look at events
  mutable bool events_loaded_ = false;
  std::set<size_t> changed_events_;
  std::map<std::string, size_t> event_index_;
  long long now_ = 0;
};

// ---- JSON editing ----

//! The object member `key` of `object`, created (or replaced when not an object) as needed.
Json& object_member(Json& object, std::string_view key, JsonAllocator& allocator);
void set_member(Json& object, std::string_view key, Json value, JsonAllocator& allocator);
void set_string(Json& object, std::string_view key, std::string_view value, JsonAllocator& allocator);
void set_int(Json& object, std::string_view key, long long value, JsonAllocator& allocator);
void set_bool(Json& object, std::string_view key, bool value, JsonAllocator& allocator);
void erase_member(Json& object, std::string_view key);
Json string_value(std::string_view text, JsonAllocator& allocator);
Json string_map_value(const std::map<std::string, std::string>& map, JsonAllocator& allocator);

//! The value at a dotted path, for editing; nullptr when any step is missing.
Json* find_path_mut(Json& value, std::string_view path);
//! The string at a dotted path, or `fallback` (one accessor for every stage: kube_rules/).
using rules::text_at;
//! The integer at a dotted path (numbers and numeric strings), or `fallback` (kube_rules/ too).
using rules::int_at;
std::map<std::string, std::string> string_map_at(const Json& value, std::string_view path);
const Json* annotation(const Json& object, std::string_view key);
std::string annotation_text(const Json& object, std::string_view key);

std::string name_of(const Json& object);
std::string namespace_of(const Json& object);

//! RFC 3339 text of a simulated time (ms since the simulator's epoch, 2025-01-01T00:00:00Z).
std::string format_time(long long ms);
//! The inverse of format_time; nullopt for other text.
std::optional<long long> parse_time(std::string_view text);

//! Kubernetes' hash of a pod template: FNV-32a, rendered with its safe alphabet (as pod-template-hash).
std::string template_hash(const Json& template_spec, long long collision_count = 0);
//! template_hash of a workload's spec.template and status.collisionCount ("" without a template).
//! Kept on the object while its metadata.generation holds (every spec change raises it), since
//! controllers ask for it on every tick.
std::string object_template_hash(Object& workload);

// ---- shared between the simulator's parts ----

//! The cluster's Cluster object, or nullptr.
Object* cluster_object(World& world, std::string_view cluster);
std::string cluster_state(World& world, std::string_view cluster);
//! Whether the cluster's Kubernetes API answers (running or updating).
bool cluster_serving(World& world, std::string_view cluster);
//! Pods, Nodes and ResourcePolicies of a cluster, as the scheduler sees them.
struct ClusterView {
  std::vector<Object*> nodes;
  std::vector<Object*> pods;
  ClusterSnapshot snapshot;
};
ClusterView cluster_view(World& world, const std::string& cluster);

bool node_ready(const Json& node);
bool pod_ready(const Json& pod);
std::string pod_phase(const Json& pod);
//! The scheduler's message for a Pending pod it could not place ("" otherwise).
using rules::unschedulable_message;
//! The controller owner (kind, name, uid) of an object, or nullopt.
struct OwnerRef {
  std::string kind;
  std::string name;
  std::string uid;
};
std::optional<OwnerRef> controller_of(const Json& object);
//! The uid of the controller owner ("" when none); a view into `object`, for the hot loops that
//! match pods to their owners every tick.
std::string_view controller_uid(const Json& object);

//! Deletes a pod as the API server does: a pod on a node turns Terminating (deletionTimestamp set,
//! not Ready) and the kubelet removes it once its containers stopped; an unbound pod goes at once.
void delete_pod(World& world, const ObjectRef& pod, std::string_view reason);
//! Removes a pod at once, as the pod garbage collector does for pods of a deleted node.
void force_delete_pod(World& world, const ObjectRef& pod);
//! True for a pod being deleted (metadata.deletionTimestamp set).
using rules::pod_terminating;
//! When the kubelet removes a Terminating pod (ms), or nullopt when it is not terminating.
std::optional<long long> pod_removal_time(const Json& pod);
//! Removes a node and force-deletes its pods.
void remove_node(World& world, const ObjectRef& node, std::string_view reason);

//! Pods a workload owns (Deployment through its ReplicaSets, ReplicaSet, DaemonSet, or the Pod itself).
std::vector<Object*> workload_pods(World& world, const Object& workload);

//! Health of `ref` in `world` by kube_rules/health.h's rules over the object, the pods it controls
//! and the cluster's nodes, or of a Cluster or NodePool by their states; a node pool still scaling
//! for a pod the scheduler cannot place makes a workload Progressing, not Degraded (simulator.cpp).
Health health_in(World& world, const ObjectRef& ref);

//! One step of simulated time: clock + kTickMs, then every controller.
void tick(World& world);
//! Cloud controllers: clusters, node pools, nodes, virtual nodes, autoscaler (cloud.cpp).
void run_cloud(World& world);
//! Kubernetes controllers of one serving cluster: kubelet, GC, workloads, scheduler (controllers.cpp).
void run_kubernetes(World& world, const std::string& cluster);

//! What the instance-type catalogue knows about one type.
struct InstanceType {
  std::string_view name;
  int vcpu;
  int memory_gib;
  int gpus;
  std::string_view gpu_name;   //!< aliyun.accelerator/nvidia_name
  std::string_view gpu_memory; //!< aliyun.accelerator/nvidia_mem
};
const InstanceType* find_instance_type(std::string_view name);
std::string known_instance_types();

// Lifecycle hooks of the cloud layer, called when Meridian applies or deletes (cloud.cpp).

//! Checks a Cluster before it is stored; throws UserError naming the field.
void check_cluster(const Object* live, const Json& desired);
//! Starts what ACK starts after CreateCluster / ModifyCluster (state initial or updating).
void cluster_applied(World& world, Object& cluster, bool created, bool spec_changed);
//! Starts deleting a cluster (state deleting); a Registered cluster is refused with UserError.
void cluster_removed(World& world, Object& cluster);
//! Checks a NodePool before it is stored; throws UserError naming the field.
void check_nodepool(World& world, const Object* live, const Json& desired);
void nodepool_applied(World& world, Object& pool, bool created, bool spec_changed);
void nodepool_removed(World& world, Object& pool);
//! A Node document with the labels, taints and capacity ACK gives a node of `type`.
struct NodeShape {
  std::string name;
  std::string ip;
  std::string region;
  std::string zone;
  std::string kubelet_version;
  std::string provider_id;
  const InstanceType* type = nullptr;     //!< null for an IDC node (capacity from `capacity`)
  std::map<std::string, std::string> labels;  //!< extra labels (pool labels, roles...)
  std::map<std::string, std::string> capacity; //!< for IDC nodes
  const Json* taints = nullptr;           //!< array of taints or null
  bool ready = false;
};
JsonDocument node_document(const NodeShape& shape);



} // namespace meridian::sim

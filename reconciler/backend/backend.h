// The live-state backends: the interfaces the embedded simulator, real Kubernetes clusters (REST
// API, server-side apply) and the ACK OpenAPI implement, by role (read, write, health, clock,
// topology, and the optional forecast).
//
// The engine (plan, apply, run) talks only to `Backend`, the aggregate of the roles. Objects are addressed by ObjectRef;
// desired objects are passed as full manifests (as Git holds them) and live objects come back as
// the server would return them (with metadata.uid, generation, status...). All methods may throw
// UserError (permanent: the object fails) or TransientError (retry with backoff).
//
// Time: `wait` lets the live fleet progress (the simulator advances its logical clock and runs its
// controllers; a real backend sleeps). Health gating polls `health` between waits.
#pragma once

#include "base/error.h"

#include "base/json.h"
#include "kube_rules/health.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace meridian {

//! Identity of an object in the fleet. Cluster and NodePool are fleet-level: cluster is "" and
//! group is "meridian.io". Kubernetes objects carry their target cluster.
struct ObjectRef {
  std::string cluster;
  std::string group;      //!< "" for the core group
  std::string kind;
  std::string namespace_; //!< "" for cluster-scoped kinds
  std::string name;

  //! `cluster/group/kind/namespace/name`, the key used in the state store and reports.
  std::string key() const;
  //! Kind/name or Kind/namespace/name, how messages name an object.
  std::string display() const;
  bool is_fleet_level() const { return group == "meridian.io"; }

  friend bool operator<(const ObjectRef& a, const ObjectRef& b) {
    return std::tie(a.cluster, a.group, a.kind, a.namespace_, a.name) < std::tie(b.cluster, b.group, b.kind, b.namespace_, b.name);
  }
  friend bool operator==(const ObjectRef& a, const ObjectRef& b) {
    return std::tie(a.cluster, a.group, a.kind, a.namespace_, a.name) == std::tie(b.cluster, b.group, b.kind, b.namespace_, b.name);
  }
};

//! For unordered containers of refs (a std::map compares five strings per step).
struct ObjectRefHash {
  size_t operator()(const ObjectRef& ref) const noexcept {
    size_t hash = 0;
    for (const std::string* part : {&ref.cluster, &ref.group, &ref.kind, &ref.namespace_, &ref.name})
      hash = hash * 1099511628211ull ^ std::hash<std::string>()(*part);
    return hash;
  }
};

//! How Meridian marks what it manages (set on every desired body by model/, read by plan/ and the
//! backends): the owner's name in an annotation, and for Kubernetes objects a label that `kubectl
//! -l` and LISTs can select on plus a tracking id naming the object itself, so that an annotation
//! copied onto another object, or an object of the same name applied by another Meridian cluster
//! bound to the same API server, is never taken for one's own (as Argo CD's tracking id).
inline constexpr std::string_view kManagedByAnnotation = "meridian.io/managed-by";
inline constexpr std::string_view kOwnerLabel = "meridian.io/owner";
inline constexpr std::string_view kTrackingAnnotation = "meridian.io/tracking-id";

//! The owner as a label value (63 characters of [A-Za-z0-9._-], alphanumeric at both ends): the
//! owner itself when it is one, else its legal characters and a hash of the whole.
std::string owner_label_value(std::string_view owner);
//! `<cluster>:<group>/<kind>:<namespace>/<name>` of a Kubernetes object.
std::string tracking_id(const ObjectRef& ref);
//! True when `object` (live, as the backend holds it at `ref`) is `owner`'s: its managed-by
//! annotation names the owner and, for a Kubernetes object, its tracking id names `ref`.
bool owned_by(const Json& object, const ObjectRef& ref, std::string_view owner);

// HealthStatus and Health are kube_rules/health.h's: the Kubernetes health rules return them.
std::string_view to_string(HealthStatus status);

//! The health `read` finds, or why it found none: live state that cannot be read now (a transient
//! error) is progressing, an error the user must fix is degraded. For Backend::health.
template <typename Read> Health health_or_unreadable(Read&& read) {
  try {
    return read();
  } catch (const TransientError& error) {
    return {HealthStatus::progressing, "cannot read live state: " + std::string(error.what())};
  } catch (const UserError& error) {
    return {HealthStatus::degraded, error.what()};
  }
}

//! Where one pod is, or why it is nowhere.
struct PodPlacement {
  std::string name;
  std::string node;    //!< empty while Pending
  std::string region;  //!< of the node
  std::string phase;   //!< Pending, Running, ...
  std::string message; //!< the scheduler's reason when Pending
};

//! What a change would do to a workload's pods (from `predict`).
struct PlacementForecast {
  ObjectRef workload;
  int pods = 0;
  int pending = 0;
  std::string message;   //!< e.g. "1 pod will stay Pending: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
  std::vector<PodPlacement> placements;
};

//! A forecast's words for a workload's pods: "2 pods will stay Pending: <the first one's reason>",
//! or "3 pods will run in cn-hangzhou, cn-shanghai" (regions of their nodes, sorted).
std::string forecast_message(const std::vector<PodPlacement>& placements);

//! A live object as the backend holds it.
struct LiveObject {
  ObjectRef ref;
  std::shared_ptr<const JsonDocument> object;
};

// The roles a backend plays, each a small interface (as libgit2's odb backends are small sets of
// callbacks). Defaults live here, once: a backend overrides what it can do better. `Backend` is
// the aggregate the engine holds; `Forecaster` is optional (Backend::forecaster).

//! Reads live state.
class LiveReader {
public:
  virtual ~LiveReader() = default;

  //! Every object the backend holds that carries `meridian.io/managed-by: <owner>` (for prune and
  //! status), plus every Cluster and NodePool, sorted by ref.
  virtual std::vector<LiveObject> list_managed(std::string_view owner) = 0;

  //! The objects of list_managed, one at a time and in no set order, so that a caller keeping
  //! only what it needs (plan) never holds the whole fleet. A backend that reads its objects one by
  //! one overrides this; by default it walks list_managed.
  virtual void visit_managed(std::string_view owner, const std::function<void(LiveObject&&)>& visit) {
    for (LiveObject& live : list_managed(owner))
      visit(std::move(live));
  }

  //! The objects the desired state and the last applies name (make_plan says so before
  //! visit_managed): a backend that reads by kind and namespace then reads these kinds in these
  //! namespaces, rather than every kind everywhere (which needs rights the fleet does not). By
  //! default ignored.
  virtual void scope(const std::vector<ObjectRef>& refs) { (void)refs; }
  //! True when scope() is used (make_plan does not gather the refs for a backend that ignores them).
  virtual bool wants_scope() const { return false; }

  //! Warnings about live state the backend could not read (a kind it may not list), once each.
  virtual std::vector<std::string> take_warnings() { return {}; }

  //! A token that changes whenever any object of the backend changes (created, changed, deleted,
  //! by anyone), or nullopt when the backend cannot tell. While it stays the same, what was read
  //! before still holds: `meridian run` then re-diffs only the objects whose manifests changed.
  virtual std::optional<std::string> revision() { return std::nullopt; }

  //! The objects created, changed or deleted since `revision` (a value revision() returned), in
  //! no set order, or nullopt when the backend cannot tell (it keeps no such history, or someone
  //! it does not see wrote). What was read at `revision` of every other object still holds, as a
  //! watch from that resourceVersion would say: the loop re-reads only these after an apply.
  virtual std::optional<std::vector<ObjectRef>> changes_since(const std::string& revision) {
    (void)revision;
    return std::nullopt;
  }

  //! A token that changes when someone changes the content of an object the backend watches
  //! (anything but its status), so that `meridian run` reconciles at once rather than at its next
  //! interval; nullopt when the backend does not watch (the loop then waits for its interval).
  virtual std::optional<std::string> drift_revision() { return std::nullopt; }

  //! The live object, or nullptr when it does not exist.
  virtual std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) = 0;

  //! The live object as `api_version` serves it (a kind served in several versions is read in its
  //! preferred one by get and list_managed; plan compares with Git's version). By default, get.
  virtual std::shared_ptr<const JsonDocument> get_as(const ObjectRef& ref, std::string_view api_version) {
    (void)api_version;
    return get(ref);
  }

  //! Every object in namespace `ns` of `cluster` (what deleting the Namespace takes with it), in
  //! ref order, or nullopt when the backend cannot list them: prune then deletes no Namespace
  //! that has not opted in (model/desired.h, prune_namespace_contents_annotation).
  virtual std::optional<std::vector<LiveObject>> namespace_contents(const std::string& cluster, const std::string& ns) {
    (void)cluster;
    (void)ns;
    return std::nullopt;
  }
};

//! Changes live state.
class LiveWriter {
public:
  virtual ~LiveWriter() = default;

  //! Creates or updates `ref` so that it carries every field of `desired` (server-side apply
  //! semantics with one field manager: fields Meridian applied before and no longer sets are
  //! removed). Returns the resulting live object. With dry_run nothing changes.
  virtual std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) = 0;

  //! True when `apply(..., dry_run=true)` returns what the server itself would store (defaults,
  //! admission, field ownership applied): plan then diffs that against live, as `kubectl diff` does.
  virtual bool server_side_dry_run() const { return false; }

  //! Why applying `desired` over `live` cannot be done in place, so that apply would delete `ref`
  //! and create it again (e.g. a NodePool's type on ACK), or nullopt. Plan shows it as a warning.
  virtual std::optional<std::string> replacement(const ObjectRef& ref, const Json& desired, const Json& live) {
    (void)ref, (void)desired, (void)live;
    return std::nullopt;
  }

  //! Deletes `ref` (a no-op when it does not exist).
  virtual void remove(const ObjectRef& ref, bool dry_run) = 0;
};

//! Health of live objects and where their pods run.
class HealthSource {
public:
  virtual ~HealthSource() = default;

  //! Health of a live object by the rules of ../../README.md (kubectl rollout rules, ACK states).
  virtual Health health(const ObjectRef& ref) = 0;

  //! Pods a workload (Deployment, DaemonSet, Pod) owns, sorted by name; none from a backend that
  //! holds no pods.
  virtual std::vector<PodPlacement> placements(const ObjectRef& workload) {
    (void)workload;
    return {};
  }
};

//! The time the live fleet moves in.
class LiveClock {
public:
  virtual ~LiveClock() = default;

  //! Lets the live fleet progress for `duration` (simulated time for the simulator).
  virtual void wait(std::chrono::milliseconds duration) = 0;

  //! The backend's clock, in milliseconds since its epoch (simulated time for the simulator).
  virtual long long now_ms() = 0;
};

//! Sleeps for `duration`: LiveClock::wait of a backend on real time.
void sleep_for(std::chrono::milliseconds duration);
//! The steady clock in milliseconds: LiveClock::now_ms of a backend on real time.
long long steady_now_ms();

//! Where a cluster's nodes are.
class Topology {
public:
  virtual ~Topology() = default;

  //! Region of a Cluster or NodePool (from its spec), or of a Kubernetes object's cluster.
  //! Nodes of one Edge cluster span regions; `node_regions` lists them for region-by-region
  //! rollouts. None from a backend that does not know.
  virtual std::vector<std::string> node_regions(const std::string& cluster) {
    (void)cluster;
    return {};
  }
};

//! What changes would do to pods, computed without changing live state (optional role).
class Forecaster {
public:
  virtual ~Forecaster() = default;

  //! What applying `changes` (in order) would do to the pods of each workload among them.
  virtual std::vector<PlacementForecast> predict(const std::vector<std::pair<ObjectRef, const Json*>>& changes) = 0;
};

//! A backend: the roles the engine uses (plan, apply, run), in one object.
class Backend : public LiveReader, public LiveWriter, public HealthSource, public LiveClock, public Topology {
public:
  virtual std::string name() const = 0;

  //! The forecaster, or nullptr when the backend cannot tell what a change does to pods (plan
  //! then shows no forecast).
  virtual Forecaster* forecaster() { return nullptr; }
};

} // namespace meridian

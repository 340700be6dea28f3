// The embedded fleet simulator: Meridian's default live-state backend.
//
// A simulated fleet of ACK clusters, node pools, nodes and pods kept in one SQLite file, with the
// controllers that make it move: cluster and node-pool lifecycles, instance stock, cluster-
// autoscaler, the scheduler (scheduler.h), DaemonSet (apps/v1 and OpenKruise), Deployment →
// ReplicaSet → Pod, and a kubelet. Time is logical: it advances only through `wait` (one controller
// pass per simulated second), so every run of the same operations gives the same fleet, names and
// IPs included.
//
// Every call is one transaction on the file (see store.h): a crash leaves the previous or the next
// state, and two processes on one file take turns. A Simulator is one connection: use it from one
// thread at a time (open one per thread).
//
// Fixture (YAML, one document) — what exists before Meridian acts:
//
//   seed: 7                          # optional: seeds generated names, uids and IPs (default 1)
//   stock:                           # instances left per region and type; a type missing from a
//     - {region: cn-beijing, instanceType: ecs.gn6i-c4g1.xlarge, count: 2}  # listed fleet is out
//   clusters:                        # clusters that already exist (Registered ones must be here)
//     - name: idc-cluster
//       type: Registered             # Managed | Edge | Serverless | Registered
//       region: cn-zhangjiakou
//       kubernetesVersion: 1.28.3    # optional
//       addons: [ack-virtual-node]   # optional
//       nodes:                       # IDC nodes (no node pool)
//         - {name: idc-master-01, ip: 10.10.0.11, roles: [control-plane],
//            capacity: {cpu: "8", memory: 32Gi}, labels: {...}, taints: [...]}
//   objects: [...]                   # Kubernetes objects that exist (meridian.io/cluster annotation)
//
// Without any `stock` entry, stock is not modelled (every pool gets its nodes).
#pragma once

#include "backend/backend.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::sim {

class Store;
class World;

//! One event of an object, as `kubectl describe` lists them.
struct EventRecord {
  std::string type;
  std::string reason;
  std::string source;
  std::string message;
  long long count = 1;
  long long first_ms = 0;
  long long last_ms = 0;
  ObjectRef involved;
};

//! How `get` prints a table.
struct TableOptions {
  bool wide = false;
  bool show_cluster = false;   //!< a CLUSTER column first (objects from several clusters)
  bool show_namespace = false; //!< a NAMESPACE column (objects from several namespaces)
};

class Simulator : public Backend, public Forecaster {
public:
  //! Opens (creating when absent) the simulator state at `db_path`.
  explicit Simulator(const std::string& db_path);
  ~Simulator() override;

  std::string name() const override { return "sim"; }
  Forecaster* forecaster() override { return this; }
  std::vector<LiveObject> list_managed(std::string_view owner) override;
  std::optional<std::vector<LiveObject>> namespace_contents(const std::string& cluster, const std::string& ns) override;
  void visit_managed(std::string_view owner, const std::function<void(LiveObject&&)>& visit) override;
  std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) override;
  //! A counter in the file, raised by every operation that writes or deletes an object.
  std::optional<std::string> revision() override;
  //! Known for the writes this Simulator made itself since it last loaded the fleet; nullopt once
  //! another connection has written (PRAGMA data_version), for a revision before that load, or
  //! when the history grew past a bound.
  std::optional<std::vector<ObjectRef>> changes_since(const std::string& revision) override;
  //! Server-side apply with Meridian as the only field manager; a Registered cluster must exist
  //! already, and Kubernetes objects need their cluster and namespace (UserError otherwise).
  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override;
  //! A Cluster turns `deleting` (gone ~30 s later, with its pools and nodes), a NodePool `deleting`
  //! (its nodes go on the next tick), a pod Terminating; a Registered cluster is refused.
  void remove(const ObjectRef& ref, bool dry_run) override;
  Health health(const ObjectRef& ref) override;
  //! Terminating pods are listed with phase "Terminating" until the kubelet removes them.
  std::vector<PodPlacement> placements(const ObjectRef& workload) override;
  //! Applies `changes` to an in-memory copy of the fleet inside a read transaction that is never
  //! committed, runs the controllers until the fleet settles (at most 300 simulated seconds) and
  //! reports the changed workloads plus every workload whose pods moved in the clusters touched.
  std::vector<PlacementForecast> predict(const std::vector<std::pair<ObjectRef, const Json*>>& changes) override;
  //! Runs every controller once per simulated second, all in one transaction.
  void wait(std::chrono::milliseconds duration) override;
  long long now_ms() override;
  //! Regions of the cluster's nodes; the cluster's own region while it has no node.
  std::vector<std::string> node_regions(const std::string& cluster) override;

  //! Replaces the whole state with the fixture `text`; `origin` (a file name) prefixes errors.
  void init(std::string_view text, const std::string& origin);
  //! Starts over from the fixture last given to `init` (clock back to 0).
  void reset();

  //! The (group, kind) pairs a kubectl-style resource name means: "pods", "po", "daemonsets",
  //! "daemonsets.apps.kruise.io", "resourcepolicies"... Empty when no such kind is known.
  std::vector<std::pair<std::string, std::string>> resolve_kind(std::string_view resource);
  //! Live objects of the kinds `resource` names, filtered by cluster and namespace ("" = all), in ref order.
  std::vector<LiveObject> list(std::string_view resource, const std::string& cluster, const std::string& ns);
  //! Events of one object (all objects when `involved` is null), oldest first.
  std::vector<EventRecord> events(const ObjectRef* involved);

  //! The identity a manifest has in the simulator: cluster from meridian.io/cluster (or
  //! `default_cluster`), namespace defaulted to "default" for namespaced kinds. Throws UserError.
  ObjectRef ref_for(const Json& object, const std::string& default_cluster);
  //! Changes live state the way another tool would (`kubectl apply`): fields are merged, nothing
  //! Meridian applied is forgotten, so Meridian sees drift.
  std::shared_ptr<const JsonDocument> apply_foreign(const ObjectRef& ref, const Json& object);
  //! Deletes behind Meridian's back (a pod, a node, a DaemonSet...); controllers react on `wait`.
  void delete_foreign(const ObjectRef& ref);

  //! `kubectl get`-style table of `objects`.
  std::string format_table(const std::vector<LiveObject>& objects, const TableOptions& options);
  //! `kubectl describe`-style text of one object, with its events; throws UserError when absent.
  std::string describe(const ObjectRef& ref);

  //! "ok", or what `PRAGMA integrity_check` found.
  std::string integrity_check();

private:
  //! The fleet for a read-only call, inside the caller's transaction: the World last loaded or
  //! saved, while no other connection has committed since (PRAGMA data_version); else a fresh load.
  //! Health gates poll after every change, and loading the whole fleet per poll made an apply and
  //! the loop's status quadratic in the size of the fleet.
  World& snapshot();
  //! Runs `edit(world)` on the kept World inside one write transaction, saves what it changed and
  //! commits. The World stays loaded for the next call (a connection's own commits leave
  //! data_version unchanged), so applying one object costs that object, not the fleet. When
  //! anything throws, the transaction rolls back and the half-edited World is dropped.
  template <typename Edit>
  auto change(Edit&& edit);
  long long data_version();

  std::unique_ptr<Store> store_;
  std::unique_ptr<World> snapshot_;
  long long snapshot_version_ = -1;
  //! What changes_since knows: every object this Simulator wrote after revision `history_since_`
  //! (the revision its World was loaded at; -1 unknown), with the revision of the write.
  long long history_since_ = -1;
  std::vector<std::pair<long long, ObjectRef>> history_;
};

//! The simulator as the engine sees it.
std::unique_ptr<Backend> open_simulator(const std::string& db_path);

//! YAML text of a JSON value, keys sorted, as `kubectl get -o yaml` prints.
std::string to_yaml(const Json& value);

//! kubectl's age notation for a duration in milliseconds: 45s, 3m20s, 5h, 2d3h...
std::string human_duration(long long ms);

} // namespace meridian::sim

// The desired state: what Git says the fleet should be, as objects with identity, region and
// dependencies, ready to diff. Built from a validated ManifestSet.
#pragma once

#include "backend/backend.h"
#include "base/finding.h"
#include "model/health_rule.h"
#include "manifest/manifest.h"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace meridian {

//! A `Fleet.spec.ignoreDifferences` entry: JSON pointers not compared for matching objects.
struct IgnoreRule {
  std::string group;      //!< empty: any group
  std::string kind;
  std::string name;       //!< empty: any name
  std::string namespace_; //!< empty: any namespace
  std::vector<std::string> pointers;
};

//! Repository-wide settings from the Fleet object (defaults when there is none).
struct FleetSettings {
  std::string name = "fleet";
  std::vector<std::string> regions;              //!< order of waves; unlisted regions go last, alphabetically
  int max_parallel_regions = 1;
  bool halt_on_failure = true;
  std::chrono::milliseconds health_timeout{10 * 60 * 1000};
  bool prune = false;
  std::vector<IgnoreRule> ignore;
  //! Fleet.spec.sensitiveFields: pointers whose values plans show only as a keyed hash (as a
  //! Secret's data), for matching objects.
  std::vector<IgnoreRule> sensitive;
  //! Fleet.spec.forceConflicts: every Kubernetes object is applied as if it carried
  //! `meridian.io/force-conflicts: "true"` (the annotation is set on its body unless it sets one).
  bool force_conflicts = false;
  //! Fleet.spec.healthChecks: health of a kind by the fleet's expressions (model/health_rule.h).
  std::vector<HealthRule> health_checks;
};

//! How a DaemonSet template change rolls out inside one multi-region cluster.
enum class RegionRollout { none, kruise_selector, on_delete };

struct DesiredObject {
  ObjectRef ref;
  const Manifest* manifest = nullptr;
  std::shared_ptr<JsonDocument> body; //!< what is applied: the manifest plus Meridian's annotations
  std::string region;                 //!< the wave this object belongs to
  int tier = 0;                       //!< dependency tier: Cluster 0, NodePool 1, Namespace/CRD 2, config 3, workloads 4
  std::vector<ObjectRef> depends_on;  //!< implicit and `meridian.io/depends-on` edges, sorted
  std::vector<size_t> depends_on_index; //!< positions of `depends_on` in DesiredState::objects
  RegionRollout region_rollout = RegionRollout::none;
  //! One of the copies a `meridian.io/cluster-selector` makes (ref.cluster is the selected
  //! cluster): its body is the manifest's with that cluster's `${cluster.*}` values, so it is not
  //! a function of the manifest's parse alone (nothing may reuse it by the parse).
  bool placed = false;
};

struct ClusterInfo {
  std::string name;
  std::string type;   //!< Managed | Edge | Serverless | Registered
  std::string region;
};

struct DesiredState {
  std::string owner;                          //!< value of meridian.io/managed-by
  std::string repository;
  CommitInfo commit;
  std::string path;
  FleetSettings fleet;
  std::map<std::string, ClusterInfo> clusters;
  std::vector<DesiredObject> objects;         //!< sorted by ref
  std::vector<Finding> findings;              //!< dependency problems (unknown depends-on, cycles), and placement:
                                              //!< a selector that selects no cluster (a warning)

  //! Names this content: unique per build_desired_state call in the process, kept by a move and by
  //! rebase_desired_state. Two states with the same id have the same objects, bodies and settings
  //! (the commit may differ), so a plan of one is a plan of the other (see PlanMemo). 0: unknown.
  uint64_t content_id = 0;
  //! Set by apply_desired_edit: the content_id this state was edited from, and the positions of the
  //! objects whose body the edit changed (everything else is as it was). 0 and empty otherwise.
  uint64_t edited_from = 0;
  std::vector<size_t> edited;

  //! Positions in `objects` by ref, filled by build_desired_state: plan and the dependency checks
  //! look up every object, and a binary search compares five strings per step.
  std::unordered_map<ObjectRef, size_t, ObjectRefHash> index;

  //! The object with `ref`, or nullptr (a binary search when `index` was not filled).
  const DesiredObject* find(const ObjectRef& ref) const;
};

//! Builds the desired state of a valid ManifestSet. `owner` identifies the fleet repository.
//! With `previous` (the last state built, still alive with its ManifestSet), objects whose manifest
//! is the same parsed document share its body instead of copying it again: the bodies are never
//! changed once built. A shared body keeps the pool it came from alive (see JsonArena).
DesiredState build_desired_state(const ManifestSet& set, std::string owner, const DesiredState* previous = nullptr);

//! Objects that documents edited in place (ManifestEdit) become: position in DesiredState::objects, object.
struct DesiredEdit {
  std::vector<std::pair<size_t, DesiredObject>> objects;
};

//! For an edit of `set` (find_edit, validated, not applied yet), the objects its changed documents
//! become, when nothing changes but their bodies: the same refs, regions, tiers, rollout modes and
//! dependencies, and no finding. nullopt otherwise: build_desired_state then. Costs the edited
//! documents, not the fleet.
std::optional<DesiredEdit> prepare_desired_edit(const DesiredState& state, const ManifestSet& set, const ManifestEdit& edit);

//! Applies `edit` once `set` holds the edit's documents (apply_edit): the objects keep their places
//! and manifests, the state takes the set's commit and a new content_id, and says what it was edited
//! from (edited_from, edited), so that make_plan re-diffs those objects alone.
void apply_desired_edit(DesiredState& state, DesiredEdit edit, const ManifestSet& set);

//! Moves `state`, built from `from`, onto `to`, a set with the same documents (same_documents): its
//! objects point at `to`'s manifests and its commit is `to`'s. Nothing is rebuilt or re-validated:
//! what a commit that changed no document needs. The content_id stays.
void rebase_desired_state(DesiredState& state, const ManifestSet& from, const ManifestSet& to);

//! Dependency tier of a kind (see DesiredObject::tier).
int kind_tier(std::string_view group, std::string_view kind);

//! False for cluster-scoped Kubernetes kinds (Namespace, CRD, ClusterRole, ...).
bool is_namespaced_kind(std::string_view group, std::string_view kind);

//! True when Kubernetes objects of this kind are workloads whose pods Meridian reports on.
bool is_workload_kind(std::string_view kind);

//! Regions in rollout order: the Fleet's list first, then the others alphabetically.
std::vector<std::string> order_regions(const FleetSettings& fleet, std::vector<std::string> regions);

inline constexpr std::string_view managed_by_annotation = "meridian.io/managed-by";
inline constexpr std::string_view depends_on_annotation = "meridian.io/depends-on";
inline constexpr std::string_view rollout_annotation = "meridian.io/rollout";
inline constexpr std::string_view prune_annotation = "meridian.io/prune";
//! "true": fields another field manager owns are taken over (kube and ack backends); see Fleet.spec.forceConflicts.
inline constexpr std::string_view force_conflicts_annotation = "meridian.io/force-conflicts";
//! On a Namespace: "true" lets prune delete it even when it holds objects Meridian does not manage
//! (they go with it). Without it such a Namespace is never pruned.
inline constexpr std::string_view prune_namespace_contents_annotation = "meridian.io/prune-namespace-contents";

} // namespace meridian

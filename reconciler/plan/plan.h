// Plan: the ordered list of changes that makes the live fleet equal to the desired state.
//
// Changes are grouped by region (a Cluster's or NodePool's own region; a Kubernetes object takes
// its cluster's region). Regions run in the Fleet's order (then the rest alphabetically), at most
// maxParallelRegions per wave. Inside a wave, changes follow their dependencies (Cluster →
// NodePool → Namespace/CRD → config → workloads, plus `meridian.io/depends-on`); an object never
// runs in an earlier wave than what it depends on. Deletions (prune) run in reverse tier order.
// A Plan renders as text, Markdown or JSON (schemas/plan.v1.json), byte for byte deterministic.
#pragma once

#include "backend/backend.h"
#include "diff/diff.h"
#include "model/desired.h"

#include <memory>
#include <string>
#include <vector>

namespace meridian {

class StateStore;

enum class Action { create, update, remove, unchanged };
std::string_view to_string(Action action);
//! The sync status an action means, as Argo CD names it: Missing, OutOfSync, Extra or Synced.
std::string_view sync_of(Action action);

struct PlannedChange {
  ObjectRef ref;
  Action action = Action::unchanged;
  std::string region;
  int wave = 0;
  int tier = 0;
  std::vector<FieldChange> fields;
  const DesiredObject* desired = nullptr; //!< null for deletions
  bool region_rollout = false;            //!< a DaemonSet template change stepped region by region inside its cluster
  std::vector<std::string> rollout_regions;
  std::string note;                       //!< why (deletions), or what else to know
  //! The live backend's refusal of this change (its server-side dry run), in one line naming the
  //! object and the field: the apply would fail, so the plan fails.
  std::string error;
};

//! What make_plan keeps between the plans of one process (`meridian run`): while the backend's
//! revision, the state store's applies, the owner and the ignore rules stay the same, live state
//! is not read again, and an object whose manifest is the very document parsed last time (the
//! ManifestCache hands out the same parse for the same blob) keeps its diff. A one-file commit
//! then costs the objects of that file, not the fleet. A desired state with the content of the
//! last plan's (DesiredState::content_id: a commit that changed no document) gets that plan back,
//! with its own commit.
struct PlanMemo;
std::shared_ptr<PlanMemo> make_plan_memo();

struct PlanOptions {
  bool prune = false;            //!< --prune (Fleet.spec.prune also enables it)
  bool allow_mass_prune = false;
  bool predict = true;           //!< ask the backend what will happen to pods
  PlanMemo* memo = nullptr;      //!< read and refreshed when set (backends without a revision never use it)
};

struct Plan {
  static constexpr int format_version = 1;
  std::string repository;
  std::string commit;
  std::string commit_summary;
  std::string path;
  std::string owner;
  std::string backend;
  FleetSettings fleet;
  std::vector<std::string> regions;                 //!< rollout order
  std::vector<std::vector<std::string>> waves;      //!< regions per wave
  std::vector<PlannedChange> changes;               //!< apply order; unchanged objects included
  std::vector<PlacementForecast> forecasts;
  std::vector<std::string> warnings;
  //! Objects no longer in Git that prune was asked to delete and a guard kept (mass prune, a
  //! Namespace holding what Meridian does not manage): the live fleet does not match Git.
  size_t withheld = 0;
  std::string fingerprint;                          //!< of the changes: a saved plan is stale when it differs
  //! What the plan was made from when make_plan could name it (a memo and a backend revision): the
  //! desired state's content, the live and store revisions, the options (whether to forecast only
  //! for a plan with changes). Plans with the same non-empty inputs hold the same changes, whatever
  //! their commit. Empty: unknown.
  std::string inputs;

  size_t count(Action action) const;
  bool has_changes() const { return count(Action::create) + count(Action::update) + count(Action::remove) > 0; }
  //! Changes the backend refused in a dry run (their `error`s).
  size_t count_errors() const;
  //! Changes, or objects a prune guard kept: `--detailed-exitcode` exits 2.
  bool differs_from_git() const { return has_changes() || withheld > 0; }
};

//! Diffs `desired` against `backend` and orders the changes.
Plan make_plan(const DesiredState& desired, Backend& backend, StateStore& store, const PlanOptions& options);

enum class ReportFormat { text, markdown, json };

//! Renders a plan. `color` adds ANSI colours to text.
std::string render_plan(const Plan& plan, ReportFormat format, bool color);

//! The commit and fingerprint of a saved JSON plan, for `apply --plan`.
struct SavedPlan {
  std::string commit;
  std::string fingerprint;
  std::string repository;
};
SavedPlan read_saved_plan(const std::string& path);

} // namespace meridian

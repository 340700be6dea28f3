// The reconcile loop of `meridian run`: keeps the live fleet equal to Git, for as long as it runs.
//
// Each reconcile fetches the repository and resolves the ref. A new commit is validated, planned
// and applied exactly as `meridian apply` does (region by region, recorded in the state store); a
// commit already applied is re-planned against live state and the difference is reported as drift,
// and with self-heal corrected, with exponential backoff per set of drifted objects so that
// something fighting Meridian cannot make it loop hot. An invalid commit is never applied: the last
// good commit stays in force (drift is still checked against it) and the error goes to status
// and metrics. A commit whose apply failed is not retried on its own (the next commit starts a new
// rollout); with self-heal, its drift is.
//
// Memory is only a cache: the first reconcile after a start plans against the live fleet, and the
// last apply recorded in the state store says whether the commit was already rolled out.
//
// One ReconcileLoop per process; every method runs on the loop thread (it owns the Git
// repository, the manifest cache, the state store and the backend). Status and metrics are
// published through StatusBoard and Metrics, which are thread-safe.
#pragma once

#include "apply/apply.h"
#include "backend/backend.h"
#include "loop/metrics.h"
#include "loop/status.h"
#include "loop/suspend.h"
#include "loop/trigger.h"
#include "manifest/manifest.h"
#include "model/load.h"
#include "plan/plan.h"
#include "validate/validate.h"
#include "source/git.h"
#include "source/verify.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <unordered_map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace meridian {

class StateStore;
struct Plan;

//! Self-heal backoff (Argo CD's defaults: 2 s, ×3, at most 5 min).
struct BackoffPolicy {
  std::chrono::milliseconds initial{2000};
  double factor = 3;
  std::chrono::milliseconds cap{5 * 60 * 1000};
};

//! When each set of drifted objects may be healed again. The first heal of a set is immediate;
//! after the n-th, the next waits initial × factor^(n-1), capped. A reconcile that finds no drift
//! forgets everything: the fight, if there was one, stopped.
class HealBackoff {
public:
  using Clock = std::chrono::steady_clock;

  explicit HealBackoff(BackoffPolicy policy = {}) : policy_(policy) {}

  //! The earliest time healing `objects` may run (a time in the past when it may run now).
  Clock::time_point next_attempt(const std::string& objects) const;
  void record_attempt(const std::string& objects, Clock::time_point now);
  //! Attempts made so far for `objects`.
  int attempts(const std::string& objects) const;
  void reset() { sets_.clear(); }

private:
  struct Entry {
    int attempts = 0;
    Clock::time_point next;
  };
  BackoffPolicy policy_;
  std::map<std::string, Entry> sets_;
};

//! How a reconcile ended; `to_string` names it as metrics, status and the log show it.
enum class ReconcileResult { succeeded, failed, invalid, error, interrupted, suspended };
std::string_view to_string(ReconcileResult result);
std::optional<ReconcileResult> parse_reconcile_result(std::string_view name);

struct LoopOptions {
  std::string repository;             //!< --repo, as the user wrote it
  std::string ref;                    //!< empty: the remote's default branch
  std::string path;
  GitOptions git;
  SignaturePolicy verify;             //!< commits not signed by a trusted key are never applied
  std::string owner;                  //!< meridian.io/managed-by value, as `meridian apply` computes it
  std::string fleet;                  //!< name in the log's `fleet` field (default: the owner)
  std::chrono::milliseconds interval{60'000};
  double jitter = 0.1;                //!< ±10 %
  uint64_t seed = 0;                  //!< of the jitter generator
  bool self_heal = false;
  bool prune = false;
  bool allow_mass_prune = false;
  BackoffPolicy backoff;
  //! Leader election: false while another replica holds the Lease. Nothing is applied then, and an
  //! apply under way stops between objects (recorded as interrupted). Unset: always true.
  std::function<bool()> may_write;
  //! Sharding (`run --shards`): how many shards, and whether this replica holds shard i now (asked
  //! when a reconcile starts and between objects). A reconcile plans every object, applies those of
  //! the shards it held when it started, waits at the gates for the others (another replica writes
  //! them) and stops, as interrupted, once it no longer holds one of them. 0: every object is ours.
  int shards = 0;
  std::function<bool(int)> holds_shard;
  //! Held for each reconcile when set: fleets of one process that share a backend (the
  //! simulator) reconcile one at a time.
  std::mutex* exclusive = nullptr;
};

class ReconcileLoop {
public:
  //! `stop` is the SIGTERM/SIGINT flag: it interrupts an apply between objects.
  ReconcileLoop(LoopOptions options, Backend& backend, StateStore& store, StatusBoard& board, Metrics& metrics,
                const SuspendFlag& suspend, const std::atomic<bool>& stop);
  ~ReconcileLoop();

  //! One reconcile; returns its result.
  ReconcileResult reconcile(TriggerKind trigger);

  //! Reconciles at once, then every interval (jittered) or when triggered, until `triggers` is stopped;
  //! also within a second of a change the backend's watch saw (Backend::drift_revision).
  void run(TriggerQueue& triggers);

  //! Declares every metric family the loop records.
  static void declare_metrics(Metrics& metrics);

private:
  using Generation = LoadedFleet;
  struct Outcome;

  Outcome reconcile_commit(TriggerKind trigger);
  bool fetch();
  const Generation* load(const CommitInfo& commit);
  const Generation* accept(std::unique_ptr<Generation> generation);
  Outcome apply(const Generation& generation, const Plan& plan, const std::string& trigger);
  Outcome check_drift(const Generation& generation, const Plan& plan);
  Outcome retry_apply(const Generation& generation, const Plan& plan);
  //! Puts the plan's objects (sync, health) and drift on the board and in the metrics.
  void publish(const Generation& generation, const Plan& plan);
  //! The board's last applied commit gets `commit`'s summary and time when it lacks them.
  void fill_commit_details(LoopStatus& status, const CommitInfo& commit);
  //! Drops the cached healths the backend's writes since the last publish may have changed.
  void forget_stale_healths(const std::optional<std::string>& revision, size_t planned);
  //! Each planned object's health, in plan order: from the cache when `cache`, kept there.
  std::vector<Health> healths_of(const Plan& plan, bool cache);
  //! The plan's changes as drift, sorted by key.
  static std::vector<DriftStatus> drift_of(const Plan& plan);
  //! Where each planned object is on the board, when the board holds the plan's objects.
  std::optional<std::vector<size_t>> board_positions(const Plan& plan) const;
  void update_board_objects(const Plan& plan, const std::vector<Health>& healths, const std::vector<size_t>& positions,
                            std::vector<DriftStatus> drift, const std::function<void(LoopStatus&)>& commit_details);
  void replace_board_objects(const Plan& plan, const std::vector<Health>& healths, std::vector<DriftStatus> drift,
                             const std::function<void(LoopStatus&)>& commit_details);
  void count_published(const ObjectStatus& object, int by);
  void remember_history();
  bool refresh_suspension();
  void set_error(const std::string& message);
  //! The shards held now (sharding), the objects they own (`owns_`) and the clusters of each shard on the board;
  //! an error for a bad meridian.io/shard label.
  std::optional<std::string> take_shards(const DesiredState& desired);

  LoopOptions options_;
  Backend& backend_;
  StateStore& store_;
  StatusBoard& board_;
  Metrics& metrics_;
  const SuspendFlag& suspend_;
  const std::atomic<bool>& stop_;
  std::mt19937_64 random_;
  HealBackoff backoff_;
  HealBackoff retry_backoff_;               //!< of the commit whose last apply failed (by commit id)
  FleetLoader loader_;                       //!< one for the life of the process: unchanged blobs parse once
  std::shared_ptr<PlanMemo> plan_memo_ = make_plan_memo(); //!< unchanged manifests keep their diff while live state stays
  BodyTexts body_texts_;                     //!< what an apply records of each desired body, written once per body
  bool learned_applied_ = false;             //!< the store was told which bodies it holds (StateStore::learn_applied)
  std::string health_revision_;              //!< backend revision the cached healths were read at
  std::optional<std::string> drift_seen_;    //!< Backend::drift_revision when the last reconcile ended
  std::optional<std::chrono::steady_clock::time_point> heal_due_; //!< when a heal held back by the backoff may run
  std::unordered_map<ObjectRef, Health, ObjectRefHash> health_cache_;
  std::string published_;                    //!< what the objects and drift on the board were made from; "" unknown
  //! Positions of the board's objects (sorted by key) by ref, and their count by (sync, health):
  //! a publish whose refs are those on the board rewrites only the objects whose state moved.
  std::unordered_map<ObjectRef, size_t, ObjectRefHash> published_index_;
  std::map<std::pair<std::string, std::string>, int> published_counts_;
  std::unique_ptr<GitRepository> repository_;
  CommitInfo fetched_;
  std::unique_ptr<Generation> good_;        //!< the newest valid commit, loaded
  std::string invalid_commit_;              //!< newest commit refused by validation
  std::string invalid_message_;
  std::string attempted_commit_;            //!< commit whose rollout was made (or found in sync)
  bool apply_failed_ = false;               //!< its last apply failed or halted: retried with backoff
  bool suspended_ = false;
  uint64_t reconciles_ = 0;                  //!< reconcile ids handed out (the log's `reconcile` field)
  std::chrono::steady_clock::time_point reconcile_started_; //!< of the reconcile under way
  std::optional<double> plan_seconds_;       //!< its start to its plan, once it has one
  std::vector<int> held_;                    //!< sharding: the shards this reconcile applies
  std::vector<int> held_before_;             //!< and those the last one did: a shard gained is rolled out
  std::function<bool(const ObjectRef&)> owns_; //!< sharding: the objects of held_ (unset without sharding)
};

} // namespace meridian

// What the running loop knows, shared with the HTTP threads: the status document of
// `GET /api/v1/status` and the latest plan of `GET /api/v1/plan`.
//
// The loop thread writes through `update`; HTTP threads read copies. Lists are kept sorted by
// object key, so the JSON is deterministic for the same state.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace meridian {

struct CommitStatus {
  std::string id;
  std::string summary;
  long long time = 0; //!< commit time, unix seconds
};

struct ObjectStatus {
  std::string key;
  std::string display;
  std::string cluster;
  std::string region;
  std::string sync;    //!< Synced | OutOfSync | Missing | Extra
  std::string health;  //!< Healthy | Progressing | Degraded | Missing | Suspended (backend.h)
  std::string message;
};

//! An object that differs from Git behind Meridian's back.
struct DriftStatus {
  std::string key;
  std::string display;
  std::string cluster;
  std::string region;
  std::string change;              //!< missing | changed | extra
  std::vector<std::string> fields; //!< JSON pointers of changed fields
};

struct RolloutStatus {
  bool active = false;
  std::string commit;
  std::string trigger;
  int wave = 0;  //!< 1-based; 0 before the first change
  int waves = 0;
  std::string region;
  std::string object;
  size_t done = 0;
  size_t total = 0;
  long long started = 0;
};

struct ReconcileStatus {
  std::string trigger;
  std::string result;  //!< succeeded | failed | invalid | error | interrupted | suspended
  std::string message;
  long long started = 0;
  long long finished = 0;
  double seconds = 0;
  std::optional<double> plan_seconds; //!< start to plan (fetch, load, validation, desired state, diff); none without a plan
};

//! Leader election (`run --leader-elect`): which replica holds the Lease.
struct LeaderStatus {
  std::string lease;     //!< namespace/name
  std::string identity;  //!< this replica
  std::string holder;    //!< the holder last observed ("" none)
  bool leader = false;   //!< this replica holds it and may apply
};

//! One shard of `run --shards`: who holds its Lease and which target clusters it holds.
struct ShardStatus {
  int shard = 0;
  std::string holder;                //!< as last observed; "" when free
  bool held = false;                 //!< by this replica, which may write to it
  std::vector<std::string> clusters; //!< the clusters of the last commit planned that belong to it, sorted
};

//! Sharding (`run --shards N`): this replica, the live replicas and every shard.
struct ShardingStatus {
  std::string leases;    //!< namespace/name-shard-*
  std::string identity;  //!< this replica
  int live_replicas = 0; //!< membership Leases renewed within their duration
  std::vector<ShardStatus> shards;
};

struct LoopStatus {
  std::string repository;
  std::string ref;
  std::string path;
  std::string interval;
  bool self_heal = false;
  bool prune = false;
  std::string phase = "starting"; //!< starting | standby | idle | fetching | planning | applying | suspended | stopping
  std::optional<CommitStatus> last_fetched;
  long long last_fetch_time = 0;
  long long fetch_started = 0;     //!< unix seconds, while a fetch runs; 0 otherwise (readiness)
  std::optional<CommitStatus> last_applied;
  std::string last_applied_result; //!< result of the last apply Meridian made (or "in sync")
  std::string invalid_commit;      //!< newest commit refused by validation, "" when none
  RolloutStatus rollout;
  std::vector<ObjectStatus> objects;
  std::vector<DriftStatus> drift;
  long long self_heal_next_attempt = 0; //!< unix seconds; 0 when not backing off
  std::string last_error;
  long long last_error_time = 0;
  std::optional<ReconcileStatus> last_reconcile;
  size_t reconciles = 0;
  bool suspended = false;
  std::string suspended_reason;
  long long suspended_since = 0;
  std::optional<LeaderStatus> leader_election; //!< none without --leader-elect
  std::optional<ShardingStatus> sharding;      //!< none without --shards
};

//! Thread-safe holder of the status and the latest plan.
class StatusBoard {
public:
  void update(const std::function<void(LoopStatus&)>& change);
  LoopStatus snapshot() const;
  //! render_status_json of the current status, rendered once per change: with a large fleet the
  //! object list is most of it, and dashboards poll it far more often than it changes.
  std::string status_json() const;
  //! The same document without the per-object lists (`objects`, `drift.objects`), for clients that
  //! poll for the phase and the last reconcile: rendered under the lock, nothing copied.
  std::string status_summary_json() const;

  void set_plan(std::string plan_json);
  //! The latest plan as `plan --format json` renders it; "" before the first plan.
  std::string plan() const;

private:
  mutable std::mutex mutex_;
  LoopStatus status_;
  long long version_ = 0; //!< raised by every update
  mutable std::string json_;
  mutable long long json_version_ = -1;
  std::string plan_json_;
};

//! The JSON document of `GET /api/v1/status`.
//! `objects` false leaves out the per-object lists (`drift.count` stays).
std::string render_status_json(const LoopStatus& status, bool objects = true);

} // namespace meridian

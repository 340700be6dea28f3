// Leader election over a lease, with client-go's protocol (tools/leaderelection): replicas of
// `meridian run` campaign for one coordination.k8s.io/v1 Lease; the holder renews it every retry
// period, a candidate takes it over only once the record it observed has not changed for the
// lease duration (measured on its own clock, never by comparing the holder's timestamps), and
// every write is a compare-and-swap on the Lease's resourceVersion, so two candidates racing for
// an expired lease cannot both win.
//
// A leader that has not renewed within the renew deadline stops being the leader (`is_leader`
// turns false at once, on the leader's own monotonic clock, whether or not its renew thread runs),
// before any candidate may take over: lease duration > renew deadline leaves that margin for clock
// rates and writes in flight. Like client-go this is no fencing token: a write sent just before
// the deadline may land after it.
//
// Depends on base/ only; the Lease itself is behind `LeaseLock` (backend/kube/lease.h talks to an
// API server; tests use memory).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace meridian {

//! The election state kept in a Lease's spec (client-go's LeaderElectionRecord).
struct LeaseRecord {
  std::string holder;             //!< spec.holderIdentity; "" = released, anyone may take it
  int lease_duration_seconds = 0; //!< spec.leaseDurationSeconds
  std::string acquire_time;       //!< spec.acquireTime (MicroTime, RFC 3339 with microseconds)
  std::string renew_time;         //!< spec.renewTime
  int transitions = 0;            //!< spec.leaseTransitions

  bool operator==(const LeaseRecord&) const = default;
};

//! Where the record lives (client-go's resourcelock.Interface). Implementations remember the
//! version `get` read and make `update` conditional on it. Used from the elector's thread only.
class LeaseLock {
public:
  virtual ~LeaseLock() = default;
  //! The current record; nullopt when the lease does not exist. Throws UserError/TransientError.
  virtual std::optional<LeaseRecord> get() = 0;
  //! Creates the lease; false when someone else created it first.
  virtual bool create(const LeaseRecord& record) = 0;
  //! Replaces the record read by the last `get` (or written by the last create/update); false
  //! when the lease changed since (optimistic concurrency).
  virtual bool update(const LeaseRecord& record) = 0;
  //! "namespace/name", for messages.
  virtual std::string describe() const = 0;
};

struct ElectionConfig {
  std::string identity;                              //!< this replica: POD_NAME, or hostname_pid
  std::chrono::milliseconds lease_duration{15'000};  //!< how long a candidate waits on an unchanged record
  std::chrono::milliseconds renew_deadline{10'000};  //!< how long the leader keeps trying to renew
  std::chrono::milliseconds retry_period{2'000};     //!< between attempts
};

//! Checks client-go's constraints (lease duration > renew deadline > 1.2 × retry period, whole
//! seconds of lease duration); returns the first violated one as a message naming the flag, or "".
std::string check_election_config(const ElectionConfig& config);

//! MicroTime text of a wall-clock time: 2024-05-01T12:00:00.123456Z.
std::string format_micro_time(std::chrono::system_clock::time_point time);

//! One Lease as one candidate sees it: client-go's tryAcquireOrRenew over a LeaseLock, with the
//! record last observed and when (on this replica's clock). LeaderElector campaigns for one claim;
//! ShardElector (leader/shards.h) holds several. Not thread-safe: one thread drives it.
class LeaseClaim {
public:
  using SteadyClock = std::chrono::steady_clock;

  LeaseClaim(std::string identity, std::chrono::milliseconds lease_duration, std::unique_ptr<LeaseLock> lock);

  //! One attempt: renews the lease this replica holds, or (with `may_acquire`) creates it, takes it
  //! when released, or takes it over once the record observed has not changed for the lease
  //! duration. True when this replica holds it now. Failures are kept for `take_failure`.
  bool try_acquire_or_renew(bool may_acquire = true);
  //! client-go's release: an empty holder (duration 1 s) lets any candidate take the lease at its
  //! next attempt. "" when released or not held, else why not.
  std::string release();

  const LeaseRecord& observed() const { return observed_; }
  //! The holder observed is this replica, and it renewed within `renew_deadline`.
  bool held_within(std::chrono::milliseconds renew_deadline, SteadyClock::time_point now) const;
  //! When this replica last wrote the lease as its holder (epoch when never).
  SteadyClock::time_point renewed_at() const { return renewed_at_; }
  //! The holder of the expired record the last take-over replaced ("" when the lease was new, released or renewed).
  const std::string& taken_from() const { return taken_from_; }
  //! The last failed attempt's message, once (each distinct message is returned once); "" otherwise.
  std::string take_failure();
  std::string describe() const { return lock_->describe(); }

private:
  void observe(const LeaseRecord& record, SteadyClock::time_point now);
  bool lease_valid(SteadyClock::time_point now) const;
  void report_failure(const std::string& message);

  std::string identity_;
  std::chrono::milliseconds lease_duration_;
  std::unique_ptr<LeaseLock> lock_;
  LeaseRecord observed_;                  //!< the record last read or written
  SteadyClock::time_point observed_at_{}; //!< when it was (this replica's clock)
  SteadyClock::time_point renewed_at_{};
  std::string taken_from_;
  std::string failure_;                   //!< not yet taken
  std::string last_failure_;              //!< reported already
};

//! Campaigns for the lease on its own thread. `is_leader`, `leader` and `transitions` may be
//! called from any thread.
class LeaderElector {
public:
  using SteadyClock = std::chrono::steady_clock;
  struct Callbacks {
    //! On the elector's thread; the holder whose expired lease was taken over ("" when the lease
    //! was new or released): that replica stopped without handing over, mid-apply perhaps.
    std::function<void(const std::string&)> started_leading;
    std::function<void(const std::string&)> stopped_leading; //!< the reason; on the elector's thread
    std::function<void(const std::string&)> new_leader;     //!< the holder observed changed
    std::function<void(const std::string&)> log;            //!< a failed attempt (each distinct message once)
  };

  LeaderElector(ElectionConfig config, std::unique_ptr<LeaseLock> lock);
  ~LeaderElector(); //!< stops the thread (without releasing the lease)
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  //! Starts campaigning; once leading, renews until it fails for the renew deadline, then calls
  //! `stopped_leading` and campaigns no more (the process is expected to exit, as client-go's are).
  void start(Callbacks callbacks);
  //! Stops the thread; with `release`, a leader hands the lease back (holder "", duration 1 s) so
  //! that a standby takes over at its next attempt instead of after the lease duration.
  void stop(bool release);

  //! True while this replica holds the lease and renewed it within the renew deadline.
  bool is_leader() const;
  //! Waits until leading, `stopping` turns true, or `timeout` passes; returns is_leader().
  bool wait_for_leadership(const std::atomic<bool>& stopping, std::chrono::milliseconds timeout);
  //! The holder last observed ("" before the first read or after a release).
  std::string leader() const;
  const ElectionConfig& config() const { return config_; }
  std::string describe() const { return claim_.describe(); }

  //! One attempt of client-go's tryAcquireOrRenew (exposed for tests). Elector thread only.
  bool try_acquire_or_renew();

private:
  void campaign();
  bool sleep_for(std::chrono::milliseconds duration); //!< false when stopped meanwhile
  void publish_holder();                               //!< holder_ := the claim's observed holder
  void report_failure();

  ElectionConfig config_;
  LeaseClaim claim_;
  Callbacks callbacks_;
  std::string reported_leader_;
  std::string expired_holder_;            //!< of the lease this replica took over, "" if none
  std::atomic<bool> leading_{false};
  std::atomic<long long> renewed_at_{0}; //!< steady nanoseconds of the last successful write as leader
  mutable std::mutex mutex_;              //!< guards holder_, and the wake-up of the thread
  std::condition_variable wake_;
  std::string holder_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace meridian

// Sharding (`run --shards N`): target clusters are divided among replicas as Argo CD's
// application controllers divide them, on Kubernetes' own coordination. Shard i is held through its
// own Lease (`<name>-shard-<i>`) with client-go's protocol (leader/election.h's LeaseClaim), and
// each replica renews a membership Lease (`<name>-member-<identity>`, labelled
// `meridian.io/lease-group: <name>`) that tells the others it is alive.
//
// Fair shares, from what every replica observes: with L live members (a member Lease renewed
// within its duration, on this replica's clock, this replica included) a replica holds at most
// ceil(N / L) shards. It takes free or expired shards while it holds fewer than floor(N / L), or
// fewer than ceil(N / L) when no live member is below floor(N / L). It hands one shard over
// (its highest-numbered) when it holds more than ceil(N / L), or when it holds more than floor(N / L)
// while a live member holds fewer and it is the member with the most shards (ties: the smallest
// identity). A replica that hands a shard over stops writing to it at once (`holds` turns false)
// and releases the Lease one round later, so that writes in flight land before another replica may
// take it. The shares only move when membership does: no flapping while the same replicas live.
//
// A shard not renewed within the renew deadline stops being held on this replica's clock (as
// LeaderElector's leadership); the replica keeps campaigning and may take it again.
#pragma once

#include "leader/election.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace meridian {

//! The membership Leases of a group (listed by their label). Used from the elector's thread only.
class MemberList {
public:
  virtual ~MemberList() = default;
  //! Every member Lease: name and record. Throws UserError/TransientError.
  virtual std::vector<std::pair<std::string, LeaseRecord>> list() = 0;
};

//! `<lease-name>-member-<identity>` as a Lease name (a DNS subdomain): the identity lower-cased,
//! other characters replaced by '-', and a hash of the identity as written, so that two
//! identities never share one.
std::string member_lease_name(const std::string& lease_name, const std::string& identity);
//! `<lease-name>-shard-<i>`.
std::string shard_lease_name(const std::string& lease_name, int shard);

//! One shard as this replica last observed it.
struct ShardHolding {
  int shard = 0;
  std::string holder; //!< "" when free
  bool held = false;  //!< by this replica, and it may write to it
};

class ShardElector {
public:
  using SteadyClock = std::chrono::steady_clock;
  struct Callbacks {
    //! This replica took shard i (from the holder named, whose lease expired; "" when it was free).
    std::function<void(int, const std::string&)> acquired;
    //! This replica stopped holding shard i, and why.
    std::function<void(int, const std::string&)> lost;
    //! The holders observed or the live members changed (after acquired/lost).
    std::function<void()> changed;
    std::function<void(const std::string&)> log;
  };

  //! `shard_locks[i]` is shard i's Lease; `member_lock` this replica's membership Lease.
  ShardElector(ElectionConfig config, std::vector<std::unique_ptr<LeaseLock>> shard_locks, std::unique_ptr<LeaseLock> member_lock,
               std::unique_ptr<MemberList> members);
  ~ShardElector(); //!< stops the thread (without releasing)
  ShardElector(const ShardElector&) = delete;
  ShardElector& operator=(const ShardElector&) = delete;

  //! Runs `step` every retry period (jittered) on its own thread.
  void start(Callbacks callbacks);
  //! Stops the thread; with `release`, hands every held shard and the membership back at once.
  void stop(bool release);
  //! One round: membership, renewals, hand-overs, acquisitions. Elector thread only (or tests).
  void step();

  //! True while this replica holds shard i, renewed it within the renew deadline and is not handing
  //! it over. Any thread.
  bool holds(int shard) const;
  //! Shards this replica holds (ascending). Any thread.
  std::vector<int> held() const;
  //! Every shard's holder, as last observed. Any thread.
  std::vector<ShardHolding> holdings() const;
  //! Live members counted by the last round (this replica included).
  int live_members() const { return live_.load(); }
  int shards() const { return static_cast<int>(claims_.size()); }
  const ElectionConfig& config() const { return config_; }
  //! "namespace/name-shard-*", for messages.
  std::string describe() const;

private:
  struct Member {
    LeaseRecord record;
    SteadyClock::time_point observed_at;
  };
  struct Shard {
    std::string holder;
    SteadyClock::time_point renewed_at{};
    bool handing_over = false;
  };
  bool holds_locked(const Shard& shard, SteadyClock::time_point now) const;
  void observe_members(SteadyClock::time_point now);
  void publish(int shard);
  void log(const std::string& message);
  bool sleep_for(std::chrono::milliseconds duration);

  ElectionConfig config_;
  std::vector<LeaseClaim> claims_;
  LeaseClaim member_;
  std::unique_ptr<MemberList> members_;
  std::map<std::string, Member> seen_members_; //!< by Lease name
  std::map<std::string, int> live_identities_;  //!< live members' identities (value unused)
  std::vector<bool> reported_held_;
  std::vector<std::string> reported_holders_;
  int reported_live_ = 0;
  Callbacks callbacks_;
  std::atomic<int> live_{1};
  std::string last_members_failure_;
  mutable std::mutex mutex_; //!< guards shards_ and stopping_
  std::condition_variable wake_;
  std::vector<Shard> shards_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace meridian

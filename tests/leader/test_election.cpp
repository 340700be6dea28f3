// client-go's leader-election protocol on a Lease kept in memory: who may take a lease and when,
// what a renewal keeps, what a takeover counts, optimistic concurrency, release.
#include "leader/election.h"

#include "memory_lease.h"

#include <catch2/catch.hpp>

#include <mutex>
#include <optional>
#include <thread>

using namespace meridian;
using namespace leader_test;
using namespace std::chrono_literals;

namespace {

ElectionConfig config(const std::string& identity) {
  ElectionConfig config;
  config.identity = identity;
  config.lease_duration = 1s;
  config.renew_deadline = 600ms;
  config.retry_period = 100ms;
  return config;
}

//! What started_leading was told, once it was called (on the elector's thread).
struct StartedLeading {
  std::mutex mutex;
  std::optional<std::string> expired_holder;
  LeaderElector::Callbacks callbacks() {
    LeaderElector::Callbacks callbacks;
    callbacks.started_leading = [this](const std::string& holder) {
      std::lock_guard guard(mutex);
      expired_holder = holder;
    };
    return callbacks;
  }
  std::optional<std::string> wait() {
    for (int attempt = 0; attempt < 100; ++attempt) {
      {
        std::lock_guard guard(mutex);
        if (expired_holder)
          return expired_holder;
      }
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }
};

} // namespace

TEST_CASE("the first candidate creates the lease; another waits for the lease duration on an unchanged record") {
  MemoryLease lease;
  LeaderElector alpha(config("alpha"), std::make_unique<MemoryLock>(lease));
  LeaderElector beta(config("beta"), std::make_unique<MemoryLock>(lease));
  REQUIRE(alpha.try_acquire_or_renew());
  CHECK(lease.record->holder == "alpha");
  CHECK(lease.record->lease_duration_seconds == 1);
  CHECK(lease.record->transitions == 0);
  CHECK(!lease.record->acquire_time.empty());
  CHECK(!beta.try_acquire_or_renew()); // held, and beta's clock of this record starts now
  CHECK(beta.leader() == "alpha");

  SECTION("a renewal keeps acquireTime and the transitions, and restarts the standby's clock") {
    const std::string acquired = lease.record->acquire_time;
    std::this_thread::sleep_for(700ms);
    REQUIRE(alpha.try_acquire_or_renew());
    CHECK(lease.record->acquire_time == acquired);
    CHECK(lease.record->renew_time != acquired);
    std::this_thread::sleep_for(400ms); // 1.1 s since beta first saw alpha, 0.4 s since the renewal
    CHECK(!beta.try_acquire_or_renew());
    CHECK(lease.record->holder == "alpha");
  }
  SECTION("an unrenewed lease is taken over after the duration, counting a transition") {
    std::this_thread::sleep_for(1100ms);
    StartedLeading started;
    beta.start(started.callbacks());
    REQUIRE(beta.wait_for_leadership(std::atomic<bool>{false}, 2s));
    CHECK(started.wait() == std::string("alpha"));
    CHECK(lease.record->holder == "beta");
    CHECK(lease.record->transitions == 1);
    // The old holder's fast path fails on the version; it reads, sees beta, and stands by.
    CHECK(!alpha.try_acquire_or_renew());
    CHECK(alpha.leader() == "beta");
  }
  SECTION("a released lease is taken at once") {
    StartedLeading started;
    alpha.start(started.callbacks());
    REQUIRE(alpha.wait_for_leadership(std::atomic<bool>{false}, 2s));
    CHECK(started.wait() == std::string()); // alpha held it already (created it above)
    alpha.stop(true);
    CHECK(lease.record->holder.empty());
    CHECK(!alpha.is_leader());
    REQUIRE(beta.try_acquire_or_renew());
    CHECK(lease.record->holder == "beta");
  }
}

TEST_CASE("two candidates racing for an expired lease: the version lets one win") {
  MemoryLease lease;
  lease.record = LeaseRecord{"gone", 1, "2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:00.000000Z", 3};
  MemoryLock alpha_lock(lease), beta_lock(lease);
  // Both read the same version; the first update wins and the second one is refused.
  REQUIRE(alpha_lock.get());
  REQUIRE(beta_lock.get());
  CHECK(alpha_lock.update(LeaseRecord{"alpha", 1, "t", "t", 4}));
  CHECK(!beta_lock.update(LeaseRecord{"beta", 1, "t", "t", 4}));
  CHECK(lease.record->holder == "alpha");
}

TEST_CASE("a leader that cannot renew within the renew deadline stops leading, and says so") {
  MemoryLease lease;
  auto lock = std::make_unique<MemoryLock>(lease);
  LeaderElector alpha(config("alpha"), std::move(lock));
  std::atomic<bool> stopped{false};
  std::string reason;
  LeaderElector::Callbacks callbacks;
  callbacks.stopped_leading = [&](const std::string& why) {
    reason = why;
    stopped.store(true);
  };
  alpha.start(callbacks);
  REQUIRE(alpha.wait_for_leadership(std::atomic<bool>{false}, 2s));
  CHECK(alpha.is_leader());
  // Another holder writes the lease behind alpha's back (its version moves): alpha's renewals fail.
  lease.record->holder = "intruder";
  ++lease.version;
  for (int wait = 0; wait < 50 && !stopped.load(); ++wait)
    std::this_thread::sleep_for(50ms);
  CHECK(stopped.load());
  CHECK(!alpha.is_leader());
  CHECK(reason == "lease default/test is now held by intruder");
  alpha.stop(true); // not the holder: nothing is released
  CHECK(lease.record->holder == "intruder");
}

TEST_CASE("the election settings follow client-go's rules") {
  ElectionConfig good = config("a");
  CHECK(check_election_config(good).empty());
  ElectionConfig bad = good;
  bad.renew_deadline = 1s;
  CHECK(check_election_config(bad) == "--leader-elect-lease-duration: must be greater than --leader-elect-renew-deadline");
  bad = good;
  bad.retry_period = 500ms;
  CHECK(check_election_config(bad) == "--leader-elect-renew-deadline: must be greater than 1.2 × --leader-elect-retry-period");
  bad = good;
  bad.lease_duration = 1500ms;
  CHECK(check_election_config(bad).rfind("--leader-elect-lease-duration: expected whole seconds", 0) == 0);
  CHECK(format_micro_time(std::chrono::system_clock::time_point(std::chrono::microseconds(1'700'000'000'123'456))) ==
        "2023-11-14T22:13:20.123456Z");
}

// Sharding on Leases kept in memory: the Lease names, and how
// replicas share N shards: a lone replica holds them all, a second one gets its fair share by
// hand-over (never two holders), a third one that would otherwise starve gets one, and the shards
// of a replica that stopped renewing are taken over once their leases expire.
#include "leader/shards.h"

#include "memory_lease.h"

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <set>
#include <thread>

using namespace meridian;
using namespace leader_test;
using namespace std::chrono_literals;

namespace {

//! Every Lease of a group, by name (a std::map: references stay valid as it grows).
struct MemoryLeases {
  std::map<std::string, MemoryLease> leases;
};

class MemoryMembers final : public MemberList {
public:
  explicit MemoryMembers(MemoryLeases& leases) : leases_(leases) {}
  std::vector<std::pair<std::string, LeaseRecord>> list() override {
    std::vector<std::pair<std::string, LeaseRecord>> result;
    for (const auto& [name, lease] : leases_.leases)
      if (name.find("-member-") != std::string::npos && lease.record)
        result.emplace_back(name, *lease.record);
    return result;
  }

private:
  MemoryLeases& leases_;
};

std::unique_ptr<ShardElector> replica(MemoryLeases& leases, const std::string& identity, int shards) {
  ElectionConfig config;
  config.identity = identity;
  config.lease_duration = 1s;
  config.renew_deadline = 600ms;
  config.retry_period = 100ms;
  std::vector<std::unique_ptr<LeaseLock>> locks;
  for (int shard = 0; shard < shards; ++shard) {
    const std::string name = shard_lease_name("meridian", shard);
    locks.push_back(std::make_unique<MemoryLock>(leases.leases[name], name));
  }
  const std::string member = member_lease_name("meridian", identity);
  return std::make_unique<ShardElector>(config, std::move(locks), std::make_unique<MemoryLock>(leases.leases[member], member),
                                        std::make_unique<MemoryMembers>(leases));
}

//! Each shard's holder in the leases themselves.
std::vector<std::string> lease_holders(MemoryLeases& leases, int shards) {
  std::vector<std::string> holders;
  for (int shard = 0; shard < shards; ++shard) {
    const auto& record = leases.leases[shard_lease_name("meridian", shard)].record;
    holders.push_back(record ? record->holder : "");
  }
  return holders;
}

//! No shard is held (may be written) by two replicas at once.
void check_exclusive(const std::vector<ShardElector*>& replicas, int shards) {
  for (int shard = 0; shard < shards; ++shard) {
    int holding = 0;
    for (const ShardElector* elector : replicas)
      holding += elector->holds(shard) ? 1 : 0;
    CHECK(holding <= 1);
  }
}

//! Rounds of every replica in turn, checking exclusivity after each step.
void rounds(const std::vector<ShardElector*>& replicas, int shards, int count) {
  for (int round = 0; round < count; ++round)
    for (ShardElector* elector : replicas) {
      elector->step();
      check_exclusive(replicas, shards);
    }
}

} // namespace

TEST_CASE("lease names of shards and members") {
  CHECK(shard_lease_name("meridian", 2) == "meridian-shard-2");
  const std::string member = member_lease_name("meridian", "Host_1234");
  CHECK(member.rfind("meridian-member-host-1234-", 0) == 0);
  CHECK(member != member_lease_name("meridian", "host-1234")); // the hash keeps them apart
}

TEST_CASE("replicas share the shards fairly, hand over without overlap, and take over a dead replica's") {
  MemoryLeases leases;
  const int shards = 4;
  auto alpha = replica(leases, "alpha", shards);
  rounds({alpha.get()}, shards, 2);
  CHECK(alpha->held() == std::vector<int>{0, 1, 2, 3}); // alone: all of them
  CHECK(lease_holders(leases, shards) == std::vector<std::string>{"alpha", "alpha", "alpha", "alpha"});

  auto beta = replica(leases, "beta", shards);
  rounds({alpha.get(), beta.get()}, shards, 4);
  CHECK(alpha->live_members() == 2);
  CHECK(alpha->held() == std::vector<int>{0, 1});
  CHECK(beta->held() == std::vector<int>{2, 3});
  // Stable: more rounds move nothing.
  rounds({alpha.get(), beta.get()}, shards, 5);
  CHECK(alpha->held() == std::vector<int>{0, 1});
  CHECK(beta->held() == std::vector<int>{2, 3});
  const auto holdings = beta->holdings();
  REQUIRE(holdings.size() == 4);
  CHECK(holdings[0].holder == "alpha");
  CHECK(!holdings[0].held);
  CHECK(holdings[3].holder == "beta");
  CHECK(holdings[3].held);

  SECTION("a third replica would starve under ceil(4/3) = 2: the richest hands one over") {
    auto gamma = replica(leases, "gamma", shards);
    rounds({alpha.get(), beta.get(), gamma.get()}, shards, 6);
    CHECK(gamma->held().size() == 1);
    CHECK(alpha->held().size() + beta->held().size() == 3);
    const auto before = lease_holders(leases, shards);
    rounds({alpha.get(), beta.get(), gamma.get()}, shards, 6);
    CHECK(lease_holders(leases, shards) == before); // no flapping
  }
  SECTION("a replica that stops renewing loses its shards to the survivor once their leases expire") {
    std::this_thread::sleep_for(700ms); // past beta's renew deadline: beta holds nothing on its own clock
    CHECK(beta->held().empty());
    for (int round = 0; round < 12 && alpha->held().size() < 4; ++round) {
      alpha->step();
      check_exclusive({alpha.get(), beta.get()}, shards);
      std::this_thread::sleep_for(100ms);
    }
    CHECK(alpha->held() == std::vector<int>{0, 1, 2, 3});
    CHECK(lease_holders(leases, shards) == std::vector<std::string>{"alpha", "alpha", "alpha", "alpha"});
    // Back, beta campaigns again and gets its share by hand-over, never overlapping.
    rounds({alpha.get(), beta.get()}, shards, 5);
    CHECK(alpha->held().size() == 2);
    CHECK(beta->held().size() == 2);
  }
  SECTION("a stop with release hands everything over at once") {
    beta->stop(true);
    CHECK(beta->held().empty());
    rounds({alpha.get()}, shards, 2);
    CHECK(alpha->live_members() == 1);
    CHECK(alpha->held() == std::vector<int>{0, 1, 2, 3});
  }
}

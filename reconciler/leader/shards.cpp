#include "leader/shards.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>

namespace meridian {

using namespace std::chrono;

namespace {

uint64_t fnv1a(std::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

} // namespace

std::string member_lease_name(const std::string& lease_name, const std::string& identity) {
  std::string part;
  for (const char c : identity) {
    const char lower = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    part += (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') ? lower : '-';
  }
  if (part.size() > 200)
    part.resize(200);
  return fmt::format("{}-member-{}-{:08x}", lease_name, part, static_cast<uint32_t>(fnv1a(identity)));
}

std::string shard_lease_name(const std::string& lease_name, int shard) { return fmt::format("{}-shard-{}", lease_name, shard); }

ShardElector::ShardElector(ElectionConfig config, std::vector<std::unique_ptr<LeaseLock>> shard_locks,
                           std::unique_ptr<LeaseLock> member_lock, std::unique_ptr<MemberList> members)
    : config_(std::move(config)), member_(config_.identity, config_.lease_duration, std::move(member_lock)),
      members_(std::move(members)) {
  for (auto& lock : shard_locks)
    claims_.emplace_back(config_.identity, config_.lease_duration, std::move(lock));
  shards_.resize(claims_.size());
  reported_held_.assign(claims_.size(), false);
  reported_holders_.assign(claims_.size(), "");
}

ShardElector::~ShardElector() {
  {
    std::lock_guard guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

std::string ShardElector::describe() const {
  if (claims_.empty())
    return "";
  std::string first = claims_.front().describe();
  const size_t dash = first.rfind("-shard-");
  return (dash == std::string::npos ? first : first.substr(0, dash)) + "-shard-*";
}

void ShardElector::log(const std::string& message) {
  if (callbacks_.log)
    callbacks_.log(message);
}

bool ShardElector::holds_locked(const Shard& shard, SteadyClock::time_point now) const {
  return shard.holder == config_.identity && !shard.handing_over && shard.renewed_at != SteadyClock::time_point{} &&
         now - shard.renewed_at < config_.renew_deadline;
}

bool ShardElector::holds(int shard) const {
  if (shard < 0 || shard >= shards())
    return false;
  std::lock_guard guard(mutex_);
  return holds_locked(shards_[static_cast<size_t>(shard)], SteadyClock::now());
}

std::vector<int> ShardElector::held() const {
  std::vector<int> result;
  const auto now = SteadyClock::now();
  std::lock_guard guard(mutex_);
  for (size_t shard = 0; shard < shards_.size(); ++shard)
    if (holds_locked(shards_[shard], now))
      result.push_back(static_cast<int>(shard));
  return result;
}

std::vector<ShardHolding> ShardElector::holdings() const {
  std::vector<ShardHolding> result;
  const auto now = SteadyClock::now();
  std::lock_guard guard(mutex_);
  for (size_t shard = 0; shard < shards_.size(); ++shard)
    result.push_back({static_cast<int>(shard), shards_[shard].holder, holds_locked(shards_[shard], now)});
  return result;
}

// The claim's view of shard i, for other threads (a hand-over in progress stays marked).
void ShardElector::publish(int shard) {
  const LeaseClaim& claim = claims_[static_cast<size_t>(shard)];
  std::lock_guard guard(mutex_);
  Shard& state = shards_[static_cast<size_t>(shard)];
  state.holder = claim.observed().holder;
  state.renewed_at = claim.renewed_at();
  if (state.holder != config_.identity)
    state.handing_over = false;
}

// Member records are timed as client-go times a lease: from when this replica saw them change.
void ShardElector::observe_members(SteadyClock::time_point now) {
  try {
    std::map<std::string, Member> seen;
    for (auto& [name, record] : members_->list()) {
      const auto known = seen_members_.find(name);
      seen[name] = known != seen_members_.end() && known->second.record == record ? known->second : Member{record, now};
    }
    seen_members_ = std::move(seen);
    last_members_failure_.clear();
  } catch (const std::exception& error) {
    // The members last seen keep their clocks: the shares hold until they expire.
    if (last_members_failure_ != error.what())
      log(fmt::format("cannot list the members: {}", error.what()));
    last_members_failure_ = error.what();
  }
  live_identities_.clear();
  for (const auto& [name, member] : seen_members_)
    if (!member.record.holder.empty() && member.observed_at + seconds(member.record.lease_duration_seconds) > now)
      live_identities_[member.record.holder] = 0;
  live_identities_[config_.identity] = 0;
  live_.store(static_cast<int>(live_identities_.size()));
}

void ShardElector::step() {
  const int total = shards();
  if (!member_.try_acquire_or_renew())
    if (const std::string failure = member_.take_failure(); !failure.empty())
      log(fmt::format("lease {}: {}", member_.describe(), failure));
  const auto now = SteadyClock::now();
  observe_members(now);
  const int live = live_.load();
  const int floor_share = total / live;
  const int ceil_share = (total + live - 1) / live;

  // 1. Hand over what was marked last round: its writes in flight had a round to land.
  for (int shard = 0; shard < total; ++shard) {
    bool handing_over = false;
    {
      std::lock_guard guard(mutex_);
      handing_over = shards_[static_cast<size_t>(shard)].handing_over;
    }
    if (!handing_over)
      continue;
    LeaseClaim& claim = claims_[static_cast<size_t>(shard)];
    if (const std::string problem = claim.release(); !problem.empty())
      log(fmt::format("lease {}: {}", claim.describe(), problem));
    else
      log(fmt::format("lease {}: handed over ({} live replicas, at most {} shards each)", claim.describe(), live, ceil_share));
    publish(shard);
  }

  // 2. Renew what this replica holds; read the others (their holders are the status).
  for (int shard = 0; shard < total; ++shard) {
    LeaseClaim& claim = claims_[static_cast<size_t>(shard)];
    claim.try_acquire_or_renew(/*may_acquire=*/false);
    if (const std::string failure = claim.take_failure(); !failure.empty())
      log(fmt::format("lease {}: {}", claim.describe(), failure));
    publish(shard);
  }

  // 3. Fair shares from the holders observed.
  std::map<std::string, int> counts;
  for (const auto& [identity, unused] : live_identities_)
    counts[identity] = 0;
  int mine = 0;
  {
    std::lock_guard guard(mutex_);
    for (const Shard& shard : shards_) {
      if (!shard.holder.empty())
        ++counts[shard.holder];
      mine += holds_locked(shard, now) ? 1 : 0;
    }
  }
  const bool someone_starved = std::any_of(live_identities_.begin(), live_identities_.end(), [&](const auto& member) {
    return counts[member.first] < floor_share;
  });
  int richest = -1;
  std::string richest_identity;
  for (const auto& [identity, unused] : live_identities_)
    if (counts[identity] > richest) {
      richest = counts[identity];
      richest_identity = identity;
    }
  int hand_over = mine > ceil_share ? mine - ceil_share : 0;
  if (hand_over == 0 && mine > floor_share && someone_starved && richest_identity == config_.identity)
    hand_over = 1;
  for (int shard = total - 1; shard >= 0 && hand_over > 0; --shard) {
    std::lock_guard guard(mutex_);
    Shard& state = shards_[static_cast<size_t>(shard)];
    if (!holds_locked(state, now))
      continue;
    state.handing_over = true; // holds() is false from now on; the Lease is released next round
    --hand_over;
    --mine;
  }

  // 4. Take free or expired shards up to the share.
  const int target = someone_starved && mine >= floor_share ? mine : ceil_share;
  for (int shard = 0; shard < total && mine < target; ++shard) {
    LeaseClaim& claim = claims_[static_cast<size_t>(shard)];
    if (claim.observed().holder == config_.identity)
      continue;
    if (!claim.try_acquire_or_renew(/*may_acquire=*/true)) {
      publish(shard);
      continue;
    }
    publish(shard);
    ++mine;
  }

  // 5. Report what moved.
  bool changed = false;
  for (int shard = 0; shard < total; ++shard) {
    ShardHolding holding;
    bool handing_over = false;
    {
      std::lock_guard guard(mutex_);
      const Shard& state = shards_[static_cast<size_t>(shard)];
      holding = {shard, state.holder, holds_locked(state, SteadyClock::now())};
      handing_over = state.handing_over;
    }
    const auto index = static_cast<size_t>(shard);
    if (holding.held && !reported_held_[index] && callbacks_.acquired)
      callbacks_.acquired(shard, claims_[index].taken_from());
    if (!holding.held && reported_held_[index] && callbacks_.lost) {
      const std::string& holder = holding.holder;
      callbacks_.lost(shard, handing_over            ? fmt::format("handing it over: {} live replicas, at most {} shards each", live, ceil_share)
                             : holder == config_.identity ? fmt::format("its lease was not renewed within the renew deadline ({} ms)",
                                                                        config_.renew_deadline.count())
                             : holder.empty()             ? std::string("its lease was released")
                                                          : fmt::format("its lease is held by {}", holder));
    }
    changed = changed || holding.held != reported_held_[index] || holding.holder != reported_holders_[index];
    reported_held_[index] = holding.held;
    reported_holders_[index] = holding.holder;
  }
  changed = changed || live != reported_live_;
  reported_live_ = live;
  if (changed && callbacks_.changed)
    callbacks_.changed();
}

bool ShardElector::sleep_for(milliseconds duration) {
  std::unique_lock guard(mutex_);
  wake_.wait_for(guard, duration, [this] { return stopping_; });
  return !stopping_;
}

void ShardElector::start(Callbacks callbacks) {
  callbacks_ = std::move(callbacks);
  thread_ = std::thread([this] {
    std::minstd_rand random(static_cast<unsigned>(SteadyClock::now().time_since_epoch().count()));
    std::uniform_real_distribution<double> jitter(0.0, 0.2);
    do {
      step();
    } while (sleep_for(milliseconds(static_cast<long long>(config_.retry_period.count() * (1.0 + jitter(random))))));
  });
}

void ShardElector::stop(bool release) {
  {
    std::lock_guard guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
  {
    std::lock_guard guard(mutex_);
    for (Shard& shard : shards_)
      shard.renewed_at = {}; // holds() is false from now on
  }
  if (!release)
    return;
  for (int shard = 0; shard < shards(); ++shard) {
    LeaseClaim& claim = claims_[static_cast<size_t>(shard)];
    if (const std::string problem = claim.release(); !problem.empty())
      log(fmt::format("lease {}: {}", claim.describe(), problem));
    publish(shard);
  }
  if (const std::string problem = member_.release(); !problem.empty())
    log(fmt::format("lease {}: {}", member_.describe(), problem));
}

} // namespace meridian

#include "leader/election.h"

#include <fmt/format.h>

#include <ctime>
#include <random>
#include <utility>

namespace meridian {

using namespace std::chrono;

namespace {

long long steady_nanoseconds(LeaderElector::SteadyClock::time_point time) {
  return duration_cast<nanoseconds>(time.time_since_epoch()).count();
}

} // namespace

std::string check_election_config(const ElectionConfig& config) {
  if (config.identity.empty())
    return "--leader-elect-identity: must not be empty";
  if (config.lease_duration < seconds(1) || config.lease_duration % seconds(1) != milliseconds(0))
    return "--leader-elect-lease-duration: expected whole seconds, at least 1s (Lease.spec.leaseDurationSeconds)";
  if (config.renew_deadline <= milliseconds(0) || config.retry_period <= milliseconds(0))
    return "--leader-elect-renew-deadline, --leader-elect-retry-period: must be positive";
  if (config.lease_duration <= config.renew_deadline)
    return "--leader-elect-lease-duration: must be greater than --leader-elect-renew-deadline";
  if (config.renew_deadline.count() <= 1.2 * config.retry_period.count())
    return "--leader-elect-renew-deadline: must be greater than 1.2 × --leader-elect-retry-period";
  return "";
}

std::string format_micro_time(system_clock::time_point time) {
  const auto micros = duration_cast<microseconds>(time.time_since_epoch()).count();
  const std::time_t seconds_part = static_cast<std::time_t>(micros / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds_part, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                     utc.tm_min, utc.tm_sec, micros % 1'000'000);
}

LeaseClaim::LeaseClaim(std::string identity, milliseconds lease_duration, std::unique_ptr<LeaseLock> lock)
    : identity_(std::move(identity)), lease_duration_(lease_duration), lock_(std::move(lock)) {}

void LeaseClaim::observe(const LeaseRecord& record, SteadyClock::time_point now) {
  observed_ = record;
  observed_at_ = now;
}

bool LeaseClaim::lease_valid(SteadyClock::time_point now) const {
  return observed_at_ + seconds(observed_.lease_duration_seconds) > now;
}

bool LeaseClaim::held_within(milliseconds renew_deadline, SteadyClock::time_point now) const {
  return observed_.holder == identity_ && renewed_at_ != SteadyClock::time_point{} && now - renewed_at_ < renew_deadline;
}

void LeaseClaim::report_failure(const std::string& message) {
  if (message == last_failure_)
    return;
  last_failure_ = message;
  failure_ = message;
}

std::string LeaseClaim::take_failure() { return std::exchange(failure_, std::string()); }

bool LeaseClaim::try_acquire_or_renew(bool may_acquire) {
  const SteadyClock::time_point now = SteadyClock::now();
  const std::string wall = format_micro_time(system_clock::now());
  LeaseRecord record{identity_, static_cast<int>(duration_cast<seconds>(lease_duration_).count()), wall, wall, 0};
  const auto succeeded = [&] {
    observe(record, now);
    renewed_at_ = now;
    last_failure_.clear();
    return true;
  };
  const bool held = observed_.holder == identity_;

  // 1. The holder's fast path: update what it wrote last, assuming nobody changed it since.
  if (held && lease_valid(now)) {
    record.acquire_time = observed_.acquire_time;
    record.transitions = observed_.transitions;
    try {
      if (lock_->update(record))
        return succeeded();
    } catch (const std::exception& error) {
      report_failure(fmt::format("cannot renew: {}", error.what()));
    }
  }

  // 2. Read the record, or create the lease.
  std::optional<LeaseRecord> current;
  try {
    current = lock_->get();
    if (!current) {
      if (!may_acquire || !lock_->create(record))
        return false;
      taken_from_.clear();
      return succeeded();
    }
  } catch (const std::exception& error) {
    report_failure(error.what());
    return false;
  }

  // 3. The clock of a record starts when this replica first sees it: holders' clocks never compare.
  if (!(*current == observed_))
    observe(*current, now);
  const bool mine = current->holder == identity_;
  if (!mine && (!may_acquire || (!current->holder.empty() && lease_valid(now))))
    return false;

  // 4. Take it over (a new term) or renew it (the same term).
  if (mine) {
    record.acquire_time = current->acquire_time;
    record.transitions = current->transitions;
  } else {
    record.transitions = current->transitions + 1;
  }
  try {
    if (!lock_->update(record))
      return false;
  } catch (const std::exception& error) {
    report_failure(fmt::format("cannot update: {}", error.what()));
    return false;
  }
  taken_from_ = mine ? "" : current->holder;
  return succeeded();
}

std::string LeaseClaim::release() {
  if (observed_.holder != identity_)
    return "";
  const std::string now = format_micro_time(system_clock::now());
  const LeaseRecord released{"", 1, now, now, observed_.transitions};
  try {
    if (!lock_->update(released))
      return "not released: it changed since it was last renewed";
  } catch (const std::exception& error) {
    return fmt::format("not released: {}", error.what());
  }
  observe(released, SteadyClock::now());
  renewed_at_ = {};
  return "";
}

LeaderElector::LeaderElector(ElectionConfig config, std::unique_ptr<LeaseLock> lock)
    : config_(std::move(config)), claim_(config_.identity, config_.lease_duration, std::move(lock)) {}

LeaderElector::~LeaderElector() {
  {
    std::lock_guard guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void LeaderElector::start(Callbacks callbacks) {
  callbacks_ = std::move(callbacks);
  thread_ = std::thread([this] { campaign(); });
}

void LeaderElector::stop(bool release) {
  {
    std::lock_guard guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
  leading_.store(false);
  if (!release)
    return;
  const std::string problem = claim_.release();
  publish_holder();
  if (!problem.empty() && callbacks_.log)
    callbacks_.log(fmt::format("lease {}: {}", claim_.describe(), problem));
}

bool LeaderElector::is_leader() const {
  if (!leading_.load())
    return false;
  {
    std::lock_guard guard(mutex_);
    if (holder_ != config_.identity)
      return false;
  }
  const long long since = steady_nanoseconds(SteadyClock::now()) - renewed_at_.load();
  return since < duration_cast<nanoseconds>(config_.renew_deadline).count();
}

bool LeaderElector::wait_for_leadership(const std::atomic<bool>& stopping, milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::unique_lock guard(mutex_);
  while (!stopping.load() && SteadyClock::now() < deadline) {
    guard.unlock();
    if (is_leader())
      return true;
    guard.lock();
    if (stopping_)
      break;
    wake_.wait_for(guard, milliseconds(100));
  }
  guard.unlock();
  return is_leader();
}

std::string LeaderElector::leader() const {
  std::lock_guard guard(mutex_);
  return holder_;
}

void LeaderElector::publish_holder() {
  {
    std::lock_guard guard(mutex_);
    holder_ = claim_.observed().holder;
  }
  wake_.notify_all();
}

void LeaderElector::report_failure() {
  const std::string message = claim_.take_failure();
  if (!message.empty() && callbacks_.log)
    callbacks_.log(fmt::format("lease {}: {}", claim_.describe(), message));
}

bool LeaderElector::try_acquire_or_renew() {
  const bool held = claim_.try_acquire_or_renew();
  publish_holder();
  report_failure();
  if (!held)
    return false;
  renewed_at_.store(steady_nanoseconds(claim_.renewed_at()));
  if (!leading_.load())
    expired_holder_ = claim_.taken_from();
  return true;
}

bool LeaderElector::sleep_for(milliseconds duration) {
  std::unique_lock guard(mutex_);
  wake_.wait_for(guard, duration, [this] { return stopping_; });
  return !stopping_;
}

void LeaderElector::campaign() {
  std::minstd_rand random(static_cast<unsigned>(steady_nanoseconds(SteadyClock::now())));
  std::uniform_real_distribution<double> jitter(0.0, 1.2); // wait.JitterUntil's factor
  const auto report_leader = [this] {
    const std::string holder = leader();
    if (holder == reported_leader_)
      return;
    reported_leader_ = holder;
    if (callbacks_.new_leader)
      callbacks_.new_leader(holder);
  };
  for (;;) {
    const bool acquired = try_acquire_or_renew();
    report_leader();
    if (acquired)
      break;
    const auto wait = milliseconds(static_cast<long long>(config_.retry_period.count() * (1.0 + jitter(random))));
    if (!sleep_for(wait))
      return;
  }
  leading_.store(true);
  wake_.notify_all();
  if (callbacks_.started_leading)
    callbacks_.started_leading(expired_holder_);
  for (;;) {
    if (!sleep_for(config_.retry_period))
      return;
    const bool renewed = try_acquire_or_renew();
    report_leader();
    if (renewed)
      continue;
    const auto since = nanoseconds(steady_nanoseconds(SteadyClock::now()) - renewed_at_.load());
    if (leader() != config_.identity || since >= config_.renew_deadline) {
      leading_.store(false);
      wake_.notify_all();
      const std::string reason =
          leader() != config_.identity
              ? fmt::format("lease {} is now held by {}", claim_.describe(), leader().empty() ? "nobody" : leader())
              : fmt::format("lease {} not renewed within the renew deadline ({}s)", claim_.describe(),
                            duration_cast<milliseconds>(config_.renew_deadline).count() / 1000.0);
      if (callbacks_.stopped_leading)
        callbacks_.stopped_leading(reason);
      return;
    }
  }
}

} // namespace meridian

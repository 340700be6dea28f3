#include "loop/trigger.h"

#include <algorithm>

namespace meridian {

std::string_view to_string(TriggerKind kind) {
  switch (kind) {
  case TriggerKind::schedule:
    return "schedule";
  case TriggerKind::webhook:
    return "webhook";
  case TriggerKind::resume:
    return "resume";
  case TriggerKind::manual:
    return "manual";
  case TriggerKind::watch:
    return "watch";
  case TriggerKind::shard:
    return "shard";
  }
  return "schedule";
}

void TriggerQueue::post(TriggerKind kind) {
  {
    const std::lock_guard lock(mutex_);
    if (pending_) {
      ++coalesced_;
      if (kind == TriggerKind::webhook)
        pending_ = kind;
    } else {
      pending_ = kind;
    }
  }
  wake_.notify_all();
}

std::optional<TriggerKind> TriggerQueue::wait_until(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, deadline, [&] { return stopped_ || pending_.has_value(); });
  if (stopped_ || !pending_)
    return std::nullopt;
  const TriggerKind kind = *pending_;
  pending_.reset();
  return kind;
}

void TriggerQueue::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  wake_.notify_all();
}

bool TriggerQueue::stopped() const {
  const std::lock_guard lock(mutex_);
  return stopped_;
}

uint64_t TriggerQueue::coalesced() const {
  const std::lock_guard lock(mutex_);
  return coalesced_;
}

std::chrono::milliseconds jittered(std::chrono::milliseconds interval, double spread, std::mt19937_64& random) {
  spread = std::clamp(spread, 0.0, 1.0);
  std::uniform_real_distribution<double> factor(1.0 - spread, 1.0 + spread);
  return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(interval.count()) * factor(random)));
}

} // namespace meridian

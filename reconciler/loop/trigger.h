// What wakes the reconcile loop: the interval, a webhook, a resume, a stop.
//
// One reconcile runs at a time. Triggers posted while one runs (or while the loop sleeps) are
// coalesced: however many arrive, the loop wakes once and runs one follow-up, so a burst of pushes
// costs one fetch. Thread-safe: HTTP threads post, the loop thread waits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace meridian {

//! watch: the backend saw someone change a managed object (drift), between intervals. shard: this
//! replica took a shard (`run --shards`).
enum class TriggerKind { schedule, webhook, resume, manual, watch, shard };
std::string_view to_string(TriggerKind kind);

class TriggerQueue {
public:
  using Clock = std::chrono::steady_clock;

  //! Asks for one reconcile. A webhook outranks the other kinds when they coalesce, so the apply
  //! it leads to is recorded as pushed.
  void post(TriggerKind kind);

  //! The pending trigger (taking it), or the first to arrive before `deadline`; nullopt when the
  //! deadline passes or stop() was called.
  std::optional<TriggerKind> wait_until(Clock::time_point deadline);

  //! Wakes every waiter for good; later waits return nullopt at once.
  void stop();
  bool stopped() const;

  //! Posts that were merged into one already pending (for the log and tests).
  uint64_t coalesced() const;

private:
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<TriggerKind> pending_;
  uint64_t coalesced_ = 0;
  bool stopped_ = false;
};

//! `interval` scaled by a uniform factor in [1 - spread, 1 + spread], so that many processes
//! started together do not fetch in lockstep.
std::chrono::milliseconds jittered(std::chrono::milliseconds interval, double spread, std::mt19937_64& random);

} // namespace meridian

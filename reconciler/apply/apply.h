// Apply: carries out a Plan against a backend, wave by wave, gated on health.
//
// Inside a region, a change waits until what it depends on is healthy. A region is done when every
// change in it is healthy; a wave starts only when the waves before it are done. A failure or a
// health timeout fails its region; with haltOnFailure the rollout stops and later regions are
// reported as not started. A DaemonSet template change inside a multi-region cluster is stepped
// node region by node region. Every apply is recorded in the state store, including interrupted ones.
#pragma once

#include "plan/plan.h"
#include "state/store.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <ostream>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace meridian {

//! Canonical texts of desired bodies, as an apply records them (last applied), for a process that
//! applies commit after commit (`meridian run`): a body is never changed once built and is shared
//! by the desired states whose document is the same parse, so its text is written once.
class BodyTexts {
public:
  std::shared_ptr<const std::string> text(const std::shared_ptr<JsonDocument>& body);
  //! What an apply of `desired` records, each object's text written now if it was not already.
  std::vector<AppliedBody> bodies_of(const DesiredState& desired);
  //! Keeps the texts of `desired`'s bodies only. (Bodies share their arena's count, so whether
  //! anything else holds one cannot be told from the cache's side.)
  void retain(const DesiredState& desired);
  size_t size() const { return texts_.size(); }

private:
  struct Entry {
    std::shared_ptr<JsonDocument> body; //!< held, so that its address names it until retain() drops it
    std::shared_ptr<const std::string> text;
  };
  std::unordered_map<const JsonDocument*, Entry> texts_;
};

struct ApplyOptions {
  std::string trigger = "cli";
  std::chrono::milliseconds poll_interval{5000};      //!< between health checks (backend time)
  int max_attempts = 4;                                //!< per object, for transient errors
  const std::atomic<bool>* interrupted = nullptr;      //!< set by SIGINT/SIGTERM: stop between objects
  //! Asked between objects and during health waits; false once this process may no longer write
  //! (it lost its leader Lease): the apply stops there and is recorded as interrupted.
  std::function<bool()> may_write;
  //! Sharding (`run --shards`): false for objects of clusters in shards another replica holds.
  //! Those are never written; their changes are waited on (healthy, or gone) like this apply's own
  //! at the dependency and region gates, and left out of the record. Unset: every object is ours.
  std::function<bool(const ObjectRef&)> owns;
  std::function<void(const std::string&)> progress;    //!< one line per step
  BodyTexts* body_texts = nullptr;                     //!< kept between applies (the loop)
};

enum class RegionOutcome { done, failed, not_started, interrupted };

struct RegionResult {
  std::string region;
  int wave = 0;
  RegionOutcome outcome = RegionOutcome::not_started;
  std::string reason;
};

struct ApplyReport {
  ApplyResult result = ApplyResult::succeeded; //!< succeeded | failed | halted | interrupted (never running)
  std::vector<RegionResult> regions;
  std::vector<ObjectResult> objects;
  long long record_id = 0;
  std::string summary() const;
};

//! Applies `plan` (made from `desired`) and records it in `store`.
ApplyReport apply_plan(const Plan& plan, const DesiredState& desired, Backend& backend, StateStore& store,
                       const ApplyOptions& options);

std::string_view to_string(RegionOutcome outcome);

} // namespace meridian

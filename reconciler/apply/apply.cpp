#include "apply/apply.h"

#include "base/duration.h"
#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <random>
#include <set>

namespace meridian {
namespace {

constexpr std::string_view region_label = "topology.kubernetes.io/region";

//! applied_earlier: an unchanged workload of the wave, whose health the region gate checks.
enum class ObjectState { pending, applied, applied_earlier, healthy, failed, skipped };

//! What history records of an object in `state` when the apply ends.
ObjectOutcome outcome_of(ObjectState state) {
  switch (state) {
  case ObjectState::healthy:
  case ObjectState::applied:
  case ObjectState::applied_earlier:
    return ObjectOutcome::applied;
  case ObjectState::failed:
    return ObjectOutcome::failed;
  case ObjectState::skipped:
    return ObjectOutcome::skipped;
  case ObjectState::pending:
    return ObjectOutcome::not_started;
  }
  return ObjectOutcome::not_started;
}

//! Why a step of a rollout (a write, a wait) did not complete: the object failed, with the reason,
//! or the apply was interrupted (SIGINT/SIGTERM, or this process may no longer write) while it waited.
class StepFailure {
public:
  explicit StepFailure(std::string message) : message_(std::move(message)) {}
  static StepFailure interruption() { return StepFailure(Interrupted{}); }
  bool interrupted() const { return interrupted_; }
  //! What the object's history says: the reason, or "interrupted".
  const std::string& message() const { return message_; }

private:
  struct Interrupted {};
  explicit StepFailure(Interrupted) : message_("interrupted"), interrupted_(true) {}
  std::string message_;
  bool interrupted_ = false;
};

//! A step's result: nothing when it completed.
using StepError = std::optional<StepFailure>;

std::string health_line(const Health& health) {
  return health.message.empty() ? std::string(to_string(health.status))
                                : fmt::format("{}: {}", to_string(health.status), health.message);
}

class Rollout {
public:
  Rollout(const Plan& plan, const DesiredState& desired, Backend& backend, const ApplyOptions& options)
      : plan_(plan), desired_(desired), backend_(backend), options_(options) {
    for (const PlannedChange& change : plan_.changes)
      by_ref_.emplace(change.ref, &change);
  }

  ApplyReport run(StateStore& store) {
    ApplyReport report = begin(store);
    bool halted = false;
    bool interrupted = false;
    for (size_t wave = 0; wave < plan_.waves.size() && !halted && !interrupted; ++wave) {
      const WaveEnd end = run_wave(wave, report.regions);
      halted = end == WaveEnd::halted;
      interrupted = end == WaveEnd::interrupted;
    }
    report.result = interrupted ? ApplyResult::interrupted : halted ? ApplyResult::halted : ApplyResult::succeeded;
    if (report.result == ApplyResult::succeeded &&
        std::any_of(report.regions.begin(), report.regions.end(), [](const RegionResult& r) { return r.outcome == RegionOutcome::failed; }))
      report.result = ApplyResult::failed;
    if (halted)
      for (RegionResult& result : report.regions)
        if (result.outcome == RegionOutcome::not_started)
          result.reason = "an earlier region failed and haltOnFailure is set";
    finish(report);
    return report;
  }

private:
  enum class WaveEnd { done, halted, interrupted };
  //! The first failure of each region in a wave, as its region's reason.
  using RegionFailures = std::map<std::string, std::string>;

  //! Records the apply's start; every region of every wave not started yet.
  ApplyReport begin(StateStore& store) {
    ApplyReport report;
    report.record_id = store.begin_apply(plan_.repository, plan_.commit, options_.trigger);
    store_ = &store;
    record_id_ = report.record_id;
    for (size_t wave = 0; wave < plan_.waves.size(); ++wave)
      for (const std::string& region : plan_.waves[wave])
        report.regions.push_back({region, static_cast<int>(wave) + 1, RegionOutcome::not_started, ""});
    for (const PlannedChange& change : plan_.changes)
      total_ += change.action != Action::unchanged && owns(change.ref) ? 1 : 0;
    return report;
  }

  //! One wave: its changes written in order, then the region gate, then its regions' outcomes.
  WaveEnd run_wave(size_t wave, std::vector<RegionResult>& regions) {
    std::vector<const PlannedChange*> wave_changes;
    bool has_work = false;
    for (const PlannedChange& change : plan_.changes)
      if (change.wave == static_cast<int>(wave)) {
        wave_changes.push_back(&change);
        has_work = has_work || change.action != Action::unchanged;
      }
    if (!has_work) {
      for (const PlannedChange* change : wave_changes)
        states_[change->ref] = ObjectState::healthy;
      for (RegionResult& result : regions)
        if (result.wave == static_cast<int>(wave) + 1) {
          result.outcome = RegionOutcome::done;
          result.reason = "no changes";
        }
      return WaveEnd::done;
    }
    say(fmt::format("wave {}/{}: {}", wave + 1, plan_.waves.size(), fmt::join(plan_.waves[wave], ", ")));
    RegionFailures failures;
    bool interrupted = write_wave(wave_changes, failures);
    interrupted = gate_wave(wave_changes, failures, interrupted);
    report_wave(wave, regions, failures, interrupted);
    if (interrupted)
      return WaveEnd::interrupted;
    return !failures.empty() && plan_.fleet.halt_on_failure ? WaveEnd::halted : WaveEnd::done;
  }

  //! Writes the wave's changes in order, each once what it depends on is healthy. Returns whether
  //! the apply was interrupted.
  bool write_wave(const std::vector<const PlannedChange*>& wave_changes, RegionFailures& failures) {
    for (const PlannedChange* change : wave_changes) {
      if (is_interrupted())
        return true;
      if (change->action == Action::unchanged) {
        // A workload Git did not change is still part of its region's health: checked at the gate.
        states_[change->ref] = is_workload_kind(change->ref.kind) ? ObjectState::applied_earlier : ObjectState::healthy;
        continue;
      }
      if (!owns(change->ref)) {
        // Another replica's to write: this one waits for it at the gates, as for its own.
        states_[change->ref] = ObjectState::applied;
        continue;
      }
      ++done_;
      if (failures.count(change->region) != 0 && plan_.fleet.halt_on_failure) {
        skip(*change, "skipped: an earlier change of its region failed");
        continue;
      }
      if (auto blocked = wait_for_dependencies(*change)) {
        fail(*change, *blocked);
        failures.emplace(change->region, fmt::format("{}: {}", change->ref.display(), *blocked));
        continue;
      }
      say(fmt::format("[{}/{}] {} {} {}", done_, total_, change->region.empty() ? "-" : change->region, to_string(change->action),
                      object_name(change->ref)));
      if (auto error = execute(*change)) {
        fail(*change, error->message());
        failures.emplace(change->region, fmt::format("{}: {}", change->ref.display(), error->message()));
        if (error->interrupted())
          return true;
      } else {
        record(*change);
      }
    }
    return false;
  }

  //! The region gate: every change of the wave healthy (or gone, for deletions), and the unchanged
  //! workloads of a region that changed. Returns whether the apply was interrupted.
  bool gate_wave(const std::vector<const PlannedChange*>& wave_changes, RegionFailures& failures, bool interrupted) {
    std::set<std::string> changed_regions;
    for (const PlannedChange* change : wave_changes)
      if (change->action != Action::unchanged)
        changed_regions.insert(change->region);
    for (const PlannedChange* change : wave_changes) {
      ObjectState& state = states_[change->ref];
      if (state == ObjectState::applied_earlier) {
        if (changed_regions.count(change->region) == 0) {
          state = ObjectState::healthy;
          continue;
        }
      } else if (interrupted || state != ObjectState::applied) {
        continue;
      }
      if (interrupted)
        continue;
      if (auto error = wait_healthy(*change)) {
        fail(*change, error->message());
        failures.emplace(change->region, fmt::format("{}: {}", change->ref.display(), error->message()));
        interrupted = interrupted || error->interrupted();
      }
    }
    return interrupted;
  }

  //! The outcomes of the wave's regions, and of an earlier wave's region a change of this wave failed.
  void report_wave(size_t wave, std::vector<RegionResult>& regions, const RegionFailures& failures, bool interrupted) const {
    for (RegionResult& result : regions) {
      if (result.wave != static_cast<int>(wave) + 1)
        continue;
      if (interrupted) {
        result.outcome = RegionOutcome::interrupted;
      } else if (const auto failure = failures.find(result.region); failure != failures.end()) {
        result.outcome = RegionOutcome::failed;
        result.reason = failure->second;
        say(fmt::format("region {} failed: {}", result.region.empty() ? "-" : result.region, result.reason));
      } else {
        result.outcome = RegionOutcome::done;
        say(fmt::format("region {} healthy", result.region.empty() ? "-" : result.region));
      }
    }
    // A change waits for what it depends on, so it may run in a later wave than its region's
    // (a workload of an Edge cluster waits for the pools of every region): its failure fails
    // its own region, reported done in an earlier wave.
    const std::vector<std::string>& wave_regions = plan_.waves[wave];
    for (const auto& [region, reason] : failures) {
      if (std::find(wave_regions.begin(), wave_regions.end(), region) != wave_regions.end())
        continue;
      for (RegionResult& result : regions)
        if (result.region == region && result.outcome != RegionOutcome::failed) {
          result.outcome = RegionOutcome::failed;
          result.reason = reason;
          say(fmt::format("region {} failed: {}", region.empty() ? "-" : region, reason));
        }
    }
  }

  //! Records the outcome: every changed object's result, and the last-applied bodies of what is in
  //! place (forgetting what was deleted).
  void finish(ApplyReport& report) {
    std::vector<AppliedBody> bodies;
    std::vector<std::string> deleted;
    for (const PlannedChange& change : plan_.changes) {
      if (!owns(change.ref))
        continue;
      const ObjectState state = states_.count(change.ref) != 0 ? states_[change.ref] : ObjectState::pending;
      if (change.action == Action::remove && state == ObjectState::healthy)
        deleted.push_back(change.ref.key());
      else if (change.desired != nullptr && (state == ObjectState::healthy || state == ObjectState::applied || state == ObjectState::applied_earlier))
        bodies.push_back({change.ref.key(), body_text(change)});
      if (change.action == Action::unchanged)
        continue;
      report.objects.push_back({change.ref.key(), change.ref.display(), change.ref.cluster, change.region,
                                std::string(to_string(change.action)), outcome_of(state), messages_[change.ref]});
    }
    store_->finish_apply(report.record_id, report.result, report.summary(), report.objects, bodies, deleted);
  }

  std::shared_ptr<const std::string> body_text(const PlannedChange& change) const {
    return options_.body_texts != nullptr ? options_.body_texts->text(change.desired->body)
                                          : std::make_shared<const std::string>(write_canonical(*change.desired->body));
  }

  // What was just applied, recorded at once with its last-applied body (a deletion's body is
  // forgotten when the apply finishes and the object is gone): a kill after this loses nothing.
  void record(const PlannedChange& change) {
    if (positions_.empty()) {
      int position = 0;
      for (const PlannedChange& planned : plan_.changes)
        if (planned.action != Action::unchanged && owns(planned.ref))
          positions_.emplace(planned.ref, position++);
    }
    const ObjectResult result{change.ref.key(), change.ref.display(), change.ref.cluster, change.region,
                              std::string(to_string(change.action)), ObjectOutcome::applied, ""};
    const AppliedBody body = change.desired != nullptr ? AppliedBody{change.ref.key(), body_text(change)} : AppliedBody{};
    store_->record_object(record_id_, positions_.at(change.ref), result, change.desired != nullptr ? &body : nullptr, false);
  }

  void say(const std::string& line) const {
    if (options_.progress)
      options_.progress(line);
  }

  bool owns(const ObjectRef& ref) const { return !options_.owns || options_.owns(ref); }

  bool is_interrupted() const {
    return (options_.interrupted != nullptr && options_.interrupted->load()) || (options_.may_write && !options_.may_write());
  }

  static std::string object_name(const ObjectRef& ref) {
    return ref.cluster.empty() ? ref.display() : fmt::format("{} (cluster {})", ref.display(), ref.cluster);
  }

  void fail(const PlannedChange& change, const std::string& message) {
    states_[change.ref] = ObjectState::failed;
    messages_[change.ref] = message;
    say(fmt::format("  failed: {}: {}", change.ref.display(), message));
  }

  void skip(const PlannedChange& change, const std::string& message) {
    states_[change.ref] = ObjectState::skipped;
    messages_[change.ref] = message;
  }

  // The one retry layer of a write: the backend sends a write once (the kube client retries only
  // reads), so an object is written at most max_attempts times. A transient error is retried with
  // exponential backoff and jitter, or after the server's Retry-After when longer, waiting on the
  // backend's clock; a permanent error fails at once.
  template <typename Operation> StepError with_retries(Operation&& operation) {
    std::mt19937 jitter(42);
    for (int attempt = 1;; ++attempt) {
      try {
        operation();
        return std::nullopt;
      } catch (const TransientError& error) {
        if (attempt >= options_.max_attempts)
          return StepFailure(fmt::format("{} (gave up after {} attempts)", error.what(), attempt));
        const auto backoff = std::chrono::milliseconds(200 * (1 << (attempt - 1)) + static_cast<int>(jitter() % 100));
        const auto delay = std::max(backoff, error.retry_after());
        say(fmt::format("  transient error, retrying in {}: {}", format_duration(delay), error.what()));
        backend_.wait(delay);
      } catch (const UserError& error) {
        return StepFailure(error.what());
      }
    }
  }

  StepError execute(const PlannedChange& change) {
    if (change.action == Action::remove) {
      auto error = with_retries([&] { backend_.remove(change.ref, false); });
      if (!error)
        mark_applied(change.ref);
      return error;
    }
    if (change.region_rollout)
      return roll_out_by_region(change);
    auto error = with_retries([&] { backend_.apply(change.ref, *change.desired->body, false); });
    if (!error)
      mark_applied(change.ref);
    return error;
  }

  // The health timeout runs from the moment an object was written: objects of one region written
  // together fail together after one timeout, not one timeout after another.
  void mark_applied(const ObjectRef& ref) {
    states_[ref] = ObjectState::applied;
    applied_at_[ref] = backend_.now_ms();
  }

  std::optional<std::string> wait_for_dependencies(const PlannedChange& change) {
    if (change.desired == nullptr)
      return std::nullopt;
    for (const ObjectRef& dependency : change.desired->depends_on) {
      const auto state = states_.find(dependency);
      if (state == states_.end())
        continue; // not part of this rollout: already in place
      if (state->second == ObjectState::failed || state->second == ObjectState::skipped)
        return fmt::format("not applied: it depends on {}, which failed", dependency.display());
      if (state->second != ObjectState::applied)
        continue;
      const PlannedChange* dependency_change = find_change(dependency);
      if (dependency_change == nullptr)
        continue;
      if (auto error = wait_healthy(*dependency_change)) {
        fail(*dependency_change, error->message());
        return fmt::format("not applied: it depends on {}, which did not become healthy", dependency.display());
      }
    }
    return std::nullopt;
  }

  const PlannedChange* find_change(const ObjectRef& ref) const {
    const auto found = by_ref_.find(ref);
    return found == by_ref_.end() ? nullptr : found->second;
  }

  // Polls health until the change is healthy (gone, for a deletion) or healthTimeout passes.
  StepError wait_healthy(const PlannedChange& change) {
    if (states_[change.ref] == ObjectState::healthy)
      return std::nullopt;
    const auto written = applied_at_.find(change.ref);
    const long long deadline = (written != applied_at_.end() ? written->second : backend_.now_ms()) + plan_.fleet.health_timeout.count();
    Health health;
    while (true) {
      health = object_health(backend_, plan_.fleet.health_checks, change.ref,
                             change.desired != nullptr && change.desired->manifest != nullptr ? change.desired->manifest->api_version : "");
      const bool done = change.action == Action::remove ? health.status == HealthStatus::missing
                                                        : health.status == HealthStatus::healthy;
      if (done) {
        states_[change.ref] = ObjectState::healthy;
        return std::nullopt;
      }
      if (is_interrupted())
        return StepFailure::interruption();
      if (backend_.now_ms() >= deadline)
        break;
      backend_.wait(options_.poll_interval);
    }
    return StepFailure(fmt::format("not healthy after {}: {}", format_duration(plan_.fleet.health_timeout), health_line(health)));
  }

  // Pods of a DaemonSet in one node region, and whether each runs the desired template.
  struct RegionPods {
    int total = 0;
    int updated_ready = 0;
    std::vector<ObjectRef> outdated;
  };

  RegionPods region_pods(const PlannedChange& change, const std::string& region) {
    RegionPods result;
    const Json* template_spec = find_path(*change.desired->body, "spec.template.spec");
    for (const PodPlacement& placement : backend_.placements(change.ref)) {
      if (placement.region != region)
        continue;
      ++result.total;
      const ObjectRef pod{change.ref.cluster, "", "Pod", change.ref.namespace_, placement.name};
      const auto live = backend_.get(pod);
      if (live == nullptr)
        continue;
      const Json* live_spec = find_member(*live, "spec");
      const bool current = template_spec == nullptr || (live_spec != nullptr && diff_object(*template_spec, *live_spec).empty());
      if (!current)
        result.outdated.push_back(pod);
      else if (placement.phase == "Running")
        ++result.updated_ready;
    }
    return result;
  }

  StepError wait_region(const PlannedChange& change, const std::string& region) {
    const long long deadline = backend_.now_ms() + plan_.fleet.health_timeout.count();
    RegionPods pods;
    while (true) {
      pods = region_pods(change, region);
      if (pods.outdated.empty() && pods.updated_ready == pods.total)
        return std::nullopt;
      if (is_interrupted())
        return StepFailure::interruption();
      if (backend_.now_ms() >= deadline)
        break;
      backend_.wait(options_.poll_interval);
    }
    return StepFailure(fmt::format("region {} not updated after {}: {} of {} pods run the new template", region,
                       format_duration(plan_.fleet.health_timeout), pods.updated_ready, pods.total));
  }

  // The new template reaches one node region at a time: OpenKruise by widening
  // rollingUpdate.selector over node regions, apps/v1 (OnDelete) by replacing the pods itself.
  StepError roll_out_by_region(const PlannedChange& change) {
    const DesiredObject& object = *change.desired;
    std::vector<std::string> done;
    for (const std::string& region : change.rollout_regions) {
      done.push_back(region);
      if (object.region_rollout == RegionRollout::kruise_selector) {
        JsonDocument stepped;
        stepped.CopyFrom(*object.body, stepped.GetAllocator());
        restrict_to_regions(stepped, done);
        if (auto error = with_retries([&] { backend_.apply(change.ref, stepped, false); }))
          return error;
      } else {
        if (done.size() == 1)
          if (auto error = with_retries([&] { backend_.apply(change.ref, *object.body, false); }))
            return error;
        for (const ObjectRef& pod : region_pods(change, region).outdated)
          if (auto error = with_retries([&] { backend_.remove(pod, false); }))
            return StepFailure(fmt::format("cannot replace pod {}: {}", pod.name, error->message()));
      }
      say(fmt::format("  {}: rolling out to node region {} ({}/{})", change.ref.display(), region, done.size(),
                      change.rollout_regions.size()));
      if (auto error = wait_region(change, region))
        return error;
      const RegionPods pods = region_pods(change, region);
      say(fmt::format("  {}: node region {} updated ({} pod{})", change.ref.display(), region, pods.total, pods.total == 1 ? "" : "s"));
    }
    if (object.region_rollout == RegionRollout::kruise_selector)
      if (auto error = with_retries([&] { backend_.apply(change.ref, *object.body, false); }))
        return error;
    mark_applied(change.ref);
    return std::nullopt;
  }

  static void restrict_to_regions(JsonDocument& body, const std::vector<std::string>& regions) {
    auto& allocator = body.GetAllocator();
    auto child = [&](Json& parent, const char* key) -> Json& {
      if (!parent.HasMember(key) || !parent[key].IsObject()) {
        parent.RemoveMember(key);
        parent.AddMember(Json(key, allocator), Json(rapidjson::kObjectType), allocator);
      }
      return parent[key];
    };
    // Add the strategy's type before taking a reference to rollingUpdate: adding a member may move
    // the strategy's members, and rollingUpdate with them.
    Json& strategy = child(child(body, "spec"), "updateStrategy");
    if (!strategy.HasMember("type"))
      strategy.AddMember("type", "RollingUpdate", allocator);
    Json& rolling = child(strategy, "rollingUpdate");
    rolling.RemoveMember("selector");
    Json values(rapidjson::kArrayType);
    for (const std::string& region : regions)
      values.PushBack(Json(region.c_str(), allocator), allocator);
    Json expression(rapidjson::kObjectType);
    expression.AddMember("key", Json(region_label.data(), allocator), allocator);
    expression.AddMember("operator", "In", allocator);
    expression.AddMember("values", values, allocator);
    Json expressions(rapidjson::kArrayType);
    expressions.PushBack(expression, allocator);
    Json selector(rapidjson::kObjectType);
    selector.AddMember("matchExpressions", expressions, allocator);
    rolling.AddMember("selector", selector, allocator);
  }

  const Plan& plan_;
  const DesiredState& desired_;
  Backend& backend_;
  const ApplyOptions& options_;
  std::unordered_map<ObjectRef, ObjectState, ObjectRefHash> states_;
  std::unordered_map<ObjectRef, long long, ObjectRefHash> applied_at_; //!< backend clock when written
  std::unordered_map<ObjectRef, const PlannedChange*, ObjectRefHash> by_ref_; //!< dependencies are looked up once per change
  std::map<ObjectRef, std::string> messages_;
  std::unordered_map<ObjectRef, int, ObjectRefHash> positions_; //!< in the objects the apply records
  StateStore* store_ = nullptr;
  long long record_id_ = 0;
  size_t done_ = 0;  //!< changes started so far
  size_t total_ = 0; //!< changes to make
};

} // namespace

std::string_view to_string(RegionOutcome outcome) {
  switch (outcome) {
  case RegionOutcome::done:
    return "done";
  case RegionOutcome::failed:
    return "failed";
  case RegionOutcome::not_started:
    return "not started";
  case RegionOutcome::interrupted:
    return "interrupted";
  }
  return "unknown";
}

std::string ApplyReport::summary() const {
  size_t applied = 0, failed = 0, other = 0;
  for (const ObjectResult& object : objects) {
    if (object.result == ObjectOutcome::applied)
      ++applied;
    else if (object.result == ObjectOutcome::failed)
      ++failed;
    else
      ++other;
  }
  return fmt::format("{} applied, {} failed, {} not applied", applied, failed, other);
}

std::shared_ptr<const std::string> BodyTexts::text(const std::shared_ptr<JsonDocument>& body) {
  Entry& entry = texts_[body.get()];
  if (entry.text == nullptr) {
    entry.body = body;
    entry.text = std::make_shared<const std::string>(write_canonical(*body));
  }
  return entry.text;
}

std::vector<AppliedBody> BodyTexts::bodies_of(const DesiredState& desired) {
  std::vector<AppliedBody> bodies;
  bodies.reserve(desired.objects.size());
  for (const DesiredObject& object : desired.objects)
    bodies.push_back({object.ref.key(), text(object.body)});
  return bodies;
}

void BodyTexts::retain(const DesiredState& desired) {
  std::unordered_set<const JsonDocument*> kept;
  kept.reserve(desired.objects.size());
  for (const DesiredObject& object : desired.objects)
    kept.insert(object.body.get());
  for (auto entry = texts_.begin(); entry != texts_.end();)
    entry = kept.count(entry->first) == 0 ? texts_.erase(entry) : std::next(entry);
}

ApplyReport apply_plan(const Plan& plan, const DesiredState& desired, Backend& backend, StateStore& store,
                       const ApplyOptions& options) {
  store.set_owner(desired.owner);
  Rollout rollout(plan, desired, backend, options);
  return rollout.run(store);
}

} // namespace meridian

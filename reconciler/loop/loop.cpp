#include "loop/loop.h"

#include "apply/apply.h"
#include "backend/forwarding.h"
#include "base/error.h"
#include "base/duration.h"
#include "base/enum_names.h"
#include "base/log.h"
#include "model/desired.h"
#include "model/shards.h"
#include "plan/plan.h"
#include "state/store.h"
#include "validate/validate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <set>

namespace meridian {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

long long unix_now() { return static_cast<long long>(std::time(nullptr)); }

std::string short_id(const std::string& commit) { return commit.substr(0, 12); }

//! The trigger an apply is recorded with: what the state store and `meridian history` know.
std::string apply_trigger(TriggerKind trigger) { return trigger == TriggerKind::webhook ? "webhook" : "schedule"; }

std::string drift_kind(Action action) {
  switch (action) {
  case Action::create:
    return "missing";
  case Action::remove:
    return "extra";
  default:
    return "changed";
  }
}

// Forwards to the real backend and reports each change the apply makes, so that status can say
// which wave, region and object the rollout is at without parsing progress lines.
class ObservedBackend final : public ForwardingBackend {
public:
  ObservedBackend(Backend& inner, std::function<void(const ObjectRef&)> on_change)
      : ForwardingBackend(inner), on_change_(std::move(on_change)) {}

  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override {
    if (!dry_run)
      on_change_(ref);
    return ForwardingBackend::apply(ref, desired, dry_run);
  }
  void remove(const ObjectRef& ref, bool dry_run) override {
    if (!dry_run)
      on_change_(ref);
    ForwardingBackend::remove(ref, dry_run);
  }

private:
  std::function<void(const ObjectRef&)> on_change_;
};

std::vector<double> duration_buckets() { return {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}; }

} // namespace

HealBackoff::Clock::time_point HealBackoff::next_attempt(const std::string& objects) const {
  const auto found = sets_.find(objects);
  return found == sets_.end() ? Clock::time_point::min() : found->second.next;
}

void HealBackoff::record_attempt(const std::string& objects, Clock::time_point now) {
  Entry& entry = sets_[objects];
  ++entry.attempts;
  const double delay_ms = std::min(static_cast<double>(policy_.cap.count()),
                                   static_cast<double>(policy_.initial.count()) * std::pow(policy_.factor, entry.attempts - 1));
  entry.next = now + std::chrono::milliseconds(static_cast<long long>(delay_ms));
}

int HealBackoff::attempts(const std::string& objects) const {
  const auto found = sets_.find(objects);
  return found == sets_.end() ? 0 : found->second.attempts;
}

namespace {
constexpr EnumNames<ReconcileResult, 6> reconcile_results{{
    {ReconcileResult::succeeded, "succeeded"},
    {ReconcileResult::failed, "failed"},
    {ReconcileResult::invalid, "invalid"},
    {ReconcileResult::error, "error"},
    {ReconcileResult::interrupted, "interrupted"},
    {ReconcileResult::suspended, "suspended"},
}};
} // namespace

std::string_view to_string(ReconcileResult result) { return enum_name(reconcile_results, result); }
std::optional<ReconcileResult> parse_reconcile_result(std::string_view name) { return enum_value(reconcile_results, name); }


struct ReconcileLoop::Outcome {
  ReconcileResult result = ReconcileResult::succeeded;
  std::string message;
  bool applied = false; //!< an apply ran: live state changed
};

ReconcileLoop::ReconcileLoop(LoopOptions options, Backend& backend, StateStore& store, StatusBoard& board, Metrics& metrics,
                             const SuspendFlag& suspend, const std::atomic<bool>& stop)
    : options_(std::move(options)), backend_(backend), store_(store), board_(board), metrics_(metrics), suspend_(suspend),
      stop_(stop), random_(options_.seed), backoff_(options_.backoff), retry_backoff_(options_.backoff),
      loader_(options_.path, options_.owner) {
  board_.update([&](LoopStatus& status) {
    status.repository = options_.repository;
    status.ref = options_.ref;
    status.path = options_.path;
    status.interval = format_duration(options_.interval);
    status.self_heal = options_.self_heal;
    status.prune = options_.prune;
  });
  store_.set_owner(options_.owner);
  remember_history();
  refresh_suspension();
}

ReconcileLoop::~ReconcileLoop() = default;

void ReconcileLoop::declare_metrics(Metrics& metrics) {
  metrics.declare("meridian_reconcile_total",
                  "Reconciles by result (succeeded, failed, invalid, error, interrupted, suspended).", MetricType::counter,
                  {"result"});
  metrics.declare("meridian_reconcile_duration_seconds", "Time a reconcile took, fetch to apply, by result.",
                  MetricType::histogram, {"result"}, duration_buckets());
  metrics.declare("meridian_plan_duration_seconds",
                  "Time from the start of a reconcile to its plan: fetch, load, validation, desired state and diff.",
                  MetricType::histogram, {}, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  metrics.declare("meridian_git_fetch_duration_seconds", "Time to fetch the repository and resolve the ref.",
                  MetricType::histogram, {}, {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  metrics.declare("meridian_git_fetch_errors_total", "Fetches (or ref resolutions) that failed.", MetricType::counter);
  metrics.declare("meridian_git_fetch_started_timestamp_seconds",
                  "Start of the fetch under way (unix seconds), 0 when none: time() minus it is how long it has run.",
                  MetricType::gauge);
  metrics.declare("meridian_objects", "Objects of the fleet by sync state and health, as of the last reconcile.",
                  MetricType::gauge, {"sync", "health"});
  metrics.declare("meridian_drift_objects", "Objects that differ from the applied commit behind Meridian's back.",
                  MetricType::gauge);
  metrics.declare("meridian_last_applied_commit_timestamp_seconds",
                  "Commit time of the last commit applied in full (unix seconds).", MetricType::gauge);
  metrics.declare("meridian_invalid_commit", "1 while the newest commit of the ref is invalid and not applied.",
                  MetricType::gauge);
  metrics.declare("meridian_suspended", "1 while reconciliation is suspended.", MetricType::gauge);
  for (const ReconcileResult result : {ReconcileResult::succeeded, ReconcileResult::failed, ReconcileResult::invalid, ReconcileResult::error})
    metrics.touch("meridian_reconcile_total", {std::string(to_string(result))});
}

void ReconcileLoop::remember_history() {
  // The newest apply of this repository says whether its commit was already rolled out: a finished
  // one (succeeded, failed or halted) is not repeated on its own; an interrupted one is resumed.
  std::vector<ApplyRecord> records;
  try {
    records = store_.history(200);
  } catch (const Error& error) {
    log_warn("state store: cannot read the history: {}", error.what());
    return;
  }
  bool newest = true;
  for (const ApplyRecord& record : records) {
    if (record.repository != options_.repository)
      continue;
    if (newest && (record.result == ApplyResult::succeeded || record.result == ApplyResult::failed || record.result == ApplyResult::halted)) {
      attempted_commit_ = record.commit;
      apply_failed_ = record.result != ApplyResult::succeeded;
    }
    newest = false;
    if (record.result == ApplyResult::succeeded) {
      board_.update([&](LoopStatus& status) {
        status.last_applied = CommitStatus{record.commit, "", 0};
        status.last_applied_result = to_string(ApplyResult::succeeded);
      });
      break;
    }
  }
}

bool ReconcileLoop::refresh_suspension() {
  std::optional<Suspension> suspension;
  try {
    suspension = suspend_.read();
  } catch (const std::exception&) {
    suspension.reset();
  }
  const bool suspended = suspension.has_value();
  if (suspended != suspended_)
    log_event(suspended ? fmt::format("suspended: {} (reconciles are skipped until resumed)", suspension->reason)
                        : std::string("resumed: reconciling again"));
  suspended_ = suspended;
  metrics_.set("meridian_suspended", suspended ? 1 : 0);
  board_.update([&](LoopStatus& status) {
    status.suspended = suspended;
    status.suspended_reason = suspended ? suspension->reason : "";
    status.suspended_since = suspended ? suspension->since : 0;
    if (suspended && status.phase == "idle")
      status.phase = "suspended";
    else if (!suspended && status.phase == "suspended")
      status.phase = "idle";
  });
  return suspended;
}

void ReconcileLoop::set_error(const std::string& message) {
  board_.update([&](LoopStatus& status) {
    status.last_error = message;
    status.last_error_time = unix_now();
  });
}

ReconcileResult ReconcileLoop::reconcile(TriggerKind trigger) {
  std::unique_lock<std::mutex> exclusive;
  if (options_.exclusive != nullptr)
    exclusive = std::unique_lock<std::mutex>(*options_.exclusive);
  const LogScope scope(LogContext{options_.fleet.empty() ? options_.owner : options_.fleet,
                                  fetched_.id.empty() ? std::string() : short_id(fetched_.id), ++reconciles_});
  log_debug("reconcile ({}): started", to_string(trigger));
  const auto started = Clock::now();
  const long long started_unix = unix_now();
  reconcile_started_ = started;
  plan_seconds_.reset();
  Outcome outcome;
  if (refresh_suspension()) {
    outcome = {ReconcileResult::suspended, "suspended: nothing fetched or applied"};
  } else {
    try {
      outcome = reconcile_commit(trigger);
    } catch (const Error& error) {
      outcome = {ReconcileResult::error, error.what()};
    } catch (const std::exception& error) {
      outcome = {ReconcileResult::error, fmt::format("internal error: {}", error.what())};
    }
  }
  const double seconds = seconds_since(started);
  const std::string result(to_string(outcome.result));
  metrics_.add("meridian_reconcile_total", {result});
  if (outcome.result != ReconcileResult::suspended)
    metrics_.observe("meridian_reconcile_duration_seconds", {result}, seconds);
  if (outcome.result == ReconcileResult::error || outcome.result == ReconcileResult::failed || outcome.result == ReconcileResult::invalid)
    set_error(outcome.message);
  else if (outcome.result == ReconcileResult::succeeded)
    set_error("");
  board_.update([&](LoopStatus& status) {
    status.last_reconcile = ReconcileStatus{std::string(to_string(trigger)), result, outcome.message, started_unix,
                                            unix_now(), seconds, plan_seconds_};
    ++status.reconciles;
    status.phase = stop_.load() ? "stopping" : suspended_ ? "suspended" : "idle";
  });
  if (outcome.result != ReconcileResult::suspended)
    log_line(outcome.result == ReconcileResult::succeeded     ? LogLevel::info
             : outcome.result == ReconcileResult::interrupted ? LogLevel::warn
                                                              : LogLevel::error,
             fmt::format("reconcile ({}): {} in {:.2f}s: {}", to_string(trigger), result, seconds, outcome.message));
  return outcome.result;
}

bool ReconcileLoop::fetch() {
  const long long fetch_started = unix_now();
  board_.update([&](LoopStatus& status) {
    status.phase = "fetching";
    status.fetch_started = fetch_started;
  });
  metrics_.set("meridian_git_fetch_started_timestamp_seconds", static_cast<double>(fetch_started));
  const auto started = Clock::now();
  struct FetchDone { // however the fetch ends
    StatusBoard& board;
    Metrics& metrics;
    ~FetchDone() {
      board.update([](LoopStatus& status) { status.fetch_started = 0; });
      metrics.set("meridian_git_fetch_started_timestamp_seconds", 0);
    }
  } fetch_done{board_, metrics_};
  try {
    if (!repository_)
      repository_ = std::make_unique<GitRepository>(GitRepository::open(options_.repository, options_.git));
    else
      repository_->fetch();
    const CommitInfo commit = repository_->resolve(options_.ref);
    verify_commit(*repository_, commit.id, options_.verify);
    metrics_.observe("meridian_git_fetch_duration_seconds", {}, seconds_since(started));
    set_log_commit(short_id(commit.id));
    if (commit.id == fetched_.id)
      log_debug("fetched {}{}: commit {} again", options_.repository, options_.ref.empty() ? "" : "@" + options_.ref, short_id(commit.id));
    else
      log_event("fetched {}{}: commit {} ({})", options_.repository, options_.ref.empty() ? "" : "@" + options_.ref,
                short_id(commit.id), commit.summary);
    fetched_ = commit;
    board_.update([&](LoopStatus& status) {
      status.last_fetched = CommitStatus{commit.id, commit.summary, commit.time};
      status.last_fetch_time = unix_now();
    });
    return true;
  } catch (const Error& error) {
    metrics_.observe("meridian_git_fetch_duration_seconds", {}, seconds_since(started));
    metrics_.add("meridian_git_fetch_errors_total");
    log_debug("fetch of {} failed: {}", options_.repository, error.what());
    set_error(error.what());
    return false;
  }
}

const ReconcileLoop::Generation* ReconcileLoop::load(const CommitInfo& commit) {
  if (good_ && good_->set.commit.id == commit.id)
    return good_.get();
  if (commit.id == invalid_commit_)
    return good_.get();
  board_.update([](LoopStatus& status) { status.phase = "planning"; });
  const std::string before = good_ ? good_->set.commit.id : std::string();
  FleetLoad loaded = loader_.load(*repository_, commit, good_);
  switch (loaded.path) {
  case FleetLoad::Path::unchanged:
    log_event("commit {}: no manifest changed since commit {} ({} manifests in {} files)", short_id(commit.id), short_id(before),
              loaded.fleet->set.manifests.size(), loaded.fleet->set.files);
    return accept(std::move(loaded.fleet));
  case FleetLoad::Path::edited:
    log_event("commit {}: {} manifest{} edited in {} file{} since commit {} ({} manifests in {} files)", short_id(commit.id),
              loaded.edited_documents, loaded.edited_documents == 1 ? "" : "s", loaded.edited_files, loaded.edited_files == 1 ? "" : "s",
              short_id(before), loaded.fleet->set.manifests.size(), loaded.fleet->set.files);
    return accept(std::move(loaded.fleet));
  case FleetLoad::Path::full:
    break;
  }
  if (!loaded.fleet) {
    invalid_commit_ = commit.id;
    invalid_message_ = invalid_manifests_message("commit " + short_id(commit.id), "applied", loaded.findings, false);
    log_error("{}", invalid_message_);
    metrics_.set("meridian_invalid_commit", 1);
    board_.update([&](LoopStatus& status) { status.invalid_commit = commit.id; });
    // After a restart the last good commit is the one the state store says was rolled out.
    if (!good_ && !attempted_commit_.empty() && attempted_commit_ != commit.id) {
      try {
        const CommitInfo previous = repository_->resolve(attempted_commit_);
        const std::string invalid = invalid_commit_;
        load(previous);
        invalid_commit_ = invalid;
      } catch (const Error& error) {
        log_warn("cannot load the last applied commit {}: {}", short_id(attempted_commit_), error.what());
      }
    }
    return good_.get();
  }
  const ManifestSet& set = loaded.fleet->set;
  log_event("commit {}: {} manifests in {} files ({} parsed, {} from the cache)", short_id(commit.id), set.manifests.size(), set.files,
            set.parsed_files, set.files - set.parsed_files);
  return accept(std::move(loaded.fleet));
}

std::optional<std::string> ReconcileLoop::take_shards(const DesiredState& desired) {
  if (options_.shards <= 0)
    return std::nullopt;
  ShardMap map = make_shard_map(desired, options_.shards);
  if (!map.errors.empty()) {
    owns_ = nullptr;
    held_.clear();
    const std::string message = fmt::format("commit {}: nothing was applied ({} error{}): {}", short_id(desired.commit.id),
                                            map.errors.size(), map.errors.size() == 1 ? "" : "s", fmt::join(map.errors, "; "));
    log_error("{}", message);
    return message;
  }
  held_.clear();
  for (int shard = 0; shard < options_.shards; ++shard)
    if (options_.holds_shard(shard))
      held_.push_back(shard);
  const std::vector<std::vector<std::string>> clusters = clusters_by_shard(map, desired);
  board_.update([&](LoopStatus& status) {
    if (!status.sharding)
      return;
    for (ShardStatus& shard : status.sharding->shards)
      if (shard.shard >= 0 && shard.shard < options_.shards)
        shard.clusters = clusters[static_cast<size_t>(shard.shard)];
  });
  const std::set<int> held(held_.begin(), held_.end());
  owns_ = [map = std::move(map), held, &desired](const ObjectRef& ref) { return held.count(map.shard_of(ref, desired)) != 0; };
  return std::nullopt;
}

const ReconcileLoop::Generation* ReconcileLoop::accept(std::unique_ptr<Generation> generation) {
  if (generation->set.commit.id == fetched_.id) {
    invalid_commit_.clear();
    invalid_message_.clear();
    metrics_.set("meridian_invalid_commit", 0);
    board_.update([](LoopStatus& status) { status.invalid_commit.clear(); });
  }
  good_ = std::move(generation);
  return good_.get();
}

ReconcileLoop::Outcome ReconcileLoop::reconcile_commit(TriggerKind trigger) {
  if (!fetch())
    return {ReconcileResult::error, board_.snapshot().last_error};
  const Generation* generation = load(fetched_);
  const bool fetched_invalid = fetched_.id == invalid_commit_;
  if (generation == nullptr)
    return {ReconcileResult::invalid, invalid_message_};
  if (const auto error = take_shards(generation->desired))
    return {ReconcileResult::invalid, *error};
  board_.update([](LoopStatus& status) { status.phase = "planning"; });
  PlanOptions plan_options;
  plan_options.prune = options_.prune;
  plan_options.allow_mass_prune = options_.allow_mass_prune;
  plan_options.memo = plan_memo_.get();
  // A new commit is applied at once, so its plan is not forecast: the apply moves the pods for
  // real, and the board shows the plan made after it. (A forecast of a large commit takes seconds,
  // which would only delay the rollout.) Drift plans, reported and applied only with self-heal, are.
  // A shard gained (taken over from a replica that died mid-rollout, or handed over) is rolled out
  // as a new commit is: its objects may be anywhere between two commits.
  const bool gained_shard = std::any_of(held_.begin(), held_.end(), [&](int shard) {
    return std::find(held_before_.begin(), held_before_.end(), shard) == held_before_.end();
  });
  const bool new_commit = generation->desired.commit.id != attempted_commit_ || gained_shard;
  plan_options.predict = !new_commit;
  const Plan plan = make_plan(generation->desired, backend_, store_, plan_options);
  plan_seconds_ = seconds_since(reconcile_started_);
  metrics_.observe("meridian_plan_duration_seconds", {}, *plan_seconds_);
  board_.set_plan(render_plan(plan, ReportFormat::json, false));
  Outcome outcome;
  // Refusals of other shards' changes are their holders' to report.
  const auto refused = [&](const PlannedChange& c) { return !c.error.empty() && (!owns_ || owns_(c.ref)); };
  if (const size_t errors = static_cast<size_t>(std::count_if(plan.changes.begin(), plan.changes.end(), refused)); errors > 0) {
    // The server refused changes in its dry run: applying would fail them (and halt their region);
    // nothing is applied, and the next reconcile tries again (a CRD or namespace may appear).
    const auto first = std::find_if(plan.changes.begin(), plan.changes.end(), refused);
    outcome = {ReconcileResult::failed, fmt::format("{} change{} refused (by the server's dry run or an ownership conflict), nothing was applied: {}", errors,
                                     errors == 1 ? "" : "s", first->error), false};
  } else if (owns_ && held_.empty()) {
    outcome = {ReconcileResult::succeeded, fmt::format("this replica holds none of the {} shards: nothing to apply", options_.shards)};
  } else {
    outcome = new_commit      ? apply(*generation, plan, apply_trigger(trigger))
              : apply_failed_ ? retry_apply(*generation, plan)
                              : check_drift(*generation, plan);
  }
  // An interrupted rollout of shards (one was lost, or a stop) is rolled out again by the next
  // reconcile, as a shard gained is: without self-heal, drift alone would never finish it.
  held_before_ = outcome.result == ReconcileResult::interrupted ? std::vector<int>{} : held_;
  if (outcome.result == ReconcileResult::interrupted)
    return outcome;
  if (outcome.applied) {
    PlanOptions after_options = plan_options;
    after_options.predict = false;
    const Plan after = make_plan(generation->desired, backend_, store_, after_options);
    board_.set_plan(render_plan(after, ReportFormat::json, false));
    publish(*generation, after);
  } else {
    publish(*generation, plan);
  }
  // Once per process, after a reconcile that applied nothing: every body's text, and which of
  // them the store holds already, so that the next rollout records only what changed (its first
  // apply would otherwise write every row; an apply learns the same by writing).
  if (!learned_applied_ && !outcome.applied) {
    try {
      store_.learn_applied(body_texts_.bodies_of(generation->desired));
    } catch (const std::exception& error) {
      log_warn("cannot read the last-applied records (the next apply writes them all): {}", error.what());
    }
  }
  learned_applied_ = true;
  if (fetched_invalid)
    return {ReconcileResult::invalid, fmt::format("{}; commit {} stays in force", invalid_message_, short_id(generation->desired.commit.id))};
  return outcome;
}

ReconcileLoop::Outcome ReconcileLoop::apply(const Generation& generation, const Plan& plan, const std::string& trigger) {
  const CommitInfo& commit = generation.desired.commit;
  if (stop_.load())
    return {ReconcileResult::interrupted, "stopping before the apply started", false};
  if (options_.may_write && !options_.may_write())
    return {ReconcileResult::interrupted, "not the leader: nothing applied", false};
  attempted_commit_ = commit.id;
  const auto mark_applied = [&](std::string_view result) {
    metrics_.set("meridian_last_applied_commit_timestamp_seconds", static_cast<double>(commit.time));
    board_.update([&](LoopStatus& status) {
      status.last_applied = CommitStatus{commit.id, commit.summary, commit.time};
      status.last_applied_result = result;
    });
  };
  if (!plan.has_changes()) {
    mark_applied("in sync");
    return {ReconcileResult::succeeded, fmt::format("commit {} is in sync, nothing to apply", short_id(commit.id))};
  }
  const size_t total = plan.count(Action::create) + plan.count(Action::update) + plan.count(Action::remove);
  log_event("applying commit {} ({}, trigger {}): {} to create, {} to update, {} to delete", short_id(commit.id), commit.summary,
            trigger, plan.count(Action::create), plan.count(Action::update), plan.count(Action::remove));
  board_.update([&](LoopStatus& status) {
    status.phase = "applying";
    status.rollout = RolloutStatus{true, commit.id, trigger, 0, static_cast<int>(plan.waves.size()), "", "", 0, total, unix_now()};
  });
  std::set<ObjectRef> touched;
  std::unordered_map<ObjectRef, const PlannedChange*, ObjectRefHash> changes;
  for (const PlannedChange& change : plan.changes)
    changes.emplace(change.ref, &change);
  ObservedBackend observed(backend_, [&](const ObjectRef& ref) {
    const auto found = changes.find(ref);
    if (found == changes.end())
      return; // a pod replaced during a region-by-region DaemonSet rollout
    const PlannedChange* change = found->second;
    touched.insert(ref);
    board_.update([&](LoopStatus& status) {
      status.rollout.wave = change->wave + 1;
      status.rollout.region = change->region;
      status.rollout.object = ref.cluster.empty() ? ref.display() : fmt::format("{} (cluster {})", ref.display(), ref.cluster);
      status.rollout.done = touched.size();
    });
  });
  ApplyOptions apply_options;
  apply_options.trigger = trigger;
  apply_options.interrupted = &stop_;
  apply_options.may_write = options_.may_write;
  if (owns_) {
    apply_options.owns = owns_;
    // Every shard this reconcile started with, still held: a shard lost stops the apply between objects.
    apply_options.may_write = [this] {
      return std::all_of(held_.begin(), held_.end(), [this](int shard) { return options_.holds_shard(shard); });
    };
  }
  // Apply reports its progress on this thread, inside the reconcile's LogScope.
  apply_options.progress = [](const std::string& line) { log_event("apply: {}", line); };
  apply_options.body_texts = &body_texts_;
  const ApplyReport report = apply_plan(plan, generation.desired, observed, store_, apply_options);
  body_texts_.retain(generation.desired);
  board_.update([](LoopStatus& status) { status.rollout.active = false; });
  const std::string summary = fmt::format("apply #{} of commit {} {}: {}", report.record_id, short_id(commit.id), to_string(report.result),
                                          report.summary());
  apply_failed_ = report.result == ApplyResult::failed || report.result == ApplyResult::halted;
  if (apply_failed_)
    retry_backoff_.record_attempt(commit.id, HealBackoff::Clock::now());
  else
    retry_backoff_.reset();
  if (report.result == ApplyResult::succeeded) {
    mark_applied(to_string(ApplyResult::succeeded));
    return {ReconcileResult::succeeded, summary, true};
  }
  if (report.result == ApplyResult::interrupted)
    return {ReconcileResult::interrupted, summary, true};
  std::string reason;
  for (const RegionResult& region : report.regions)
    if (region.outcome == RegionOutcome::failed) {
      reason = fmt::format("; region {} failed: {}", region.region.empty() ? "-" : region.region, region.reason);
      break;
    }
  board_.update([&](LoopStatus& status) { status.last_applied_result = to_string(report.result); });
  return {ReconcileResult::failed, summary + reason, true};
}

// A commit whose apply failed (a transient cause: a full disk, an unreachable cluster) is applied
// again, self-heal or not, waiting longer after each failure; until then it is not "in sync".
ReconcileLoop::Outcome ReconcileLoop::retry_apply(const Generation& generation, const Plan& plan) {
  const std::string& commit = generation.desired.commit.id;
  if (!plan.has_changes()) {
    apply_failed_ = false;
    retry_backoff_.reset();
    return check_drift(generation, plan);
  }
  const auto now = HealBackoff::Clock::now();
  if (const auto next = retry_backoff_.next_attempt(commit); now < next) {
    const long long wait_s = std::chrono::duration_cast<std::chrono::seconds>(next - now).count() + 1;
    return {ReconcileResult::failed, fmt::format("the last apply of commit {} failed; retrying in {}s ({} attempt{} so far)", short_id(commit), wait_s,
                                  retry_backoff_.attempts(commit), retry_backoff_.attempts(commit) == 1 ? "" : "s")};
  }
  log_event("retrying the apply of commit {}, which failed ({} attempt{} so far)", short_id(commit), retry_backoff_.attempts(commit),
            retry_backoff_.attempts(commit) == 1 ? "" : "s");
  return apply(generation, plan, "retry");
}

ReconcileLoop::Outcome ReconcileLoop::check_drift(const Generation& generation, const Plan& plan) {
  std::vector<std::string> keys;
  std::vector<std::string> names;
  for (const PlannedChange& change : plan.changes) {
    if (change.action == Action::unchanged || (owns_ && !owns_(change.ref)))
      continue;
    keys.push_back(change.ref.key());
    names.push_back(fmt::format("{} {}", change.ref.display(), drift_kind(change.action)));
  }
  const std::string commit = short_id(generation.desired.commit.id);
  if (keys.empty()) {
    backoff_.reset();
    board_.update([](LoopStatus& status) { status.self_heal_next_attempt = 0; });
    return {ReconcileResult::succeeded, fmt::format("commit {} in sync", commit)};
  }
  log_warn("drift: {} object{} differ from commit {}: {}", keys.size(), keys.size() == 1 ? "" : "s", commit, fmt::join(names, ", "));
  const std::string drifted = fmt::format("drift: {} object{} differ from commit {}", keys.size(), keys.size() == 1 ? "" : "s", commit);
  if (!options_.self_heal)
    return {ReconcileResult::succeeded, drifted + " (self-heal is off)"};
  const std::string set = fmt::format("{}", fmt::join(keys, "\n"));
  const auto now = Clock::now();
  const auto next = backoff_.next_attempt(set);
  if (now < next) {
    const long long wait_s = std::chrono::duration_cast<std::chrono::seconds>(next - now).count() + 1;
    board_.update([&](LoopStatus& status) { status.self_heal_next_attempt = unix_now() + wait_s; });
    heal_due_ = next;
    log_warn("self-heal: backing off for {}s after {} attempts on the same objects", wait_s, backoff_.attempts(set));
    return {ReconcileResult::succeeded, drifted + fmt::format(" (self-heal backs off for {}s)", wait_s)};
  }
  backoff_.record_attempt(set, now);
  board_.update([](LoopStatus& status) { status.self_heal_next_attempt = 0; });
  Outcome outcome = apply(generation, plan, "self-heal");
  outcome.message = drifted + ", healed: " + outcome.message;
  return outcome;
}

void ReconcileLoop::publish(const Generation& generation, const Plan& plan) {
  const auto commit_details = [&](LoopStatus& status) { fill_commit_details(status, generation.desired.commit); };
  // Health only changes with live state: while the backend's revision holds, it is not asked again.
  const std::optional<std::string> revision = backend_.revision();
  // Drift is a difference from a commit that was rolled out; before that it is just the plan.
  const bool rolled_out = generation.desired.commit.id == attempted_commit_;
  // The same changes (Plan::inputs), healths and drift rule as last time: the board already says it.
  const std::string published =
      plan.inputs.empty() || !revision ? std::string() : fmt::format("{}\n{}\n{}", plan.inputs, *revision, rolled_out);
  if (!published.empty() && published == published_) {
    board_.update(commit_details);
    return;
  }
  forget_stale_healths(revision, plan.changes.size());
  const std::vector<Health> healths = healths_of(plan, revision.has_value());
  std::vector<DriftStatus> drift = rolled_out ? drift_of(plan) : std::vector<DriftStatus>{};
  const size_t drifted = drift.size();
  if (const std::optional<std::vector<size_t>> positions = board_positions(plan))
    update_board_objects(plan, healths, *positions, std::move(drift), commit_details);
  else
    replace_board_objects(plan, healths, std::move(drift), commit_details);
  metrics_.clear("meridian_objects");
  for (const auto& [state, number] : published_counts_)
    metrics_.set("meridian_objects", {state.first, state.second}, number);
  metrics_.set("meridian_drift_objects", static_cast<double>(drifted));
  published_ = published;
}

void ReconcileLoop::fill_commit_details(LoopStatus& status, const CommitInfo& commit) {
  if (status.last_applied && status.last_applied->id == commit.id && status.last_applied->time == 0) {
    status.last_applied->summary = commit.summary;
    status.last_applied->time = commit.time;
    metrics_.set("meridian_last_applied_commit_timestamp_seconds", static_cast<double>(commit.time));
  }
}

void ReconcileLoop::forget_stale_healths(const std::optional<std::string>& revision, size_t planned) {
  if (!revision) {
    health_cache_.clear();
  } else if (*revision != health_revision_) {
    // A health reads objects of its own cluster only (pods, nodes, replica sets) and a Cluster's or
    // NodePool's its own object: writes the backend can name drop the healths of their clusters.
    const auto changes = health_revision_.empty() ? std::nullopt : backend_.changes_since(health_revision_);
    std::set<std::string> clusters;
    bool all = !changes.has_value();
    for (const ObjectRef& ref : changes.value_or(std::vector<ObjectRef>{})) {
      if (ref.is_fleet_level())
        all = true;
      clusters.insert(ref.cluster);
    }
    if (all)
      health_cache_.clear();
    else
      for (auto entry = health_cache_.begin(); entry != health_cache_.end();)
        entry = clusters.count(entry->first.cluster) != 0 ? health_cache_.erase(entry) : std::next(entry);
  }
  health_revision_ = revision.value_or("");
  // Healths of objects no longer planned stay cached (they hold while their cluster is not
  // written), up to a bound.
  if (health_cache_.size() > 2 * planned + 64)
    health_cache_.clear();
}

std::vector<Health> ReconcileLoop::healths_of(const Plan& plan, bool cache) {
  std::vector<Health> healths;
  healths.reserve(plan.changes.size());
  for (const PlannedChange& change : plan.changes) {
    const auto cached = cache ? health_cache_.find(change.ref) : health_cache_.end();
    if (cached != health_cache_.end()) {
      healths.push_back(cached->second);
      continue;
    }
    healths.push_back(object_health(backend_, plan.fleet.health_checks, change.ref,
                                    change.desired != nullptr && change.desired->manifest != nullptr ? change.desired->manifest->api_version
                                                                                                     : ""));
    if (cache)
      health_cache_.emplace(change.ref, healths.back());
  }
  return healths;
}

std::vector<DriftStatus> ReconcileLoop::drift_of(const Plan& plan) {
  std::vector<DriftStatus> drift;
  for (const PlannedChange& change : plan.changes) {
    if (change.action == Action::unchanged)
      continue;
    DriftStatus entry{change.ref.key(), change.ref.display(), change.ref.cluster, change.region, drift_kind(change.action), {}};
    if (change.action == Action::update)
      for (const FieldChange& field : change.fields)
        entry.fields.push_back(field.pointer);
    drift.push_back(std::move(entry));
  }
  std::sort(drift.begin(), drift.end(), [](const DriftStatus& a, const DriftStatus& b) { return a.key < b.key; });
  return drift;
}

std::optional<std::vector<size_t>> ReconcileLoop::board_positions(const Plan& plan) const {
  if (plan.changes.size() != published_index_.size())
    return std::nullopt;
  std::vector<size_t> positions;
  positions.reserve(plan.changes.size());
  for (const PlannedChange& change : plan.changes) {
    const auto position = published_index_.find(change.ref);
    if (position == published_index_.end())
      return std::nullopt;
    positions.push_back(position->second);
  }
  return positions;
}

void ReconcileLoop::count_published(const ObjectStatus& object, int by) {
  if ((published_counts_[{object.sync, object.health}] += by) == 0)
    published_counts_.erase({object.sync, object.health});
}

void ReconcileLoop::update_board_objects(const Plan& plan, const std::vector<Health>& healths, const std::vector<size_t>& positions,
                                         std::vector<DriftStatus> drift, const std::function<void(LoopStatus&)>& commit_details) {
  // The objects on the board: only those whose state moved are written (under the board's lock,
  // without copying the rest).
  board_.update([&](LoopStatus& status) {
    if (status.objects.size() != published_index_.size())
      throw std::logic_error("publish: the board's objects are not the ones last published");
    for (size_t i = 0; i < plan.changes.size(); ++i) {
      const PlannedChange& change = plan.changes[i];
      ObjectStatus& object = status.objects[positions[i]];
      const std::string sync(sync_of(change.action));
      const std::string_view health = to_string(healths[i].status);
      if (object.sync == sync && object.health == health && object.message == healths[i].message && object.region == change.region)
        continue;
      count_published(object, -1);
      object.sync = sync;
      object.health = std::string(health);
      object.message = healths[i].message;
      object.region = change.region;
      count_published(object, 1);
    }
    status.drift = std::move(drift);
    commit_details(status);
  });
}

void ReconcileLoop::replace_board_objects(const Plan& plan, const std::vector<Health>& healths, std::vector<DriftStatus> drift,
                                          const std::function<void(LoopStatus&)>& commit_details) {
  std::vector<ObjectStatus> objects;
  objects.reserve(plan.changes.size());
  for (size_t i = 0; i < plan.changes.size(); ++i) {
    const PlannedChange& change = plan.changes[i];
    objects.push_back({change.ref.key(), change.ref.display(), change.ref.cluster, change.region, std::string(sync_of(change.action)),
                       std::string(to_string(healths[i].status)), healths[i].message});
  }
  std::vector<size_t> order(objects.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return objects[a].key < objects[b].key; });
  std::vector<ObjectStatus> sorted;
  sorted.reserve(objects.size());
  published_index_.clear();
  published_counts_.clear();
  for (const size_t index : order) {
    published_index_.emplace(plan.changes[index].ref, sorted.size());
    count_published(objects[index], 1);
    sorted.push_back(std::move(objects[index]));
  }
  board_.update([&](LoopStatus& status) {
    status.objects = std::move(sorted);
    status.drift = std::move(drift);
    commit_details(status);
  });
}

void ReconcileLoop::run(TriggerQueue& triggers) {
  TriggerKind trigger = TriggerKind::schedule;
  while (!stop_.load() && !triggers.stopped()) {
    heal_due_.reset();
    reconcile(trigger);
    drift_seen_ = backend_.drift_revision();
    auto deadline = Clock::now() + jittered(options_.interval, options_.jitter, random_);
    // A backend that watches wakes the loop on drift, not on its end: a heal held back by the
    // backoff is tried when the backoff ends, rather than at the next interval.
    if (heal_due_ && drift_seen_)
      deadline = std::min(deadline, *heal_due_);
    // Wake at least every second to notice a suspension made through the state directory.
    while (true) {
      const auto slice = std::min(deadline, Clock::now() + std::chrono::seconds(1));
      const std::optional<TriggerKind> posted = triggers.wait_until(slice);
      if (stop_.load() || triggers.stopped())
        return;
      if (posted) {
        trigger = *posted;
        break;
      }
      const bool was_suspended = suspended_;
      if (was_suspended && !refresh_suspension()) {
        trigger = TriggerKind::resume;
        break;
      }
      if (!was_suspended)
        refresh_suspension();
      // Someone changed a watched object: drift is looked at now, not at the next interval.
      if (const auto drift = backend_.drift_revision(); !suspended_ && drift && drift != drift_seen_) {
        trigger = TriggerKind::watch;
        break;
      }
      if (Clock::now() >= deadline) {
        trigger = TriggerKind::schedule;
        break;
      }
    }
  }
}

} // namespace meridian

// The reconcile loop in-process, on a local repository and the embedded simulator: what each
// reconcile decides (apply, in sync, drift, heal, back off, invalid), without HTTP or timing.
#include "backend/forwarding.h"
#include "backend/sim/sim.h"
#include "base/error.h"
#include "base/log.h"
#include "loop/loop.h"
#include "state/store.h"

#include "../source/git_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

using namespace meridian;
using namespace meridian::testing;
using namespace std::chrono_literals;

namespace {

const ObjectRef agent{"edge-central", "apps", "DaemonSet", "security", "security-agent"};

struct LoopFixture {
  explicit LoopFixture(bool self_heal, BackoffPolicy backoff = {})
      : repo(dir / "fleet"), store(dir.str() + "/meridian.db"), simulator(dir.str() + "/sim.db"), suspend(dir.str()) {
    first = commit_folder(source_path("examples/edge-daemonset"), repo, "edge fleet");
    simulator.init(read_text(source_path("examples/fixtures/edge.yaml")), "edge.yaml");
    LoopOptions options;
    options.repository = repo.string();
    options.owner = repo.string();
    options.interval = 1h;
    options.self_heal = self_heal;
    options.backoff = backoff;
    ReconcileLoop::declare_metrics(metrics);
    loop = std::make_unique<ReconcileLoop>(options, simulator, store, board, metrics, suspend, stop);
  }

  size_t applies() { return store.history(1000).size(); }

  TempDir dir;
  fs::path repo;
  std::string first;
  StateStore store;
  sim::Simulator simulator;
  StatusBoard board;
  Metrics metrics;
  SuspendFlag suspend;
  std::atomic<bool> stop{false};
  std::unique_ptr<ReconcileLoop> loop;
};

//! Redirects stderr, where the loop logs its events, to a file while alive.
class LogCapture {
public:
  explicit LogCapture(fs::path file) : file_(std::move(file)) {
    std::fflush(stderr);
    saved_ = dup(2);
    REQUIRE(saved_ >= 0);
    const int fd = open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    dup2(fd, 2);
    close(fd);
  }
  ~LogCapture() { restore(); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  //! Everything logged so far; stderr is restored.
  std::string text() {
    restore();
    return read_text(file_);
  }

private:
  void restore() {
    if (saved_ < 0)
      return;
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
  }
  fs::path file_;
  int saved_ = -1;
};

//! One reconcile, with what it logged.
std::pair<std::string, std::string> reconcile_logged(LoopFixture& fixture, TriggerKind trigger) {
  LogCapture capture(fixture.dir / "reconcile.log");
  std::string result(to_string(fixture.loop->reconcile(trigger)));
  return {result, capture.text()};
}

//! The objects on the board, one line each: key, region, sync, health and message.
std::vector<std::string> object_lines(const LoopStatus& status) {
  std::vector<std::string> lines;
  for (const ObjectStatus& object : status.objects)
    lines.push_back(object.key + " " + object.region + " " + object.sync + " " + object.health + " " + object.message);
  return lines;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  INFO("replacing " << from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string short_id(const std::string& commit) { return commit.substr(0, 12); }

} // namespace

TEST_CASE("a new commit is applied once; the same commit is only re-planned", "[loop]") {
  LoopFixture fixture(false);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  CHECK(fixture.applies() == 1);
  CHECK(fixture.board.snapshot().last_applied->id == fixture.first);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  CHECK(fixture.applies() == 1);
  const LoopStatus status = fixture.board.snapshot();
  CHECK(status.drift.empty());
  CHECK(status.last_reconcile->message.find("in sync") != std::string::npos);
  CHECK(fixture.metrics.value("meridian_reconcile_total", {"succeeded"}) == 2);
}

TEST_CASE("the board a loop keeps up to date object by object is the board a fresh loop publishes", "[loop]") {
  LoopFixture fixture(false);
  // A second loop on the same repository, simulator and store, started afresh for each comparison.
  const auto fresh_board = [&] {
    StatusBoard board;
    Metrics metrics;
    ReconcileLoop::declare_metrics(metrics);
    LoopOptions options;
    options.repository = fixture.repo.string();
    options.owner = fixture.repo.string();
    options.interval = 1h;
    ReconcileLoop loop(options, fixture.simulator, fixture.store, board, metrics, fixture.suspend, fixture.stop);
    REQUIRE(loop.reconcile(TriggerKind::schedule) != ReconcileResult::error);
    std::map<std::string, double> counts;
    for (const ObjectStatus& object : board.snapshot().objects)
      counts[object.sync + "/" + object.health] = metrics.value("meridian_objects", {object.sync, object.health});
    return std::make_pair(object_lines(board.snapshot()), counts);
  };
  const auto check_same = [&] {
    const auto [lines, counts] = fresh_board();
    const LoopStatus status = fixture.board.snapshot();
    CHECK(object_lines(status) == lines);
    for (const auto& [state, count] : counts) {
      INFO(state);
      const size_t slash = state.find('/');
      CHECK(fixture.metrics.value("meridian_objects", {state.substr(0, slash), state.substr(slash + 1)}) == count);
    }
  };
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  check_same();
  // Drift: the DaemonSet is gone (Missing, OutOfSync), then a new image rolls out and brings it back.
  fixture.simulator.delete_foreign(agent);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  const LoopStatus drifted = fixture.board.snapshot();
  REQUIRE(drifted.drift.size() == 1);
  CHECK(std::count_if(drifted.objects.begin(), drifted.objects.end(), [](const ObjectStatus& object) { return object.sync != "Synced"; }) == 1);
  check_same();
  const fs::path agent_file = fixture.repo / "clusters/edge-central/security-agent.yaml";
  write_file(agent_file, replaced(read_text(agent_file), "security-agent:v1.0.0", "security-agent:v1.0.2"));
  commit_all(fixture.repo, "agent v1.0.2");
  REQUIRE(fixture.loop->reconcile(TriggerKind::webhook) == ReconcileResult::succeeded);
  CHECK(fixture.board.snapshot().drift.empty());
  check_same();
}

TEST_CASE("drift is reported, not corrected, without self-heal", "[loop]") {
  LoopFixture fixture(false);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  fixture.simulator.delete_foreign(agent);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  const LoopStatus status = fixture.board.snapshot();
  REQUIRE(status.drift.size() == 1);
  CHECK(status.drift[0].display == "DaemonSet/security/security-agent");
  CHECK(status.drift[0].change == "missing");
  CHECK(fixture.metrics.value("meridian_drift_objects") == 1);
  CHECK(fixture.applies() == 1);
  CHECK(fixture.simulator.get(agent) == nullptr);
}

TEST_CASE("self-heal corrects drift, and backs off when something keeps fighting it", "[loop]") {
  LoopFixture fixture(true, BackoffPolicy{1h, 3, 2h});
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  fixture.simulator.delete_foreign(agent);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  CHECK(fixture.applies() == 2);
  CHECK(fixture.store.history(1)[0].trigger == "self-heal");
  CHECK(fixture.simulator.get(agent) != nullptr);
  // Deleted again at once: the same set of objects is not healed again before the backoff.
  fixture.simulator.delete_foreign(agent);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  CHECK(fixture.applies() == 2);
  CHECK(fixture.simulator.get(agent) == nullptr);
  const LoopStatus status = fixture.board.snapshot();
  CHECK(status.drift.size() == 1);
  CHECK(status.self_heal_next_attempt > 0);
  CHECK(status.last_reconcile->message.find("backs off") != std::string::npos);
}

TEST_CASE("an invalid commit is refused and the last good one stays in force", "[loop]") {
  LoopFixture fixture(true);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  write_file(fixture.repo / "broken.yaml", "apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: broken\nspec:\n"
                                           "  cluster: edge-central\n  region: cn-hangzhou\n  type: edge\n  desiredSize: -1\n");
  const std::string invalid = commit_all(fixture.repo, "broken pool");
  CHECK(fixture.loop->reconcile(TriggerKind::webhook) == ReconcileResult::invalid);
  LoopStatus status = fixture.board.snapshot();
  CHECK(status.invalid_commit == invalid);
  CHECK(status.last_applied->id == fixture.first);
  CHECK(status.last_error.find("broken.yaml") != std::string::npos);
  CHECK(fixture.applies() == 1);
  // Drift is still checked (and healed) against the last good commit.
  fixture.simulator.delete_foreign(agent);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::invalid);
  CHECK(fixture.simulator.get(agent) != nullptr);
  CHECK(fixture.applies() == 2);
  CHECK(fixture.metrics.value("meridian_invalid_commit") == 1);
}

TEST_CASE("a suspended loop does nothing", "[loop]") {
  LoopFixture fixture(false);
  fixture.suspend.suspend("maintenance");
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::suspended);
  CHECK(fixture.applies() == 0);
  CHECK(fixture.board.snapshot().suspended);
  CHECK(fixture.board.snapshot().suspended_reason == "maintenance");
  fixture.suspend.resume();
  CHECK(fixture.loop->reconcile(TriggerKind::resume) == ReconcileResult::succeeded);
  CHECK(fixture.applies() == 1);
}

TEST_CASE("a stop before the apply leaves the fleet and history untouched", "[loop]") {
  LoopFixture fixture(false);
  fixture.stop.store(true);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::interrupted);
  CHECK(fixture.applies() == 0);
}

TEST_CASE("a commit that changes no manifest is in sync at once; the next real change is applied", "[loop]") {
  LoopFixture fixture(false);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  REQUIRE(fixture.applies() == 1);
  const LoopStatus converged = fixture.board.snapshot();
  REQUIRE(converged.objects.size() == 6);
  const auto revision = fixture.simulator.revision();
  REQUIRE(revision);

  // Comments, blank lines, a manifest file of comments only and a file that is not a manifest.
  write_file(fixture.repo / "nodepools.yaml", "# one edge pool per region\n\n" + read_text(fixture.repo / "nodepools.yaml"));
  write_file(fixture.repo / "clusters/edge-central/notes.yaml", "# more agents to come\n");
  write_file(fixture.repo / "README.md", "The edge fleet.\n");
  const std::string comments = commit_all(fixture.repo, "comments only");
  const auto [result, log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(log);
  CHECK(result == "succeeded");
  CHECK(contains(log, "commit " + short_id(comments) + ": no manifest changed since commit " + short_id(fixture.first)));
  LoopStatus status = fixture.board.snapshot();
  REQUIRE(status.last_applied);
  CHECK(status.last_applied->id == comments);
  CHECK(status.last_applied->summary == "comments only");
  CHECK(status.last_applied_result == "in sync");
  REQUIRE(status.last_reconcile);
  CHECK(status.last_reconcile->message == "commit " + short_id(comments) + " is in sync, nothing to apply");
  REQUIRE(status.last_reconcile->plan_seconds);
  CHECK(*status.last_reconcile->plan_seconds > 0);
  CHECK(*status.last_reconcile->plan_seconds <= status.last_reconcile->seconds);
  CHECK(status.invalid_commit.empty());
  CHECK(status.drift.empty());
  CHECK(object_lines(status) == object_lines(converged));
  CHECK(fixture.applies() == 1);
  CHECK(fixture.simulator.revision() == revision);
  CHECK(contains(fixture.board.plan(), "\"commit\": \"" + comments + "\""));
  CHECK_FALSE(contains(fixture.board.plan(), fixture.first));

  // Reconciled again: the commit was rolled out, so only drift is looked for.
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  status = fixture.board.snapshot();
  CHECK(status.last_reconcile->message == "commit " + short_id(comments) + " in sync");
  CHECK(object_lines(status) == object_lines(converged));
  CHECK(fixture.applies() == 1);

  // A real change: a label on the Namespace.
  const fs::path agent_file = fixture.repo / "clusters/edge-central/security-agent.yaml";
  write_file(agent_file, replaced(read_text(agent_file), "  name: security\n---", "  name: security\n  labels:\n    team: security\n---"));
  const std::string labelled = commit_all(fixture.repo, "label the security namespace");
  const auto [labelled_result, labelled_log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(labelled_log);
  CHECK(labelled_result == "succeeded");
  CHECK_FALSE(contains(labelled_log, "no manifest changed"));
  CHECK(contains(labelled_log, "commit " + short_id(labelled) + ": 1 manifest edited in 1 file since commit " + short_id(comments) +
                                   " (7 manifests in 5 files)"));
  CHECK(fixture.applies() == 2);
  CHECK(fixture.store.history(1).at(0).commit == labelled);
  const auto live = fixture.simulator.get({"edge-central", "", "Namespace", "", "security"});
  REQUIRE(live != nullptr);
  const Json* label = find_path(*live, "metadata.labels.team");
  REQUIRE(label != nullptr);
  CHECK(std::string(label->GetString()) == "security");
  CHECK(fixture.simulator.revision() != revision);
  status = fixture.board.snapshot();
  CHECK(status.last_applied->id == labelled);
  CHECK(status.last_applied_result == "succeeded");
  CHECK(object_lines(status) == object_lines(converged)); // the same objects, all synced and healthy again
  CHECK(contains(fixture.board.plan(), "\"commit\": \"" + labelled + "\""));

  // A new object: applied, and listed on the board.
  write_file(agent_file, read_text(agent_file) + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: agent-config\n"
                                                  "  namespace: security\ndata:\n  level: info\n");
  const std::string added = commit_all(fixture.repo, "agent configuration");
  CHECK(fixture.loop->reconcile(TriggerKind::webhook) == ReconcileResult::succeeded);
  CHECK(fixture.applies() == 3);
  CHECK(fixture.simulator.get({"edge-central", "", "ConfigMap", "security", "agent-config"}) != nullptr);
  status = fixture.board.snapshot();
  CHECK(status.last_applied->id == added);
  REQUIRE(status.objects.size() == 7);
  CHECK(std::count_if(status.objects.begin(), status.objects.end(), [](const ObjectStatus& object) {
          return object.display == "ConfigMap/security/agent-config" && object.sync == "Synced";
        }) == 1);
}

TEST_CASE("an edit in place is checked like any commit: invalid or reaching beyond its object, it is loaded in full", "[loop]") {
  LoopFixture fixture(false);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  REQUIRE(fixture.applies() == 1);
  const fs::path agent_file = fixture.repo / "clusters/edge-central/security-agent.yaml";
  const std::string original = read_text(agent_file);

  // A selector that no longer matches the template's labels: the edited document's own check.
  write_file(agent_file, replaced(original, "    matchLabels:\n      app: security-agent", "    matchLabels:\n      app: other-agent"));
  const std::string bad = commit_all(fixture.repo, "wrong selector");
  const auto [bad_result, bad_log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(bad_log);
  CHECK(bad_result == "invalid");
  CHECK(contains(bad_log, "commit " + short_id(bad) + ": the manifests are invalid, nothing was applied (1 error)"));
  CHECK(contains(bad_log, "clusters/edge-central/security-agent.yaml:"));
  CHECK(contains(bad_log, "does not match spec.template.metadata.labels"));
  CHECK(fixture.applies() == 1);
  CHECK(fixture.board.snapshot().invalid_commit == bad);

  // The next edit of the same file, valid again, is applied as an edit of the last good commit.
  write_file(agent_file, replaced(original, "security-agent:v1.0.0", "security-agent:v1.0.1"));
  const std::string fixed = commit_all(fixture.repo, "agent v1.0.1");
  const auto [fixed_result, fixed_log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(fixed_log);
  CHECK(fixed_result == "succeeded");
  CHECK(contains(fixed_log, "commit " + short_id(fixed) + ": 1 manifest edited in 1 file since commit " + short_id(fixture.first)));
  CHECK(fixture.applies() == 2);
  CHECK(fixture.board.snapshot().invalid_commit.empty());
  const auto live = fixture.simulator.get({"edge-central", "apps", "DaemonSet", "security", "security-agent"});
  REQUIRE(live != nullptr);
  CHECK(contains(write_compact(*live), "security-agent:v1.0.1"));

  // A dependency on an object Git does not define: more than the object's body, so the commit is
  // loaded and built in full, which names the problem.
  write_file(agent_file, replaced(read_text(agent_file), "    meridian.io/rollout: by-region",
                                  "    meridian.io/rollout: by-region\n    meridian.io/depends-on: ConfigMap/agent-settings"));
  const std::string depends = commit_all(fixture.repo, "wait for the settings");
  const auto [depends_result, depends_log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(depends_log);
  CHECK(depends_result == "invalid");
  CHECK_FALSE(contains(depends_log, "edited in"));
  CHECK(contains(depends_log, "commit " + short_id(depends) + ": the manifests are invalid, nothing was applied (1 error)"));
  CHECK(contains(depends_log, "\"ConfigMap/agent-settings\" names no object of the repository in cluster edge-central"));
  CHECK(fixture.applies() == 2);
}

TEST_CASE("a commit that changes no manifest after drift is a new rollout: the drift is applied away", "[loop]") {
  LoopFixture fixture(false);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  fixture.simulator.delete_foreign(agent);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  REQUIRE(fixture.board.snapshot().drift.size() == 1);
  REQUIRE(fixture.applies() == 1);

  write_file(fixture.repo / "fleet.yaml", read_text(fixture.repo / "fleet.yaml") + "# regions in rollout order\n");
  const std::string comments = commit_all(fixture.repo, "comment on the rollout order");
  const auto [result, log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(log);
  CHECK(result == "succeeded");
  CHECK(contains(log, "commit " + short_id(comments) + ": no manifest changed since commit " + short_id(fixture.first)));
  CHECK(fixture.applies() == 2);
  CHECK(fixture.store.history(1).at(0).commit == comments);
  CHECK(fixture.simulator.get(agent) != nullptr);
  const LoopStatus status = fixture.board.snapshot();
  CHECK(status.last_applied->id == comments);
  CHECK(status.last_applied_result == "succeeded");
  CHECK(status.drift.empty());
  CHECK(fixture.metrics.value("meridian_drift_objects") == 0);
}

TEST_CASE("a commit with the last good commit's documents clears an invalid commit; comments on a bad one do not", "[loop]") {
  LoopFixture fixture(false);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  const auto revision = fixture.simulator.revision();
  const fs::path pools = fixture.repo / "nodepools.yaml";
  const std::string good = read_text(pools);
  const std::string bad = replaced(good, "desiredSize: 2\n", "desiredSize: -1\n");
  write_file(pools, bad);
  const std::string invalid = commit_all(fixture.repo, "negative pool");
  CHECK(fixture.loop->reconcile(TriggerKind::webhook) == ReconcileResult::invalid);
  CHECK(fixture.board.snapshot().invalid_commit == invalid);
  CHECK(fixture.metrics.value("meridian_invalid_commit") == 1);

  // A comment on top of the invalid commit: its documents are still not the last good commit's.
  write_file(pools, "# to be fixed\n" + bad);
  const std::string still = commit_all(fixture.repo, "comment on the negative pool");
  const auto [still_result, still_log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(still_log);
  CHECK(still_result == "invalid");
  CHECK_FALSE(contains(still_log, "no manifest changed"));
  LoopStatus status = fixture.board.snapshot();
  CHECK(status.invalid_commit == still);
  CHECK(status.last_applied->id == fixture.first);
  CHECK(contains(status.last_error, "nodepools.yaml"));
  CHECK(fixture.metrics.value("meridian_invalid_commit") == 1);

  // Fixed, with a comment: the last good commit's documents again.
  write_file(pools, "# fixed\n" + good);
  const std::string fixed = commit_all(fixture.repo, "fix the pool");
  const auto [fixed_result, fixed_log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(fixed_log);
  CHECK(fixed_result == "succeeded");
  CHECK(contains(fixed_log, "commit " + short_id(fixed) + ": no manifest changed since commit " + short_id(fixture.first)));
  status = fixture.board.snapshot();
  CHECK(status.invalid_commit.empty());
  CHECK(status.last_error.empty());
  CHECK(fixture.metrics.value("meridian_invalid_commit") == 0);
  REQUIRE(status.last_applied);
  CHECK(status.last_applied->id == fixed);
  CHECK(status.last_reconcile->message == "commit " + short_id(fixed) + " is in sync, nothing to apply");
  CHECK(fixture.applies() == 1);
  CHECK(fixture.simulator.revision() == revision);
}

namespace {

//! The simulator, but every apply fails (a full disk, an unreachable API server) while `failing`.
class FlakyBackend : public ForwardingBackend {
public:
  explicit FlakyBackend(Backend& inner) : ForwardingBackend(inner) {}
  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override {
    if (failing && !dry_run)
      throw UserError("no space left on device");
    return ForwardingBackend::apply(ref, desired, dry_run);
  }

  bool failing = true;
};

} // namespace

TEST_CASE("a commit whose apply failed is applied again with backoff, self-heal or not", "[loop][retry]") {
  TempDir dir;
  const fs::path repo = dir / "fleet";
  commit_folder(source_path("examples/edge-daemonset"), repo, "edge fleet");
  StateStore store(dir.str() + "/meridian.db");
  sim::Simulator simulator(dir.str() + "/sim.db");
  simulator.init(read_text(source_path("examples/fixtures/edge.yaml")), "edge.yaml");
  FlakyBackend flaky(simulator);
  StatusBoard board;
  Metrics metrics;
  ReconcileLoop::declare_metrics(metrics);
  SuspendFlag suspend(dir.str());
  std::atomic<bool> stop{false};
  LoopOptions options;
  options.repository = repo.string();
  options.owner = repo.string();
  options.interval = 1h;
  options.backoff = BackoffPolicy{200ms, 2, 1s};
  ReconcileLoop loop(options, flaky, store, board, metrics, suspend, stop);

  CHECK(loop.reconcile(TriggerKind::schedule) == ReconcileResult::failed);
  CHECK(store.history(10).size() == 1);
  // Before the backoff: not applied again, and not reported in sync.
  CHECK(loop.reconcile(TriggerKind::schedule) == ReconcileResult::failed);
  CHECK(store.history(10).size() == 1);
  CHECK(board.snapshot().last_reconcile->message.find("retrying in") != std::string::npos);
  // The disk is freed; after the backoff the commit is applied again, and all of it lands.
  flaky.failing = false;
  std::this_thread::sleep_for(300ms);
  CHECK(loop.reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  const auto history = store.history(10);
  REQUIRE(history.size() == 2);
  CHECK(history[0].trigger == "retry");
  CHECK(history[0].result == ApplyResult::succeeded);
  CHECK(simulator.get(agent) != nullptr);
  // In sync now: nothing more to apply.
  CHECK(loop.reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  CHECK(store.history(10).size() == 2);
}

TEST_CASE("a log line is one line and carries no control characters", "[loop][log]") {
  TempDir dir;
  LogCapture capture(dir / "events.log");
  log_event("/api/v1/status from 127.0.0.1: refused: Host \"\033[2Jevil\"\nsecond line\x9b");
  const std::string text = capture.text();
  CHECK(text.find('\033') == std::string::npos);
  CHECK(text.find("Host \"\\x1b[2Jevil\" second line\\x9b\n") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
}

TEST_CASE("objects placed by a cluster selector: an edit of one, or of a Cluster's labels, is loaded in full", "[loop][placement]") {
  LoopFixture fixture(false);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == ReconcileResult::succeeded);
  const fs::path clusters_file = fixture.repo / "clusters.yaml";
  const std::string clusters = read_text(clusters_file);
  write_file(clusters_file, replaced(clusters, "  name: edge-central\n", "  name: edge-central\n  labels: {tier: edge}\n"));
  const std::string probe_text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n  namespace: security\n  annotations:\n"
                                 "    meridian.io/cluster-selector: tier=edge\ndata:\n  cluster: \"${cluster.name} v1\"\n";
  write_file(fixture.repo / "agents/probe.yaml", probe_text);
  commit_all(fixture.repo, "a probe on every edge cluster");
  REQUIRE(fixture.loop->reconcile(TriggerKind::webhook) == ReconcileResult::succeeded);
  const ObjectRef probe{"edge-central", "", "ConfigMap", "security", "probe"};
  auto live = fixture.simulator.get(probe);
  REQUIRE(live != nullptr);
  CHECK(contains(write_compact(*live), "\"cluster\":\"edge-central v1\""));

  // An edit of the selected object's body: built in full (placed and substituted again), applied.
  write_file(fixture.repo / "agents/probe.yaml", replaced(probe_text, " v1\"", " v2\""));
  commit_all(fixture.repo, "probe v2");
  const auto [edit_result, edit_log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(edit_log);
  CHECK(edit_result == "succeeded");
  CHECK_FALSE(contains(edit_log, "edited in"));
  live = fixture.simulator.get(probe);
  REQUIRE(live != nullptr);
  CHECK(contains(write_compact(*live), "\"cluster\":\"edge-central v2\""));

  // The cluster's labels change: the selector no longer selects it, and its copy leaves Git.
  write_file(clusters_file, replaced(clusters, "  name: edge-central\n", "  name: edge-central\n  labels: {tier: core}\n"));
  commit_all(fixture.repo, "edge-central is a core cluster");
  const auto [relabel_result, relabel_log] = reconcile_logged(fixture, TriggerKind::webhook);
  INFO(relabel_log);
  CHECK(relabel_result == "succeeded");
  CHECK_FALSE(contains(relabel_log, "edited in"));
  for (const std::string& line : object_lines(fixture.board.snapshot()))
    CHECK_FALSE(contains(line, "probe"));
  // Without prune it is left in place, and the plan says so.
  CHECK(contains(fixture.board.plan(), "1 managed object is no longer in Git (not deleted without --prune): ConfigMap/security/probe "
                                       "(cluster edge-central)"));
  CHECK(fixture.simulator.get(probe) != nullptr);
}

TEST_CASE("reconcile results keep the names metrics, status and the log have always shown", "[loop][outcome]") {
  const std::vector<std::pair<ReconcileResult, std::string>> results{
      {ReconcileResult::succeeded, "succeeded"}, {ReconcileResult::failed, "failed"},           {ReconcileResult::invalid, "invalid"},
      {ReconcileResult::error, "error"},         {ReconcileResult::interrupted, "interrupted"}, {ReconcileResult::suspended, "suspended"}};
  for (const auto& [result, name] : results) {
    CHECK(to_string(result) == name);
    CHECK(parse_reconcile_result(name) == result);
  }
  CHECK_FALSE(parse_reconcile_result("halted"));
}

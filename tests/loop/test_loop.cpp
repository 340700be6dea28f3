// The reconcile loop in-process, on a local repository and the embedded simulator: what each
// reconcile decides (apply, in sync, drift, heal, back off, invalid), without HTTP or timing.
#include "backend/sim/sim.h"
#include "loop/loop.h"
#include "state/store.h"

#include "../source/git_fixture.h"

#include <catch2/catch.hpp>

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

} // namespace

TEST_CASE("a new commit is applied once; the same commit is only re-planned", "[loop]") {
  LoopFixture fixture(false);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == "succeeded");
  CHECK(fixture.applies() == 1);
  CHECK(fixture.board.snapshot().last_applied->id == fixture.first);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == "succeeded");
  CHECK(fixture.applies() == 1);
  const LoopStatus status = fixture.board.snapshot();
  CHECK(status.drift.empty());
  CHECK(status.last_reconcile->message.find("in sync") != std::string::npos);
  CHECK(fixture.metrics.value("meridian_reconcile_total", {"succeeded"}) == 2);
}

TEST_CASE("drift is reported, not corrected, without self-heal", "[loop]") {
  LoopFixture fixture(false);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == "succeeded");
  fixture.simulator.delete_foreign(agent);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == "succeeded");
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
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == "succeeded");
  fixture.simulator.delete_foreign(agent);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == "succeeded");
  CHECK(fixture.applies() == 2);
  CHECK(fixture.store.history(1)[0].trigger == "self-heal");
  CHECK(fixture.simulator.get(agent) != nullptr);
  // Deleted again at once: the same set of objects is not healed again before the backoff.
  fixture.simulator.delete_foreign(agent);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == "succeeded");
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == "succeeded");
  CHECK(fixture.applies() == 2);
  CHECK(fixture.simulator.get(agent) == nullptr);
  const LoopStatus status = fixture.board.snapshot();
  CHECK(status.drift.size() == 1);
  CHECK(status.self_heal_next_attempt > 0);
  CHECK(status.last_reconcile->message.find("backs off") != std::string::npos);
}

TEST_CASE("an invalid commit is refused and the last good one stays in force", "[loop]") {
  LoopFixture fixture(true);
  REQUIRE(fixture.loop->reconcile(TriggerKind::schedule) == "succeeded");
  write_file(fixture.repo / "broken.yaml", "apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: broken\nspec:\n"
                                           "  cluster: edge-central\n  region: cn-hangzhou\n  type: edge\n  desiredSize: -1\n");
  const std::string invalid = commit_all(fixture.repo, "broken pool");
  CHECK(fixture.loop->reconcile(TriggerKind::webhook) == "invalid");
  LoopStatus status = fixture.board.snapshot();
  CHECK(status.invalid_commit == invalid);
  CHECK(status.last_applied->id == fixture.first);
  CHECK(status.last_error.find("broken.yaml") != std::string::npos);
  CHECK(fixture.applies() == 1);
  // Drift is still checked (and healed) against the last good commit.
  fixture.simulator.delete_foreign(agent);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == "invalid");
  CHECK(fixture.simulator.get(agent) != nullptr);
  CHECK(fixture.applies() == 2);
  CHECK(fixture.metrics.value("meridian_invalid_commit") == 1);
}

TEST_CASE("a suspended loop does nothing", "[loop]") {
  LoopFixture fixture(false);
  fixture.suspend.suspend("maintenance");
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == "suspended");
  CHECK(fixture.applies() == 0);
  CHECK(fixture.board.snapshot().suspended);
  CHECK(fixture.board.snapshot().suspended_reason == "maintenance");
  fixture.suspend.resume();
  CHECK(fixture.loop->reconcile(TriggerKind::resume) == "succeeded");
  CHECK(fixture.applies() == 1);
}

TEST_CASE("a stop before the apply leaves the fleet and history untouched", "[loop]") {
  LoopFixture fixture(false);
  fixture.stop.store(true);
  CHECK(fixture.loop->reconcile(TriggerKind::schedule) == "interrupted");
  CHECK(fixture.applies() == 0);
}

// make_plan with a memo when live state moved by writes the backend can name
// (Backend::changes_since): only those objects are read again, every other diff and live fact is
// kept, and the plan still renders byte for byte like a plan made without a memo. Where the
// backend cannot name the writes (it does not say, another connection wrote, the state store
// alone moved), the memo plan reads all live state again, as before.
#include "memo_fixture.h"

#include <sqlite3.h>

using namespace engine_test;
using namespace memo_test;

namespace {

const ObjectRef added_ref{"hz", "", "ConfigMap", "default", "added"};
const ObjectRef stray_ref{"hz", "", "ConfigMap", "default", "stray"};

//! The last memo plan read live state only with get() of the refs the simulator named as written
//! since `since` (REQUIREd named, and not empty), and never listed the fleet.
void check_read_only_written(const PlanFleet& fleet, const std::string& since) {
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.count("list_managed") == 0);
  CHECK(fleet.counting.asked_since == std::vector<std::string>{since});
  REQUIRE(fleet.counting.named);
  REQUIRE_FALSE(fleet.counting.named->empty());
  CHECK(fleet.counting.distinct_gets() == keys(*fleet.counting.named));
}

//! The last memo plan asked what was written since `since`, got no names (the backend could not
//! or would not tell) and so read all live state once.
void check_read_everything(const PlanFleet& fleet, const std::string& since) {
  CHECK(fleet.counting.asked_since == std::vector<std::string>{since});
  CHECK_FALSE(fleet.counting.named);
  CHECK(fleet.counting.count("visit_managed") == 1);
}

//! sim.changes_since(revision), REQUIREd known, as distinct sorted keys.
std::vector<std::string> changed_keys_of(sim::Simulator& sim, const std::string& revision) {
  const auto changes = sim.changes_since(revision);
  REQUIRE(changes);
  return keys(*changes);
}

bool contains(const std::vector<ObjectRef>& refs, const ObjectRef& ref) { return std::find(refs.begin(), refs.end(), ref) != refs.end(); }

} // namespace

TEST_CASE("changes since: after an apply the memo plan re-reads only what the simulator wrote", "[plan][memo][changes]") {
  PlanFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.plan_with_memo(before);
  REQUIRE(fleet.counting.count("visit_managed") == 1); // an empty memo: live state is read

  SECTION("a ConfigMap changed in Git") {
    files["clusters/hz/config.yaml"] = config_yaml("changed");
    const Commit& after = fleet.repo.commit(files);
    const Plan plan = fleet.plan_with_memo(after);
    REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
    CHECK(fleet.counting.count("visit_managed") == 0);

    const std::string revision = fleet.revision();
    fleet.apply_ok(after, plan);
    REQUIRE(fleet.revision() != revision);
    CHECK(changed_keys_of(fleet.sim, revision) == keys({settings_ref})); // healthy at once: no controller ran

    const Plan synced = fleet.plan_with_memo(after);
    check_read_only_written(fleet, revision);
    CHECK(fleet.counting.distinct_gets() == keys({settings_ref}));
    CHECK_FALSE(synced.has_changes());
    CHECK(synced.count(Action::unchanged) == 6);
    check_same_as_fresh(fleet, after, synced);

    // Nothing moved since: the memo answers without reading anything.
    const Plan again = fleet.plan_with_memo(after);
    CHECK(fleet.counting.count("changes_since") == 0);
    CHECK(fleet.counting.count("get") == 0);
    CHECK(fleet.counting.count("visit_managed") == 0);
    check_same_as_fresh(fleet, after, again);
  }
  SECTION("a Deployment and a ConfigMap changed in Git: the controllers' writes are read too") {
    files["clusters/hz/config.yaml"] = config_yaml("changed");
    files["clusters/hz/web.yaml"] = replaced(web_deployment_yaml, "replicas: 1", "replicas: 2");
    const Commit& after = fleet.repo.commit(files);
    const Plan plan = fleet.plan_with_memo(after);
    REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings", "update Deployment/default/web"});

    const std::string revision = fleet.revision();
    fleet.apply_ok(after, plan);
    const auto written = fleet.sim.changes_since(revision);
    REQUIRE(written);
    CHECK(contains(*written, settings_ref));
    CHECK(contains(*written, web_ref));
    CHECK(std::any_of(written->begin(), written->end(), [](const ObjectRef& ref) { return ref.kind == "Pod"; }));

    const Plan synced = fleet.plan_with_memo(after);
    check_read_only_written(fleet, revision);
    CHECK_FALSE(synced.has_changes());
    check_same_as_fresh(fleet, after, synced);
  }
}

TEST_CASE("changes since: a backend that cannot name its writes gets a full read, with the same plan", "[plan][memo][changes]") {
  PlanFleet fleet;
  fleet.counting.forward_changes = false;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.plan_with_memo(before);

  files["clusters/hz/config.yaml"] = config_yaml("changed");
  const Commit& after = fleet.repo.commit(files);
  const Plan plan = fleet.plan_with_memo(after);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
  const std::string revision = fleet.revision();
  fleet.apply_ok(after, plan);
  REQUIRE(fleet.sim.changes_since(revision)); // the simulator could have told

  const Plan synced = fleet.plan_with_memo(after);
  check_read_everything(fleet, revision);
  CHECK_FALSE(synced.has_changes());
  check_same_as_fresh(fleet, after, synced);
}

TEST_CASE("changes since: drift made in this process shows in the memo plan as in a fresh one", "[plan][memo][changes][drift]") {
  PlanFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  fleet.plan_with_memo(commit);
  REQUIRE(fleet.counting.count("visit_managed") == 0);
  const std::string revision = fleet.revision();

  SECTION("a field changed by another tool") {
    drift_extra(fleet.sim);
    const Plan plan = fleet.plan_with_memo(commit);
    check_read_only_written(fleet, revision);
    CHECK(fleet.counting.distinct_gets() == keys({extra_ref}));
    REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra"});
    const PlannedChange& update = change_for(plan, "ConfigMap", "extra");
    REQUIRE(update.fields.size() == 1);
    CHECK(update.fields[0].before == std::optional<std::string>("\"drifted\""));
    check_same_as_fresh(fleet, commit, plan);
  }
  SECTION("an object deleted by another tool") {
    fleet.sim.delete_foreign(flags_ref);
    const Plan plan = fleet.plan_with_memo(commit);
    check_read_only_written(fleet, revision);
    CHECK(fleet.counting.distinct_gets() == keys({flags_ref}));
    CHECK(changes_of(plan) == std::vector<std::string>{"create ConfigMap/default/flags"});
    check_same_as_fresh(fleet, commit, plan);
  }
  SECTION("an object of this repository created by another tool is a prune candidate") {
    fleet.sim.apply_foreign(stray_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"stray","namespace":"default",
                                                 "annotations":{"meridian.io/managed-by":"/fleet/repo","meridian.io/tracking-id":"hz:/ConfigMap:default/stray"}},"data":{"key":"x"}})"));
    const Plan plan = fleet.plan_with_memo(commit);
    check_read_only_written(fleet, revision);
    CHECK_FALSE(plan.has_changes());
    CHECK(plan.warnings ==
          std::vector<std::string>{"1 managed object is no longer in Git (not deleted without --prune): ConfigMap/default/stray (cluster hz)"});
    check_same_as_fresh(fleet, commit, plan);
    PlanOptions prune;
    prune.prune = true;
    const Plan pruned = fleet.plan_with_memo(commit, prune);
    CHECK(fleet.counting.count("visit_managed") == 0);
    CHECK(changes_of(pruned) == std::vector<std::string>{"delete ConfigMap/default/stray"});
    check_same_as_fresh(fleet, commit, pruned, prune);
  }
  SECTION("an object handed to another owner is no longer ours") {
    fleet.sim.apply_foreign(extra_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"extra","namespace":"default",
                                                 "annotations":{"meridian.io/managed-by":"/other/repo"}}})"));
    const Plan plan = fleet.plan_with_memo(commit);
    check_read_only_written(fleet, revision);
    REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra"});
    check_same_as_fresh(fleet, commit, plan);
    // Its removal from Git is then no prune candidate: it is not ours.
    Files files = base_files();
    files.erase("clusters/hz/extra.yaml");
    const Commit& without = fleet.repo.commit(files);
    const Plan removed = fleet.plan_with_memo(without);
    CHECK(fleet.counting.count("visit_managed") == 0);
    CHECK_FALSE(removed.has_changes());
    CHECK(removed.warnings.empty());
    check_same_as_fresh(fleet, without, removed);
  }
  SECTION("several writes in a row are all read") {
    drift_extra(fleet.sim);
    fleet.sim.delete_foreign(flags_ref);
    fleet.sim.wait(std::chrono::seconds(30));
    fleet.sim.apply_foreign(settings_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap",
                                                    "metadata":{"name":"settings","namespace":"default"},"data":{"key":"x"}})"));
    const Plan plan = fleet.plan_with_memo(commit);
    check_read_only_written(fleet, revision);
    CHECK(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra", "create ConfigMap/default/flags",
                                                       "update ConfigMap/default/settings"});
    check_same_as_fresh(fleet, commit, plan);
  }
}

TEST_CASE("changes since: a write through another connection to the file makes the memo plan read everything",
          "[plan][memo][changes][drift]") {
  PlanFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  const std::string revision = fleet.revision();
  {
    sim::Simulator other((fleet.dir.path / "sim.db").string());
    drift_extra(other);
  }
  REQUIRE(fleet.revision() != revision);
  CHECK_FALSE(fleet.sim.changes_since(revision));

  const Plan plan = fleet.plan_with_memo(commit);
  check_read_everything(fleet, revision);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra"});
  check_same_as_fresh(fleet, commit, plan);
}

TEST_CASE("changes since: an apply that creates and one that prunes leave the prune candidates of a fresh plan",
          "[plan][memo][changes][prune]") {
  PlanFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.plan_with_memo(before);

  // A new ConfigMap, and extra removed from Git: without --prune it is only warned about.
  files.erase("clusters/hz/extra.yaml");
  files["clusters/hz/added.yaml"] = configmap_yaml("added");
  const Commit& after = fleet.repo.commit(files);
  const Plan plan = fleet.plan_with_memo(after);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"create ConfigMap/default/added"});
  const std::vector<std::string> warning = {
      "1 managed object is no longer in Git (not deleted without --prune): ConfigMap/default/extra (cluster hz)"};
  CHECK(plan.warnings == warning);
  std::string revision = fleet.revision();
  fleet.apply_ok(after, plan);

  const Plan created = fleet.plan_with_memo(after);
  check_read_only_written(fleet, revision);
  CHECK(fleet.counting.distinct_gets() == keys({added_ref}));
  CHECK_FALSE(created.has_changes());
  CHECK(created.warnings == warning);
  check_same_as_fresh(fleet, after, created);

  // With --prune extra goes; afterwards nothing is left to prune.
  PlanOptions prune;
  prune.prune = true;
  const Plan pruning = fleet.plan_with_memo(after, prune);
  REQUIRE(changes_of(pruning) == std::vector<std::string>{"delete ConfigMap/default/extra"});
  check_same_as_fresh(fleet, after, pruning, prune);
  revision = fleet.revision();
  fleet.apply_ok(after, pruning);
  REQUIRE(fleet.sim.get(extra_ref) == nullptr);

  const Plan pruned = fleet.plan_with_memo(after, prune);
  check_read_only_written(fleet, revision);
  CHECK(fleet.counting.distinct_gets() == keys({extra_ref}));
  CHECK_FALSE(pruned.has_changes());
  CHECK(pruned.warnings.empty());
  check_same_as_fresh(fleet, after, pruned, prune);
  const Plan unpruned = fleet.plan_with_memo(after);
  CHECK(unpruned.warnings.empty());
  check_same_as_fresh(fleet, after, unpruned);

  // Half of the managed objects gone from Git: a mass prune, counted over live state that the
  // memo kept and the objects written since.
  Files fewer = files;
  fewer.erase("clusters/hz/added.yaml");
  fewer.erase("clusters/hz/config.yaml");
  fewer.erase("clusters/hz/web.yaml");
  const Commit& mass = fleet.repo.commit(fewer);
  const Plan refused = fleet.plan_with_memo(mass, prune);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK_FALSE(refused.has_changes());
  REQUIRE(refused.warnings.size() == 1);
  CHECK(refused.warnings[0] == "refusing to prune 4 of 6 managed objects (more than half) without --allow-mass-prune");
  check_same_as_fresh(fleet, mass, refused, prune);
}

TEST_CASE("changes since: the state store moving alone still reads all live state", "[plan][memo][changes]") {
  PlanFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  const std::string revision = fleet.revision();
  // An apply recorded (by another process, say) that changed nothing live.
  const long long id = fleet.store.begin_apply("https://git.example.com/fleet.git", commit.set->commit.id, "cli");
  fleet.store.finish_apply(id, ApplyResult::succeeded, "nothing", {}, {}, {});
  REQUIRE(fleet.revision() == revision);

  const Plan plan = fleet.plan_with_memo(commit);
  CHECK(fleet.counting.count("visit_managed") == 1);
  CHECK(fleet.counting.count("changes_since") == 0);
  CHECK_FALSE(plan.has_changes());
  check_same_as_fresh(fleet, commit, plan);
}

TEST_CASE("changes since: other ignore rules after an apply are not served from the memo", "[plan][memo][changes][diff]") {
  PlanFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.sim.apply_foreign(web_ref, *json(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
                                             "spec":{"replicas":3}})"));
  const Plan drifted = fleet.plan_with_memo(before);
  REQUIRE(changes_of(drifted) == std::vector<std::string>{"update Deployment/default/web"});

  // A write the simulator can name, then the same files with spec.replicas ignored.
  drift_extra(fleet.sim);
  files["fleet.yaml"] = fleet_yaml({"cn-hangzhou"}, 1, true, "5m",
                                   "  ignoreDifferences:\n    - kind: Deployment\n      jsonPointers: [/spec/replicas]\n");
  files["clusters/hz/config.yaml"] = config_yaml("changed");
  const Commit& after = fleet.repo.commit(files);
  const Plan plan = fleet.plan_with_memo(after);
  CHECK(fleet.counting.count("changes_since") == 0);
  CHECK(fleet.counting.count("visit_managed") == 1);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra", "update ConfigMap/default/settings"});
  check_same_as_fresh(fleet, after, plan);
}

TEST_CASE("changes since: a write that failed and rolled back makes the memo plan read everything", "[plan][memo][changes]") {
  PlanFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  const std::string revision = fleet.revision();
  drift_extra(fleet.sim);
  CHECK_THROWS_AS(fleet.sim.delete_foreign(stray_ref), UserError); // not there: rolled back
  const Plan plan = fleet.plan_with_memo(commit);
  check_read_everything(fleet, revision);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra"});
  check_same_as_fresh(fleet, commit, plan);
}

namespace {

const ObjectRef team_ref{"hz", "", "Namespace", "", "team"};

//! Writes a last-applied row from another connection, as another process would.
void set_last_applied(const fs::path& database, const std::string& owner, const std::string& key, const std::string& body) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(database.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* update = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "UPDATE applied SET body = ? WHERE owner = ? AND key = ?", -1, &update, nullptr) == SQLITE_OK);
  sqlite3_bind_text(update, 1, body.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(update, 2, owner.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(update, 3, key.c_str(), -1, SQLITE_TRANSIENT);
  CHECK(sqlite3_step(update) == SQLITE_DONE);
  sqlite3_finalize(update);
  sqlite3_close(db);
}

//! An update the apply finds already in place. The Deployment's annotation leaves Git with a new
//! image; that rollout misses a short health timeout, and the state store is left with web's old
//! last-applied body (with the annotation), as a version that recorded bodies only at the end of a
//! successful object left it (an apply now records each body as it writes it). Another tool puts the annotation back
//! and the rollout completes: plans now show the annotation's removal. The next commit changes a
//! ConfigMap too; its apply writes the ConfigMap, while its server-side apply of web changes
//! nothing live (the simulator removes only what its own last apply set), and the state store
//! records web's body. Returns that commit, applied, with a memo plan made just before the apply.
const Commit& apply_update_already_in_place(PlanFleet& fleet) {
  Files files = base_files();
  files["clusters/hz/web.yaml"] = replaced(web_deployment_yaml, "  namespace: default\n", "  namespace: default\n  annotations: {team: a}\n");
  const Commit& first = fleet.converge(files);
  fleet.plan_with_memo(first);
  const auto first_body = fleet.store.last_applied(Engine::owner, web_ref.key());
  REQUIRE(first_body);

  files["fleet.yaml"] = fleet_yaml({"cn-hangzhou"}, 1, true, "1s");
  files["clusters/hz/web.yaml"] = replaced(web_deployment_yaml, "nginx:1.25", "nginx:1.26");
  const Commit& second = fleet.repo.commit(files);
  const Plan rollout = fleet.plan_with_memo(second);
  REQUIRE(changes_of(rollout) == std::vector<std::string>{"update Deployment/default/web"});
  ApplyOptions quick;
  quick.poll_interval = std::chrono::milliseconds(1000);
  REQUIRE(fleet.apply(second, rollout, quick).result == ApplyResult::halted);
  set_last_applied(fleet.dir.path / "meridian.db", Engine::owner, web_ref.key(), *first_body);
  const auto recorded = fleet.store.last_applied(Engine::owner, web_ref.key());
  REQUIRE(recorded);
  REQUIRE(recorded->find("\"team\":\"a\"") != std::string::npos);

  fleet.sim.apply_foreign(web_ref, *json(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default",
                                             "annotations":{"team":"a"}}})"));
  fleet.sim.wait(std::chrono::seconds(60));
  REQUIRE(fleet.sim.health(web_ref).status == HealthStatus::healthy);

  files["clusters/hz/config.yaml"] = config_yaml("changed");
  const Commit& third = fleet.repo.commit(files);
  const Plan plan = fleet.plan_with_memo(third);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings", "update Deployment/default/web"});
  const PlannedChange& web = change_for(plan, "Deployment", "web");
  REQUIRE(web.fields.size() == 1);
  REQUIRE(web.fields[0].pointer == "/metadata/annotations/team");
  REQUIRE_FALSE(web.fields[0].after);
  check_same_as_fresh(fleet, third, plan);

  const std::string revision = fleet.revision();
  REQUIRE(fleet.apply(third, plan).result == ApplyResult::succeeded);
  REQUIRE(changed_keys_of(fleet.sim, revision) == keys({settings_ref}));
  return third;
}

//! A Namespace deleted by another tool while a ConfigMap in it stays: a server's dry-run of the
//! ConfigMap, which the plan diffs against, now fails, though the ConfigMap was not written.
//! Returns the commit, planned with the memo before the deletion; the deletion is the only write.
const Commit& delete_namespace_of_unwritten_object(PlanFleet& fleet) {
  fleet.counting.claim_server_side_dry_run = true;
  Files files = base_files();
  files["clusters/hz/team.yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n---\n" + configmap_yaml("config", "team");
  const Commit& commit = fleet.converge(files);
  const Plan before = fleet.plan_with_memo(commit);
  REQUIRE_FALSE(before.has_changes());
  REQUIRE(before.warnings.empty());
  const std::string revision = fleet.revision();
  fleet.sim.delete_foreign(team_ref);
  REQUIRE(changed_keys_of(fleet.sim, revision) == keys({team_ref}));
  return commit;
}

//! A plan without a memo through a backend that also claims a server-side dry-run.
Plan plan_fresh_with_dry_run(PlanFleet& fleet, const Commit& commit) {
  CountingBackend fresh(fleet.sim);
  fresh.claim_server_side_dry_run = true;
  fresh.forward_changes = false;
  return make_plan(*commit.desired, fresh, fleet.store, {});
}

} // namespace

TEST_CASE("changes since: an update the apply found already in place is in sync in a fresh plan", "[plan][memo][changes][regression]") {
  PlanFleet fleet;
  const Commit& commit = apply_update_already_in_place(fleet);
  const Plan fresh = fleet.plan_fresh(commit);
  CHECK_FALSE(fresh.has_changes());
  CHECK(fleet.store.last_applied(Engine::owner, web_ref.key())->find("\"team\"") == std::string::npos);
}

// Regression: the apply replaced web's last-applied body in the state store without writing web
// live (it was already in place); a memo keeping web's "update" diff, made against the old body,
// showed a phantom removal. After writes, only "unchanged" diffs are kept.
TEST_CASE("changes since: an update the apply found already in place is in sync in the memo plan too",
          "[plan][memo][changes][regression]") {
  PlanFleet fleet;
  const Commit& commit = apply_update_already_in_place(fleet);
  const Plan synced = fleet.plan_with_memo(commit);
  CHECK(changes_of(synced).empty());
  check_same_as_fresh(fleet, commit, synced);
}

TEST_CASE("changes since: a dry-run that fails for another object's write is explained in a fresh plan", "[plan][memo][changes][regression]") {
  PlanFleet fleet;
  const Commit& commit = delete_namespace_of_unwritten_object(fleet);
  const Plan fresh = plan_fresh_with_dry_run(fleet, commit);
  CHECK(changes_of(fresh) == std::vector<std::string>{"create Namespace/team"});
  // Its namespace is created first by the same plan: a note, not a refusal.
  CHECK(fresh.count_errors() == 0);
  CHECK(fresh.warnings.empty());
  const auto config = std::find_if(fresh.changes.begin(), fresh.changes.end(), [](const PlannedChange& c) { return c.ref.kind == "ConfigMap" && c.ref.namespace_ == "team"; });
  REQUIRE(config != fresh.changes.end());
  // In sync by its last-applied body and live: no dry run is needed, so none fails.
  CHECK(config->action == Action::unchanged);
  CHECK(config->note.empty());
}

// Regression: a server's dry-run of an object depends on more than the object (its Namespace, its
// cluster, admission), so a memo's dry-run outcome of an object nobody wrote can be stale. No
// backend today both dry-runs on the server (kube) and names its writes (sim); this wrapper does
// both, and make_plan reads all live state again for such a backend.
TEST_CASE("changes since: a dry-run that fails for another object's write is explained in the memo plan too",
          "[plan][memo][changes][regression]") {
  PlanFleet fleet;
  const Commit& commit = delete_namespace_of_unwritten_object(fleet);
  const Plan plan = fleet.plan_with_memo(commit);
  CHECK(rendered(plan) == rendered(plan_fresh_with_dry_run(fleet, commit)));
}

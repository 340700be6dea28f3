// What `meridian run` keeps between commits: PlanMemo (make_plan without re-reading live state),
// ValidationMemo, build_desired_state(previous) and the revisions that guard them
// (Simulator::revision, StateStore::revision). A plan made with a memo must render byte for byte
// like a plan made without one in the same situation; a counting Backend shows which calls the
// memo saved. Unchanged files share their parse across commits, as the ManifestCache does.
#include "memo_fixture.h"

#include <set>

using namespace engine_test;
using namespace memo_test;

namespace {

const std::string owner_a = Engine::owner;

const std::string& web_yaml = web_deployment_yaml;

//! The memo tests' fleet. Its counting backend does not forward changes_since: it answers as a
//! backend without history (nullopt), so a memo plan after drift or an apply reads all live state
//! again, which these tests expect (test_changes.cpp covers the backend that names its writes).
struct MemoFleet : PlanFleet {
  MemoFleet() { counting.forward_changes = false; }
};

//! The backend calls of the last plan other than revision(): empty when the memo handed back its plan.
std::vector<std::string> calls_but_revision(const CountingBackend& counting) {
  std::vector<std::string> out;
  for (const auto& [call, count] : counting.calls)
    if (call != "revision" && count > 0)
      out.push_back(call);
  return out;
}

//! The memo plan renders exactly like a plan of a desired state built afresh from the commit's set
//! (not rebased), made without a memo.
void check_same_as_rebuilt(MemoFleet& fleet, const Commit& commit, const Plan& with_memo, PlanOptions options = {}) {
  const DesiredState rebuilt = build_desired_state(*commit.set, owner_a);
  REQUIRE(rebuilt.findings.empty());
  options.memo = nullptr;
  const Plan fresh = make_plan(rebuilt, fleet.sim, fleet.store, options);
  CHECK(rendered(with_memo) == rendered(fresh));
  CHECK(render_plan(with_memo, ReportFormat::text, false) == render_plan(fresh, ReportFormat::text, false));
  CHECK(with_memo.fingerprint == fresh.fingerprint);
}

//! Every change of `plan` that has a desired object points at the object of `desired` with its ref.
void check_points_into(const Plan& plan, const DesiredState& desired) {
  for (const PlannedChange& change : plan.changes) {
    if (change.desired == nullptr)
      continue;
    INFO(change.ref.key());
    REQUIRE(change.desired >= desired.objects.data());
    REQUIRE(change.desired < desired.objects.data() + desired.objects.size());
    CHECK(change.desired->ref == change.ref);
  }
}

const Manifest& manifest_of(const ManifestSet& set, const ObjectRef& ref) {
  for (const Manifest& manifest : set.manifests)
    if (manifest.kind == ref.kind && manifest.name == ref.name && manifest.cluster == ref.cluster)
      return manifest;
  FAIL("no manifest for " << ref.key());
  throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("plan memo: a second plan of an unchanged commit reads no live state", "[plan][memo]") {
  MemoFleet fleet;
  const Commit& commit = fleet.converge(base_files());

  const Plan first = fleet.plan_with_memo(commit);
  CHECK(fleet.counting.count("visit_managed") == 1); // an empty memo: live state is read
  CHECK(fleet.counting.count("revision") >= 1);
  CHECK_FALSE(first.has_changes());
  CHECK(first.count(Action::unchanged) == 6);
  check_same_as_fresh(fleet, commit, first);

  const Plan second = fleet.plan_with_memo(commit);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.count("list_managed") == 0);
  CHECK(fleet.counting.count("get") == 0);
  CHECK(fleet.counting.count("apply_dry_run") == 0);
  CHECK(second.count(Action::unchanged) == 6);
  CHECK(rendered(second) == rendered(first));
  check_same_as_fresh(fleet, commit, second);

  // Planning itself leaves both revisions alone, so the memo keeps holding.
  const auto revision = fleet.sim.revision();
  const std::string store_revision = fleet.store.revision();
  fleet.plan_fresh(commit);
  fleet.plan_with_memo(commit);
  CHECK(fleet.sim.revision() == revision);
  CHECK(fleet.store.revision() == store_revision);
  CHECK(fleet.counting.count("visit_managed") == 0);
}

TEST_CASE("plan memo: a one-file change re-reads only the objects of that file", "[plan][memo]") {
  MemoFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.plan_with_memo(before);

  files["clusters/hz/config.yaml"] = config_yaml("changed");
  const Commit& after = fleet.repo.commit(files);
  REQUIRE(after.parsed == std::set<std::string>{"clusters/hz/config.yaml"});
  fleet.repo.forget_older(); // `before` is gone, as in the loop; the memo must not need it
  const Plan plan = fleet.plan_with_memo(after);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.sorted_gets() == keys({settings_ref, flags_ref}));
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
  const PlannedChange& update = change_for(plan, "ConfigMap", "settings");
  REQUIRE(update.fields.size() == 1);
  CHECK(update.fields[0].pointer == "/data/key");
  CHECK(update.fields[0].before == std::optional<std::string>("\"value\""));
  CHECK(update.fields[0].after == std::optional<std::string>("\"changed\""));
  CHECK(change_for(plan, "ConfigMap", "flags").action == Action::unchanged);
  CHECK(plan.commit == after.set->commit.id);
  check_same_as_fresh(fleet, after, plan);

  // Planned once more: the changed file is now known too.
  const Plan again = fleet.plan_with_memo(after);
  CHECK(fleet.counting.count("get") == 0);
  CHECK(rendered(again) == rendered(plan));

  // The file changed back: a new parse again, so only its objects are read, and all is in sync.
  files["clusters/hz/config.yaml"] = config_yaml("value");
  const Commit& reverted = fleet.repo.commit(files);
  const Plan back = fleet.plan_with_memo(reverted);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.sorted_gets() == keys({settings_ref, flags_ref}));
  CHECK_FALSE(back.has_changes());
  check_same_as_fresh(fleet, reverted, back);
}

TEST_CASE("plan memo: drift behind Meridian's back moves the revision and shows in the plan", "[plan][memo][drift]") {
  MemoFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  fleet.plan_with_memo(commit);
  REQUIRE(fleet.counting.count("visit_managed") == 0);

  SECTION("a field changed by another tool") {
    const auto revision = fleet.sim.revision();
    drift_extra(fleet.sim);
    CHECK(fleet.sim.revision() != revision);
    const Plan plan = fleet.plan_with_memo(commit);
    CHECK(fleet.counting.count("visit_managed") == 1);
    REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra"});
    const PlannedChange& update = change_for(plan, "ConfigMap", "extra");
    REQUIRE(update.fields.size() == 1);
    CHECK(update.fields[0].pointer == "/data/key");
    CHECK(update.fields[0].before == std::optional<std::string>("\"drifted\""));
    CHECK(update.fields[0].after == std::optional<std::string>("\"value\""));
    check_same_as_fresh(fleet, commit, plan);
    // Nothing moved since: the drift is remembered, not read again.
    const Plan again = fleet.plan_with_memo(commit);
    CHECK(fleet.counting.count("visit_managed") == 0);
    CHECK(fleet.counting.count("get") == 0);
    CHECK(rendered(again) == rendered(plan));
    check_same_as_fresh(fleet, commit, again);
  }
  SECTION("an object deleted by another tool") {
    const auto revision = fleet.sim.revision();
    fleet.sim.delete_foreign(flags_ref);
    REQUIRE(fleet.sim.get(flags_ref) == nullptr);
    CHECK(fleet.sim.revision() != revision);
    const Plan plan = fleet.plan_with_memo(commit);
    CHECK(fleet.counting.count("visit_managed") == 1);
    CHECK(changes_of(plan) == std::vector<std::string>{"create ConfigMap/default/flags"});
    check_same_as_fresh(fleet, commit, plan);
    const Plan again = fleet.plan_with_memo(commit);
    CHECK(fleet.counting.count("visit_managed") == 0);
    CHECK(changes_of(again) == std::vector<std::string>{"create ConfigMap/default/flags"});
    check_same_as_fresh(fleet, commit, again);
  }
  SECTION("an object changed by another tool while its file changes too") {
    fleet.sim.apply_foreign(settings_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap",
                                                    "metadata":{"name":"settings","namespace":"default"},"data":{"other":"x"}})"));
    Files files = base_files();
    files["clusters/hz/config.yaml"] = config_yaml("changed");
    const Commit& next = fleet.repo.commit(files);
    const Plan plan = fleet.plan_with_memo(next);
    CHECK(fleet.counting.count("visit_managed") == 1);
    REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
    CHECK(change_for(plan, "ConfigMap", "settings").fields.size() == 1); // data.other belongs to the other tool
    check_same_as_fresh(fleet, next, plan);
  }
}

TEST_CASE("plan memo: a renamed file keeps its diffs; a copy under another cluster is a new object", "[plan][memo]") {
  MemoFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.plan_with_memo(before);

  files["clusters/hz/renamed.yaml"] = files["clusters/hz/extra.yaml"];
  files.erase("clusters/hz/extra.yaml");
  const Commit& renamed = fleet.repo.commit(files);
  REQUIRE(renamed.parsed.empty());
  REQUIRE(renamed.desired->find(extra_ref)->manifest->file == "clusters/hz/renamed.yaml");
  const Plan plan = fleet.plan_with_memo(renamed);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.count("get") == 0);
  CHECK_FALSE(plan.has_changes());
  CHECK(plan.warnings.empty());
  check_same_as_fresh(fleet, renamed, plan);

  // The same blob under clusters/sh/: the same parse, but another object, which does not exist yet.
  files["clusters.yaml"] = cluster_yaml("hz", "cn-hangzhou") + "---\n" + cluster_yaml("sh", "cn-shanghai");
  files["clusters/sh/extra.yaml"] = files["clusters/hz/renamed.yaml"];
  const Commit& copied = fleet.repo.commit(files);
  REQUIRE(copied.parsed == std::set<std::string>{"clusters.yaml"});
  const ObjectRef copy_ref{"sh", "", "ConfigMap", "default", "extra"};
  REQUIRE(copied.desired->find(copy_ref)->manifest->object == copied.desired->find(extra_ref)->manifest->object);
  const Plan copy_plan = fleet.plan_with_memo(copied);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.sorted_gets() ==
        keys({{"", "meridian.io", "Cluster", "", "hz"}, {"", "meridian.io", "Cluster", "", "sh"}, copy_ref}));
  CHECK(change_for(copy_plan, "Cluster", "sh").action == Action::create);
  CHECK(copy_plan.count(Action::create) == 2);
  CHECK(copy_plan.count(Action::update) == 0);
  bool copy_created = false;
  for (const PlannedChange& change : copy_plan.changes)
    copy_created = copy_created || (change.ref == copy_ref && change.action == Action::create);
  CHECK(copy_created);
  check_same_as_fresh(fleet, copied, copy_plan);
}

TEST_CASE("plan memo: an object removed from Git is warned about or pruned as without a memo", "[plan][memo][prune]") {
  MemoFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.plan_with_memo(before);

  files.erase("clusters/hz/extra.yaml");
  const Commit& after = fleet.repo.commit(files);
  REQUIRE(after.parsed.empty());

  const Plan warned = fleet.plan_with_memo(after);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.count("get") == 0);
  CHECK_FALSE(warned.has_changes());
  CHECK(warned.warnings ==
        std::vector<std::string>{"1 managed object is no longer in Git (not deleted without --prune): ConfigMap/default/extra (cluster hz)"});
  check_same_as_fresh(fleet, after, warned);

  PlanOptions prune;
  prune.prune = true;
  const Plan pruned = fleet.plan_with_memo(after, prune);
  CHECK(fleet.counting.count("visit_managed") == 0);
  REQUIRE(changes_of(pruned) == std::vector<std::string>{"delete ConfigMap/default/extra"});
  CHECK(change_for(pruned, "ConfigMap", "extra").note == "no longer in Git");
  CHECK(change_for(pruned, "ConfigMap", "extra").region == "cn-hangzhou");
  CHECK(pruned.warnings.empty());
  check_same_as_fresh(fleet, after, pruned, prune);

  // Pruned: both revisions move; the next memo plan reads live state again and finds it in sync.
  fleet.apply_ok(after, pruned);
  REQUIRE(fleet.sim.get(extra_ref) == nullptr);
  const Plan done = fleet.plan_with_memo(after, prune);
  CHECK(fleet.counting.count("visit_managed") == 1);
  CHECK_FALSE(done.has_changes());
  CHECK(done.warnings.empty());
  check_same_as_fresh(fleet, after, done, prune);
  const Plan warned_after = fleet.plan_with_memo(after);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(warned_after.warnings.empty());
  check_same_as_fresh(fleet, after, warned_after);
}

TEST_CASE("plan memo: after applying a change the memo plan is in sync like a fresh one", "[plan][memo][apply]") {
  MemoFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.plan_with_memo(before);

  files["clusters/hz/config.yaml"] = config_yaml("changed");
  files["clusters/hz/web.yaml"] = replaced(web_yaml, "replicas: 1", "replicas: 2");
  const Commit& after = fleet.repo.commit(files);
  const Plan plan = fleet.plan_with_memo(after);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.sorted_gets() == keys({settings_ref, flags_ref, web_ref}));
  CHECK(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings", "update Deployment/default/web"});
  check_same_as_fresh(fleet, after, plan);

  const auto revision = fleet.sim.revision();
  const std::string store_revision = fleet.store.revision();
  fleet.apply_ok(after, plan);
  CHECK(fleet.sim.revision() != revision);
  CHECK(fleet.store.revision() != store_revision);
  CHECK(text_at(*fleet.sim.get(settings_ref), "/data/key") == "changed");

  const Plan synced = fleet.plan_with_memo(after);
  CHECK(fleet.counting.count("visit_managed") == 1);
  CHECK_FALSE(synced.has_changes());
  CHECK(synced.count(Action::unchanged) == 6);
  check_same_as_fresh(fleet, after, synced);
  const Plan again = fleet.plan_with_memo(after);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.count("get") == 0);
  CHECK_FALSE(again.has_changes());
  check_same_as_fresh(fleet, after, again);
}

TEST_CASE("plan memo: the state store's revision alone invalidates the memo", "[plan][memo][apply]") {
  MemoFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  // An apply recorded (say by another process) without a change to live state.
  const std::string store_revision = fleet.store.revision();
  const long long id = fleet.store.begin_apply("https://git.example.com/fleet.git", commit.set->commit.id, "cli");
  CHECK(fleet.store.revision() != store_revision);
  fleet.plan_with_memo(commit);
  CHECK(fleet.counting.count("visit_managed") == 1);
  fleet.store.finish_apply(id, ApplyResult::succeeded, "nothing", {}, {}, {});
  const Plan plan = fleet.plan_with_memo(commit);
  CHECK(fleet.counting.count("visit_managed") == 1);
  CHECK_FALSE(plan.has_changes());
  check_same_as_fresh(fleet, commit, plan);
}

TEST_CASE("plan memo: changed ignore rules or another owner are not served from the memo", "[plan][memo][diff]") {
  MemoFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  // An autoscaler changes replicas.
  fleet.sim.apply_foreign(web_ref, *json(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
                                             "spec":{"replicas":3}})"));
  const Plan drift = fleet.plan_with_memo(commit);
  REQUIRE(changes_of(drift) == std::vector<std::string>{"update Deployment/default/web"});
  fleet.plan_with_memo(commit);
  REQUIRE(fleet.counting.count("visit_managed") == 0);

  SECTION("ignoreDifferences added: the Deployment's own manifest is the same parse") {
    const Commit& ignoring = fleet.repo.commit(
        base_files("  ignoreDifferences:\n    - group: apps\n      kind: Deployment\n      name: web\n      jsonPointers: [/spec/replicas]\n"));
    REQUIRE(ignoring.parsed == std::set<std::string>{"fleet.yaml"});
    REQUIRE(ignoring.desired->find(web_ref)->manifest->object == commit.desired->find(web_ref)->manifest->object);
    const Plan plan = fleet.plan_with_memo(ignoring);
    CHECK(fleet.counting.count("visit_managed") == 1);
    CHECK_FALSE(plan.has_changes());
    check_same_as_fresh(fleet, ignoring, plan);

    // A rule for another pointer: the drift shows again.
    const Commit& other = fleet.repo.commit(
        base_files("  ignoreDifferences:\n    - group: apps\n      kind: Deployment\n      name: web\n      jsonPointers: [/spec/paused]\n"));
    const Plan shown = fleet.plan_with_memo(other);
    CHECK(fleet.counting.count("visit_managed") == 1);
    CHECK(changes_of(shown) == std::vector<std::string>{"update Deployment/default/web"});
    check_same_as_fresh(fleet, other, shown);

    // The same rules as just planned: served from the memo.
    const Commit& same = fleet.repo.commit(
        base_files("  ignoreDifferences:\n    - group: apps\n      kind: Deployment\n      name: web\n      jsonPointers: [/spec/paused]\n"));
    const Plan reused = fleet.plan_with_memo(same);
    CHECK(fleet.counting.count("visit_managed") == 0);
    CHECK(fleet.counting.count("get") == 0);
    check_same_as_fresh(fleet, same, reused);
  }
  SECTION("another owner plans the same files") {
    const Commit& other = fleet.repo.commit(base_files(), "/other/repo");
    const Plan plan = fleet.plan_with_memo(other);
    CHECK(fleet.counting.count("visit_managed") == 1);
    // Every object is someone else's: each would take the other owner's annotation.
    CHECK(plan.count(Action::update) == 6);
    CHECK(plan.count(Action::unchanged) == 0);
    check_same_as_fresh(fleet, other, plan);
  }
}

TEST_CASE("plan memo: ignore rules that differ only in how pointers are split are different rules", "[plan][memo][diff]") {
  // A comma forgotten in a flow list makes one pointer "/spec/replicas /spec/paused" (which ignores
  // nothing); the fix makes two. The memo's key must tell the two rule sets apart.
  MemoFleet fleet;
  fleet.converge(base_files());
  fleet.sim.apply_foreign(web_ref, *json(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
                                             "spec":{"replicas":3}})"));
  const Commit& typo = fleet.repo.commit(
      base_files("  ignoreDifferences:\n    - kind: Deployment\n      jsonPointers: [/spec/replicas /spec/paused]\n"));
  REQUIRE(typo.desired->fleet.ignore.size() == 1);
  REQUIRE(typo.desired->fleet.ignore[0].pointers == std::vector<std::string>{"/spec/replicas /spec/paused"});
  const Plan drift = fleet.plan_with_memo(typo);
  CHECK(changes_of(drift) == std::vector<std::string>{"update Deployment/default/web"});
  check_same_as_fresh(fleet, typo, drift);

  const Commit& fixed = fleet.repo.commit(
      base_files("  ignoreDifferences:\n    - kind: Deployment\n      jsonPointers: [/spec/replicas, /spec/paused]\n"));
  REQUIRE(fixed.desired->fleet.ignore.size() == 1);
  REQUIRE(fixed.desired->fleet.ignore[0].pointers == std::vector<std::string>{"/spec/replicas", "/spec/paused"});
  REQUIRE_FALSE(fleet.plan_fresh(fixed).has_changes());
  const Plan plan = fleet.plan_with_memo(fixed);
  CHECK(fleet.counting.count("visit_managed") == 1);
  CHECK_FALSE(plan.has_changes()); // served from the memo, the update on /spec/replicas stays
  check_same_as_fresh(fleet, fixed, plan);
}

TEST_CASE("plan memo: a server dry-run refusal is the same with and without a memo", "[plan][memo]") {
  // A backend with both a revision and a server-side dry run (the simulator behind a decorator
  // that claims the dry run is the server's, and an admission webhook that rejects one object).
  MemoFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  drift_extra(fleet.sim); // in sync objects are not dry-run: the refused one differs from live
  fleet.counting.claim_server_side_dry_run = true;
  fleet.counting.fail_dry_run_of = extra_ref;
  const Plan fresh = make_plan(*commit.desired, fleet.counting, fleet.store, PlanOptions{});
  // The refusal fails the plan: the apply would fail that object.
  REQUIRE(fresh.count_errors() == 1);
  CHECK(fresh.changes.size() > 0);
  const auto refused = std::find_if(fresh.changes.begin(), fresh.changes.end(), [](const PlannedChange& c) { return !c.error.empty(); });
  CHECK(refused->ref == extra_ref);
  CHECK(refused->error == "ConfigMap/default/extra (cluster hz): the server dry run failed: admission webhook denied the request");
  CHECK(fresh.warnings.empty());
  const std::string expected = rendered(fresh);

  const Plan first = fleet.plan_with_memo(commit);
  CHECK(fleet.counting.count("visit_managed") == 1);
  CHECK(rendered(first) == expected);
  const Plan second = fleet.plan_with_memo(commit);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(rendered(second) == expected); // the memo keeps the diff and the refusal
}

TEST_CASE("plan memo: a commit that changes no document gets the last plan back, with its own commit", "[plan][memo]") {
  MemoFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  const Plan first = fleet.plan_with_memo(before);
  REQUIRE_FALSE(first.inputs.empty());
  REQUIRE_FALSE(first.has_changes());
  const uint64_t content_id = before.desired->content_id;
  const DesiredObject* objects = before.desired->objects.data();

  // A comment and blank lines: the file parses again (new documents, new lines), the same documents.
  files["clusters/hz/config.yaml"] = "# settings of the web tier\n\n" + replaced(config_yaml("value"), "---\n", "\n---\n");
  const Commit& after = fleet.repo.commit_same_documents(files);
  REQUIRE(after.parsed == std::set<std::string>{"clusters/hz/config.yaml"});
  REQUIRE(after.desired->content_id == content_id);
  REQUIRE(after.desired->objects.data() == objects); // moved, not rebuilt
  const Manifest& settings = *after.desired->find(settings_ref)->manifest;
  CHECK(&settings == &manifest_of(*after.set, settings_ref));
  CHECK(settings.line == manifest_of(*before.set, settings_ref).line + 2);
  CHECK(settings.object != manifest_of(*before.set, settings_ref).object); // unknown to the memo's per-object diffs

  const Plan plan = fleet.plan_with_memo(after);
  CHECK(fleet.counting.count("revision") >= 1);
  CHECK(calls_but_revision(fleet.counting) == std::vector<std::string>{});
  CHECK(fleet.counting.count("get") == 0);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.count("apply_dry_run") == 0);
  CHECK(fleet.counting.count("predict") == 0);
  CHECK(plan.commit == after.set->commit.id);
  CHECK(plan.commit != first.commit);
  CHECK(plan.commit_summary == after.set->commit.summary);
  CHECK(plan.repository == after.set->repository);
  CHECK(plan.fingerprint != first.fingerprint);
  CHECK(plan.inputs == first.inputs);
  CHECK_FALSE(plan.has_changes());
  CHECK(plan.count(Action::unchanged) == 6);
  check_points_into(plan, *after.desired);
  check_same_as_fresh(fleet, after, plan);
  check_same_as_rebuilt(fleet, after, plan);

  // Asked again for the same commit: the same plan, still without a backend call.
  const Plan again = fleet.plan_with_memo(after);
  CHECK(calls_but_revision(fleet.counting) == std::vector<std::string>{});
  CHECK(rendered(again) == rendered(plan));

  // A copy of the state (the same content id, its objects elsewhere): the changes point into the copy.
  const DesiredState copy = *after.desired;
  REQUIRE(copy.objects.data() != after.desired->objects.data());
  fleet.counting.clear();
  PlanOptions with_memo;
  with_memo.memo = fleet.memo.get();
  const Plan of_copy = make_plan(copy, fleet.counting, fleet.store, with_memo);
  CHECK(calls_but_revision(fleet.counting) == std::vector<std::string>{});
  CHECK(rendered(of_copy) == rendered(plan));
  check_points_into(of_copy, copy);

  // One more comment-only commit on top: the same content, yet another commit.
  files["clusters/hz/web.yaml"] = "# the web tier\n" + web_yaml;
  const Commit& third = fleet.repo.commit_same_documents(files);
  fleet.repo.forget_older(); // `before` and `after` are gone, as in the loop
  const Plan third_plan = fleet.plan_with_memo(third);
  CHECK(calls_but_revision(fleet.counting) == std::vector<std::string>{});
  CHECK(third_plan.commit == third.set->commit.id);
  CHECK(third_plan.commit_summary == "commit 3");
  CHECK(third_plan.fingerprint != plan.fingerprint);
  CHECK(third_plan.fingerprint != first.fingerprint);
  check_points_into(third_plan, *third.desired);
  check_same_as_fresh(fleet, third, third_plan);
  check_same_as_rebuilt(fleet, third, third_plan);

  // Other options than the last plan's: planned, not handed back. The memo's per-object diffs are
  // of the first commit's parses, so the objects of the two files with comments are read again.
  PlanOptions prune;
  prune.prune = true;
  const Plan pruned = fleet.plan_with_memo(third, prune);
  CHECK(pruned.inputs != third_plan.inputs);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.sorted_gets() == keys({settings_ref, flags_ref, web_ref}));
  CHECK(pruned.commit == third.set->commit.id);
  check_same_as_fresh(fleet, third, pruned, prune);
}

TEST_CASE("plan memo: live changes since the last plan are read even when no document changed", "[plan][memo][drift]") {
  MemoFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  const Plan first = fleet.plan_with_memo(before);
  REQUIRE_FALSE(first.has_changes());
  files["clusters/hz/extra.yaml"] = "# extra settings\n" + configmap_yaml("extra");

  SECTION("an object deleted by another tool") {
    fleet.sim.delete_foreign(flags_ref);
    const Commit& after = fleet.repo.commit_same_documents(files);
    const Plan plan = fleet.plan_with_memo(after);
    CHECK(fleet.counting.count("visit_managed") == 1);
    CHECK(changes_of(plan) == std::vector<std::string>{"create ConfigMap/default/flags"});
    CHECK(plan.commit == after.set->commit.id);
    check_points_into(plan, *after.desired);
    check_same_as_fresh(fleet, after, plan);
    check_same_as_rebuilt(fleet, after, plan);
  }
  SECTION("a field changed by another tool") {
    drift_extra(fleet.sim);
    const Commit& after = fleet.repo.commit_same_documents(files);
    const Plan plan = fleet.plan_with_memo(after);
    CHECK(fleet.counting.count("visit_managed") == 1);
    REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra"});
    CHECK(change_for(plan, "ConfigMap", "extra").fields.at(0).before == std::optional<std::string>("\"drifted\""));
    CHECK(plan.commit == after.set->commit.id);
    check_same_as_fresh(fleet, after, plan);
    check_same_as_rebuilt(fleet, after, plan);
  }
  SECTION("an apply recorded in the state store") {
    const long long id = fleet.store.begin_apply("https://git.example.com/fleet.git", before.set->commit.id, "cli");
    fleet.store.finish_apply(id, ApplyResult::succeeded, "nothing", {}, {}, {});
    const Commit& after = fleet.repo.commit_same_documents(files);
    const Plan plan = fleet.plan_with_memo(after);
    CHECK(fleet.counting.count("visit_managed") == 1);
    CHECK_FALSE(plan.has_changes());
    CHECK(plan.inputs != first.inputs);
    CHECK(plan.commit == after.set->commit.id);
    check_same_as_fresh(fleet, after, plan);
  }
}

TEST_CASE("plan memo: a plan without forecasts is handed back for one with forecasts only when it has no changes",
          "[plan][memo][predict]") {
  MemoFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  PlanOptions no_forecast;
  no_forecast.predict = false;
  files["clusters/hz/config.yaml"] = "# configuration\n" + config_yaml("value");

  SECTION("with changes: forecast now") {
    fleet.sim.delete_foreign(flags_ref);
    const Plan without = fleet.plan_with_memo(before, no_forecast);
    REQUIRE(changes_of(without) == std::vector<std::string>{"create ConfigMap/default/flags"});
    CHECK(fleet.counting.count("predict") == 0);
    CHECK(without.forecasts.empty());

    const Commit& after = fleet.repo.commit_same_documents(files);
    const Plan with = fleet.plan_with_memo(after);
    CHECK(fleet.counting.count("predict") == 1);
    CHECK(fleet.counting.count("visit_managed") == 0); // live state is still the memo's
    CHECK(fleet.counting.sorted_gets() == keys({settings_ref, flags_ref}));
    CHECK(changes_of(with) == std::vector<std::string>{"create ConfigMap/default/flags"});
    CHECK(with.commit == after.set->commit.id);
    CHECK(with.inputs != without.inputs);
    check_same_as_fresh(fleet, after, with);
    check_same_as_rebuilt(fleet, after, with);

    // That plan has its forecasts: handed back for the same options.
    const Plan again = fleet.plan_with_memo(after);
    CHECK(calls_but_revision(fleet.counting) == std::vector<std::string>{});
    CHECK(rendered(again) == rendered(with));
    // But not for a plan without them (it would show forecasts nobody asked for).
    const Plan plain = fleet.plan_with_memo(after, no_forecast);
    CHECK(fleet.counting.count("predict") == 0);
    CHECK(plain.forecasts.empty());
    check_same_as_fresh(fleet, after, plain, no_forecast);

    // A plan handed back applies: its changes point into this commit's state.
    const Plan handed_back = fleet.plan_with_memo(after, no_forecast);
    CHECK(calls_but_revision(fleet.counting) == std::vector<std::string>{});
    check_points_into(handed_back, *after.desired);
    fleet.apply_ok(after, handed_back);
    CHECK(fleet.sim.get(flags_ref) != nullptr);
    const Plan synced = fleet.plan_with_memo(after);
    CHECK(fleet.counting.count("visit_managed") == 1);
    CHECK_FALSE(synced.has_changes());
    check_same_as_fresh(fleet, after, synced);
  }
  SECTION("without changes: nothing to forecast") {
    const Plan without = fleet.plan_with_memo(before, no_forecast);
    REQUIRE_FALSE(without.has_changes());
    const Commit& after = fleet.repo.commit_same_documents(files);
    const Plan with = fleet.plan_with_memo(after);
    CHECK(calls_but_revision(fleet.counting) == std::vector<std::string>{});
    CHECK(with.commit == after.set->commit.id);
    CHECK(with.inputs == without.inputs); // without changes, forecasts or not make the same plan
    check_same_as_fresh(fleet, after, with);
    check_same_as_rebuilt(fleet, after, with);
    const Plan back = fleet.plan_with_memo(after, no_forecast);
    CHECK(calls_but_revision(fleet.counting) == std::vector<std::string>{});
    check_same_as_fresh(fleet, after, back, no_forecast);
  }
}

TEST_CASE("plan memo: a commit that changes a document is a new desired state, planned again", "[plan][memo]") {
  MemoFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  const Plan first = fleet.plan_with_memo(before);

  SECTION("a value") {
    files["clusters/hz/config.yaml"] = "# changed\n" + config_yaml("changed");
    const Commit& after = fleet.repo.commit(files);
    CHECK_FALSE(same_documents(*before.set, *after.set));
    CHECK(after.desired->content_id != before.desired->content_id);
    const Plan plan = fleet.plan_with_memo(after);
    CHECK(fleet.counting.sorted_gets() == keys({settings_ref, flags_ref}));
    CHECK(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
    CHECK(plan.commit == after.set->commit.id);
    CHECK(plan.inputs != first.inputs);
    check_same_as_fresh(fleet, after, plan);
  }
  SECTION("the order of keys: the same objects, other documents") {
    files["clusters/hz/config.yaml"] = replaced(config_yaml("value"), "apiVersion: v1\nkind: ConfigMap\n", "kind: ConfigMap\napiVersion: v1\n");
    const Commit& after = fleet.repo.commit(files);
    CHECK_FALSE(same_documents(*before.set, *after.set));
    CHECK(json_equal(*manifest_of(*after.set, settings_ref).object, *manifest_of(*before.set, settings_ref).object));
    const Plan plan = fleet.plan_with_memo(after);
    CHECK(fleet.counting.sorted_gets() == keys({settings_ref, flags_ref}));
    CHECK_FALSE(plan.has_changes());
    CHECK(plan.commit == after.set->commit.id);
    check_same_as_fresh(fleet, after, plan);
  }
}

TEST_CASE("Simulator::revision moves with every write and only then", "[sim][revision]") {
  TempDir dir;
  sim::Simulator sim((dir.path / "sim.db").string());
  const std::string fixture = slurp(source_path("examples/fixtures/idc.yaml"));
  sim.init(fixture, "idc.yaml");
  std::vector<std::string> seen;
  const auto moved = [&]() {
    const auto revision = sim.revision();
    REQUIRE(revision);
    const bool fresh = std::find(seen.begin(), seen.end(), *revision) == seen.end();
    seen.push_back(*revision);
    return fresh;
  };
  REQUIRE(moved());

  const ObjectRef config{"idc-hybrid", "", "ConfigMap", "default", "settings"};
  const ObjectRef web{"idc-hybrid", "apps", "Deployment", "default", "web"};
  const auto config_body = json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"default"},
                                    "data":{"key":"value"}})");
  const auto web_body = json(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
    "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"web","image":"nginx:1.25","resources":{"requests":{"cpu":"100m"}}}]}}}})");

  sim.apply(config, *config_body, false);
  CHECK(moved());
  sim.apply(web, *web_body, false);
  CHECK(moved());
  sim.wait(std::chrono::seconds(20)); // the Deployment controller, scheduler and kubelet act
  CHECK(moved());
  REQUIRE(sim.placements(web).size() == 2);

  // Reads: nothing written, the revision holds.
  CHECK(sim.get(config) != nullptr);
  CHECK(sim.get({"idc-hybrid", "", "ConfigMap", "default", "absent"}) == nullptr);
  CHECK(sim.list_managed("").size() >= 2);
  CHECK(sim.list_managed(owner_a).size() == 2); // the two Registered clusters
  size_t visited = 0;
  sim.visit_managed("", [&](LiveObject&&) { ++visited; });
  CHECK(visited >= 2);
  CHECK(sim.health(web).status == HealthStatus::healthy);
  CHECK(sim.health(config).status == HealthStatus::healthy);
  CHECK(sim.placements(web).size() == 2);
  auto scaled = json(write_compact(*web_body));
  (*scaled)["spec"]["replicas"].SetInt(3);
  const auto forecasts = sim.predict({{web, scaled.get()}});
  REQUIRE(forecasts.size() == 1);
  CHECK(forecasts[0].pods == 3);
  const auto changed_config = json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"default"},
                                       "data":{"key":"dry"}})");
  CHECK(text_at(*sim.apply(config, *changed_config, true), "/data/key") == "dry");
  sim.remove(config, true);
  sim.remove(web, true);
  CHECK(text_at(*sim.get(config), "/data/key") == "value");
  CHECK_FALSE(sim.node_regions("idc-hybrid").empty());
  CHECK(sim.now_ms() >= 20000);
  CHECK_FALSE(sim.list("pods", "idc-hybrid", "default").empty());
  CHECK_FALSE(sim.events(nullptr).empty());
  CHECK_FALSE(sim.describe(web).empty());
  CHECK_FALSE(moved());
  // Time passing on a settled fleet changes no object either.
  sim.wait(std::chrono::seconds(10));
  CHECK(sim.now_ms() >= 30000);
  CHECK_FALSE(moved());

  // Writes of every kind.
  sim.apply(config, *changed_config, false);
  CHECK(moved());
  sim.apply_foreign(config, *json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"default"},
                                      "data":{"other":"x"}})"));
  CHECK(moved());
  sim.delete_foreign(config);
  CHECK(moved());
  REQUIRE(sim.get(config) == nullptr);
  sim.apply(config, *config_body, false);
  CHECK(moved());
  sim.remove(config, false);
  CHECK(moved());
  REQUIRE(sim.get(config) == nullptr);
  sim.remove(web, false);
  CHECK(moved());
  sim.wait(std::chrono::seconds(20)); // the pods of the deleted Deployment go
  CHECK(moved());

  // Another connection to the same file (`meridian sim` next to `meridian run`) writes: seen here.
  {
    sim::Simulator other((dir.path / "sim.db").string());
    CHECK(other.revision() == sim.revision());
    other.apply_foreign(config, *config_body);
    CHECK(moved());
    CHECK(sim.health(config).status == HealthStatus::healthy); // this connection's kept fleet is reloaded
    sim.apply(config, *changed_config, false);
    CHECK(moved());
    CHECK(other.revision() == sim.revision());
    other.delete_foreign(config);
    CHECK(moved());
  }

  // A new fixture, then back to the same one twice: each is a new revision, never an old one.
  sim.init(slurp(source_path("examples/fixtures/gpu-shortage.yaml")), "gpu-shortage.yaml");
  CHECK(moved());
  sim.init(fixture, "idc.yaml");
  CHECK(moved());
  sim.reset();
  CHECK(moved());
  sim.reset();
  CHECK(moved());
  CHECK(sim.get(config) == nullptr);
}

TEST_CASE("ValidationMemo: findings with a memo are exactly those without one", "[validate][memo]") {
  Repo repo;
  Files files = base_files();
  files["broken/edgy.yaml"] = slurp(source_path("examples/broken/cluster-bad-type.yaml"));
  files["broken/indent.yaml"] = slurp(source_path("examples/broken/bad-indent.yaml"));
  const Commit& first = repo.commit(files, owner_a, false);

  const auto formatted = [](const std::vector<Finding>& findings) {
    std::vector<std::string> lines;
    for (const Finding& finding : findings)
      lines.push_back(finding.format());
    return lines;
  };
  const auto mentions = [](const std::vector<std::string>& lines, const std::string& file, const std::string& text) {
    return std::count_if(lines.begin(), lines.end(), [&](const std::string& line) {
      return line.rfind(file + ":", 0) == 0 && line.find(text) != std::string::npos;
    });
  };

  ValidationMemo memo;
  const auto first_with = formatted(validate_manifests(*first.set, SchemaSet::builtin(), &memo));
  const auto first_without = formatted(validate_manifests(*first.set));
  CHECK(first_with == first_without);
  CHECK(mentions(first_without, "broken/edgy.yaml", "Edgy") == 1);
  CHECK(mentions(first_without, "broken/indent.yaml", "mapping values are not allowed") == 1);
  CHECK(memo.entries.size() == first.set->manifests.size());

  // One file changed (now with a selector that matches no pod: a whole-repository check) and
  // a file with a schema error added.
  files["clusters/hz/web.yaml"] = replaced(web_yaml, "matchLabels: {app: web}", "matchLabels: {app: api}");
  files["broken/negsize.yaml"] = slurp(source_path("examples/broken/nodepool-negative-size.yaml"));
  const Commit& second = repo.commit(files, owner_a, false);
  REQUIRE(second.parsed == std::set<std::string>{"broken/negsize.yaml", "clusters/hz/web.yaml"});
  const auto second_with = formatted(validate_manifests(*second.set, SchemaSet::builtin(), &memo));
  const auto second_without = formatted(validate_manifests(*second.set));
  CHECK(second_with == second_without);
  CHECK(mentions(second_with, "broken/edgy.yaml", "Edgy") == 1); // unchanged file: its finding came from the memo
  CHECK(mentions(second_with, "broken/indent.yaml", "mapping values are not allowed") == 1);
  CHECK(mentions(second_with, "broken/negsize.yaml", "desiredSize") == 1);
  CHECK(mentions(second_with, "clusters/hz/web.yaml", "selector") == 1);
  CHECK(second_with.size() == first_with.size() + 2);

  // The memo now holds exactly the documents of the second set.
  std::set<std::pair<const Json*, std::string>> expected;
  for (const Manifest& manifest : second.set->manifests)
    expected.emplace(manifest.object, manifest.file);
  std::set<std::pair<const Json*, std::string>> held;
  for (const auto& [key, entry] : memo.entries) {
    held.insert(key);
    CHECK(entry.keep != nullptr);
  }
  CHECK(held == expected);

  // All from the memo this time: still the same findings.
  CHECK(formatted(validate_manifests(*second.set, SchemaSet::builtin(), &memo)) == second_without);

  // The same document under another path is checked for that path.
  Files moved = files;
  moved["broken/edgy-moved.yaml"] = moved["broken/edgy.yaml"];
  moved.erase("broken/edgy.yaml");
  const Commit& third = repo.commit(moved, owner_a, false);
  REQUIRE(third.parsed.empty()); // a rename: the same blob, so the same parse
  const auto third_with = formatted(validate_manifests(*third.set, SchemaSet::builtin(), &memo));
  CHECK(third_with == formatted(validate_manifests(*third.set)));
  CHECK(mentions(third_with, "broken/edgy-moved.yaml", "Edgy") == 1);
  CHECK(mentions(third_with, "broken/edgy.yaml", "Edgy") == 0);
}

TEST_CASE("build_desired_state with previous shares the bodies of unchanged documents only", "[model][memo]") {
  Repo repo;
  Files files = base_files();
  // A body Meridian edits (updateStrategy replaced, namespace defaulted) must be shared edited.
  files["clusters/hz/agent.yaml"] = R"(apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  annotations:
    meridian.io/rollout: by-region
spec:
  selector: {matchLabels: {app: agent}}
  updateStrategy: {type: RollingUpdate}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "agent:1.0"}]
)";
  const Commit& first = repo.commit(files);
  files["clusters/hz/config.yaml"] = config_yaml("changed");
  const Commit& second = repo.commit(files);
  REQUIRE(second.parsed == std::set<std::string>{"clusters/hz/config.yaml"});

  const DesiredState fresh = build_desired_state(*second.set, owner_a);
  REQUIRE(second.desired->objects.size() == 7);
  REQUIRE(fresh.objects.size() == second.desired->objects.size());
  size_t shared = 0;
  for (size_t i = 0; i < fresh.objects.size(); ++i) {
    const DesiredObject& object = second.desired->objects[i];
    INFO(object.ref.key());
    REQUIRE(object.ref == fresh.objects[i].ref);
    CHECK(json_equal(*object.body, *fresh.objects[i].body));
    const DesiredObject* before = first.desired->find(object.ref);
    REQUIRE(before != nullptr);
    const bool changed_file = object.manifest->file == "clusters/hz/config.yaml";
    CHECK((object.body.get() == before->body.get()) == !changed_file);
    shared += object.body.get() == before->body.get() ? 1 : 0;
  }
  CHECK(shared == 5);
  const DesiredObject* agent = second.desired->find({"hz", "apps", "DaemonSet", "default", "agent"});
  REQUIRE(agent != nullptr);
  CHECK(text_at(*agent->body, "/spec/updateStrategy/type") == "OnDelete");
  CHECK(text_at(*agent->body, "/metadata/namespace") == "default");
  CHECK(text_at(*second.desired->find(settings_ref)->body, "/data/key") == "changed");
  CHECK(text_at(*first.desired->find(settings_ref)->body, "/data/key") == "value");

  // The first commit let go of: the shared bodies (and the parses) live on with the second.
  std::vector<std::string> texts;
  for (const DesiredObject& object : second.desired->objects)
    texts.push_back(write_canonical(*object.body));
  repo.forget_older();
  const DesiredState churn = build_desired_state(*second.set, "/churn"); // reuses freed memory, if any was freed
  REQUIRE(churn.objects.size() == texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    INFO(second.desired->objects[i].ref.key());
    CHECK(write_canonical(*second.desired->objects[i].body) == texts[i]);
    CHECK(json_equal(*second.desired->objects[i].body, *fresh.objects[i].body));
  }

  // Another owner: nothing shared, every body carries the new owner.
  const DesiredState other = build_desired_state(*second.set, "/other/repo", second.desired.get());
  const DesiredState other_fresh = build_desired_state(*second.set, "/other/repo");
  REQUIRE(other.objects.size() == other_fresh.objects.size());
  for (size_t i = 0; i < other.objects.size(); ++i) {
    INFO(other.objects[i].ref.key());
    CHECK(other.objects[i].body.get() != second.desired->objects[i].body.get());
    CHECK(json_equal(*other.objects[i].body, *other_fresh.objects[i].body));
    CHECK(text_at(*other.objects[i].body, "/metadata/annotations/meridian.io~1managed-by") == "/other/repo");
  }
}

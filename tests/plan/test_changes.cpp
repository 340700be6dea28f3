// make_plan with a memo when live state moved by writes the backend can name
// (Backend::changes_since): only those objects are read again, every other diff and live fact is
// kept, and the plan still renders byte for byte like a plan made without a memo. Where the
// backend cannot name the writes (it does not say, another connection wrote, the state store
// alone moved), the memo plan reads all live state again, as before.
#include "engine_fixture.h"

#include "base/error.h"

#include <set>

using namespace engine_test;

namespace {

//! Forwards every call to the simulator and counts them; forwards changes_since only when
//! `forward_changes` (otherwise it answers as a backend without history: nullopt).
class ChangesBackend : public Backend {
public:
  explicit ChangesBackend(sim::Simulator& inner) : inner_(inner) {}

  std::string name() const override { return inner_.name(); }
  std::vector<LiveObject> list_managed(std::string_view owner) override {
    ++calls["list_managed"];
    return inner_.list_managed(owner);
  }
  void visit_managed(std::string_view owner, const std::function<void(LiveObject&&)>& visit) override {
    ++calls["visit_managed"];
    if (claim_server_side_dry_run) {
      // Like a backend that streams no visit of its own: plan dry-runs inside the visit.
      for (LiveObject& live : inner_.list_managed(owner))
        visit(std::move(live));
      return;
    }
    inner_.visit_managed(owner, visit);
  }
  std::optional<std::string> revision() override {
    ++calls["revision"];
    return inner_.revision();
  }
  std::optional<std::vector<ObjectRef>> changes_since(const std::string& revision) override {
    ++calls["changes_since"];
    asked_since.push_back(revision);
    if (!forward_changes)
      return Backend::changes_since(revision);
    auto answer = inner_.changes_since(revision);
    named = answer;
    return answer;
  }
  std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) override {
    ++calls["get"];
    gets.push_back(ref.key());
    return inner_.get(ref);
  }
  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override {
    ++calls[dry_run ? "apply_dry_run" : "apply"];
    return inner_.apply(ref, desired, dry_run);
  }
  bool server_side_dry_run() const override { return claim_server_side_dry_run; }
  void remove(const ObjectRef& ref, bool dry_run) override {
    ++calls[dry_run ? "remove_dry_run" : "remove"];
    inner_.remove(ref, dry_run);
  }
  Health health(const ObjectRef& ref) override {
    ++calls["health"];
    return inner_.health(ref);
  }
  std::vector<PodPlacement> placements(const ObjectRef& workload) override {
    ++calls["placements"];
    return inner_.placements(workload);
  }
  std::vector<PlacementForecast> predict(const std::vector<std::pair<ObjectRef, const Json*>>& changes) override {
    ++calls["predict"];
    return inner_.predict(changes);
  }
  void wait(std::chrono::milliseconds duration) override {
    ++calls["wait"];
    inner_.wait(duration);
  }
  long long now_ms() override { return inner_.now_ms(); }
  std::vector<std::string> node_regions(const std::string& cluster) override {
    ++calls["node_regions"];
    return inner_.node_regions(cluster);
  }

  int count(const std::string& call) const {
    const auto found = calls.find(call);
    return found == calls.end() ? 0 : found->second;
  }
  void clear() {
    calls.clear();
    gets.clear();
    asked_since.clear();
    named.reset();
  }
  //! The distinct keys get() was asked for, sorted.
  std::vector<std::string> distinct_gets() const {
    const std::set<std::string> distinct(gets.begin(), gets.end());
    return {distinct.begin(), distinct.end()};
  }

  bool forward_changes = true;
  bool claim_server_side_dry_run = false; //!< pretend the simulator's dry-run is a server's (as kube's is)
  std::map<std::string, int> calls;
  std::vector<std::string> gets;
  std::vector<std::string> asked_since;            //!< the revisions changes_since was asked about
  std::optional<std::vector<ObjectRef>> named;     //!< the simulator's last answer to changes_since

private:
  sim::Simulator& inner_;
};

//! One commit of the fleet repository.
struct Commit {
  Files files;
  std::unique_ptr<ManifestSet> set;
  std::unique_ptr<DesiredState> desired;
};

//! Commits in order, all kept alive. A file whose text is the same as in the commit before keeps
//! that commit's Manifests (the same parse), as the loop's ManifestCache hands them out: the memo
//! recognises an unchanged document by its parse.
class Repo {
public:
  const Commit& commit(const Files& files) {
    const Commit* previous = history_.empty() ? nullptr : history_.back().get();
    auto next = std::make_unique<Commit>();
    next->files = files;
    next->set = std::make_unique<ManifestSet>();
    ManifestSet& set = *next->set;
    set.repository = "https://git.example.com/fleet.git";
    const std::string number = std::to_string(history_.size() + 1);
    set.commit.id = std::string(40 - number.size(), 'b') + number;
    set.commit.summary = "commit " + number;
    set.files = files.size();
    for (const auto& [path, text] : files) {
      const auto old = previous != nullptr ? previous->files.find(path) : Files::const_iterator();
      if (previous != nullptr && old != previous->files.end() && old->second == text) {
        for (const Manifest& manifest : previous->set->manifests)
          if (manifest.file == path)
            set.manifests.push_back(manifest);
        continue;
      }
      ++set.parsed_files;
      ManifestSet parsed = manifests_from_texts({{path, text}});
      for (Manifest& manifest : parsed.manifests)
        set.manifests.push_back(std::move(manifest));
      for (Finding& finding : parsed.findings)
        set.findings.push_back(std::move(finding));
    }
    const std::vector<Finding> findings = validate_manifests(set);
    std::string text;
    for (const Finding& finding : findings)
      text += finding.format() + "\n";
    INFO(text);
    REQUIRE(is_valid(findings));
    next->desired = std::make_unique<DesiredState>(build_desired_state(set, Engine::owner, previous ? previous->desired.get() : nullptr));
    REQUIRE(next->desired->findings.empty());
    history_.push_back(std::move(next));
    return *history_.back();
  }

private:
  std::vector<std::unique_ptr<Commit>> history_;
};

const ObjectRef settings_ref{"hz", "", "ConfigMap", "default", "settings"};
const ObjectRef flags_ref{"hz", "", "ConfigMap", "default", "flags"};
const ObjectRef extra_ref{"hz", "", "ConfigMap", "default", "extra"};
const ObjectRef added_ref{"hz", "", "ConfigMap", "default", "added"};
const ObjectRef stray_ref{"hz", "", "ConfigMap", "default", "stray"};
const ObjectRef web_ref{"hz", "apps", "Deployment", "default", "web"};

std::string config_yaml(const std::string& settings_value) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  key: " + settings_value +
         "\n---\n" + configmap_yaml("flags");
}

//! A cluster, its pool, three ConfigMaps in two files and a Deployment.
Files base_files() {
  return {{"fleet.yaml", fleet_yaml({"cn-hangzhou"}, 1, true, "5m")},
          {"clusters.yaml", cluster_yaml("hz", "cn-hangzhou")},
          {"pools.yaml", pool_yaml("hz-pool", "hz", "cn-hangzhou")},
          {"clusters/hz/config.yaml", config_yaml("value")},
          {"clusters/hz/extra.yaml", configmap_yaml("extra")},
          {"clusters/hz/web.yaml", web_deployment_yaml}};
}

std::shared_ptr<JsonDocument> json(const std::string& text) {
  auto document = std::make_shared<JsonDocument>();
  INFO(text);
  REQUIRE_FALSE(parse_json(text, *document));
  return document;
}

std::vector<std::string> keys(const std::vector<ObjectRef>& refs) {
  std::set<std::string> distinct;
  for (const ObjectRef& ref : refs)
    distinct.insert(ref.key());
  return {distinct.begin(), distinct.end()};
}

std::string rendered(const Plan& plan) { return render_plan(plan, ReportFormat::json, false); }

//! The simulator, the state store and a memo, as one `meridian run` process holds them.
struct ChangesFleet {
  TempDir dir;
  sim::Simulator sim{(dir.path / "sim.db").string()};
  StateStore store{(dir.path / "meridian.db").string()};
  ChangesBackend backend{sim};
  std::shared_ptr<PlanMemo> memo = make_plan_memo();
  Repo repo;
  std::vector<std::string> log;

  //! A plan through the counting backend with the memo (counts cleared first).
  Plan plan_with_memo(const Commit& commit, PlanOptions options = {}) {
    backend.clear();
    options.memo = memo.get();
    return make_plan(*commit.desired, backend, store, options);
  }
  //! A plan of the same situation without any memo, straight on the simulator.
  Plan plan_fresh(const Commit& commit, PlanOptions options = {}) {
    options.memo = nullptr;
    return make_plan(*commit.desired, sim, store, options);
  }
  //! Applies `plan` through the simulator itself (not the counting backend).
  ApplyReport apply(const Commit& commit, const Plan& plan, ApplyOptions options = {}) {
    options.progress = [this](const std::string& line) { log.push_back(line); };
    return apply_plan(plan, *commit.desired, sim, store, options);
  }
  //! Applies `plan`; REQUIREs it to succeed.
  void apply_ok(const Commit& commit, const Plan& plan) {
    const ApplyReport report = apply(commit, plan);
    std::string text;
    for (const std::string& line : log)
      text += line + "\n";
    INFO(text);
    REQUIRE(report.result == "succeeded");
  }
  //! Loads `files` as the first commit and applies it; REQUIREs a second plan in sync.
  const Commit& converge(const Files& files) {
    const Commit& commit = repo.commit(files);
    apply_ok(commit, plan_fresh(commit));
    REQUIRE_FALSE(plan_fresh(commit).has_changes());
    return commit;
  }
  std::string revision() {
    const auto revision = sim.revision();
    REQUIRE(revision);
    return *revision;
  }
};

//! The memo plan renders exactly like a plan made without a memo (JSON and text, fingerprint).
void check_same_as_fresh(ChangesFleet& fleet, const Commit& commit, const Plan& with_memo, PlanOptions options = {}) {
  const Plan fresh = fleet.plan_fresh(commit, options);
  CHECK(rendered(with_memo) == rendered(fresh));
  CHECK(render_plan(with_memo, ReportFormat::text, false) == render_plan(fresh, ReportFormat::text, false));
  CHECK(with_memo.fingerprint == fresh.fingerprint);
  CHECK(with_memo.warnings == fresh.warnings);
}

//! The last memo plan read live state only with get() of the refs the simulator named as written
//! since `since` (REQUIREd named, and not empty), and never listed the fleet.
void check_read_only_written(const ChangesFleet& fleet, const std::string& since) {
  CHECK(fleet.backend.count("visit_managed") == 0);
  CHECK(fleet.backend.count("list_managed") == 0);
  CHECK(fleet.backend.asked_since == std::vector<std::string>{since});
  REQUIRE(fleet.backend.named);
  REQUIRE_FALSE(fleet.backend.named->empty());
  CHECK(fleet.backend.distinct_gets() == keys(*fleet.backend.named));
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
  ChangesFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.plan_with_memo(before);
  REQUIRE(fleet.backend.count("visit_managed") == 1); // an empty memo: live state is read

  SECTION("a ConfigMap changed in Git") {
    files["clusters/hz/config.yaml"] = config_yaml("changed");
    const Commit& after = fleet.repo.commit(files);
    const Plan plan = fleet.plan_with_memo(after);
    REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
    CHECK(fleet.backend.count("visit_managed") == 0);

    const std::string revision = fleet.revision();
    fleet.apply_ok(after, plan);
    REQUIRE(fleet.revision() != revision);
    CHECK(changed_keys_of(fleet.sim, revision) == keys({settings_ref})); // healthy at once: no controller ran

    const Plan synced = fleet.plan_with_memo(after);
    check_read_only_written(fleet, revision);
    CHECK(fleet.backend.distinct_gets() == keys({settings_ref}));
    CHECK_FALSE(synced.has_changes());
    CHECK(synced.count(Action::unchanged) == 6);
    check_same_as_fresh(fleet, after, synced);

    // Nothing moved since: the memo answers without reading anything.
    const Plan again = fleet.plan_with_memo(after);
    CHECK(fleet.backend.count("changes_since") == 0);
    CHECK(fleet.backend.count("get") == 0);
    CHECK(fleet.backend.count("visit_managed") == 0);
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
  ChangesFleet fleet;
  fleet.backend.forward_changes = false;
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
  CHECK(fleet.backend.asked_since == std::vector<std::string>{revision});
  CHECK(fleet.backend.count("visit_managed") == 1);
  CHECK_FALSE(synced.has_changes());
  check_same_as_fresh(fleet, after, synced);
}

TEST_CASE("changes since: drift made in this process shows in the memo plan as in a fresh one", "[plan][memo][changes][drift]") {
  ChangesFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  fleet.plan_with_memo(commit);
  REQUIRE(fleet.backend.count("visit_managed") == 0);
  const std::string revision = fleet.revision();

  SECTION("a field changed by another tool") {
    fleet.sim.apply_foreign(extra_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap",
                                                 "metadata":{"name":"extra","namespace":"default"},"data":{"key":"drifted"}})"));
    const Plan plan = fleet.plan_with_memo(commit);
    check_read_only_written(fleet, revision);
    CHECK(fleet.backend.distinct_gets() == keys({extra_ref}));
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
    CHECK(fleet.backend.distinct_gets() == keys({flags_ref}));
    CHECK(changes_of(plan) == std::vector<std::string>{"create ConfigMap/default/flags"});
    check_same_as_fresh(fleet, commit, plan);
  }
  SECTION("an object of this repository created by another tool is a prune candidate") {
    fleet.sim.apply_foreign(stray_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"stray","namespace":"default",
                                                 "annotations":{"meridian.io/managed-by":"/fleet/repo"}},"data":{"key":"x"}})"));
    const Plan plan = fleet.plan_with_memo(commit);
    check_read_only_written(fleet, revision);
    CHECK_FALSE(plan.has_changes());
    CHECK(plan.warnings ==
          std::vector<std::string>{"1 managed object is no longer in Git (not deleted without --prune): ConfigMap/default/stray"});
    check_same_as_fresh(fleet, commit, plan);
    PlanOptions prune;
    prune.prune = true;
    const Plan pruned = fleet.plan_with_memo(commit, prune);
    CHECK(fleet.backend.count("visit_managed") == 0);
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
    CHECK(fleet.backend.count("visit_managed") == 0);
    CHECK_FALSE(removed.has_changes());
    CHECK(removed.warnings.empty());
    check_same_as_fresh(fleet, without, removed);
  }
  SECTION("several writes in a row are all read") {
    fleet.sim.apply_foreign(extra_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap",
                                                 "metadata":{"name":"extra","namespace":"default"},"data":{"key":"drifted"}})"));
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
  ChangesFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  const std::string revision = fleet.revision();
  {
    sim::Simulator other((fleet.dir.path / "sim.db").string());
    other.apply_foreign(extra_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap",
                                            "metadata":{"name":"extra","namespace":"default"},"data":{"key":"drifted"}})"));
  }
  REQUIRE(fleet.revision() != revision);
  CHECK_FALSE(fleet.sim.changes_since(revision));

  const Plan plan = fleet.plan_with_memo(commit);
  CHECK(fleet.backend.asked_since == std::vector<std::string>{revision});
  CHECK_FALSE(fleet.backend.named);
  CHECK(fleet.backend.count("visit_managed") == 1);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra"});
  check_same_as_fresh(fleet, commit, plan);
}

TEST_CASE("changes since: an apply that creates and one that prunes leave the prune candidates of a fresh plan",
          "[plan][memo][changes][prune]") {
  ChangesFleet fleet;
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
      "1 managed object is no longer in Git (not deleted without --prune): ConfigMap/default/extra"};
  CHECK(plan.warnings == warning);
  std::string revision = fleet.revision();
  fleet.apply_ok(after, plan);

  const Plan created = fleet.plan_with_memo(after);
  check_read_only_written(fleet, revision);
  CHECK(fleet.backend.distinct_gets() == keys({added_ref}));
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
  CHECK(fleet.backend.distinct_gets() == keys({extra_ref}));
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
  CHECK(fleet.backend.count("visit_managed") == 0);
  CHECK_FALSE(refused.has_changes());
  REQUIRE(refused.warnings.size() == 1);
  CHECK(refused.warnings[0] == "refusing to prune 4 of 6 managed objects (more than half) without --allow-mass-prune");
  check_same_as_fresh(fleet, mass, refused, prune);
}

TEST_CASE("changes since: the state store moving alone still reads all live state", "[plan][memo][changes]") {
  ChangesFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  const std::string revision = fleet.revision();
  // An apply recorded (by another process, say) that changed nothing live.
  const long long id = fleet.store.begin_apply("https://git.example.com/fleet.git", commit.set->commit.id, "cli");
  fleet.store.finish_apply(id, "succeeded", "nothing", {}, {}, {});
  REQUIRE(fleet.revision() == revision);

  const Plan plan = fleet.plan_with_memo(commit);
  CHECK(fleet.backend.count("visit_managed") == 1);
  CHECK(fleet.backend.count("changes_since") == 0);
  CHECK_FALSE(plan.has_changes());
  check_same_as_fresh(fleet, commit, plan);
}

TEST_CASE("changes since: other ignore rules after an apply are not served from the memo", "[plan][memo][changes][diff]") {
  ChangesFleet fleet;
  Files files = base_files();
  const Commit& before = fleet.converge(files);
  fleet.sim.apply_foreign(web_ref, *json(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
                                             "spec":{"replicas":3}})"));
  const Plan drifted = fleet.plan_with_memo(before);
  REQUIRE(changes_of(drifted) == std::vector<std::string>{"update Deployment/default/web"});

  // A write the simulator can name, then the same files with spec.replicas ignored.
  fleet.sim.apply_foreign(extra_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap",
                                               "metadata":{"name":"extra","namespace":"default"},"data":{"key":"drifted"}})"));
  files["fleet.yaml"] = fleet_yaml({"cn-hangzhou"}, 1, true, "5m",
                                   "  ignoreDifferences:\n    - kind: Deployment\n      jsonPointers: [/spec/replicas]\n");
  files["clusters/hz/config.yaml"] = config_yaml("changed");
  const Commit& after = fleet.repo.commit(files);
  const Plan plan = fleet.plan_with_memo(after);
  CHECK(fleet.backend.count("changes_since") == 0);
  CHECK(fleet.backend.count("visit_managed") == 1);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra", "update ConfigMap/default/settings"});
  check_same_as_fresh(fleet, after, plan);
}

TEST_CASE("changes since: a write that failed and rolled back makes the memo plan read everything", "[plan][memo][changes]") {
  ChangesFleet fleet;
  const Commit& commit = fleet.converge(base_files());
  fleet.plan_with_memo(commit);
  const std::string revision = fleet.revision();
  fleet.sim.apply_foreign(extra_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap",
                                               "metadata":{"name":"extra","namespace":"default"},"data":{"key":"drifted"}})"));
  CHECK_THROWS_AS(fleet.sim.delete_foreign(stray_ref), UserError); // not there: rolled back
  const Plan plan = fleet.plan_with_memo(commit);
  CHECK(fleet.backend.asked_since == std::vector<std::string>{revision});
  CHECK_FALSE(fleet.backend.named);
  CHECK(fleet.backend.count("visit_managed") == 1);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra"});
  check_same_as_fresh(fleet, commit, plan);
}

namespace {

const ObjectRef team_ref{"hz", "", "Namespace", "", "team"};

//! An update the apply finds already in place. The Deployment's annotation leaves Git with a new
//! image; that rollout misses a short health timeout, so the apply writes web but the state store
//! keeps its old last-applied body (with the annotation). Another tool puts the annotation back
//! and the rollout completes: plans now show the annotation's removal. The next commit changes a
//! ConfigMap too; its apply writes the ConfigMap, while its server-side apply of web changes
//! nothing live (the simulator removes only what its own last apply set), and the state store
//! records web's body. Returns that commit, applied, with a memo plan made just before the apply.
const Commit& apply_update_already_in_place(ChangesFleet& fleet) {
  Files files = base_files();
  files["clusters/hz/web.yaml"] = replaced(web_deployment_yaml, "  namespace: default\n", "  namespace: default\n  annotations: {team: a}\n");
  const Commit& first = fleet.converge(files);
  fleet.plan_with_memo(first);

  files["fleet.yaml"] = fleet_yaml({"cn-hangzhou"}, 1, true, "1s");
  files["clusters/hz/web.yaml"] = replaced(web_deployment_yaml, "nginx:1.25", "nginx:1.26");
  const Commit& second = fleet.repo.commit(files);
  const Plan rollout = fleet.plan_with_memo(second);
  REQUIRE(changes_of(rollout) == std::vector<std::string>{"update Deployment/default/web"});
  ApplyOptions quick;
  quick.poll_interval = std::chrono::milliseconds(1000);
  REQUIRE(fleet.apply(second, rollout, quick).result == "halted");
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
  REQUIRE(fleet.apply(third, plan).result == "succeeded");
  REQUIRE(changed_keys_of(fleet.sim, revision) == keys({settings_ref}));
  return third;
}

//! A Namespace deleted by another tool while a ConfigMap in it stays: a server's dry-run of the
//! ConfigMap, which the plan diffs against, now fails, though the ConfigMap was not written.
//! Returns the commit, planned with the memo before the deletion; the deletion is the only write.
const Commit& delete_namespace_of_unwritten_object(ChangesFleet& fleet) {
  fleet.backend.claim_server_side_dry_run = true;
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
Plan plan_fresh_with_dry_run(ChangesFleet& fleet, const Commit& commit) {
  ChangesBackend fresh(fleet.sim);
  fresh.claim_server_side_dry_run = true;
  fresh.forward_changes = false;
  return make_plan(*commit.desired, fresh, fleet.store, {});
}

} // namespace

TEST_CASE("changes since: an update the apply found already in place is in sync in a fresh plan", "[plan][memo][changes][regression]") {
  ChangesFleet fleet;
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
  ChangesFleet fleet;
  const Commit& commit = apply_update_already_in_place(fleet);
  const Plan synced = fleet.plan_with_memo(commit);
  CHECK(changes_of(synced).empty());
  check_same_as_fresh(fleet, commit, synced);
}

TEST_CASE("changes since: a dry-run that fails for another object's write warns in a fresh plan", "[plan][memo][changes][regression]") {
  ChangesFleet fleet;
  const Commit& commit = delete_namespace_of_unwritten_object(fleet);
  const Plan fresh = plan_fresh_with_dry_run(fleet, commit);
  CHECK(changes_of(fresh) == std::vector<std::string>{"create Namespace/team"});
  CHECK(fresh.warnings == std::vector<std::string>{"ConfigMap/team/config: server dry-run failed, diff computed locally: "
                                                   "ConfigMap/team/config: namespaces \"team\" not found in cluster hz"});
}

// Regression: a server's dry-run of an object depends on more than the object (its Namespace, its
// cluster, admission), so a memo's dry-run outcome of an object nobody wrote can be stale. No
// backend today both dry-runs on the server (kube) and names its writes (sim); this wrapper does
// both, and make_plan reads all live state again for such a backend.
TEST_CASE("changes since: a dry-run that fails for another object's write warns in the memo plan too",
          "[plan][memo][changes][regression]") {
  ChangesFleet fleet;
  const Commit& commit = delete_namespace_of_unwritten_object(fleet);
  const Plan plan = fleet.plan_with_memo(commit);
  CHECK(rendered(plan) == rendered(plan_fresh_with_dry_run(fleet, commit)));
}

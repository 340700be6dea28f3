// Planning against the real simulator: dependency order (and reverse order for deletions),
// `meridian.io/depends-on`, region order and waves, prune safety, ignoreDifferences, fields removed
// from Git, idempotency and determinism of the plan and its reports.
#include "engine_fixture.h"

using namespace engine_test;

namespace {

std::shared_ptr<JsonDocument> json(const std::string& text) {
  auto document = std::make_shared<JsonDocument>();
  INFO(text);
  REQUIRE_FALSE(parse_json(text, *document));
  return document;
}

const std::string app_objects = R"(apiVersion: v1
kind: Namespace
metadata:
  name: apps
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: apps
data: {a: b}
---
apiVersion: scheduling.alibabacloud.com/v1alpha1
kind: ResourcePolicy
metadata:
  name: web
  namespace: apps
spec:
  selector: {app: web}
  strategy: prefer
  units:
    - resource: ecs
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: "nginx:1.25"
          resources: {requests: {cpu: 100m, memory: 128Mi}}
)";

Files app_fleet() {
  return {{"fleet.yaml", fleet_yaml({"cn-hangzhou"}, 1, true, "5m")},
          {"clusters.yaml", cluster_yaml("hz", "cn-hangzhou")},
          {"pools.yaml", pool_yaml("hz-pool", "hz", "cn-hangzhou")},
          {"clusters/hz/app.yaml", app_objects}};
}

} // namespace

TEST_CASE("changes follow dependencies: Cluster, NodePool, Namespace and CRD, config, workloads", "[plan][order]") {
  Engine engine;
  engine.load(app_fleet());
  const Plan plan = engine.plan();
  const auto changes = changes_of(plan);
  REQUIRE(changes.size() == 7);
  const long cluster = index_of(changes, "create Cluster/hz");
  const long pool = index_of(changes, "create NodePool/hz-pool");
  const long ns = index_of(changes, "create Namespace/apps");
  const long crd = index_of(changes, "create CustomResourceDefinition/widgets.example.com");
  const long config = index_of(changes, "create ConfigMap/apps/settings");
  const long policy = index_of(changes, "create ResourcePolicy/apps/web");
  const long workload = index_of(changes, "create Deployment/apps/web");
  CHECK(cluster == 0);
  CHECK(pool == 1);
  CHECK(std::max(ns, crd) < std::min(config, policy));
  CHECK(std::max(config, policy) < workload);
  CHECK(workload == 6);
  CHECK(plan.count(Action::create) == 7);
}

TEST_CASE("deletions run after the rest, in reverse dependency order", "[plan][order][prune]") {
  Engine engine;
  Files files = app_fleet();
  engine.load(files);
  engine.converge();
  // Git keeps only the cluster: everything else is pruned, workloads first, the node pool last.
  files.erase("pools.yaml");
  files.erase("clusters/hz/app.yaml");
  engine.load(files);
  PlanOptions options;
  options.prune = true;
  options.allow_mass_prune = true;
  const Plan plan = engine.plan(options);
  const auto changes = changes_of(plan);
  REQUIRE(changes.size() == 6);
  const long workload = index_of(changes, "delete Deployment/apps/web");
  const long config = index_of(changes, "delete ConfigMap/apps/settings");
  const long policy = index_of(changes, "delete ResourcePolicy/apps/web");
  const long ns = index_of(changes, "delete Namespace/apps");
  const long crd = index_of(changes, "delete CustomResourceDefinition/widgets.example.com");
  const long pool = index_of(changes, "delete NodePool/hz-pool");
  CHECK(workload == 0);
  CHECK(std::max(config, policy) < std::min(ns, crd));
  CHECK(std::max(ns, crd) < pool);
  CHECK(pool == 5);
  for (const PlannedChange& change : plan.changes)
    if (change.action == Action::remove)
      CHECK(change.note == "no longer in Git");

  const ApplyReport report = engine.apply(plan);
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  CHECK(engine.sim().get({"hz", "apps", "Deployment", "apps", "web"}) == nullptr);
  CHECK(engine.sim().get({"hz", "", "Namespace", "", "apps"}) == nullptr);
  CHECK(engine.sim().get({"", "meridian.io", "NodePool", "", "hz-pool"}) == nullptr);
  CHECK(engine.sim().get({"", "meridian.io", "Cluster", "", "hz"}) != nullptr);
  CHECK(engine.store().applied_keys(Engine::owner) == std::vector<std::string>{ObjectRef{"", "meridian.io", "Cluster", "", "hz"}.key()});
  CHECK_FALSE(engine.plan(options).has_changes());
}

TEST_CASE("meridian.io/depends-on orders objects of one tier and can hold an object to a later wave", "[plan][order]") {
  Engine engine;
  engine.load({{"fleet.yaml", fleet_yaml({"cn-hangzhou", "cn-beijing"})},
               {"clusters.yaml", cluster_yaml("hz", "cn-hangzhou") + "---\n" + cluster_yaml("bj", "cn-beijing")},
               {"pools.yaml", pool_yaml("bj-pool", "bj", "cn-beijing")},
               {"clusters/hz/config.yaml", configmap_yaml("a", "default", "    meridian.io/depends-on: ConfigMap/z\n") + "---\n" +
                                               configmap_yaml("z") + "---\n" +
                                               configmap_yaml("after-pool", "default", "    meridian.io/depends-on: NodePool/bj-pool\n")}});
  const Plan plan = engine.plan();
  const auto changes = changes_of(plan);
  // Alphabetically a comes first; its dependency puts z before it.
  CHECK(index_of(changes, "create ConfigMap/default/z") < index_of(changes, "create ConfigMap/default/a"));
  // after-pool belongs to cn-hangzhou (wave 1) but waits for a pool of cn-beijing (wave 2).
  REQUIRE(plan.waves == std::vector<std::vector<std::string>>{{"cn-hangzhou"}, {"cn-beijing"}});
  CHECK(change_for(plan, "ConfigMap", "a").wave == 0);
  CHECK(change_for(plan, "ConfigMap", "after-pool").region == "cn-hangzhou");
  CHECK(change_for(plan, "ConfigMap", "after-pool").wave == 1);
  CHECK(index_of(changes, "create NodePool/bj-pool") < index_of(changes, "create ConfigMap/default/after-pool"));

  const ApplyReport report = engine.apply(plan);
  INFO(engine.joined_log());
  CHECK(report.result == ApplyResult::succeeded);
}

TEST_CASE("regions run in the Fleet's order, then the rest alphabetically, maxParallelRegions per wave", "[plan][order]") {
  Engine engine;
  std::string clusters;
  for (const auto& [name, region] : std::vector<std::pair<std::string, std::string>>{
           {"bj", "cn-beijing"}, {"hz", "cn-hangzhou"}, {"sh", "cn-shanghai"}, {"sz", "cn-shenzhen"}, {"sg", "ap-southeast-1"}})
    clusters += (clusters.empty() ? "" : "---\n") + cluster_yaml(name, region);
  Files files = {{"fleet.yaml", fleet_yaml({"cn-shanghai", "cn-hangzhou"}, 2)}, {"clusters.yaml", clusters}};
  for (const std::string name : {"bj", "hz", "sh", "sz", "sg"})
    files["clusters/" + name + "/config.yaml"] = configmap_yaml("settings");
  engine.load(files);
  const Plan plan = engine.plan();
  CHECK(plan.regions == std::vector<std::string>{"cn-shanghai", "cn-hangzhou", "ap-southeast-1", "cn-beijing", "cn-shenzhen"});
  CHECK(plan.waves ==
        std::vector<std::vector<std::string>>{{"cn-shanghai", "cn-hangzhou"}, {"ap-southeast-1", "cn-beijing"}, {"cn-shenzhen"}});
  CHECK(change_for(plan, "Cluster", "sh").wave == 0);
  CHECK(change_for(plan, "Cluster", "hz").wave == 0);
  CHECK(change_for(plan, "Cluster", "sg").wave == 1);
  CHECK(change_for(plan, "Cluster", "bj").wave == 1);
  CHECK(change_for(plan, "Cluster", "sz").wave == 2);
  // Inside a wave, the Fleet's order breaks ties between equal tiers.
  const auto changes = changes_of(plan);
  CHECK(changes ==
        std::vector<std::string>{"create Cluster/sh", "create Cluster/hz", "create ConfigMap/default/settings",
                                 "create ConfigMap/default/settings", "create Cluster/sg", "create Cluster/bj",
                                 "create ConfigMap/default/settings", "create ConfigMap/default/settings", "create Cluster/sz",
                                 "create ConfigMap/default/settings"});

  const ApplyReport report = engine.apply(plan);
  const std::string log = engine.joined_log();
  INFO(log);
  REQUIRE(report.result == ApplyResult::succeeded);
  REQUIRE(report.regions.size() == 5);
  CHECK(report.regions[0].region == "cn-shanghai");
  CHECK(report.regions[1].region == "cn-hangzhou");
  CHECK(report.regions[1].wave == 1);
  CHECK(report.regions[2].wave == 2);
  CHECK(report.regions[4].region == "cn-shenzhen");
  CHECK(report.regions[4].wave == 3);
  // Both regions of a wave are changed before either is gated; the next wave starts after both.
  const auto at = [&](const std::string& line) {
    const size_t found = log.find(line);
    INFO("missing: " << line);
    REQUIRE(found != std::string::npos);
    return found;
  };
  CHECK(at("wave 1/3: cn-shanghai, cn-hangzhou") < at("create Cluster/sh"));
  CHECK(at("cn-hangzhou create ConfigMap/default/settings (cluster hz)") < at("region cn-shanghai healthy"));
  CHECK(at("region cn-hangzhou healthy") < at("wave 2/3: ap-southeast-1, cn-beijing"));
  CHECK(at("region cn-beijing healthy") < at("wave 3/3: cn-shenzhen"));
}

TEST_CASE("prune deletes only this repository's objects that Git no longer has", "[plan][prune]") {
  Engine engine("idc");
  Files files = {{"clusters.yaml", cluster_yaml("idc-hybrid", "cn-hangzhou", "Registered")},
                 {"pools.yaml", pool_yaml("np7b30xxx", "idc-hybrid", "cn-hangzhou", "ecs.g7.large", 1)},
                 {"clusters/idc-hybrid/config.yaml", configmap_yaml("one") + "---\n" + configmap_yaml("two") + "---\n" +
                                                         configmap_yaml("keep", "default", "    meridian.io/prune: disabled\n")}};
  engine.load(files);
  engine.converge();
  // Objects made behind Meridian's back, one of them claiming another fleet repository.
  engine.sim().apply_foreign({"idc-hybrid", "", "ConfigMap", "default", "by-hand"},
                             *json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"by-hand","namespace":"default"},"data":{"k":"v"}})"));
  engine.sim().apply_foreign({"idc-hybrid", "", "ConfigMap", "default", "other-fleet"},
                             *json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other-fleet","namespace":"default",
                                       "annotations":{"meridian.io/managed-by":"/another/repo"}},"data":{"k":"v"}})"));

  SECTION("without --prune, extras are only reported") {
    files["clusters/idc-hybrid/config.yaml"] = configmap_yaml("one");
    engine.load(files);
    const Plan plan = engine.plan();
    CHECK_FALSE(plan.has_changes());
    CHECK(plan.warnings ==
          std::vector<std::string>{"ConfigMap/default/keep is no longer in Git but has meridian.io/prune: disabled; not deleting it",
                                   "2 managed objects are no longer in Git (not deleted without --prune): "
                                   "ConfigMap/default/keep (cluster idc-hybrid), ConfigMap/default/two (cluster idc-hybrid)"});
  }
  SECTION("with --prune: Meridian's objects go, foreign ones and prune: disabled stay") {
    files["clusters/idc-hybrid/config.yaml"] = configmap_yaml("one");
    engine.load(files);
    PlanOptions options;
    options.prune = true;
    const Plan plan = engine.plan(options);
    CHECK(changes_of(plan) == std::vector<std::string>{"delete ConfigMap/default/two"});
    CHECK(plan.warnings ==
          std::vector<std::string>{"ConfigMap/default/keep is no longer in Git but has meridian.io/prune: disabled; not deleting it"});
    REQUIRE(engine.apply(plan).result == ApplyResult::succeeded);
    CHECK(engine.sim().get({"idc-hybrid", "", "ConfigMap", "default", "two"}) == nullptr);
    CHECK(engine.sim().get({"idc-hybrid", "", "ConfigMap", "default", "keep"}) != nullptr);
    CHECK(engine.sim().get({"idc-hybrid", "", "ConfigMap", "default", "by-hand"}) != nullptr);
    CHECK(engine.sim().get({"idc-hybrid", "", "ConfigMap", "default", "other-fleet"}) != nullptr);
  }
  SECTION("a Fleet with prune: true prunes without the flag") {
    files["clusters/idc-hybrid/config.yaml"] = configmap_yaml("one") + "---\n" + configmap_yaml("keep", "default", "    meridian.io/prune: disabled\n");
    files["fleet.yaml"] = fleet_yaml({"cn-hangzhou"}, 1, true, "10m", "  prune: true\n");
    engine.load(files);
    CHECK(changes_of(engine.plan()) == std::vector<std::string>{"delete ConfigMap/default/two"});
  }
  SECTION("a Registered cluster is never deleted") {
    files = {{"clusters.yaml", cluster_yaml("elsewhere", "cn-hangzhou")}};
    engine.load(files);
    PlanOptions options;
    options.prune = true;
    options.allow_mass_prune = true;
    const Plan plan = engine.plan(options);
    const auto changes = changes_of(plan);
    CHECK(changes == std::vector<std::string>{"create Cluster/elsewhere", "delete ConfigMap/default/one", "delete ConfigMap/default/two",
                                              "delete NodePool/np7b30xxx"});
    CHECK(std::find(plan.warnings.begin(), plan.warnings.end(),
                    "Cluster/idc-hybrid is no longer in Git; it is a Registered cluster, which Meridian never deletes") != plan.warnings.end());
    REQUIRE(engine.apply(plan).result == ApplyResult::succeeded);
    CHECK(engine.sim().get({"", "meridian.io", "Cluster", "", "idc-hybrid"}) != nullptr);
    CHECK(engine.sim().get({"", "meridian.io", "Cluster", "", "idc-cluster"}) != nullptr);
    CHECK(engine.sim().get({"", "meridian.io", "NodePool", "", "np7b30xxx"}) == nullptr);
  }
}

TEST_CASE("prune refuses to delete more than half of the managed objects without allow_mass_prune", "[plan][prune]") {
  Engine engine;
  Files files = {{"clusters.yaml", cluster_yaml("c1", "cn-hangzhou")},
                 {"clusters/c1/config.yaml", configmap_yaml("a") + "---\n" + configmap_yaml("b") + "---\n" + configmap_yaml("c") +
                                                 "---\n" + configmap_yaml("d")}};
  engine.load(files);
  engine.converge(); // 5 managed objects: the cluster and four ConfigMaps
  PlanOptions prune;
  prune.prune = true;

  // Two of five: allowed.
  files["clusters/c1/config.yaml"] = configmap_yaml("a") + "---\n" + configmap_yaml("b");
  engine.load(files);
  CHECK(changes_of(engine.plan(prune)) == std::vector<std::string>{"delete ConfigMap/default/c", "delete ConfigMap/default/d"});

  // Three of five: refused, nothing deleted, and the plan says why.
  files["clusters/c1/config.yaml"] = configmap_yaml("a");
  engine.load(files);
  Plan plan = engine.plan(prune);
  CHECK_FALSE(plan.has_changes());
  CHECK(plan.warnings ==
        std::vector<std::string>{"refusing to prune 3 of 5 managed objects (more than half) without --allow-mass-prune"});
  PlanOptions mass = prune;
  mass.allow_mass_prune = true;
  CHECK(engine.plan(mass).count(Action::remove) == 3);

  // All of them (Git now names another cluster only): refused too.
  engine.load({{"clusters.yaml", cluster_yaml("c2", "cn-hangzhou")}});
  plan = engine.plan(prune);
  CHECK(changes_of(plan) == std::vector<std::string>{"create Cluster/c2"});
  CHECK(plan.warnings ==
        std::vector<std::string>{"refusing to prune 5 of 5 managed objects (more than half) without --allow-mass-prune"});
  CHECK(engine.plan(mass).count(Action::remove) == 5);
}

TEST_CASE("ignoreDifferences suppresses drift on the listed pointers only", "[plan][diff]") {
  Engine engine;
  const std::string& deployment = web_deployment_yaml;
  Files files = {{"clusters.yaml", cluster_yaml("c1", "cn-hangzhou")},
                 {"pools.yaml", pool_yaml("c1-pool", "c1", "cn-hangzhou", "ecs.g7.large", 1)},
                 {"clusters/c1/web.yaml", deployment}};
  engine.load(files);
  engine.converge();
  // An autoscaler (or a person) changes replicas and the image behind Meridian's back.
  engine.sim().apply_foreign({"c1", "apps", "Deployment", "default", "web"},
                             *json(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
                                       "spec":{"replicas":3}})"));
  Plan plan = engine.plan();
  REQUIRE(plan.count(Action::update) == 1);
  REQUIRE(change_for(plan, "Deployment", "web").fields.size() == 1);
  CHECK(change_for(plan, "Deployment", "web").fields[0].pointer == "/spec/replicas");
  CHECK(*change_for(plan, "Deployment", "web").fields[0].before == "3");
  CHECK(*change_for(plan, "Deployment", "web").fields[0].after == "1");

  files["fleet.yaml"] = fleet_yaml({"cn-hangzhou"}, 1, true, "10m",
                                   "  ignoreDifferences:\n    - group: apps\n      kind: Deployment\n      name: web\n"
                                   "      jsonPointers: [/spec/replicas]\n");
  engine.load(files);
  plan = engine.plan();
  CHECK_FALSE(plan.has_changes());

  // A rule for another name does not apply.
  files["fleet.yaml"] = fleet_yaml({"cn-hangzhou"}, 1, true, "10m",
                                   "  ignoreDifferences:\n    - kind: Deployment\n      name: api\n      jsonPointers: [/spec/replicas]\n");
  engine.load(files);
  CHECK(engine.plan().count(Action::update) == 1);
}

TEST_CASE("a field removed from Git after an apply is a change, and the apply removes it from live", "[plan][diff]") {
  Engine engine;
  Files files = {{"clusters.yaml", cluster_yaml("c1", "cn-hangzhou")},
                 {"clusters/c1/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {team: a, tier: b}\n"
                                             "data:\n  first: \"1\"\n  second: \"2\"\n"}};
  engine.load(files);
  engine.converge();
  files["clusters/c1/config.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {team: a}\ndata:\n  first: \"1\"\n";
  engine.load(files);
  const Plan plan = engine.plan();
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
  const auto& fields = change_for(plan, "ConfigMap", "settings").fields;
  REQUIRE(fields.size() == 2);
  CHECK(fields[0].pointer == "/data/second");
  CHECK(*fields[0].before == "\"2\"");
  CHECK_FALSE(fields[0].after);
  CHECK(fields[1].pointer == "/metadata/labels/tier");
  CHECK_FALSE(fields[1].after);
  const std::string text = render_plan(plan, ReportFormat::text, false);
  CHECK(text.find("data.second: \"2\" → (removed)") != std::string::npos);

  engine.converge();
  const auto live = engine.sim().get({"c1", "", "ConfigMap", "default", "settings"});
  REQUIRE(live != nullptr);
  CHECK(find_pointer(*live, "/data/second") == nullptr);
  CHECK(find_pointer(*live, "/metadata/labels/tier") == nullptr);
  CHECK(text_at(*live, "/data/first") == "1");
  CHECK_FALSE(engine.plan().has_changes());
}

TEST_CASE("applying twice on the same commit: the second plan has no changes", "[plan][idempotency]") {
  Engine engine("edge");
  engine.load(example_files("edge-daemonset"));
  engine.converge();
  const Plan second = engine.plan();
  CHECK_FALSE(second.has_changes());
  CHECK(second.count(Action::unchanged) == 6);
  CHECK(render_plan(second, ReportFormat::text, false).find("No changes. The live fleet matches Git.") != std::string::npos);
  // Time passing (controllers filling status, pods being created) is not drift either.
  engine.sim().wait(std::chrono::minutes(5));
  CHECK_FALSE(engine.plan().has_changes());
  // Applying the no-change plan changes nothing and is still recorded.
  const ApplyReport report = engine.apply(second);
  CHECK(report.result == ApplyResult::succeeded);
  CHECK(report.objects.empty());
  CHECK_FALSE(engine.plan().has_changes());
}

TEST_CASE("plans and their reports are deterministic; the fingerprint follows live state", "[plan][render]") {
  Engine engine("edge");
  engine.load(example_files("edge-daemonset"));
  const Plan first = engine.plan();
  const Plan second = engine.plan();
  CHECK(first.fingerprint == second.fingerprint);
  for (const ReportFormat format : {ReportFormat::text, ReportFormat::markdown, ReportFormat::json})
    CHECK(render_plan(first, format, false) == render_plan(second, format, false));
  const std::string colored = render_plan(first, ReportFormat::text, true);
  CHECK(colored.find("\033[") != std::string::npos);
  CHECK(render_plan(first, ReportFormat::text, false).find('\033') == std::string::npos);
  CHECK(render_plan(first, ReportFormat::markdown, false).find('\033') == std::string::npos);

  engine.converge();
  const Plan clean = engine.plan();
  engine.sim().apply_foreign({"edge-central", "apps", "DaemonSet", "security", "security-agent"},
                             *json(R"({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"security-agent","namespace":"security",
                                       "labels":{"app":"hacked"}}})"));
  const Plan drifted = engine.plan();
  CHECK(drifted.has_changes());
  CHECK(drifted.fingerprint != clean.fingerprint);
}

TEST_CASE("prune never deletes a Namespace holding objects Meridian does not manage, unless it opts in", "[plan][prune]") {
  Engine engine;
  const std::string team = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n";
  const std::string team_opted_in = team + "  annotations:\n    meridian.io/prune-namespace-contents: \"true\"\n";
  Files files = {{"clusters.yaml", cluster_yaml("c1", "cn-hangzhou")},
                 {"clusters/c1/team.yaml", team},
                 {"clusters/c1/config.yaml", configmap_yaml("a") + "---\n" + configmap_yaml("b") + "---\n" + configmap_yaml("c") +
                                                 "---\n" + configmap_yaml("mine", "team")}};
  engine.load(files);
  engine.converge();
  // Someone else's object inside Meridian's namespace.
  const ObjectRef theirs{"c1", "", "ConfigMap", "team", "theirs"};
  engine.sim().apply_foreign(theirs, *json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"theirs","namespace":"team"},"data":{"k":"v"}})"));
  PlanOptions prune;
  prune.prune = true;

  SECTION("refused, visibly: a warning, and not \"matches Git\"") {
    files.erase("clusters/c1/team.yaml");
    files["clusters/c1/config.yaml"] = configmap_yaml("a") + "---\n" + configmap_yaml("b") + "---\n" + configmap_yaml("c");
    engine.load(files);
    const Plan plan = engine.plan(prune);
    CHECK(changes_of(plan) == std::vector<std::string>{"delete ConfigMap/team/mine"});
    REQUIRE(plan.warnings.size() == 1);
    CHECK(plan.warnings[0] == "Namespace/team (cluster c1) is no longer in Git, but it holds 1 object Meridian does not manage "
                              "(ConfigMap/team/theirs); not deleting it: set meridian.io/prune-namespace-contents: \"true\" on it "
                              "to delete them with it");
    CHECK(plan.withheld == 1);
    REQUIRE(engine.apply(plan).result == ApplyResult::succeeded);
    CHECK(engine.sim().get(theirs) != nullptr);
    CHECK(engine.sim().get({"c1", "", "Namespace", "", "team"}) != nullptr);
    // Nothing else to do, but the fleet does not match Git, and the plan says so.
    const Plan after = engine.plan(prune);
    CHECK_FALSE(after.has_changes());
    CHECK(after.differs_from_git());
    const std::string text = render_plan(after, ReportFormat::text, false);
    CHECK(text.find("No changes. The live fleet matches Git.") == std::string::npos);
    CHECK(text.find("No changes will be made, but the live fleet does not match Git: 1 object no longer in Git is kept by a "
                    "prune guard (see Warnings).") != std::string::npos);
    CHECK(render_plan(after, ReportFormat::json, false).find("\"withheld\": 1") != std::string::npos);
  }
  SECTION("a Namespace that opted in goes, with what it holds; the mass guard counts its contents") {
    files["clusters/c1/team.yaml"] = team_opted_in;
    engine.load(files);
    engine.converge();
    files.erase("clusters/c1/team.yaml");
    files["clusters/c1/config.yaml"] = configmap_yaml("a") + "---\n" + configmap_yaml("b") + "---\n" + configmap_yaml("c");
    engine.load(files);
    // Two of six managed objects, but the namespace takes a third with it: 3 of 6 is not more than half.
    Plan plan = engine.plan(prune);
    CHECK(changes_of(plan) == std::vector<std::string>{"delete ConfigMap/team/mine", "delete Namespace/team"});
    CHECK(plan.warnings.empty());
    // Two more foreign objects inside: 2 + 3 of 6 is, and the guard says what it counted.
    for (const char* name : {"theirs-2", "theirs-3"})
      engine.sim().apply_foreign({"c1", "", "ConfigMap", "team", name},
                                 *json(std::string(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")") + name +
                                       R"(","namespace":"team"},"data":{"k":"v"}})"));
    plan = engine.plan(prune);
    CHECK_FALSE(plan.has_changes());
    CHECK(plan.warnings == std::vector<std::string>{"refusing to prune 2 of 6 managed objects and 3 objects inside the namespaces they "
                                                    "delete (more than half) without --allow-mass-prune"});
    CHECK(plan.withheld == 2);
  }
}

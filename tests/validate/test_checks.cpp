// Checks across documents (duplicates, references between objects, target clusters, one Fleet,
// selectors) on small repositories committed into a temporary git repository, and the order and
// determinism of findings.
#include "validate/validate.h"

#include "../source/git_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace meridian;
using namespace meridian::testing;

namespace {

using Files = std::vector<std::pair<std::string, std::string>>;

// Commits `files` into a fresh repository and validates the commit (under `path`).
std::vector<Finding> validate_files(const Files& files, const std::string& path = "") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  git_init(repo);
  for (const auto& [name, text] : files)
    write_file(repo / name, text);
  commit_all(repo, "test");
  GitOptions options;
  options.cache_dir = (dir / "cache").string();
  GitRepository repository = GitRepository::open(repo.string(), options);
  ManifestCache cache;
  const ManifestSet set = load_manifests(repository, repository.resolve(""), path, cache);
  return validate_manifests(set);
}

std::string describe(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& finding : findings)
    out += finding.format() + "\n";
  return out;
}

std::vector<Finding> errors_with(const std::vector<Finding>& findings, std::string_view needle) {
  std::vector<Finding> out;
  for (const Finding& finding : findings)
    if (finding.severity == Severity::error && contains(finding.format(), needle))
      out.push_back(finding);
  return out;
}

std::string cluster(const std::string& name, const std::string& type = "Managed") {
  return "apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: " + name + "\nspec:\n  type: " + type +
         "\n  region: cn-hangzhou\n";
}

std::string node_pool(const std::string& name, const std::string& cluster_name) {
  return "apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: " + name + "\nspec:\n  cluster: " + cluster_name +
         "\n  region: cn-hangzhou\n  type: ess\n  instanceTypes: [ecs.g7.large]\n  desiredSize: 1\n";
}

std::string fleet(const std::string& name) {
  return "apiVersion: meridian.io/v1alpha1\nkind: Fleet\nmetadata:\n  name: " + name +
         "\nspec:\n  rollout:\n    regions: [cn-hangzhou]\n";
}

// A workload; `annotation` empty leaves the target cluster to the file's path.
std::string workload(const std::string& kind, const std::string& name, const std::string& annotation,
                     const std::string& selector = "    matchLabels:\n      app: web\n", const std::string& labels = "app: web",
                     const std::string& api_version = "apps/v1", const std::string& ns = "default") {
  std::string text = "apiVersion: " + api_version + "\nkind: " + kind + "\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\n";
  if (!annotation.empty())
    text += "  annotations:\n    meridian.io/cluster: " + annotation + "\n";
  text += "spec:\n  selector:\n" + selector + "  template:\n    metadata:\n      labels:\n        " + labels +
          "\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.25\n";
  return text;
}

} // namespace

TEST_CASE("a valid repository has no findings", "[checks]") {
  const std::vector<Finding> findings = validate_files({
      {"clusters.yaml", cluster("c1") + "---\n" + cluster("edge", "Edge")},
      {"pools.yaml", node_pool("p1", "c1")},
      {"fleet.yaml", fleet("fleet")},
      {"apps/web.yaml", workload("Deployment", "web", "c1")},
      {"clusters/edge/agent.yaml", workload("DaemonSet", "agent", "")},
  });
  INFO(describe(findings));
  CHECK(findings.empty());
}

TEST_CASE("the same object defined twice names both places", "[checks]") {
  const std::string web = workload("Deployment", "web", "c1");
  SECTION("in two files") {
    const std::vector<Finding> findings = validate_files({{"a.yaml", cluster("c1") + "---\n" + web}, {"b.yaml", web}});
    INFO(describe(findings));
    const std::vector<Finding> found = errors_with(findings, "duplicate definition");
    REQUIRE(found.size() == 1);
    // reported on the later one (tree order), pointing at its metadata.name and naming the first
    CHECK(found[0].file == "b.yaml");
    CHECK(found[0].line == 4);
    CHECK(found[0].object == "Deployment/default/web");
    CHECK(found[0].field == "metadata.name");
    CHECK(found[0].message == "duplicate definition: also defined at a.yaml:9");
  }
  SECTION("once by annotation, once by path") {
    const std::vector<Finding> findings =
        validate_files({{"cluster.yaml", cluster("c1")}, {"apps/web.yaml", web}, {"clusters/c1/web.yaml", workload("Deployment", "web", "")}});
    INFO(describe(findings));
    const std::vector<Finding> found = errors_with(findings, "duplicate definition");
    REQUIRE(found.size() == 1);
    CHECK(contains(found[0].format(), "apps/web.yaml"));
    CHECK(contains(found[0].format(), "clusters/c1/web.yaml"));
  }
  SECTION("two versions of one group are one object") {
    const std::string v1alpha1 = workload("DaemonSet", "agent", "c1", "    matchLabels:\n      app: web\n", "app: web", "apps.kruise.io/v1alpha1");
    const std::string v1beta1 = workload("DaemonSet", "agent", "c1", "    matchLabels:\n      app: web\n", "app: web", "apps.kruise.io/v1beta1");
    const std::vector<Finding> findings = validate_files({{"c.yaml", cluster("c1")}, {"a.yaml", v1alpha1}, {"b.yaml", v1beta1}});
    INFO(describe(findings));
    CHECK(errors_with(findings, "duplicate definition").size() == 1);
  }
  SECTION("different namespace, cluster, kind or group are different objects") {
    const std::vector<Finding> findings = validate_files({
        {"clusters.yaml", cluster("c1") + "---\n" + cluster("c2")},
        {"a.yaml", web},
        {"b.yaml", workload("Deployment", "web", "c1", "    matchLabels:\n      app: web\n", "app: web", "apps/v1", "other")},
        {"c.yaml", workload("Deployment", "web", "c2")},
        {"d.yaml", workload("DaemonSet", "web", "c1")},
        {"e.yaml", workload("DaemonSet", "web", "c1", "    matchLabels:\n      app: web\n", "app: web", "apps.kruise.io/v1alpha1")},
    });
    INFO(describe(findings));
    CHECK(findings.empty());
  }
  SECTION("Meridian's own kinds too") {
    const std::vector<Finding> findings = validate_files({{"a.yaml", cluster("c1")}, {"b.yaml", cluster("c1")}});
    const std::vector<Finding> found = errors_with(findings, "duplicate definition");
    REQUIRE(found.size() == 1);
    CHECK(found[0].object == "Cluster/c1");
    CHECK(found[0].message == "duplicate definition: also defined at a.yaml:1");
  }
}

TEST_CASE("a NodePool must name a Cluster of the repository", "[checks]") {
  const std::vector<Finding> findings =
      validate_files({{"clusters.yaml", cluster("c1") + "---\n" + cluster("c2")}, {"pools.yaml", node_pool("p1", "c3")}});
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].file == "pools.yaml");
  CHECK(findings[0].line == 6);
  CHECK(findings[0].object == "NodePool/p1");
  CHECK(findings[0].field == "spec.cluster");
  CHECK(findings[0].message == "names no Cluster in the repository: \"c3\"; known clusters: c1, c2");

  const std::vector<Finding> alone = validate_files({{"pools.yaml", node_pool("p1", "c1")}});
  REQUIRE(alone.size() == 1);
  CHECK(contains(alone[0].message, "the repository defines no Cluster"));
}

TEST_CASE("a Serverless cluster has no node pools", "[checks]") {
  const std::vector<Finding> findings = validate_files({{"clusters.yaml", cluster("sl", "Serverless")}, {"pools.yaml", node_pool("p1", "sl")}});
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].file == "pools.yaml");
  CHECK(findings[0].line == 6);
  CHECK(findings[0].field == "spec.cluster");
  CHECK(contains(findings[0].message, "Serverless"));
  CHECK(validate_files({{"clusters.yaml", cluster("ed", "Edge")}, {"pools.yaml", node_pool("p1", "ed")}}).empty());
}

TEST_CASE("a Kubernetes object needs a target cluster the repository defines", "[checks]") {
  SECTION("unknown cluster from the path clusters/<name>/") {
    const std::vector<Finding> findings = validate_files({{"c.yaml", cluster("c1")}, {"clusters/mars/web.yaml", workload("Deployment", "web", "")}});
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].file == "clusters/mars/web.yaml");
    CHECK(findings[0].line == 1);
    CHECK(findings[0].object == "Deployment/default/web");
    CHECK(findings[0].message ==
          "target cluster \"mars\" (from the path clusters/<name>/) is not defined in the repository; known clusters: c1");
  }
  SECTION("unknown cluster from the annotation") {
    const std::vector<Finding> findings = validate_files({{"c.yaml", cluster("c1")}, {"web.yaml", workload("Deployment", "web", "mars")}});
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].line == 7); // the annotation's line
    CHECK(findings[0].field == "metadata.annotations.meridian.io/cluster");
    CHECK(contains(findings[0].message, "target cluster \"mars\" is not defined"));
  }
  SECTION("the annotation wins over the path") {
    CHECK(validate_files({{"c.yaml", cluster("c1")}, {"clusters/mars/web.yaml", workload("Deployment", "web", "c1")}}).empty());
  }
  SECTION("no cluster at all") {
    for (const char* file : {"web.yaml", "clusters/web.yaml", "apps/clusters-web/web.yaml"}) {
      INFO(file);
      const std::vector<Finding> findings = validate_files({{"c.yaml", cluster("c1")}, {file, workload("Deployment", "web", "")}});
      REQUIRE(findings.size() == 1);
      CHECK(findings[0].file == file);
      CHECK(findings[0].line == 3); // metadata
      CHECK(contains(findings[0].message, "no target cluster"));
    }
  }
  SECTION("clusters/<name>/ counts from the --path root") {
    const Files files = {{"fleet/c.yaml", cluster("c1")}, {"fleet/clusters/c1/web.yaml", workload("Deployment", "web", "")}};
    CHECK(validate_files(files, "fleet").empty());
    // from the repository root, fleet/clusters/c1/ is not clusters/<name>/
    const std::vector<Finding> from_root = validate_files(files, "");
    REQUIRE(from_root.size() == 1);
    CHECK(contains(from_root[0].message, "no target cluster"));
  }
}

TEST_CASE("at most one Fleet", "[checks]") {
  const std::vector<Finding> findings = validate_files({{"a.yaml", fleet("one")}, {"b.yaml", fleet("two")}});
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].file == "b.yaml");
  CHECK(findings[0].object == "Fleet/two");
  CHECK(findings[0].line == 1);
  CHECK(contains(findings[0].message, "at most one"));
  CHECK(contains(findings[0].message, "a.yaml:1"));
  const std::vector<Finding> three = validate_files({{"a.yaml", fleet("one") + "---\n" + fleet("two") + "---\n" + fleet("three")}});
  CHECK(errors_with(three, "second Fleet").size() == 2);
}

TEST_CASE("a workload's selector must match its template labels", "[checks]") {
  const std::string c1 = cluster("c1");
  auto check_selector = [&](const std::string& kind, const std::string& selector, const std::string& labels) {
    return validate_files({{"c.yaml", c1}, {"w.yaml", workload(kind, "w", "c1", selector, labels)}});
  };
  SECTION("matchLabels that differ") {
    for (const char* kind : {"DaemonSet", "Deployment"}) {
      INFO(kind);
      const std::vector<Finding> findings = check_selector(kind, "    matchLabels:\n      app: web\n", "app: web-v2");
      REQUIRE(findings.size() == 1);
      CHECK(findings[0].field == "spec.selector");
      CHECK(findings[0].line == 9);
      CHECK(contains(findings[0].message, "does not match spec.template.metadata.labels"));
      CHECK(contains(findings[0].message, "web-v2"));
    }
  }
  SECTION("expressions that match") {
    CHECK(check_selector("DaemonSet", "    matchExpressions:\n      - {key: app, operator: In, values: [web, api]}\n", "app: web").empty());
    CHECK(check_selector("DaemonSet", "    matchExpressions:\n      - {key: app, operator: NotIn, values: [api]}\n", "app: web").empty());
    CHECK(check_selector("DaemonSet", "    matchExpressions:\n      - {key: app, operator: Exists}\n", "app: web").empty());
    CHECK(check_selector("DaemonSet", "    matchExpressions:\n      - {key: tier, operator: DoesNotExist}\n", "app: web").empty());
  }
  SECTION("expressions that do not") {
    CHECK(check_selector("DaemonSet", "    matchExpressions:\n      - {key: app, operator: In, values: [api]}\n", "app: web").size() == 1);
    CHECK(check_selector("DaemonSet", "    matchExpressions:\n      - {key: app, operator: NotIn, values: [web]}\n", "app: web").size() == 1);
    CHECK(check_selector("DaemonSet", "    matchExpressions:\n      - {key: tier, operator: Exists}\n", "app: web").size() == 1);
    CHECK(check_selector("DaemonSet", "    matchExpressions:\n      - {key: app, operator: DoesNotExist}\n", "app: web").size() == 1);
    CHECK(check_selector("DaemonSet",
                         "    matchLabels:\n      app: web\n    matchExpressions:\n      - {key: tier, operator: In, values: [front]}\n",
                         "app: web").size() == 1);
  }
}

TEST_CASE("findings are sorted, deduplicated and deterministic", "[checks]") {
  const Files files = {
      {"z.yaml", node_pool("p1", "nowhere")},
      {"a.yaml", "apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: Bad_Name\nspec:\n  type: Edgy\n  region: cn-hangzhou\n"},
      {"m.yaml", "key: [unclosed\n"},
      {"b.yaml", fleet("one") + "---\n" + fleet("two")},
      {"clusters/mars/web.yaml", workload("Deployment", "web", "")},
  };
  const std::vector<Finding> first = validate_files(files);
  const std::vector<Finding> second = validate_files(files);
  INFO(describe(first));
  CHECK(describe(first) == describe(second));
  CHECK(std::is_sorted(first.begin(), first.end()));
  CHECK(std::adjacent_find(first.begin(), first.end(), [](const Finding& a, const Finding& b) { return !(a < b) && !(b < a); }) ==
        first.end());
  // Loader findings (m.yaml does not parse) are merged in, in file order.
  std::vector<std::string> files_in_order;
  for (const Finding& finding : first)
    if (files_in_order.empty() || files_in_order.back() != finding.file)
      files_in_order.push_back(finding.file);
  CHECK(files_in_order == std::vector<std::string>{"a.yaml", "b.yaml", "clusters/mars/web.yaml", "m.yaml", "z.yaml"});
  for (const Finding& finding : first)
    CHECK(finding.line > 0);
}

TEST_CASE("warnings do not fail validation; findings format as file:line: object: field: message", "[checks]") {
  Finding warning{"a.yaml", 3, "Cluster/c1", "spec.type", "deprecated", Severity::warning};
  Finding error{"a.yaml", 0, "", "", "binary content", Severity::error};
  CHECK(is_valid({}));
  CHECK(is_valid({warning}));
  CHECK_FALSE(is_valid({warning, error}));
  CHECK(warning.format() == "a.yaml:3: warning: Cluster/c1: spec.type: deprecated");
  CHECK(error.format() == "a.yaml: binary content");
}

TEST_CASE("schema findings of a large repository, checked on several threads, come in document order", "[checks]") {
  // 1,200 documents in 40 files, every 7th with a schema error: enough for every core to take a share.
  Files files = {{"clusters.yaml", cluster("hz")}};
  std::vector<std::string> expected;
  for (int file = 0; file < 40; ++file) {
    std::string text;
    for (int document = 0; document < 30; ++document) {
      const int number = file * 30 + document;
      const bool broken = number % 7 == 3;
      const std::string name = "web-" + std::to_string(number);
      std::string manifest = workload("Deployment", name, "hz");
      if (broken)
        manifest += "  replicas: many\n";
      text += (document == 0 ? "" : "---\n") + manifest;
      if (broken)
        expected.push_back("Deployment/default/" + name);
    }
    char file_name[32];
    std::snprintf(file_name, sizeof file_name, "apps/%02d.yaml", file);
    files.emplace_back(file_name, text);
  }
  const std::vector<Finding> first = validate_files(files);
  INFO(describe(first));
  std::vector<std::string> objects;
  for (const Finding& finding : first) {
    CHECK(contains(finding.format(), "spec.replicas"));
    objects.push_back(finding.object);
  }
  CHECK(objects == expected);
  CHECK(describe(validate_files(files)) == describe(first));
}

TEST_CASE("apiVersion and kind must be names as Kubernetes accepts them; the error names file, line and field",
          "[validate][names]") {
  const auto config_map = [](const std::string& api_version, const std::string& kind) {
    return "apiVersion: " + api_version + "\nkind: " + kind + "\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  key: value\n";
  };
  const std::vector<std::pair<std::string, std::string>> bad_kinds = {
      {"\"Config/Map\"", "\"Config/Map\""}, {"\"../Kind\"", "\"../Kind\""}, {"\"Config\\nMap\"", "\"Config\\nMap\""},
      {"\"\\e[2JMap\"", "\"\\u001B[2JMap\""}, {"\"9Lives\"", "\"9Lives\""}, {"\"Config-Map\"", "\"Config-Map\""}};
  for (const auto& [kind, shown] : bad_kinds) {
    const auto findings = validate_files({{"clusters/c1/app.yaml", config_map("v1", kind)}, {"clusters.yaml", cluster("c1")}});
    INFO(describe(findings));
    const auto errors = errors_with(findings, "invalid kind");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].format() == "clusters/c1/app.yaml:2: kind: invalid kind " + shown +
                                    ": expected a CamelCase name of letters and digits starting with a letter, e.g. ConfigMap");
    CHECK(errors[0].format().find('\033') == std::string::npos);
    CHECK(errors[0].format().find('\n') == std::string::npos);
  }
  for (const std::string api_version : {"\"apps/v1/x\"", "\"Apps/v1\"", "\"apps/\"", "\"/v1\"", "\"a..b/v1\"", "\"v1\\e[31m\"", "\"V1\""}) {
    const auto findings = validate_files({{"clusters/c1/app.yaml", config_map(api_version, "ConfigMap")}, {"clusters.yaml", cluster("c1")}});
    INFO(api_version << "\n" << describe(findings));
    const auto errors = errors_with(findings, "invalid apiVersion");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].format().rfind("clusters/c1/app.yaml:1: apiVersion: invalid apiVersion ", 0) == 0);
    CHECK(errors[0].format().find('\033') == std::string::npos);
  }
  for (const auto& [api_version, kind] : std::vector<std::pair<std::string, std::string>>{
           {"v1", "ConfigMap"}, {"apps/v1", "Deployment"}, {"scheduling.alibabacloud.com/v1alpha1", "ResourcePolicy"}, {"example.com/v1", "K8sThing2"}}) {
    const auto findings = validate_files({{"clusters/c1/app.yaml", config_map(api_version, kind)}, {"clusters.yaml", cluster("c1")}});
    INFO(describe(findings));
    CHECK(errors_with(findings, "invalid").empty());
  }
}

TEST_CASE("a finding prints control characters of a repository's names escaped", "[validate][names]") {
  Finding finding{"clusters/\033[2J.yaml", 3, "ConfigMap/a\nb", "data.\x9b", "bad \x7f value"};
  CHECK(finding.format() == "clusters/\\x1b[2J.yaml:3: ConfigMap/a\\nb: data.\\x9b: bad \\x7f value");
  finding.field = "data.\xc2\x9b";
  CHECK(finding.format() == "clusters/\\x1b[2J.yaml:3: ConfigMap/a\\nb: data.\\u009b: bad \\x7f value");
}

// The contract between the backends' health: the same live objects (health_cases/*.json: an
// object, the objects around it as the API server would return them, and the health expected) go
// to the kube backend's health over the test API server (it GETs the object and lists its
// ReplicaSets and pods by label selector, keeping those it controls) and to the simulator's (its
// World holding the same objects, pods found through its ownership index). Both end in
// kube_rules/health.h's rules, so a difference is a difference in how the backends gather what the
// rules need. A real-cluster variant is scenario_health_contract_real_cluster.sh.
#include "../backend/kube/fake_apiserver.h"

#include "simulated_health.h"

#include "backend/kube/kube.h"
#include "kube_rules/accessors.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace meridian;
using namespace meridian::testing;
namespace fs = std::filesystem;

namespace {

const TestCertificates& certificates() {
  static const TestCertificates certs = make_certificates();
  return certs;
}

struct HealthCase {
  std::string name;
  JsonDocument document;
  ObjectRef ref;
  Health expected;
};

HealthStatus status_named(const std::string& name) {
  for (const HealthStatus status :
       {HealthStatus::healthy, HealthStatus::progressing, HealthStatus::degraded, HealthStatus::missing, HealthStatus::suspended})
    if (to_string(status) == name)
      return status;
  FAIL("unknown health status " << name);
  return HealthStatus::missing;
}

std::vector<HealthCase> load_cases() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(MERIDIAN_SOURCE_ROOT) / "tests/kube_rules/health_cases"))
    if (entry.path().extension() == ".json")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<HealthCase> cases;
  for (const fs::path& file : files) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    HealthCase loaded;
    loaded.name = file.stem().string();
    INFO(file.string());
    REQUIRE_FALSE(parse_json(text.str(), loaded.document));
    const Json& object = *find_member(loaded.document, "object");
    loaded.ref = {"edge", rules::text_at(object, "group"), rules::text_at(object, "kind"), rules::text_at(object, "namespace"),
                  rules::text_at(object, "name")};
    loaded.expected = {status_named(rules::text_at(loaded.document, "expect.status")), rules::text_at(loaded.document, "expect.message")};
    cases.push_back(std::move(loaded));
  }
  return cases;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char pattern[] = "/tmp/meridian-health-contract-XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path); }
};

//! The simulator's health of the case's object, its World holding the case's objects.
Health simulator_health(const HealthCase& health_case) {
  std::vector<const Json*> objects;
  for (const auto& object : find_member(health_case.document, "objects")->GetArray())
    objects.push_back(&object);
  return health_contract::simulated_health(objects, health_case.ref);
}

//! The kube backend's health of the case's object, the objects stored in a test API server.
Health kube_health(const HealthCase& health_case) {
  FakeApiServer server{certificates()};
  server.crd_establish_after_gets = 1 << 30; // the case's CRD status stays as written
  server.add_token("good-token", "admin");
  for (const auto& object : find_member(health_case.document, "objects")->GetArray())
    server.put(write_compact(object));
  TempDir dir;
  std::ofstream(dir.path / "kubeconfig") << fmt::format(R"(apiVersion: v1
kind: Config
current-context: test
clusters: [{{name: fake, cluster: {{server: "{}", certificate-authority: {}}}}}]
users: [{{name: me, user: {{token: good-token}}}}]
contexts: [{{name: test, context: {{cluster: fake, user: me}}}}]
)",
                                                        server.url(), certificates().ca_file);
  kube::KubeOptions options;
  options.clusters["edge"] = {(dir.path / "kubeconfig").string(), "test"};
  options.fallback.reset();
  options.max_attempts = 1;
  return kube::open_kube_backend(options)->health(health_case.ref);
}

} // namespace

TEST_CASE("the kube backend and the simulator give the same live objects the same health") {
  const std::vector<HealthCase> cases = load_cases();
  REQUIRE(cases.size() >= 14);
  for (const HealthCase& health_case : cases) {
    SECTION(health_case.name) {
      const Health simulated = simulator_health(health_case);
      const Health live = kube_health(health_case);
      CHECK(to_string(simulated.status) == to_string(health_case.expected.status));
      CHECK(simulated.message == health_case.expected.message);
      CHECK(to_string(live.status) == to_string(health_case.expected.status));
      CHECK(live.message == health_case.expected.message);
    }
  }
}

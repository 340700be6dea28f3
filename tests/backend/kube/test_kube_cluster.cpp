// The kube backend against a real cluster: runs when MERIDIAN_TEST_KUBECONFIG names a kubeconfig
// (its current context is used; everything happens in a throwaway namespace that is deleted at the
// end), and is skipped, saying so, when it is not set.
#include "backend/kube/kube.h"
#include "base/error.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <unistd.h>

using namespace meridian;

namespace {

JsonDocument parse(const std::string& text) {
  JsonDocument document;
  REQUIRE_FALSE(parse_json(text, document));
  return document;
}

std::string text_at(const Json& value, std::string_view path) {
  const Json* found = find_path(value, path);
  return found != nullptr && found->IsString() ? found->GetString() : "";
}

} // namespace

TEST_CASE("a real cluster: namespace, server-side apply, dry-run, list_managed, health, delete") {
  const char* kubeconfig = std::getenv("MERIDIAN_TEST_KUBECONFIG");
  if (kubeconfig == nullptr || *kubeconfig == '\0') {
    WARN("skipped: MERIDIAN_TEST_KUBECONFIG is not set (point it at a kubeconfig of a disposable cluster to run this suite)");
    return;
  }
  kube::KubeOptions options;
  options.clusters["real"] = {kubeconfig, ""};
  options.fallback.reset();
  auto backend = kube::open_kube_backend(options);
  const std::string ns = fmt::format("meridian-test-{}", getpid());
  const std::string owner = ns; // a label value as it is
  const ObjectRef namespace_ref{"real", "", "Namespace", "", ns};
  const ObjectRef config_ref{"real", "", "ConfigMap", ns, "settings"};

  CHECK(backend->health({"", "meridian.io", "Cluster", "", "real"}).status == HealthStatus::healthy);
  backend->apply(namespace_ref,
                 parse(fmt::format(R"({{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{}","labels":{{"meridian.io/owner":"{}"}},
                   "annotations":{{"meridian.io/managed-by":"{}","meridian.io/tracking-id":"{}"}}}}}})", ns, owner, owner, tracking_id(namespace_ref))),
                 false);
  const std::string config = fmt::format(
      R"({{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"settings","namespace":"{}","labels":{{"meridian.io/owner":"{}"}},
         "annotations":{{"meridian.io/managed-by":"{}","meridian.io/tracking-id":"{}"}}}},"data":{{"level":"info"}}}})",
      ns, owner, owner, tracking_id(config_ref));
  const auto dry = backend->apply(config_ref, parse(config), true);
  CHECK(text_at(*dry, "data.level") == "info");
  CHECK(backend->get(config_ref) == nullptr);
  const auto created = backend->apply(config_ref, parse(config), false);
  CHECK_FALSE(text_at(*created, "metadata.uid").empty());
  CHECK(backend->health(config_ref).status == HealthStatus::healthy);
  bool listed = false;
  for (const LiveObject& live : backend->list_managed(owner))
    listed = listed || live.ref == config_ref;
  CHECK(listed);
  backend->remove(config_ref, false);
  CHECK(backend->health(config_ref).status == HealthStatus::missing);
  backend->remove(namespace_ref, false);
  CHECK(backend->health(namespace_ref).status == HealthStatus::missing);
}

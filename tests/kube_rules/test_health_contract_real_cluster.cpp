// The health contract on a real API server (the test kit, FAKE_RUN_PODS): objects created with
// kubectl in a namespace of their own (a healthy Deployment, one whose pods cannot be scheduled, a
// StatefulSet, a DaemonSet, bare Pods, a CRD whose names conflict, a Namespace held in
// Terminating by a finalizer) are read back with `kubectl get -o json`, put in a simulator World
// as they are, and each object's health there is compared with the kube backend's on the live
// objects. A comparison counts only when the objects did not change while the backend read them
// (same JSON before and after). Skipped (77) without MERIDIAN_TEST_KUBECONFIG.
#include "simulated_health.h"

#include "backend/kube/kube.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

using namespace meridian;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kNamespace = "meridian-health-contract";
constexpr std::string_view kHeldNamespace = "meridian-health-held";

std::string kubectl_command() {
  const char* dir = std::getenv("MERIDIAN_TEST_KUBE_DIR");
  std::string program = "kubectl";
  if (dir != nullptr && fs::exists(fs::path(dir) / "bin/kubectl"))
    program = (fs::path(dir) / "bin/kubectl").string();
  return fmt::format("'{}' --kubeconfig '{}'", program, std::getenv("MERIDIAN_TEST_KUBECONFIG"));
}

//! Runs kubectl with `args`, `input` on its stdin; returns its stdout (stderr goes to the log).
std::string kubectl(const std::string& args, const std::string& input = "", bool check = true) {
  const fs::path in = fs::temp_directory_path() / fmt::format("meridian-health-contract-{}.in", ::getpid());
  { std::FILE* file = std::fopen(in.c_str(), "w"); std::fwrite(input.data(), 1, input.size(), file); std::fclose(file); }
  const std::string command = fmt::format("{} {} <'{}'", kubectl_command(), args, in.string());
  std::FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[65536];
  for (size_t read; (read = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    out.append(buffer, read);
  const int status = ::pclose(pipe);
  fs::remove(in);
  if (check && status != 0)
    FAIL("kubectl " << args << " failed (" << status << "): " << out);
  return out;
}

const std::string kObjects = fmt::format(R"(apiVersion: v1
kind: Namespace
metadata: {{name: {0}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {0}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: nginx:1.25, resources: {{requests: {{cpu: 10m}}}}}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: gpu-hog, namespace: {0}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: gpu-hog}}}}
  template:
    metadata: {{labels: {{app: gpu-hog}}}}
    spec: {{containers: [{{name: train, image: trainer:1, resources: {{limits: {{nvidia.com/gpu: "5"}}}}}}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: {0}}}
spec:
  replicas: 2
  serviceName: db
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec: {{containers: [{{name: db, image: postgres:16}}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: {0}}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec: {{containers: [{{name: agent, image: agent:1}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: sleeper, namespace: {0}}}
spec: {{containers: [{{name: sleep, image: busybox:1.36}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: stuck, namespace: {0}}}
spec: {{containers: [{{name: big, image: busybox:1.36, resources: {{requests: {{cpu: "64"}}}}}}]}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.health.example.com}}
spec:
  group: health.example.com
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions: [{{name: v1, served: true, storage: true, schema: {{openAPIV3Schema: {{type: object}}}}}}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: gadgets.health.example.com}}
spec:
  group: health.example.com
  scope: Namespaced
  names: {{plural: gadgets, singular: widget, kind: Gadget}}
  versions: [{{name: v1, served: true, storage: true, schema: {{openAPIV3Schema: {{type: object}}}}}}]
---
apiVersion: v1
kind: Namespace
metadata: {{name: {1}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: hold, namespace: {1}, finalizers: [health.example.com/hold]}}
)",
                                         kNamespace, kHeldNamespace);

void clean_up() {
  kubectl(fmt::format("-n {} patch configmap hold --type merge -p '{{\"metadata\":{{\"finalizers\":null}}}}'", kHeldNamespace), "", false);
  kubectl(fmt::format("delete namespace {} {} --ignore-not-found --wait=true --timeout=120s", kNamespace, kHeldNamespace), "", false);
  kubectl("delete crd widgets.health.example.com gadgets.health.example.com --ignore-not-found --wait=true --timeout=60s", "", false);
}

//! Every object the health of the objects under test reads, as the API server returns them.
JsonDocument snapshot() {
  const std::string text = fmt::format(
      R"({{"a":{},"b":{},"c":{},"d":{}}})", kubectl(fmt::format("-n {} get deployments,replicasets,statefulsets,daemonsets,pods -o json", kNamespace)),
      kubectl("get nodes -o json"), kubectl("get crd widgets.health.example.com gadgets.health.example.com -o json"),
      kubectl(fmt::format("get namespace {} {} -o json", kNamespace, kHeldNamespace)));
  JsonDocument document;
  REQUIRE_FALSE(parse_json(text, document));
  return document;
}

Health simulator_health(const JsonDocument& snapshot, const ObjectRef& ref) {
  std::vector<const Json*> objects;
  for (const auto& list : snapshot.GetObject())
    for (const auto& object : find_member(list.value, "items")->GetArray())
      objects.push_back(&object);
  return health_contract::simulated_health(objects, ref);
}

//! The kube backend's message without what it alone adds: the workload's last Warning event.
std::string without_last_warning(std::string message) {
  if (const size_t at = message.find(" (last warning: "); at != std::string::npos)
    message.erase(at);
  return message;
}

} // namespace

TEST_CASE("on a real API server, the kube backend and the simulator give the same objects the same health") {
  if (std::getenv("MERIDIAN_TEST_KUBECONFIG") == nullptr) {
    std::cout << "skipped: MERIDIAN_TEST_KUBECONFIG is not set (tools/with-kube-kit starts a real control plane and sets it)\n";
    std::exit(77);
  }
  clean_up();
  kubectl("apply -f -", kObjects);
  kubectl(fmt::format("delete namespace {} --wait=false", kHeldNamespace));
  kubectl(fmt::format("-n {} rollout status deployment/web --timeout=90s", kNamespace));
  kubectl(fmt::format("-n {} rollout status statefulset/db --timeout=90s", kNamespace));
  kubectl(fmt::format("-n {} rollout status daemonset/agent --timeout=90s", kNamespace));

  kube::KubeOptions options;
  options.clusters["kit"] = {std::getenv("MERIDIAN_TEST_KUBECONFIG"), "kit"};
  options.fallback.reset();
  auto backend = kube::open_kube_backend(options);
  const std::string ns(kNamespace);
  const std::vector<std::pair<ObjectRef, HealthStatus>> expected = {
      {{"kit", "apps", "Deployment", ns, "web"}, HealthStatus::healthy},
      {{"kit", "apps", "Deployment", ns, "gpu-hog"}, HealthStatus::degraded},
      {{"kit", "apps", "StatefulSet", ns, "db"}, HealthStatus::healthy},
      {{"kit", "apps", "DaemonSet", ns, "agent"}, HealthStatus::healthy},
      {{"kit", "", "Pod", ns, "sleeper"}, HealthStatus::healthy},
      {{"kit", "", "Pod", ns, "stuck"}, HealthStatus::degraded},
      {{"kit", "apiextensions.k8s.io", "CustomResourceDefinition", "", "widgets.health.example.com"}, HealthStatus::healthy},
      {{"kit", "apiextensions.k8s.io", "CustomResourceDefinition", "", "gadgets.health.example.com"}, HealthStatus::progressing},
      {{"kit", "", "Namespace", "", std::string(kHeldNamespace)}, HealthStatus::progressing},
  };
  for (const auto& [ref, status] : expected) {
    INFO(ref.display());
    bool compared = false;
    for (int attempt = 0; attempt < 30 && !compared; ++attempt) {
      const JsonDocument before = snapshot();
      const Health live = backend->health(ref);
      const JsonDocument after = snapshot();
      if (write_compact(before) != write_compact(after) || live.status != status) {
        std::this_thread::sleep_for(std::chrono::seconds(1)); // controllers still at work
        continue;
      }
      compared = true;
      const Health simulated = simulator_health(before, ref);
      CHECK(to_string(simulated.status) == to_string(live.status));
      CHECK(simulated.message == without_last_warning(live.message));
      std::cout << ref.display() << ": " << to_string(live.status) << ": " << live.message << "\n";
    }
    CHECK(compared);
  }
  clean_up();
}

// The kube backend's pure parts: health rules (the simulator's, over live status), Status errors in
// one line, label selectors, kubeconfig resolution, the Meridian kube config file.
#include "backend/kube/client.h"
#include "backend/kube/health.h"
#include "backend/kube/kube.h"
#include "backend/kube/kubeconfig.h"
#include "base/error.h"
#include "kube_rules/selector.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace meridian;
using namespace meridian::kube;

namespace {

JsonDocument parse(const std::string& text) {
  JsonDocument document;
  const auto error = parse_json(text, document);
  REQUIRE_FALSE(error);
  return document;
}

//! A scratch directory removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char pattern[] = "/tmp/meridian-kube-unit-XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

//! Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> saved;
  ScopedEnv(std::string variable, const std::optional<std::string>& value) : name(std::move(variable)) {
    if (const char* old = std::getenv(name.c_str()))
      saved = old;
    if (value)
      setenv(name.c_str(), value->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    if (saved)
      setenv(name.c_str(), saved->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

Health health_of(const ObjectRef& ref, const std::string& live, const std::vector<std::string>& pods = {}) {
  const JsonDocument object = parse(live);
  std::vector<JsonDocument> pod_documents;
  for (const std::string& pod : pods)
    pod_documents.push_back(parse(pod));
  HealthInputs inputs;
  for (const JsonDocument& pod : pod_documents)
    inputs.pods.push_back(&pod);
  return live_health(ref, object, inputs);
}

const ObjectRef kDeployment{"edge", "apps", "Deployment", "default", "web"};
const ObjectRef kDaemonSet{"edge", "apps", "DaemonSet", "kube-system", "agent"};

} // namespace

TEST_CASE("deployment health follows kubectl rollout status") {
  CHECK(health_of(kDeployment, R"({"metadata":{"generation":2},"spec":{"replicas":2},"status":{"observedGeneration":1}})").message ==
        "Waiting for deployment spec update to be observed...");
  const Health updating = health_of(kDeployment,
                                    R"({"metadata":{"generation":2},"spec":{"replicas":3},"status":{"observedGeneration":2,"replicas":3,"updatedReplicas":1,"availableReplicas":3}})");
  CHECK(updating.status == HealthStatus::progressing);
  CHECK(updating.message == "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...");
  CHECK(health_of(kDeployment, R"({"metadata":{"generation":2},"spec":{"replicas":3},"status":{"observedGeneration":2,"replicas":4,"updatedReplicas":3,"availableReplicas":3}})")
            .message == "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...");
  const Health done = health_of(kDeployment,
                                R"({"metadata":{"generation":2},"spec":{"replicas":3},"status":{"observedGeneration":2,"replicas":3,"updatedReplicas":3,"availableReplicas":3}})");
  CHECK(done.status == HealthStatus::healthy);
  CHECK(done.message == "deployment \"web\" successfully rolled out");
  const Health deadline = health_of(
      kDeployment,
      R"({"metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":[{"type":"Progressing","status":"False","reason":"ProgressDeadlineExceeded"}]}})");
  CHECK(deadline.status == HealthStatus::degraded);
  CHECK(deadline.message == "deployment \"web\" exceeded its progress deadline");
  CHECK(health_of(kDeployment, R"({"metadata":{"generation":1},"spec":{"paused":true},"status":{"observedGeneration":1}})").status ==
        HealthStatus::suspended);
}

TEST_CASE("a pending pod with the scheduler's message degrades its workload") {
  const std::string pod =
      R"({"metadata":{"name":"web-1"},"spec":{},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable","message":"0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}]}})";
  const Health health =
      health_of(kDeployment, R"({"metadata":{"generation":1},"spec":{"replicas":1},"status":{"observedGeneration":1}})", {pod});
  CHECK(health.status == HealthStatus::degraded);
  CHECK(health.message == "pod web-1 is Pending: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu.");
  CHECK(health_of({"edge", "", "Pod", "default", "web-1"}, pod).status == HealthStatus::degraded);
}

TEST_CASE("daemon set health: rolling update, OnDelete, Kruise partition and pause") {
  const Health waiting = health_of(
      kDaemonSet,
      R"({"metadata":{"generation":3},"status":{"observedGeneration":3,"desiredNumberScheduled":4,"updatedNumberScheduled":2,"numberAvailable":4}})");
  CHECK(waiting.message == "Waiting for daemon set \"agent\" rollout to finish: 2 out of 4 new pods have been updated...");
  CHECK(health_of(kDaemonSet,
                  R"({"metadata":{"generation":3},"status":{"observedGeneration":3,"desiredNumberScheduled":4,"updatedNumberScheduled":4,"numberAvailable":3}})")
            .message == "Waiting for daemon set \"agent\" rollout to finish: 3 of 4 updated pods are available...");
  CHECK(health_of(kDaemonSet,
                  R"({"metadata":{"generation":3},"status":{"observedGeneration":3,"desiredNumberScheduled":4,"updatedNumberScheduled":4,"numberAvailable":4}})")
            .status == HealthStatus::healthy);
  CHECK(health_of(kDaemonSet,
                  R"({"metadata":{"generation":1},"spec":{"updateStrategy":{"type":"OnDelete"}},"status":{"observedGeneration":1,"desiredNumberScheduled":4,"updatedNumberScheduled":1,"numberAvailable":4}})")
            .message == "daemon set \"agent\": 1 of 4 pods updated (OnDelete: pods change when deleted)");
  const ObjectRef kruise{"edge", "apps.kruise.io", "DaemonSet", "kube-system", "agent"};
  CHECK(health_of(kruise,
                  R"({"metadata":{"generation":1},"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}},"status":{"observedGeneration":1,"desiredNumberScheduled":4,"updatedNumberScheduled":2,"numberAvailable":4}})")
            .status == HealthStatus::healthy);
  CHECK(health_of(kruise,
                  R"({"metadata":{"generation":1},"spec":{"updateStrategy":{"rollingUpdate":{"paused":true}}},"status":{"observedGeneration":1,"desiredNumberScheduled":4,"updatedNumberScheduled":2,"numberAvailable":4}})")
            .status == HealthStatus::suspended);
}

TEST_CASE("Kruise rollingUpdate.selector counts only pods on selected nodes") {
  const ObjectRef kruise{"edge", "apps.kruise.io", "DaemonSet", "kube-system", "agent"};
  const JsonDocument live = parse(
      R"({"metadata":{"generation":1},"spec":{"updateStrategy":{"rollingUpdate":{"selector":{"matchLabels":{"topology.kubernetes.io/region":"cn-hangzhou"}}}}},"status":{"observedGeneration":1,"daemonSetHash":"new","desiredNumberScheduled":2,"updatedNumberScheduled":1,"numberAvailable":2}})");
  const JsonDocument node_a = parse(R"({"metadata":{"name":"a","labels":{"topology.kubernetes.io/region":"cn-hangzhou"}}})");
  const JsonDocument node_b = parse(R"({"metadata":{"name":"b","labels":{"topology.kubernetes.io/region":"cn-beijing"}}})");
  const JsonDocument pod_a = parse(R"({"metadata":{"name":"agent-a","labels":{"controller-revision-hash":"new"}},"spec":{"nodeName":"a"}})");
  const JsonDocument pod_b = parse(R"({"metadata":{"name":"agent-b","labels":{"controller-revision-hash":"old"}},"spec":{"nodeName":"b"}})");
  HealthInputs inputs{{&pod_a, &pod_b}, {&node_a, &node_b}, {}};
  CHECK(live_health(kruise, live, inputs).status == HealthStatus::healthy);
}

TEST_CASE("pods that cannot run name the pod, the node, the container and kubelet's reason") {
  const std::string deployment = R"({"metadata":{"generation":1},"spec":{"replicas":3},"status":{"observedGeneration":1,"replicas":3,"updatedReplicas":3}})";
  const auto pod = [](const std::string& name, const std::string& state) {
    return fmt::format(R"({{"metadata":{{"name":"{}"}},"spec":{{"nodeName":"node-cn-hangzhou-1"}},"status":{{"phase":"Pending",
      "containerStatuses":[{{"name":"web","ready":false,"restartCount":0,"state":{}}}]}}}})", name, state);
  };
  const Health pull = health_of(kDeployment, deployment,
                                {pod("web-a", R"({"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"nginx:nope\""}})"),
                                 pod("web-b", R"({"waiting":{"reason":"ErrImagePull"}})"), pod("web-c", R"({"running":{}})")});
  CHECK(pull.status == HealthStatus::degraded);
  CHECK(pull.message == "pod web-a on node node-cn-hangzhou-1: container web: ImagePullBackOff: Back-off pulling image \"nginx:nope\" (and 1 more pod)");
  const Health crash = health_of({"edge", "", "Pod", "default", "web-a"}, pod("web-a", R"({"waiting":{"reason":"CrashLoopBackOff","message":"back-off 5m0s restarting failed container"}})"));
  CHECK(crash.status == HealthStatus::degraded);
  CHECK(crash.message == "pod web-a on node node-cn-hangzhou-1: container web: CrashLoopBackOff: back-off 5m0s restarting failed container");
  const Health config = health_of(kDaemonSet, R"({"metadata":{"generation":1},"status":{"observedGeneration":1,"desiredNumberScheduled":1}})",
                                  {pod("agent-x", R"({"waiting":{"reason":"CreateContainerConfigError","message":"configmap \"agent\" not found"}})")});
  CHECK(config.message == "pod agent-x on node node-cn-hangzhou-1: container web: CreateContainerConfigError: configmap \"agent\" not found");
  // Waiting for a reason that passes by itself (ContainerCreating) is progress, not a failure.
  CHECK(health_of(kDeployment, deployment, {pod("web-a", R"({"waiting":{"reason":"ContainerCreating"}})")}).status == HealthStatus::progressing);
}

TEST_CASE("Job, PersistentVolumeClaim and custom resources (kstatus)") {
  const ObjectRef job{"edge", "batch", "Job", "default", "migrate"};
  CHECK(health_of(job, R"({"status":{"active":1}})").status == HealthStatus::progressing);
  CHECK(health_of(job, R"({"status":{"conditions":[{"type":"Complete","status":"True"}]}})").status == HealthStatus::healthy);
  const Health failed = health_of(job, R"({"status":{"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}]}})");
  CHECK(failed.status == HealthStatus::degraded);
  CHECK(failed.message == "job \"migrate\" failed: BackoffLimitExceeded: Job has reached the specified backoff limit");
  const ObjectRef claim{"edge", "", "PersistentVolumeClaim", "default", "data"};
  CHECK(health_of(claim, R"({"status":{"phase":"Pending"}})").status == HealthStatus::progressing);
  CHECK(health_of(claim, R"({"status":{"phase":"Bound"}})").status == HealthStatus::healthy);
  CHECK(health_of(claim, R"({"status":{"phase":"Lost"}})").status == HealthStatus::degraded);
  const ObjectRef custom{"edge", "example.com", "Database", "default", "orders"};
  CHECK(health_of(custom, R"({"metadata":{"generation":1}})").status == HealthStatus::healthy);
  CHECK(health_of(custom, R"({"metadata":{"generation":3},"status":{"observedGeneration":2}})").status == HealthStatus::progressing);
  const Health stalled = health_of(custom, R"({"metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":[{"type":"Stalled","status":"True","reason":"QuotaExceeded","message":"no disk"},{"type":"Ready","status":"False"}]}})");
  CHECK(stalled.status == HealthStatus::degraded);
  CHECK(stalled.message == "Stalled: QuotaExceeded: no disk");
  CHECK(health_of(custom, R"({"status":{"conditions":[{"type":"Ready","status":"False","reason":"Provisioning"}]}})").status == HealthStatus::progressing);
  CHECK(health_of(custom, R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})").status == HealthStatus::healthy);
  CHECK(health_of(custom, R"({"status":{"conditions":[{"type":"Reconciling","status":"True","reason":"Progressing"}]}})").status == HealthStatus::progressing);
}

TEST_CASE("statefulset, CRD, namespace and other kinds") {
  const ObjectRef set{"edge", "apps", "StatefulSet", "default", "db"};
  CHECK(health_of(set, R"({"metadata":{"generation":1},"spec":{"replicas":3},"status":{"observedGeneration":1,"readyReplicas":2}})").message ==
        "Waiting for 1 pods to be ready...");
  CHECK(health_of(set, R"({"metadata":{"generation":1},"spec":{"replicas":3},"status":{"observedGeneration":1,"readyReplicas":3,"currentRevision":"a","updateRevision":"a","currentReplicas":3}})")
            .status == HealthStatus::healthy);
  const ObjectRef crd{"edge", "apiextensions.k8s.io", "CustomResourceDefinition", "", "things.example.com"};
  CHECK(health_of(crd, R"({"status":{"conditions":[{"type":"Established","status":"False"}]}})").status == HealthStatus::progressing);
  CHECK(health_of(crd, R"({"status":{"conditions":[{"type":"Established","status":"True"}]}})").status == HealthStatus::healthy);
  CHECK(health_of({"edge", "", "Namespace", "", "team"}, R"({"status":{"phase":"Terminating"}})").status == HealthStatus::progressing);
  CHECK(health_of({"edge", "", "ConfigMap", "default", "x"}, R"({})").status == HealthStatus::healthy);
}

TEST_CASE("Status errors render in one line with causes and conflicting managers") {
  CHECK(describe_status(422, R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Invalid","code":422,
    "message":"Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    "details":{"name":"web","group":"apps","kind":"Deployment","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: -1: must be greater than or equal to 0","field":"spec.replicas"},{"reason":"FieldValueRequired","message":"Required value","field":"spec.selector"}]}})") ==
        "Invalid: Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0 (spec.selector: Required value)");
  const std::string conflict = describe_status(409, R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict","code":409,
    "message":"Apply failed with 2 conflicts: conflicts with \"kubectl\":\n- .spec.replicas\n- .data.key",
    "details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with \"kubectl\"","field":".spec.replicas"},{"reason":"FieldManagerConflict","message":"conflict with \"kube-controller-manager\" using apps/v1","field":".data.key"}]}})");
  CHECK(conflict == "Conflict: .spec.replicas is managed by \"kubectl\"; .data.key is managed by \"kube-controller-manager\" (take over "
                    "with --force-conflicts or the annotation meridian.io/force-conflicts: \"true\", or stop setting the field in Git)");
  CHECK(describe_status(502, "<html>bad gateway</html>") == "HTTP 502: <html>bad gateway</html>");
  CHECK(describe_status(404, "") == "NotFound");
}

TEST_CASE("label selectors as query text") {
  const JsonDocument selector = parse(
      R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]},{"key":"canary","operator":"DoesNotExist"}]})");
  CHECK(selector_query(selector) == "!canary,app=web,tier in (a,b)");
  const JsonDocument labels = parse(R"({"app":"web","tier":"b"})");
  CHECK(rules::selector_matches(selector, &labels));
  const JsonDocument other = parse(R"({"app":"web","tier":"c"})");
  CHECK_FALSE(rules::selector_matches(selector, &other));
}

TEST_CASE("base64 and RFC 3339 helpers") {
  CHECK(decode_base64("aGVsbG8=") == std::optional<std::string>("hello"));
  CHECK(decode_base64("aGVs\nbG8") == std::optional<std::string>("hello"));
  CHECK_FALSE(decode_base64("a*b"));
  CHECK(encode_base64("hello") == "aGVsbG8=");
  CHECK(encode_base64("hi") == "aGk=");
  const auto time = parse_rfc3339("2025-01-01T00:00:10Z");
  REQUIRE(time);
  CHECK(std::chrono::system_clock::to_time_t(*time) == 1735689610);
  CHECK(parse_rfc3339("2025-01-01T01:00:10.5+01:00") == time);
  CHECK_FALSE(parse_rfc3339("yesterday"));
}

TEST_CASE("kubeconfig: context, CA data, client certificate files, token, namespace") {
  TempDir dir;
  dir.write("ca.crt", "CA PEM");
  dir.write("client.crt", "CERT PEM");
  dir.write("client.key", "KEY PEM");
  const std::string config = dir.write("config", R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster: {server: "https://10.0.0.1:6443/", certificate-authority-data: )" + encode_base64("INLINE CA") + R"(}
- name: prod-cluster
  cluster: {server: https://10.0.0.2:6443, certificate-authority: ca.crt}
users:
- name: dev-user
  user: {token: abc}
- name: prod-user
  user: {client-certificate: client.crt, client-key: client.key}
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: team}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
)");
  Connection dev = resolve_connection({config, ""});
  CHECK(dev.endpoint.server == "https://10.0.0.1:6443");
  CHECK(dev.endpoint.ca_pem == "INLINE CA");
  CHECK(dev.default_namespace == "team");
  CHECK(dev.credentials->current().token == "abc");
  Connection prod = resolve_connection({config, "prod"});
  CHECK(prod.endpoint.ca_pem == "CA PEM");
  CHECK(prod.credentials->current().client_certificate_pem == "CERT PEM");
  CHECK(prod.credentials->current().client_key_pem == "KEY PEM");
  CHECK(prod.endpoint.origin == "kubeconfig " + config + ", context prod");
  CHECK_THROWS_WITH(resolve_connection({config, "nope"}), Catch::Contains("context \"nope\" not found"));
}

TEST_CASE("kubeconfig: $KUBECONFIG lists files, the first definition wins") {
  TempDir dir;
  const std::string first = dir.write("a", R"(current-context: one
clusters: [{name: c, cluster: {server: "https://first:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {tokenFile: token}}]
contexts: [{name: one, context: {cluster: c, user: u}}]
)");
  const std::string second = dir.write("b", R"(current-context: two
clusters: [{name: c, cluster: {server: "https://second:6443"}}]
contexts: [{name: two, context: {cluster: c}}]
)");
  dir.write("token", "from-file\n");
  ScopedEnv env("KUBECONFIG", first + ":" + second + ":" + (dir.path / "missing").string());
  Connection connection = resolve_connection({});
  CHECK(connection.endpoint.server == "https://first:6443");
  CHECK(connection.endpoint.insecure);
  CHECK(connection.credentials->current().token == "from-file");
  dir.write("token", "rotated\n");
  connection.credentials->invalidate();
  CHECK(connection.credentials->current().token == "rotated");
  CHECK(resolve_connection({"", "two"}).endpoint.server == "https://first:6443"); // cluster "c" of the first file
}

TEST_CASE("kubeconfig: exec plugins run with ExecCredential in and out, and again when expired") {
  TempDir dir;
  const std::string counter = (dir.path / "runs").string();
  const std::string script = dir.write("plugin.sh", "#!/bin/sh\necho run >> " + counter +
                                                         "\ncase \"$KUBERNETES_EXEC_INFO\" in *'\"interactive\":false'*) ;; *) exit 3;; esac\n"
                                                         "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                                                         "\"status\":{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}' \"$TOKEN\" \"$EXPIRY\"\n");
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  const auto config_with = [&](const std::string& expiry) {
    return dir.write("config", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh, interactiveMode: Never,
  env: [{name: TOKEN, value: t0k3n}, {name: EXPIRY, value: ")" + expiry + R"("}]}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  };
  const auto runs = [&] {
    std::ifstream in(counter);
    return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
  };
  {
    Connection connection = resolve_connection({config_with("2999-01-01T00:00:00Z"), ""});
    CHECK(connection.credentials->current().token == "t0k3n");
    CHECK(connection.credentials->current().token == "t0k3n");
    CHECK(runs() == 1);
  }
  {
    Connection connection = resolve_connection({config_with("2001-01-01T00:00:00Z"), ""});
    connection.credentials->current();
    connection.credentials->current();
    CHECK(runs() == 3);
  }
  const std::string broken = dir.write("broken", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: no-such-plugin-xyz, installHint: "install it"}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  CHECK_THROWS_WITH(resolve_connection({broken, ""}).credentials->current(), Catch::Contains("cannot run") && Catch::Contains("install it"));
}

TEST_CASE("in-cluster config from the service account directory") {
  TempDir dir;
  dir.write("token", "sa-token");
  dir.write("ca.crt", "SA CA");
  dir.write("namespace", "meridian-system\n");
  {
    ScopedEnv host("KUBERNETES_SERVICE_HOST", std::nullopt);
    CHECK_FALSE(in_cluster_connection(dir.path.string()));
  }
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "fd00::1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  auto connection = in_cluster_connection(dir.path.string());
  REQUIRE(connection);
  CHECK(connection->endpoint.server == "https://[fd00::1]:443");
  CHECK(connection->endpoint.ca_pem == "SA CA");
  CHECK(connection->default_namespace == "meridian-system");
  CHECK(connection->credentials->current().token == "sa-token");
  dir.write("token", "rotated");
  connection->credentials->invalidate();
  CHECK(connection->credentials->current().token == "rotated");
}

TEST_CASE("the Meridian kube config file binds clusters to contexts") {
  TempDir dir;
  const std::string file = dir.write("meridian-kube.yaml", R"(clusters:
  edge: {kubeconfig: edge.yaml, context: edge-admin}
  ml-prod: {context: ml}
deletePropagation: Foreground
)");
  const KubeOptions options = load_kube_options(file);
  CHECK(options.clusters.at("edge").kubeconfig == (dir.path / "edge.yaml").string());
  CHECK(options.clusters.at("edge").context == "edge-admin");
  CHECK(options.clusters.at("ml-prod").kubeconfig.empty());
  CHECK_FALSE(options.fallback);
  CHECK(options.propagation_policy == "Foreground");
  CHECK_THROWS_WITH(load_kube_options(dir.write("bad.yaml", "clusters:\n  edge: {contxt: x}\n")),
                    Catch::Contains("clusters.edge.contxt: unknown field"));
}

TEST_CASE("the file binding is a ClusterCredentials provider: named clusters, then the fallback", "[kube][credentials]") {
  const auto named_only = file_credentials({{"edge", {"/etc/edge.yaml", "edge-admin"}}}, std::nullopt);
  REQUIRE(named_only->binding("edge"));
  CHECK(named_only->binding("edge")->kubeconfig == "/etc/edge.yaml");
  CHECK(named_only->binding("edge")->context == "edge-admin");
  CHECK_FALSE(named_only->binding("ml-prod")); // unbound: no fallback
  CHECK(named_only->named_clusters() == std::vector<std::string>{"edge"});

  const auto with_fallback = file_credentials({{"edge", {"", "edge-admin"}}, {"dev", {"", "dev"}}}, ClusterBinding{"", "default-ctx"});
  REQUIRE(with_fallback->binding("ml-prod"));
  CHECK(with_fallback->binding("ml-prod")->context == "default-ctx");
  CHECK(with_fallback->binding("edge")->context == "edge-admin");
  CHECK(with_fallback->named_clusters() == std::vector<std::string>{"dev", "edge"});
}

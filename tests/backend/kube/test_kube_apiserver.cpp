// The kube backend against the test API server (TLS on 127.0.0.1): authentication variants,
// server-side apply, dry-run, Status errors, retries, pagination, CRD establishment, deletion,
// health and placements.
#include "fake_apiserver.h"

#include "backend/kube/kube.h"
#include "backend/kube/kubeconfig.h"
#include "base/error.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>

using namespace meridian;
using namespace meridian::testing;

namespace {

const TestCertificates& certificates() {
  static const TestCertificates certs = make_certificates();
  return certs;
}

JsonDocument parse(const std::string& text) {
  JsonDocument document;
  const auto error = parse_json(text, document);
  REQUIRE_FALSE(error);
  return document;
}

std::string text_at(const Json& value, std::string_view path) {
  const Json* found = find_path(value, path);
  return found != nullptr && found->IsString() ? found->GetString() : "";
}

//! One test API server and a backend bound to it as cluster "edge".
struct Cluster {
  FakeApiServer server{certificates()};
  std::filesystem::path dir;
  std::unique_ptr<Backend> backend;

  //! `cluster_extra` and `user` are YAML flow-mapping members of the kubeconfig's cluster and user.
  explicit Cluster(const std::string& user = "token: good-token",
                   const std::string& cluster_extra = "certificate-authority: " + certificates().ca_file,
                   const std::function<void(kube::KubeOptions&)>& tweak = {}) {
    server.add_token("good-token", "admin");
    server.add_token("viewer-token", "viewer");
    char pattern[] = "/tmp/meridian-kube-test-XXXXXX";
    dir = mkdtemp(pattern);
    std::ofstream(dir / "kubeconfig") << fmt::format(R"(apiVersion: v1
kind: Config
current-context: test
clusters: [{{name: fake, cluster: {{server: "{}", {}}}}}]
users: [{{name: me, user: {{{}}}}}]
contexts: [{{name: test, context: {{cluster: fake, user: me}}}}]
)",
                                                      server.url(), cluster_extra, user);
    kube::KubeOptions options;
    options.clusters["edge"] = {(dir / "kubeconfig").string(), "test"};
    options.fallback.reset();
    options.poll_interval = std::chrono::milliseconds(20);
    options.list_page_size = 3;
    options.max_attempts = 3;
    if (tweak)
      tweak(options);
    backend = kube::open_kube_backend(options);
  }
  ~Cluster() { std::filesystem::remove_all(dir); }

  std::vector<RecordedRequest> requests(const std::string& method, const std::string& path_prefix) {
    std::vector<RecordedRequest> matched;
    for (const RecordedRequest& request : server.requests())
      if (request.method == method && request.path.starts_with(path_prefix))
        matched.push_back(request);
    return matched;
  }
};

const ObjectRef kWeb{"edge", "apps", "Deployment", "default", "web"};

std::string deployment(int replicas, const std::string& image = "nginx:1.25", const std::string& extra_metadata = "") {
  return fmt::format(R"({{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"web","namespace":"default",
    "labels":{{"meridian.io/owner":"fleet"}},
    "annotations":{{"meridian.io/managed-by":"fleet","meridian.io/cluster":"edge","meridian.io/tracking-id":"edge:apps/Deployment:default/web"}}{}}},
    "spec":{{"replicas":{},"selector":{{"matchLabels":{{"app":"web"}}}},
    "template":{{"metadata":{{"labels":{{"app":"web"}}}},"spec":{{"containers":[{{"name":"web","image":"{}"}}]}}}}}}}})",
                     extra_metadata, replicas, image);
}

} // namespace

TEST_CASE("apply is server-side apply: one PATCH creates, the same PATCH updates") {
  Cluster cluster;
  CHECK(cluster.backend->get(kWeb) == nullptr);
  const JsonDocument desired = parse(deployment(2, "nginx:1.25",
                                                R"(,"uid":"stale","resourceVersion":"1","managedFields":[{"manager":"x"}],"creationTimestamp":"2020-01-01T00:00:00Z")"));
  const auto created = cluster.backend->apply(kWeb, desired, false);
  CHECK(text_at(*created, "metadata.uid") != "stale");
  const auto patches = cluster.requests("PATCH", "/apis/apps/v1/namespaces/default/deployments/web");
  REQUIRE(patches.size() == 1);
  CHECK(patches[0].status == 201);
  CHECK(patches[0].content_type == "application/apply-patch+yaml");
  CHECK(patches[0].query.at("fieldManager") == "meridian");
  CHECK(patches[0].query.count("force") == 0); // conflicts are the user's to resolve (KubeOptions::force_conflicts)
  CHECK(patches[0].query.count("dryRun") == 0);
  const JsonDocument sent = parse(patches[0].body);
  CHECK(find_path(sent, "metadata.managedFields") == nullptr);
  CHECK(find_path(sent, "metadata.resourceVersion") == nullptr);
  CHECK(find_path(sent, "metadata.uid") == nullptr);
  CHECK(patches[0].body.find("meridian.io/cluster") != std::string::npos);

  const auto updated = cluster.backend->apply(kWeb, parse(deployment(3, "nginx:1.26")), false);
  CHECK(find_path(*updated, "spec.replicas")->GetInt() == 3);
  CHECK(find_path(*updated, "metadata.generation")->GetInt() == 2);
  CHECK(cluster.requests("PATCH", "/apis/apps/v1/namespaces/default/deployments/web").back().status == 200);
  const auto live = cluster.backend->get(kWeb);
  REQUIRE(live != nullptr);
  CHECK(find_path(*live, "spec.replicas")->GetInt() == 3);
}

TEST_CASE("dry-run returns the server's object with defaults and changes nothing") {
  Cluster cluster;
  const auto result = cluster.backend->apply(kWeb, parse(deployment(2)), true);
  REQUIRE(result != nullptr);
  CHECK(find_path(*result, "spec.progressDeadlineSeconds")->GetInt() == 600); // defaulted by the server
  const auto patches = cluster.requests("PATCH", "/apis/apps/v1/namespaces/default/deployments/web");
  REQUIRE(patches.size() == 1);
  CHECK(patches[0].query.at("dryRun") == "All");
  CHECK_FALSE(cluster.server.object("/apis/apps/v1/namespaces/default/deployments/web"));
  CHECK(cluster.backend->get(kWeb) == nullptr);
}

TEST_CASE("authentication: client certificate, CA data, insecure, token file, exec plugin") {
  SECTION("client certificate and key data, CA data") {
    Cluster cluster(fmt::format("client-certificate-data: {}, client-key-data: {}", kube::encode_base64(certificates().client_cert_pem),
                                kube::encode_base64(certificates().client_key_pem)),
                    "certificate-authority-data: " + kube::encode_base64(certificates().ca_pem));
    CHECK(cluster.backend->health({"", "meridian.io", "Cluster", "", "edge"}).status == HealthStatus::healthy);
    CHECK(cluster.server.requests().back().user == "admin");
  }
  SECTION("client certificate files") {
    Cluster cluster(fmt::format("client-certificate: {}, client-key: {}", certificates().client_cert_file, certificates().client_key_file));
    cluster.backend->get(kWeb);
    CHECK(cluster.server.requests().back().user == "admin");
  }
  SECTION("insecure-skip-tls-verify without a CA") {
    Cluster cluster("token: good-token", "insecure-skip-tls-verify: true");
    CHECK(cluster.backend->get(kWeb) == nullptr);
  }
  SECTION("token file") {
    const std::string file = certificates().dir + "/token";
    std::ofstream(file) << "good-token\n";
    Cluster cluster("tokenFile: " + file);
    CHECK(cluster.backend->get(kWeb) == nullptr);
    CHECK(cluster.server.requests().back().user == "admin");
  }
  SECTION("exec plugin") {
    const std::string script = certificates().dir + "/plugin.sh";
    std::ofstream(script) << "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                             "\"status\":{\"token\":\"good-token\",\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}'\n";
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    Cluster cluster("exec: {apiVersion: client.authentication.k8s.io/v1, command: " + script + ", interactiveMode: Never}");
    CHECK(cluster.backend->get(kWeb) == nullptr);
    CHECK(cluster.server.requests().back().user == "admin");
  }
  SECTION("a server certificate from another CA fails at once, clearly") {
    Cluster cluster("token: good-token", "certificate-authority: " + certificates().other_ca_file);
    try {
      cluster.backend->get(kWeb);
      FAIL("expected a TLS error");
    } catch (const TransientError& error) {
      FAIL(std::string("TLS failure reported as transient: ") + error.what());
    } catch (const UserError& error) {
      CHECK_THAT(error.what(), Catch::StartsWith("cluster edge: kubeconfig ") && Catch::Contains("TLS handshake failed"));
    }
    CHECK(cluster.server.requests().empty());
  }
}

TEST_CASE("401 is immediate and clear; 403 shows the server's message") {
  Cluster cluster("token: wrong-token");
  try {
    cluster.backend->get(kWeb);
    FAIL("expected 401");
  } catch (const TransientError&) {
    FAIL("401 must not be transient");
  } catch (const UserError& error) {
    CHECK_THAT(error.what(), Catch::Contains("Unauthorized") && Catch::Contains("credentials of kubeconfig"));
  }
  CHECK(cluster.server.requests().size() == 1);

  Cluster viewer;
  viewer.server.inject({"PATCH", "/apis/apps/v1/namespaces/default/deployments/web", 403,
                        R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"deployments.apps \"web\" is forbidden: User \"viewer\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"default\"","details":{"name":"web","group":"apps","kind":"deployments"}})", {}});
  CHECK_THROWS_WITH(viewer.backend->apply(kWeb, parse(deployment(1)), false),
                    "Deployment/default/web (cluster edge): PATCH /apis/apps/v1/namespaces/default/deployments/web: Forbidden: deployments.apps "
                    "\"web\" is forbidden: User \"viewer\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"default\"");
}

TEST_CASE("Invalid shows the field causes; Conflict shows the conflicting managers; both in one line") {
  Cluster cluster;
  try {
    cluster.backend->apply(kWeb, parse(deployment(-1)), false);
    FAIL("expected 422");
  } catch (const TransientError&) {
    FAIL("422 must not be transient");
  } catch (const UserError& error) {
    CHECK(std::string(error.what()) ==
          "Deployment/default/web (cluster edge): PATCH /apis/apps/v1/namespaces/default/deployments/web: Invalid: Deployment.apps \"web\" is "
          "invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0");
  }
  cluster.server.inject({"PATCH", "/apis/apps/v1/namespaces/default/deployments/web", 409,
                         R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas","reason":"Conflict","details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with \"kubectl\" using apps/v1","field":".spec.replicas"}]},"code":409})", {}});
  try {
    cluster.backend->apply(kWeb, parse(deployment(1)), false);
    FAIL("expected 409");
  } catch (const Error& error) {
    const std::string message = error.what();
    CHECK(message.find('\n') == std::string::npos);
    CHECK_THAT(message, Catch::Contains("Conflict: .spec.replicas is managed by \"kubectl\" (take over with --force-conflicts"));
  }
  const ObjectRef lost{"edge", "", "ConfigMap", "missing-ns", "x"};
  CHECK_THROWS_WITH(cluster.backend->apply(lost, parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"missing-ns"}})"), false),
                    Catch::EndsWith("NotFound: namespaces \"missing-ns\" not found"));
}

TEST_CASE("reads are retried on 429 and 5xx; a write is sent once, its failure carrying Retry-After") {
  Cluster cluster;
  cluster.server.inject({"PATCH", "/apis/apps/v1/namespaces/default/deployments/web", 429,
                         R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","message":"too many requests","code":429,"details":{"retryAfterSeconds":1}})",
                         {{"Retry-After", "1"}}});
  cluster.server.inject({"GET", "/api", 503, R"({"kind":"Status","status":"Failure","reason":"ServiceUnavailable","code":503})", {}});
  try {
    cluster.backend->apply(kWeb, parse(deployment(1)), false);
    FAIL("expected the 429 to be thrown");
  } catch (const TransientError& error) {
    CHECK(error.retry_after() == std::chrono::seconds(1));
    CHECK_THAT(error.what(), Catch::Contains("TooManyRequests") && !Catch::Contains("attempts"));
  }
  CHECK(cluster.requests("GET", "/api").at(0).status == 503); // discovery, a read: retried
  CHECK(cluster.requests("GET", "/api").at(1).status == 200);
  REQUIRE(cluster.requests("PATCH", "/apis/apps/v1/namespaces/default/deployments/web").size() == 1);
  CHECK(cluster.backend->apply(kWeb, parse(deployment(1)), false) != nullptr);
  const auto patches = cluster.requests("PATCH", "/apis/apps/v1/namespaces/default/deployments/web");
  REQUIRE(patches.size() == 2);
  CHECK(patches[0].status == 429);
  CHECK(patches[1].status == 201);

  cluster.server.inject({"GET", "/apis/apps/v1/namespaces/default/deployments/web", 500, "internal", {}, 5});
  const Health health = cluster.backend->health(kWeb);
  CHECK(health.status == HealthStatus::progressing);
  CHECK_THAT(health.message, Catch::Contains("InternalError") && Catch::Contains("after 3 attempts"));
}

TEST_CASE("live state is read with paginated LISTs, one per type and namespace, not one GET per object") {
  Cluster cluster;
  for (int index = 0; index < 7; ++index)
    cluster.server.put(fmt::format(R"({{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{}","namespace":"default"}},"data":{{"i":"{}"}}}})", index, index));
  for (int index = 0; index < 7; ++index) {
    const auto live = cluster.backend->get({"edge", "", "ConfigMap", "default", fmt::format("cm-{}", index)});
    REQUIRE(live != nullptr);
    CHECK(text_at(*live, "data.i") == std::to_string(index));
  }
  CHECK(cluster.backend->get({"edge", "", "ConfigMap", "default", "cm-99"}) == nullptr);
  const auto lists = cluster.requests("GET", "/api/v1/namespaces/default/configmaps");
  REQUIRE(lists.size() == 3); // 7 objects, pages of 3
  CHECK(lists[0].query.at("limit") == "3");
  CHECK(lists[0].query.count("continue") == 0);
  CHECK(lists[1].query.at("continue") == "page-3");
  CHECK(lists[2].query.at("continue") == "page-6");
}

TEST_CASE("list_managed finds Meridian's objects across namespaces; Clusters and NodePools") {
  Cluster cluster;
  cluster.server.put(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}})");
  cluster.server.put(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ours","namespace":"team","labels":{"meridian.io/owner":"fleet"},
    "annotations":{"meridian.io/managed-by":"fleet","meridian.io/tracking-id":"edge:/ConfigMap:team/ours"}}})");
  cluster.server.put(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"theirs","namespace":"team","labels":{"meridian.io/owner":"other"},
    "annotations":{"meridian.io/managed-by":"other","meridian.io/tracking-id":"edge:/ConfigMap:team/theirs"}}})");
  // Every marker copied from "ours" onto another object: the tracking id names "ours", not it.
  cluster.server.put(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"copied","namespace":"team","labels":{"meridian.io/owner":"fleet"},
    "annotations":{"meridian.io/managed-by":"fleet","meridian.io/tracking-id":"edge:/ConfigMap:team/ours"}}})");
  // The same object as another Meridian cluster bound to this API server applied it.
  cluster.server.put(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other-cluster","namespace":"team","labels":{"meridian.io/owner":"fleet"},
    "annotations":{"meridian.io/managed-by":"fleet","meridian.io/tracking-id":"edge-b:/ConfigMap:team/other-cluster"}}})");
  cluster.backend->apply(kWeb, parse(deployment(1)), false);
  const JsonDocument cluster_manifest =
      parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"Cluster","metadata":{"name":"edge","annotations":{"meridian.io/managed-by":"fleet"}},"spec":{"type":"Registered","region":"cn-hangzhou"}})");
  const ObjectRef edge{"", "meridian.io", "Cluster", "", "edge"};
  const auto bound = cluster.backend->apply(edge, cluster_manifest, false);
  CHECK(text_at(*bound, "status.state") == "running");
  CHECK(text_at(*bound, "spec.region") == "cn-hangzhou");
  CHECK(text_at(*cluster.backend->get(edge), "spec.type") == "Registered");
  const auto managed = cluster.backend->list_managed("fleet");
  // Every LIST selects the owner's label.
  for (const auto& list : cluster.requests("GET", "/api/v1/configmaps"))
    CHECK(list.query.at("labelSelector") == "meridian.io/owner=fleet");
  std::vector<std::string> keys;
  for (const LiveObject& live : managed)
    keys.push_back(live.ref.key());
  CHECK(keys == std::vector<std::string>{"/meridian.io/Cluster//edge", "edge//ConfigMap/team/ours", "edge/apps/Deployment/default/web"});
  CHECK(cluster.backend->node_regions("edge") == std::vector<std::string>{"cn-hangzhou"});

  const ObjectRef pool{"", "meridian.io", "NodePool", "", "gpu"};
  CHECK_THROWS_WITH(cluster.backend->apply(pool, parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"NodePool","metadata":{"name":"gpu"}})"), false),
                    "NodePool/gpu: NodePool needs the alibabacloud backend");
  CHECK(cluster.backend->health(pool).status == HealthStatus::missing);
  CHECK(cluster.backend->health({"", "meridian.io", "Cluster", "", "unbound"}).status == HealthStatus::missing);
}

TEST_CASE("with a watch cache, the Cluster bindings have a revision: binding or unbinding one moves it and names it") {
  const JsonDocument manifest =
      parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"Cluster","metadata":{"name":"edge"},"spec":{"type":"Registered"}})");
  const ObjectRef edge{"", "meridian.io", "Cluster", "", "edge"};
  {
    Cluster unwatched;
    CHECK_FALSE(unwatched.backend->revision().has_value()); // one-shot commands: no revision, as before
  }
  Cluster cluster("token: good-token", "certificate-authority: " + certificates().ca_file,
                  [](kube::KubeOptions& options) { options.watch = true; });
  const std::optional<std::string> before = cluster.backend->revision();
  REQUIRE(before.has_value());
  cluster.backend->apply(edge, manifest, true);
  CHECK((cluster.backend->revision() == before)); // a dry run binds nothing
  cluster.backend->apply(edge, manifest, false);
  const std::optional<std::string> bound = cluster.backend->revision();
  REQUIRE(bound.has_value());
  CHECK(*bound != *before);
  const auto changed = cluster.backend->changes_since(*before);
  REQUIRE(changed.has_value());
  REQUIRE(changed->size() == 1);
  CHECK(changed->front().key() == edge.key());
  CHECK(cluster.backend->changes_since(*bound)->empty());
  cluster.backend->remove(edge, false);
  const auto unbound = cluster.backend->changes_since(*bound);
  REQUIRE(unbound.has_value());
  REQUIRE(unbound->size() == 1);
  CHECK(unbound->front().key() == edge.key());
  CHECK_FALSE(cluster.backend->changes_since("not a revision").has_value());
}

TEST_CASE("a CRD is waited for until Established, then discovery is refreshed and its resources apply") {
  Cluster cluster;
  cluster.server.crd_establish_after_gets = 3;
  const ObjectRef widget{"edge", "example.com", "Widget", "default", "w1"};
  const JsonDocument widget_manifest = parse(R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1","namespace":"default"},"spec":{"size":2}})");
  CHECK(cluster.backend->get(widget) == nullptr); // not served yet
  CHECK_THROWS_WITH(cluster.backend->apply(widget, widget_manifest, false), Catch::Contains("no matches for kind \"Widget\" in version \"example.com/v1\""));
  const ObjectRef crd{"edge", "apiextensions.k8s.io", "CustomResourceDefinition", "", "widgets.example.com"};
  const auto established = cluster.backend->apply(crd, parse(R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
    "metadata":{"name":"widgets.example.com"},"spec":{"group":"example.com","scope":"Namespaced",
    "names":{"plural":"widgets","singular":"widget","kind":"Widget"},
    "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}})"),
                                                  false);
  CHECK(cluster.requests("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com").size() == 3);
  CHECK(cluster.backend->health(crd).status == HealthStatus::healthy);
  const auto applied = cluster.backend->apply(widget, widget_manifest, false);
  CHECK(text_at(*applied, "metadata.namespace") == "default");
  CHECK(cluster.requests("PATCH", "/apis/example.com/v1/namespaces/default/widgets/w1").size() == 1);
  CHECK(cluster.backend->get(widget) != nullptr);
}

TEST_CASE("remove deletes with a propagation policy and waits until 404") {
  SECTION("Background by default") {
    Cluster cluster;
    cluster.server.delete_after_gets = 3;
    cluster.backend->apply(kWeb, parse(deployment(1)), false);
    cluster.backend->remove(kWeb, false);
    const auto deletes = cluster.requests("DELETE", "/apis/apps/v1/namespaces/default/deployments/web");
    REQUIRE(deletes.size() == 1);
    CHECK(parse(deletes[0].body)["propagationPolicy"] == "Background");
    CHECK(cluster.requests("GET", "/apis/apps/v1/namespaces/default/deployments/web").size() == 4); // 3 still there, then 404
    CHECK(cluster.backend->get(kWeb) == nullptr);
    CHECK(cluster.backend->health(kWeb).status == HealthStatus::missing);
    cluster.backend->remove(kWeb, false); // absent: a no-op
  }
  SECTION("Foreground when configured; dry-run deletes nothing") {
    Cluster cluster("token: good-token", "certificate-authority: " + certificates().ca_file,
                    [](kube::KubeOptions& options) { options.propagation_policy = "Foreground"; });
    cluster.backend->apply(kWeb, parse(deployment(1)), false);
    cluster.backend->remove(kWeb, true);
    CHECK(cluster.server.object("/apis/apps/v1/namespaces/default/deployments/web"));
    CHECK(cluster.requests("DELETE", "/apis/apps/v1/namespaces/default/deployments/web").back().query.at("dryRun") == "All");
    cluster.backend->remove(kWeb, false);
    CHECK(parse(cluster.requests("DELETE", "/apis/apps/v1").back().body)["propagationPolicy"] == "Foreground");
    CHECK_FALSE(cluster.server.object("/apis/apps/v1/namespaces/default/deployments/web"));
  }
}

TEST_CASE("health and placements from live status, pods and nodes") {
  Cluster cluster;
  const auto live = cluster.backend->apply(kWeb, parse(deployment(2)), false);
  const std::string uid = text_at(*live, "metadata.uid");
  const std::string path = "/apis/apps/v1/namespaces/default/deployments/web";
  CHECK(cluster.backend->health(kWeb).message == "Waiting for deployment spec update to be observed...");
  cluster.server.set_status(path, R"({"observedGeneration":1,"replicas":2,"updatedReplicas":2,"availableReplicas":1})");
  CHECK(cluster.backend->health(kWeb).message == "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...");

  cluster.server.put(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a","labels":{"topology.kubernetes.io/region":"cn-hangzhou"}}})");
  cluster.server.put(fmt::format(R"({{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{{"name":"web-5d9","uid":"rs-1","labels":{{"app":"web"}},
    "ownerReferences":[{{"kind":"Deployment","name":"web","uid":"{}","controller":true}}]}},"spec":{{"selector":{{"matchLabels":{{"app":"web"}}}}}}}})",
                                 uid));
  cluster.server.put(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-5d9-a","labels":{"app":"web"},
    "ownerReferences":[{"kind":"ReplicaSet","name":"web-5d9","uid":"rs-1","controller":true}]},
    "spec":{"nodeName":"node-a"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}})");
  cluster.server.put(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-5d9-b","labels":{"app":"web"},
    "ownerReferences":[{"kind":"ReplicaSet","name":"web-5d9","uid":"rs-1","controller":true}]},
    "spec":{},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable","message":"0/1 nodes are available: 1 Insufficient cpu."}]}})");
  cluster.server.put(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"stranger","labels":{"app":"web"}},"spec":{"nodeName":"node-a"},"status":{"phase":"Running"}})");

  const Health pending = cluster.backend->health(kWeb);
  CHECK(pending.status == HealthStatus::degraded);
  CHECK(pending.message == "pod web-5d9-b is Pending: 0/1 nodes are available: 1 Insufficient cpu.");
  const auto pod_lists = cluster.requests("GET", "/api/v1/namespaces/default/pods");
  REQUIRE_FALSE(pod_lists.empty());
  CHECK(pod_lists.back().query.at("labelSelector") == "app=web");

  const auto placements = cluster.backend->placements(kWeb);
  REQUIRE(placements.size() == 2);
  CHECK(placements[0].name == "web-5d9-a");
  CHECK(placements[0].node == "node-a");
  CHECK(placements[0].region == "cn-hangzhou");
  CHECK(placements[0].phase == "Running");
  CHECK(placements[1].phase == "Pending");
  CHECK(placements[1].message == "0/1 nodes are available: 1 Insufficient cpu.");
  CHECK(cluster.backend->node_regions("edge") == std::vector<std::string>{"cn-hangzhou"});

  const ObjectRef ns{"edge", "", "Namespace", "", "team"};
  CHECK(cluster.backend->health(ns).status == HealthStatus::missing);
  cluster.backend->apply(ns, parse(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}})"), false);
  CHECK(cluster.backend->health(ns).status == HealthStatus::healthy);
}

namespace {

struct CommandResult {
  int status = -1;
  std::string out; //!< stdout and stderr
};

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return result;
  char buffer[4096];
  size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    result.out.append(buffer, count);
  const int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

//! A fleet repository in `cluster`'s directory: the Cluster "edge" and `config` (committed), and a
//! --kube-config file binding edge to the test server. Returns the command line of a meridian
//! command against them, with {} for the command's name and flags.
std::string commit_fleet(const Cluster& cluster, const std::string& config) {
  const std::filesystem::path repo = cluster.dir / "fleet";
  std::filesystem::create_directories(repo);
  std::ofstream(repo / "clusters.yaml") << "apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: edge\n"
                                           "spec:\n  type: Registered\n  region: cn-hangzhou\n";
  std::ofstream(repo / "config.yaml") << config;
  REQUIRE(run_command(fmt::format("cd {} && git init -q -b main && git add -A && git -c user.name=t -c user.email=t@t commit -qm fleet", repo.string()))
              .status == 0);
  std::ofstream(cluster.dir / "meridian-kube.yaml") << fmt::format("clusters:\n  edge: {{kubeconfig: {}, context: test}}\n",
                                                                     (cluster.dir / "kubeconfig").string());
  return fmt::format("{} {{}} --repo {} --state-dir {} --backend kube --kube-config {} --no-color", MERIDIAN_BINARY, repo.string(),
                     (cluster.dir / "state").string(), (cluster.dir / "meridian-kube.yaml").string());
}

} // namespace

TEST_CASE("meridian plan and apply --backend kube against the test API server") {
  Cluster cluster;
  const std::string common = commit_fleet(cluster, R"(apiVersion: v1
kind: Namespace
metadata:
  name: team
  annotations: {meridian.io/cluster: edge}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team
  annotations: {meridian.io/cluster: edge}
data:
  level: info
)");
  const CommandResult plan = run_command(fmt::format(fmt::runtime(common), "plan"));
  CHECK(plan.status == 0);
  CHECK_THAT(plan.out, Catch::Contains("2 to create"));
  const CommandResult apply = run_command(fmt::format(fmt::runtime(common), "apply --auto-approve"));
  CHECK_THAT(apply.out, Catch::Contains("3 applied, 0 failed"));
  REQUIRE(apply.status == 0);
  REQUIRE(cluster.server.object("/api/v1/namespaces/team/configmaps/settings"));
  const CommandResult again = run_command(fmt::format(fmt::runtime(common), "plan --detailed-exitcode"));
  CHECK(again.status == 0);
  CHECK_THAT(again.out, Catch::Contains("No changes. The live fleet matches Git."));
  const CommandResult sim_flag = run_command(fmt::format("{} plan --repo {} --kube-config x", MERIDIAN_BINARY, (cluster.dir / "fleet").string()));
  CHECK_THAT(sim_flag.out, Catch::Contains("--kube-config: only with --backend kube"));
}

TEST_CASE("an object whose write fails with 503 every time is written max_attempts times, not max_attempts squared") {
  Cluster cluster;
  const std::string apply = fmt::format(fmt::runtime(commit_fleet(cluster, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
                                                                          "  namespace: default\n  annotations: {meridian.io/cluster: edge}\n"
                                                                          "data:\n  level: info\n")),
                                        "apply --auto-approve");
  const std::string path = "/api/v1/namespaces/default/configmaps/settings";
  const std::string unavailable = R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","message":"etcd is down","code":503})";
  // The plan's server dry run (dryRun=All) is answered as usual; every real write is refused.
  SECTION("503 without Retry-After: apply's backoff") {
    cluster.server.inject({"PATCH", path, 503, unavailable, {}, 1000, "dryRun"});
    const CommandResult result = run_command(apply);
    INFO(result.out);
    CHECK(result.status == 1);
    CHECK_THAT(result.out, Catch::Contains("ServiceUnavailable: etcd is down (gave up after 4 attempts)"));
    CHECK_THAT(result.out, Catch::Contains("transient error, retrying in 2"));
  }
  SECTION("503 with Retry-After: the server's wait, still four writes") {
    cluster.server.inject({"PATCH", path, 503, unavailable, {{"Retry-After", "1"}}, 1000, "dryRun"});
    const CommandResult result = run_command(apply);
    INFO(result.out);
    CHECK(result.status == 1);
    CHECK_THAT(result.out, Catch::Contains("transient error, retrying in 1s"));
  }
  size_t writes = 0;
  for (const RecordedRequest& request : cluster.requests("PATCH", path))
    if (request.query.count("dryRun") == 0) {
      CHECK(request.status == 503);
      ++writes;
    }
  CHECK(writes == 4); // ApplyOptions::max_attempts; the client sends a write once
}

TEST_CASE("an API server that does not answer is a transient error after retries") {
  int port = 0;
  {
    FakeApiServer closed(certificates()); // take a free port, then close it
    port = closed.port();
  }
  char pattern[] = "/tmp/meridian-kube-test-XXXXXX";
  const std::filesystem::path dir = mkdtemp(pattern);
  std::ofstream(dir / "kubeconfig") << fmt::format(R"(current-context: x
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
)",
                                                    port);
  kube::KubeOptions options;
  options.clusters["edge"] = {(dir / "kubeconfig").string(), ""};
  options.max_attempts = 2;
  auto backend = kube::open_kube_backend(options);
  try {
    backend->get(kWeb);
    FAIL("expected an error");
  } catch (const TransientError& error) {
    CHECK_THAT(error.what(), Catch::StartsWith("cluster edge: kubeconfig ") && Catch::Contains("(after 2 attempts)"));
    CHECK(std::string(error.what()).find('\n') == std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

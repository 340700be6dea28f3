// The composed ACK backend against the fake ACK server (which verifies every signature and body),
// driven by the engine's plan and apply; in-cluster objects through the kube backend on a test
// API server whose kubeconfig the fake ACK hands out.
#include "../../plan/engine_fixture.h"
#include "../kube/fake_apiserver.h"
#include "fake_ack.h"

#include "backend/ack/open.h"
#include "backend/kube/kubeconfig.h"
#include "base/error.h"

#include <fmt/format.h>

#include <thread>

using namespace engine_test;
using meridian::testing::FakeAck;

namespace {

constexpr const char* kKeyId = "LTAI5tFakeKeyForTests";
constexpr const char* kSecret = "fake-secret-never-printed";

ack::AckOptions test_options(const FakeAck& fake) {
  ack::AckOptions options;
  options.endpoint = fake.url();
  options.networks["cn-hangzhou"] = {"vpc-hz", {"vsw-hz-a", "vsw-hz-b"}, "172.21.0.0/20", ""};
  options.networks["cn-zhangjiakou"] = {"vpc-zjk", {"vsw-zjk-a"}, "", ""};
  options.poll_interval = std::chrono::milliseconds(5);
  options.inventory_ttl = std::chrono::milliseconds(0);
  options.task_timeout = std::chrono::seconds(20);
  options.kube.poll_interval = std::chrono::milliseconds(20);
  options.kube.max_attempts = 2;
  return options;
}

const meridian::testing::TestCertificates& certificates() {
  static const meridian::testing::TestCertificates made = meridian::testing::make_certificates();
  return made;
}

std::string kubeconfig_for(const std::string& server_url) {
  return fmt::format("apiVersion: v1\nkind: Config\ncurrent-context: ack\nclusters: [{{name: ml, cluster: {{server: \"{}\", "
                     "certificate-authority-data: {}}}}}]\nusers: [{{name: ack, user: {{token: ack-user-token}}}}]\n"
                     "contexts: [{{name: ack, context: {{cluster: ml, user: ack}}}}]\n",
                     server_url, kube::encode_base64(certificates().ca_pem));
}

//! The fake ACK, with every cluster's kubeconfig pointing at one test API server.
struct World {
  meridian::testing::FakeApiServer server{certificates()};
  FakeAck fake;
  World() {
    server.add_token("ack-user-token", "admin");
    fake.add_key(kKeyId, kSecret);
    fake.default_kubeconfig = kubeconfig_for(server.url());
  }
};

std::unique_ptr<Backend> open_backend(ack::AckOptions options, const std::string& secret = kSecret) {
  ack::ClientOptions client;
  client.endpoint = options.endpoint;
  client.first_backoff = std::chrono::milliseconds(1);
  return ack::open_ack_backend(std::move(options),
                               std::make_unique<ack::OpenApiClient>(ack::AccessKey{kKeyId, secret, "", "test"}, ack::make_http_transport(), client));
}

ApplyOptions fast() {
  ApplyOptions options;
  options.poll_interval = std::chrono::milliseconds(5);
  return options;
}

std::string gpu_pool_yaml(const std::string& name, const std::string& cluster, const std::string& region, int size,
                          const std::string& type = "ess", const std::string& instance = "ecs.gn5-c4g1.xlarge") {
  return fmt::format("apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: {}\nspec:\n  cluster: {}\n  region: {}\n"
                     "  type: {}\n  instanceTypes: [{}]\n  desiredSize: {}\n  labels: {{accelerator: p100}}\n"
                     "  taints: [{{key: nvidia.com/gpu, value: present, effect: NoSchedule}}]\n",
                     name, cluster, region, type, instance, size);
}

std::string edge_cluster_yaml() {
  return "apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: edge-central\nspec:\n  type: Edge\n  region: cn-hangzhou\n"
         "  kubernetesVersion: 1.30.7-aliyun.1\n  clusterSpec: ack.pro.small\n  addons: [openkruise, ack-co-scheduler]\n";
}

std::vector<std::string> writes(FakeAck& fake) {
  std::vector<std::string> out;
  for (const std::string& action : fake.actions())
    if (!action.starts_with("Describe"))
      out.push_back(action);
  return out;
}

const meridian::testing::AckCall& last_call(FakeAck& fake, const std::string& action) {
  static meridian::testing::AckCall found;
  for (const auto& call : fake.calls())
    if (call.action == action && call.status == 200)
      found = call;
  REQUIRE(found.action == action);
  return found;
}

const ObjectResult& result_for(const ApplyReport& report, const std::string& display) {
  for (const ObjectResult& object : report.objects)
    if (object.display == display)
      return object;
  FAIL("no result for " << display);
  throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("a new fleet: plan reads ACK only, apply creates the cluster then its pool, and converges") {
  World world;
  FakeAck& fake = world.fake;
  auto backend = open_backend(test_options(fake));
  Engine engine;
  engine.use_backend(backend.get());
  engine.load({{"fleet.yaml", edge_cluster_yaml() + "---\n" + gpu_pool_yaml("gpu", "edge-central", "cn-hangzhou", 2)}});

  const Plan plan = engine.plan();
  CHECK(changes_of(plan) == std::vector<std::string>{"create Cluster/edge-central", "create NodePool/gpu"});
  CHECK(writes(fake).empty());

  const ApplyReport report = engine.apply(plan, fast());
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  CHECK(writes(fake) == std::vector<std::string>{"CreateCluster", "CreateClusterNodePool"});

  JsonDocument create;
  REQUIRE_FALSE(parse_json(last_call(fake, "CreateCluster").body, create));
  CHECK(string_member(create, "cluster_type") == "ManagedKubernetes");
  CHECK(string_member(create, "profile") == "Edge");
  CHECK(string_member(create, "region_id") == "cn-hangzhou");
  CHECK(string_member(create, "vpcid") == "vpc-hz");
  CHECK(write_compact(create["addons"]) == R"([{"name":"flannel"},{"name":"openkruise"},{"name":"ack-co-scheduler"}])");
  JsonDocument pool;
  REQUIRE_FALSE(parse_json(last_call(fake, "CreateClusterNodePool").body, pool));
  CHECK(write_canonical(pool["scaling_group"]["vswitch_ids"]) == R"(["vsw-hz-a","vsw-hz-b"])");
  CHECK(write_canonical(pool["kubernetes_config"]["taints"]) == R"([{"effect":"NoSchedule","key":"nvidia.com/gpu","value":"present"}])");
  CHECK(pool["scaling_group"]["desired_size"].GetInt() == 2);

  fake.clear_calls();
  const Plan again = engine.plan();
  CHECK(changes_of(again).empty());
  CHECK(again.warnings.empty());
  CHECK(writes(fake).empty());
  const std::string id = fake.cluster_id("edge-central");
  CHECK(fake.nodepool_json(id, "gpu").find("\"state\":\"active\"") != std::string::npos);
}

TEST_CASE("a scale-out is one ScaleClusterNodePool, a scale-in one ModifyClusterNodePool, never a re-create") {
  World world;
  FakeAck& fake = world.fake;
  auto backend = open_backend(test_options(fake));
  Engine engine;
  engine.use_backend(backend.get());
  engine.load({{"fleet.yaml", edge_cluster_yaml() + "---\n" + gpu_pool_yaml("gpu", "edge-central", "cn-hangzhou", 1)}});
  REQUIRE(engine.apply(engine.plan(), fast()).result == ApplyResult::succeeded);

  fake.clear_calls();
  engine.load({{"fleet.yaml", edge_cluster_yaml() + "---\n" + gpu_pool_yaml("gpu", "edge-central", "cn-hangzhou", 3)}});
  const Plan plan = engine.plan();
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update NodePool/gpu"});
  const PlannedChange& change = change_for(plan, "NodePool", "gpu");
  REQUIRE(change.fields.size() == 1);
  CHECK(change.fields[0].pointer == "/spec/desiredSize");
  CHECK(change.note.empty());
  const ApplyReport report = engine.apply(plan, fast());
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  CHECK(writes(fake) == std::vector<std::string>{"ScaleClusterNodePool"});
  CHECK(last_call(fake, "ScaleClusterNodePool").body == R"({"count":2})");
  CHECK(fake.nodepool_json(fake.cluster_id("edge-central"), "gpu").find(R"("desired_size":3)") != std::string::npos);
  CHECK(changes_of(engine.plan()).empty());

  // ScaleClusterNodePool only adds nodes: a smaller size is a ModifyClusterNodePool.
  fake.clear_calls();
  engine.load({{"fleet.yaml", edge_cluster_yaml() + "---\n" + gpu_pool_yaml("gpu", "edge-central", "cn-hangzhou", 2)}});
  REQUIRE(engine.apply(engine.plan(), fast()).result == ApplyResult::succeeded);
  CHECK(writes(fake) == std::vector<std::string>{"ModifyClusterNodePool"});
  CHECK(last_call(fake, "ModifyClusterNodePool").body == R"({"scaling_group":{"desired_size":2}})");
  CHECK(changes_of(engine.plan()).empty());

  // A size and an instance type together: one ModifyClusterNodePool.
  fake.clear_calls();
  engine.load({{"fleet.yaml", edge_cluster_yaml() + "---\n" + gpu_pool_yaml("gpu", "edge-central", "cn-hangzhou", 4, "ess", "ecs.gn6i-c4g1.xlarge")}});
  REQUIRE(engine.apply(engine.plan(), fast()).result == ApplyResult::succeeded);
  CHECK(writes(fake) == std::vector<std::string>{"ModifyClusterNodePool"});
  CHECK(changes_of(engine.plan()).empty());
}

TEST_CASE("a field ACK cannot change in place is a replacement: warned, refused without --allow-replace") {
  World world;
  FakeAck& fake = world.fake;
  Engine engine;
  auto backend = open_backend(test_options(fake));
  engine.use_backend(backend.get());
  engine.load({{"fleet.yaml", edge_cluster_yaml() + "---\n" + gpu_pool_yaml("gpu", "edge-central", "cn-hangzhou", 1)}});
  REQUIRE(engine.apply(engine.plan(), fast()).result == ApplyResult::succeeded);

  fake.clear_calls();
  engine.load({{"fleet.yaml", edge_cluster_yaml() + "---\n" + gpu_pool_yaml("gpu", "edge-central", "cn-hangzhou", 1, "edge")}});
  const Plan plan = engine.plan();
  const PlannedChange& change = change_for(plan, "NodePool", "gpu");
  CHECK(change.action == Action::update);
  CHECK_THAT(change.note, Catch::StartsWith("replace: spec.type (\"ess\" → \"edge\")"));
  REQUIRE(plan.warnings.size() == 1);
  CHECK_THAT(plan.warnings[0], Catch::StartsWith("NodePool/gpu: spec.type") && Catch::Contains("without --allow-replace"));
  CHECK_THAT(render_plan(plan, ReportFormat::text, false), Catch::Contains("without --allow-replace"));

  const ApplyReport refused = engine.apply(plan, fast());
  CHECK(refused.result != ApplyResult::succeeded);
  const ObjectResult& result = result_for(refused, "NodePool/gpu");
  CHECK(result.result == ObjectOutcome::failed);
  CHECK_THAT(result.message, Catch::Contains("NodePool/gpu: spec.type (\"ess\" → \"edge\"): ACK cannot change this in place") &&
                                 Catch::Contains("--allow-replace"));
  CHECK(result.message.find('\n') == std::string::npos);
  CHECK(writes(fake).empty());

  ack::AckOptions allowed = test_options(fake);
  allowed.allow_replace = true;
  auto replacing = open_backend(allowed);
  engine.use_backend(replacing.get());
  const Plan with_flag = engine.plan();
  CHECK(change_for(with_flag, "NodePool", "gpu").note.find("without --allow-replace") == std::string::npos);
  const ApplyReport report = engine.apply(with_flag, fast());
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  CHECK(writes(fake) == std::vector<std::string>{"DeleteClusterNodepool", "CreateClusterNodePool"});
  CHECK(fake.nodepool_json(fake.cluster_id("edge-central"), "gpu").find("\"type\":\"edge\"") != std::string::npos);
  CHECK(changes_of(engine.plan()).empty());
}

TEST_CASE("a Registered cluster is adopted, never created or deleted; its cloud GPU pool is managed") {
  World world;
  FakeAck& fake = world.fake;
  const std::string id = fake.add_cluster("idc-cluster", "cn-zhangjiakou", "ExternalKubernetes", "Default");
  const std::string registered = "apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: idc\nspec:\n  type: Registered\n"
                                 "  region: cn-zhangjiakou\n";
  ack::AckOptions options = test_options(fake);
  options.clusters["idc"] = {id, "", ""};
  auto backend = open_backend(options);
  Engine engine;
  engine.use_backend(backend.get());
  engine.load({{"fleet.yaml", registered + "---\n" + gpu_pool_yaml("gpu-p100", "idc", "cn-zhangjiakou", 1)}});
  const Plan plan = engine.plan();
  CHECK(change_for(plan, "Cluster", "idc").action == Action::update); // only the managed-by annotation
  CHECK(change_for(plan, "NodePool", "gpu-p100").action == Action::create);
  const ApplyReport report = engine.apply(plan, fast());
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  CHECK(writes(fake) == std::vector<std::string>{"ModifyClusterTags", "CreateClusterNodePool"});
  CHECK(changes_of(engine.plan()).empty());
  CHECK_THROWS_WITH(backend->remove({"", "meridian.io", "Cluster", "", "idc"}, false), Catch::Contains("never deleted"));

  // Without the binding and by another name, it is not created either.
  Engine other;
  other.use_backend(backend.get());
  other.load({{"fleet.yaml", replaced(registered, "name: idc", "name: idc-two")}});
  const ApplyReport refused = other.apply(other.plan(), fast());
  CHECK(refused.result != ApplyResult::succeeded);
  CHECK_THAT(result_for(refused, "Cluster/idc-two").message, Catch::Contains("Cluster/idc-two: spec.type: a Registered cluster is never created"));
  for (const std::string& action : writes(fake))
    CHECK(action != "CreateCluster");
}

TEST_CASE("a region out of GPUs: the pool's task fails and ACK's reason reaches the report") {
  World world;
  FakeAck& fake = world.fake;
  fake.sold_out.insert("ecs.gn5-c4g1.xlarge");
  const std::string id = fake.add_cluster("ml", "cn-hangzhou", "ManagedKubernetes", "Default");
  (void)id;
  auto backend = open_backend(test_options(fake));
  Engine engine;
  engine.use_backend(backend.get());
  engine.load({{"fleet.yaml", cluster_yaml("ml", "cn-hangzhou") + "---\n" + gpu_pool_yaml("gpu", "ml", "cn-hangzhou", 1)}});
  const ApplyReport report = engine.apply(engine.plan(), fast());
  INFO(engine.joined_log());
  CHECK(report.result != ApplyResult::succeeded);
  const ObjectResult& result = result_for(report, "NodePool/gpu");
  CHECK(result.result == ObjectOutcome::failed);
  CHECK_THAT(result.message, Catch::Contains("OperationDenied.NoStock") && Catch::Contains("sold out"));
  const Health health = backend->health({"", "meridian.io", "NodePool", "", "gpu"});
  CHECK(health.status == HealthStatus::degraded);
  CHECK_THAT(health.message, Catch::Contains("OperationDenied.NoStock"));
}

TEST_CASE("errors are one line naming the object and the field; secrets never appear") {
  World world;
  FakeAck& fake = world.fake;
  SECTION("no network for the pool's region") {
    fake.add_cluster("ml", "cn-hangzhou", "ManagedKubernetes", "Default");
    auto backend = open_backend(test_options(fake));
    Engine engine;
    engine.use_backend(backend.get());
    engine.load({{"fleet.yaml", cluster_yaml("ml", "cn-hangzhou") + "---\n" + gpu_pool_yaml("gpu", "ml", "cn-shanghai", 1)}});
    const ApplyReport report = engine.apply(engine.plan(), fast());
    const ObjectResult& result = result_for(report, "NodePool/gpu");
    CHECK(result.message == "NodePool/gpu: spec.region: no network for region cn-shanghai in the ack config (add networks.cn-shanghai: {vpcId, vswitchIds})");
  }
  SECTION("a Serverless cluster has no pools (validation says so first; the backend too)") {
    fake.add_cluster("sls", "cn-hangzhou", "ManagedKubernetes", "Serverless");
    auto backend = open_backend(test_options(fake));
    JsonDocument pool;
    REQUIRE_FALSE(parse_json(R"({"apiVersion":"meridian.io/v1alpha1","kind":"NodePool","metadata":{"name":"gpu"},
      "spec":{"cluster":"sls","region":"cn-hangzhou","type":"ess","instanceTypes":["ecs.g7.large"],"desiredSize":1}})", pool));
    CHECK_THROWS_WITH(backend->apply({"", "meridian.io", "NodePool", "", "gpu"}, pool, false),
                      "NodePool/gpu: spec.cluster: Cluster/sls is Serverless, which has no node pools (its pods run on virtual nodes)");
    CHECK(writes(fake).empty());
  }
  SECTION("a wrong secret: the fake refuses the signature, the message carries ACK's code and request id") {
    auto backend = open_backend(test_options(fake), "not-the-secret");
    try {
      backend->get({"", "meridian.io", "Cluster", "", "ml"});
      FAIL("no error");
    } catch (const Error& error) {
      const std::string message = error.what();
      CHECK(message == "Cluster/ml: ACK DescribeClustersV1: SignatureDoesNotMatch: Specified signature is not matched with our calculation "
                       "(request id FAKE-REQUEST-ID)");
      CHECK(message.find("not-the-secret") == std::string::npos);
    }
  }
  SECTION("throttling is retried; a downgrade is refused before any call") {
    const std::string id = fake.add_cluster("ml", "cn-hangzhou", "ManagedKubernetes", "Default");
    fake.fail_next("DescribeClustersV1", 400, "Throttling.User", 2);
    auto backend = open_backend(test_options(fake));
    CHECK(backend->get({"", "meridian.io", "Cluster", "", "ml"}) != nullptr);
    Engine engine;
    engine.use_backend(backend.get());
    engine.load({{"fleet.yaml", replaced(cluster_yaml("ml", "cn-hangzhou"), "region: cn-hangzhou", "region: cn-hangzhou\n  kubernetesVersion: 1.28.3-aliyun.1")}});
    const ApplyReport report = engine.apply(engine.plan(), fast());
    CHECK(result_for(report, "Cluster/ml").message ==
          "Cluster/ml: spec.kubernetesVersion: ACK cannot downgrade a cluster (1.30.7-aliyun.1 → 1.28.3-aliyun.1)");
    CHECK(writes(fake).empty());
  }
}

TEST_CASE("an upgrade is UpgradeCluster and follows its task; the cluster gates on running") {
  World world;
  FakeAck& fake = world.fake;
  fake.add_cluster("ml", "cn-hangzhou", "ManagedKubernetes", "Default", "running", {{"meridian.io/managed-by", Engine::owner}});
  auto backend = open_backend(test_options(fake));
  Engine engine;
  engine.use_backend(backend.get());
  engine.load({{"fleet.yaml", replaced(cluster_yaml("ml", "cn-hangzhou"), "region: cn-hangzhou", "region: cn-hangzhou\n  kubernetesVersion: 1.31.1-aliyun.1")}});
  const ApplyReport report = engine.apply(engine.plan(), fast());
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  CHECK(writes(fake) == std::vector<std::string>{"UpgradeCluster"});
  CHECK(last_call(fake, "UpgradeCluster").body == R"({"next_version":"1.31.1-aliyun.1","version":"1.30.7-aliyun.1"})");
  CHECK(fake.cluster_json(fake.cluster_id("ml")).find("\"current_version\":\"1.31.1-aliyun.1\"") != std::string::npos);
  CHECK(changes_of(engine.plan()).empty());
}

TEST_CASE("composed: a Namespace goes to the cluster's API server through the kubeconfig ACK hands out") {
  World world;
  FakeAck& fake = world.fake;
  meridian::testing::FakeApiServer& server = world.server;
  const std::string id = fake.add_cluster("ml", "cn-hangzhou", "ManagedKubernetes", "Default", "running", {{"meridian.io/managed-by", Engine::owner}});
  fake.set_kubeconfig(id, kubeconfig_for(server.url()), kubeconfig_for("https://127.0.0.1:1")); // private: unreachable here
  auto backend = open_backend(test_options(fake));
  Engine engine;
  engine.use_backend(backend.get());
  const std::string ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: inference\n  annotations: {meridian.io/cluster: ml}\n";
  engine.load({{"fleet.yaml", cluster_yaml("ml", "cn-hangzhou") + "---\n" + ns}});
  const Plan plan = engine.plan();
  CHECK(changes_of(plan) == std::vector<std::string>{"create Namespace/inference"});
  const ApplyReport report = engine.apply(plan, fast());
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  CHECK(server.object("/api/v1/namespaces/inference").has_value());
  CHECK(last_call(fake, "DescribeClusterUserKubeconfig").query.at("PrivateIpAddress") == "false");
  const Plan again = engine.plan();
  CHECK(changes_of(again).empty());
  CHECK(again.warnings == std::vector<std::string>{});
  // Listing managed objects spans both: the Cluster from ACK, the Namespace from the API server.
  std::vector<std::string> listed;
  for (const LiveObject& live : backend->list_managed(Engine::owner))
    listed.push_back(live.ref.display() + " " + live.ref.key());
  CHECK(listed == std::vector<std::string>{"Cluster/ml /meridian.io/Cluster//ml", "Namespace/inference ml//Namespace//inference"});
}

TEST_CASE("composed: a kubeconfig ACK hands out is fetched again before its expiration, and the next one used") {
  World world;
  FakeAck& fake = world.fake;
  meridian::testing::FakeApiServer& server = world.server;
  fake.add_cluster("ml", "cn-hangzhou", "ManagedKubernetes", "Default", "running", {{"meridian.io/managed-by", Engine::owner}});
  fake.kubeconfig_seconds = 4; // shorter than the 10-minute margin: fetched again half-way through its life
  auto backend = open_backend(test_options(fake));
  const ObjectRef ns{"ml", "", "Namespace", "", "inference"};
  const auto fetched = [&] {
    int count = 0;
    for (const auto& call : fake.calls())
      count += call.action == "DescribeClusterUserKubeconfig" && call.status == 200 ? 1 : 0;
    return count;
  };
  CHECK(backend->get(ns) == nullptr);
  CHECK(fetched() == 1);
  CHECK(backend->get(ns) == nullptr);
  CHECK(fetched() == 1); // still fresh
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  JsonDocument body;
  REQUIRE_FALSE(parse_json(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"inference"}})", body));
  backend->apply(ns, body, false);
  CHECK(fetched() == 2);
  CHECK(server.object("/api/v1/namespaces/inference").has_value());
  CHECK(backend->get(ns) != nullptr);
  CHECK(fetched() == 2);
}

TEST_CASE("a CreateCluster whose answer is lost is not sent again: CreateCluster takes no client token, the retry finds it by name") {
  World world;
  FakeAck& fake = world.fake;
  fake.lose_next_answer("CreateCluster");
  auto backend = open_backend(test_options(fake));
  Engine engine;
  engine.use_backend(backend.get());
  engine.load({{"fleet.yaml", edge_cluster_yaml()}});
  const ApplyReport report = engine.apply(engine.plan(), fast());
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  int sent = 0, lost = 0;
  for (const auto& call : fake.calls()) {
    sent += call.action == "CreateCluster" ? 1 : 0;
    lost += call.action == "CreateCluster" && call.status == 503 ? 1 : 0;
  }
  CHECK(sent == 1);
  CHECK(lost == 1);
  CHECK(!fake.cluster_id("edge-central").empty());
  CHECK(changes_of(engine.plan()).empty());
}

TEST_CASE("a create whose answer is lost is not sent again: the retry finds the pool by name") {
  World world;
  FakeAck& fake = world.fake;
  fake.add_cluster("ml", "cn-hangzhou", "ManagedKubernetes", "Default", "running", {{"meridian.io/managed-by", Engine::owner}});
  fake.lose_next_answer("CreateClusterNodePool");
  auto backend = open_backend(test_options(fake));
  Engine engine;
  engine.use_backend(backend.get());
  engine.load({{"fleet.yaml", cluster_yaml("ml", "cn-hangzhou") + "---\n" + gpu_pool_yaml("gpu", "ml", "cn-hangzhou", 1)}});
  const ApplyReport report = engine.apply(engine.plan(), fast());
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  int sent = 0;
  for (const auto& call : fake.calls())
    sent += call.action == "CreateClusterNodePool" ? 1 : 0;
  CHECK(sent == 1);
  CHECK(fake.nodepool_json(fake.cluster_id("ml"), "gpu").find("\"state\":\"active\"") != std::string::npos);
  CHECK(changes_of(engine.plan()).empty());
}

TEST_CASE("prune deletes a pool and a cluster Meridian made, following their tasks") {
  World world;
  FakeAck& fake = world.fake;
  auto backend = open_backend(test_options(fake));
  Engine engine;
  engine.use_backend(backend.get());
  engine.load({{"fleet.yaml", edge_cluster_yaml() + "---\n" + gpu_pool_yaml("gpu", "edge-central", "cn-hangzhou", 1)}});
  REQUIRE(engine.apply(engine.plan(), fast()).result == ApplyResult::succeeded);
  const std::string id = fake.cluster_id("edge-central");

  fake.clear_calls();
  engine.load({{"fleet.yaml", edge_cluster_yaml()}});
  PlanOptions prune;
  prune.prune = true;
  prune.allow_mass_prune = true;
  const Plan plan = engine.plan(prune);
  CHECK(changes_of(plan) == std::vector<std::string>{"delete NodePool/gpu"});
  const ApplyReport report = engine.apply(plan, fast());
  INFO(engine.joined_log());
  REQUIRE(report.result == ApplyResult::succeeded);
  CHECK(writes(fake) == std::vector<std::string>{"DeleteClusterNodepool"});
  CHECK(last_call(fake, "DeleteClusterNodepool").query.at("force") == "true");
  CHECK(fake.nodepool_json(id, "gpu").empty());

  fake.clear_calls();
  engine.load({{"other.yaml", cluster_yaml("other", "cn-hangzhou")}});
  const Plan both = engine.plan(prune);
  const std::vector<std::string> changes = changes_of(both);
  CHECK(std::find(changes.begin(), changes.end(), "delete Cluster/edge-central") != changes.end());
  REQUIRE(engine.apply(both, fast()).result == ApplyResult::succeeded);
  CHECK(fake.cluster_json(id).find("\"state\":\"deleted\"") != std::string::npos);
  CHECK(backend->get({"", "meridian.io", "Cluster", "", "edge-central"}) == nullptr);
}

TEST_CASE("composed, on a real API server: ACK hands out the kubeconfig of MERIDIAN_TEST_KUBECONFIG") {
  const char* path = std::getenv("MERIDIAN_TEST_KUBECONFIG");
  if (path == nullptr || *path == '\0') {
    WARN("skipped: MERIDIAN_TEST_KUBECONFIG is not set (start ../shared/kube/start DIR and point it at DIR/kubeconfig to run this)");
    return;
  }
  World world;
  FakeAck& fake = world.fake;
  const std::string id = fake.add_cluster("real", "cn-hangzhou", "ManagedKubernetes", "Edge", "running", {{"meridian.io/managed-by", Engine::owner}});
  fake.set_kubeconfig(id, slurp(path), slurp(path));
  auto backend = open_backend(test_options(fake));
  Engine engine;
  engine.use_backend(backend.get());
  const std::string ns = fmt::format("meridian-ack-{}", getpid());
  const std::string cluster = "apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: real\nspec:\n  type: Edge\n  region: cn-hangzhou\n";
  const std::string objects = fmt::format(
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {0}\n  annotations: {{meridian.io/cluster: real}}\n---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {0}\n  annotations: {{meridian.io/cluster: real}}\ndata: {{a: b}}\n",
      ns);
  engine.load({{"fleet.yaml", cluster + "---\n" + objects}});
  const ApplyReport report = engine.apply(engine.plan(), fast());
  INFO(engine.joined_log());
  CHECK(report.result == ApplyResult::succeeded);
  const Plan again = engine.plan();
  std::string fields;
  for (const PlannedChange& change : again.changes)
    for (const FieldChange& field : change.fields)
      fields += describe(change) + " " + field.pointer + " " + field.before.value_or("-") + " → " + field.after.value_or("-") + "\n";
  INFO(fields);
  CHECK(changes_of(again).empty());
  CHECK(backend->get({"real", "", "ConfigMap", ns, "settings"}) != nullptr);
  backend->remove({"real", "", "Namespace", "", ns}, false);
  CHECK(backend->get({"real", "", "Namespace", "", ns}) == nullptr);
}

// The kube backend's pod forecast (backend/kube/forecast.h) over live Nodes and Pods given as JSON.
#include "backend/kube/forecast.h"

#include <catch2/catch.hpp>

using namespace meridian;
using namespace meridian::kube;

namespace {

std::shared_ptr<JsonDocument> parse(const std::string& text) {
  auto document = std::make_shared<JsonDocument>();
  INFO(text);
  REQUIRE_FALSE(parse_json(text, *document));
  return document;
}

std::shared_ptr<JsonDocument> node(const std::string& name, const std::string& region, const std::string& extra_allocatable = "",
                                   const std::string& taints = "[]") {
  return parse(R"({"kind":"Node","metadata":{"name":")" + name + R"(","labels":{"kubernetes.io/hostname":")" + name +
               R"(","topology.kubernetes.io/region":")" + region + R"(","topology.kubernetes.io/zone":")" + region +
               R"(-a"}},"spec":{"taints":)" + taints + R"(},"status":{"allocatable":{"cpu":"4","memory":"16Gi","pods":"110")" +
               extra_allocatable + R"(},"conditions":[{"type":"Ready","status":"True"}]}})");
}

std::string deployment(int replicas, const std::string& requests) {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"},"spec":{"replicas":)" +
         std::to_string(replicas) +
         R"(,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"web:1","resources":{"requests":)" +
         requests + "}}]}}}}";
}

std::shared_ptr<JsonDocument> running_pod(const std::string& name, const std::string& node_name, const std::string& cpu,
                                          const std::string& app = "web") {
  return parse(R"({"kind":"Pod","metadata":{"name":")" + name + R"(","namespace":"shop","labels":{"app":")" + app + R"("},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","controller":true}]},"spec":{"nodeName":")" +
               node_name + R"(","containers":[{"name":"web","resources":{"requests":{"cpu":")" + cpu + R"("}}}]},"status":{"phase":"Running"}})");
}

const ObjectRef kWeb{"kit", "apps", "Deployment", "shop", "web"};

} // namespace

TEST_CASE("a Deployment whose pods fit nowhere is forecast Pending with kube-scheduler's message") {
  SchedulingState live;
  live.nodes = {node("node-a", "cn-hangzhou"), node("node-b", "cn-shanghai")};
  const auto desired = parse(deployment(1, R"({"cpu":"1","nvidia.com/gpu":"1"})"));
  const auto forecasts = forecast_placements(live, {{kWeb, desired.get(), nullptr}});
  REQUIRE(forecasts.size() == 1);
  CHECK(forecasts[0].workload == kWeb);
  CHECK(forecasts[0].pods == 1);
  CHECK(forecasts[0].pending == 1);
  CHECK(forecasts[0].message ==
        "forecast: 1 pod will stay Pending: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod..");
}

TEST_CASE("a new Deployment's replicas spread over the live nodes, next to the pods already there") {
  SchedulingState live;
  live.nodes = {node("node-a", "cn-hangzhou"), node("node-b", "cn-shanghai"), node("node-c", "cn-shanghai")};
  live.pods = {running_pod("other-1", "node-a", "3500m", "other")};
  const auto desired = parse(deployment(3, R"({"cpu":"1"})"));
  const auto forecasts = forecast_placements(live, {{kWeb, desired.get(), nullptr}});
  REQUIRE(forecasts.size() == 1);
  CHECK(forecasts[0].pending == 0);
  CHECK(forecasts[0].message == "forecast: 3 pods will run in cn-shanghai");
  // node-a has 500m left: the third replica does not fit there.
  REQUIRE(forecasts[0].placements.size() == 3);
  int on_b = 0;
  for (const PodPlacement& placement : forecasts[0].placements)
    on_b += placement.node == "node-b" ? 1 : 0;
  CHECK(on_b >= 1);
}

TEST_CASE("a replica change keeps the live pods; a template change replaces them") {
  SchedulingState live;
  live.nodes = {node("node-a", "cn-hangzhou")};
  live.pods = {running_pod("web-1-x", "node-a", "1"), running_pod("web-1-y", "node-a", "1")};
  const auto current = parse(deployment(2, R"({"cpu":"1"})"));
  SECTION("unchanged: no forecast needed") { CHECK_FALSE(changes_pods(*current, current.get())); }
  SECTION("scaled to 5: the two live pods stay, two more fit, one does not") {
    const auto desired = parse(deployment(5, R"({"cpu":"1"})"));
    CHECK(changes_pods(*desired, current.get()));
    const auto forecasts = forecast_placements(live, {{kWeb, desired.get(), current.get()}});
    REQUIRE(forecasts.size() == 1);
    CHECK(forecasts[0].pods == 5);
    CHECK(forecasts[0].pending == 1);
    CHECK(forecasts[0].placements[0].name == "web-1-x");
    CHECK(forecasts[0].placements[0].node == "node-a");
  }
  SECTION("a bigger template: the live pods go, the new ones are placed alone") {
    const auto desired = parse(deployment(2, R"({"cpu":"2"})"));
    CHECK(changes_pods(*desired, current.get()));
    const auto forecasts = forecast_placements(live, {{kWeb, desired.get(), current.get()}});
    REQUIRE(forecasts.size() == 1);
    CHECK(forecasts[0].pods == 2);
    CHECK(forecasts[0].pending == 0);
    CHECK(forecasts[0].placements[0].name == "web-forecast-0");
  }
}

TEST_CASE("a DaemonSet gets a pod on every node it tolerates, Pending where resources lack") {
  SchedulingState live;
  live.nodes = {node("node-a", "cn-hangzhou", R"(,"nvidia.com/gpu":"2")"), node("node-b", "cn-hangzhou"),
                node("node-c", "cn-hangzhou", "", R"([{"key":"dedicated","value":"infra","effect":"NoSchedule"}])")};
  const auto desired = parse(
      R"({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"gpu-agent","namespace":"shop"},"spec":{"selector":{"matchLabels":{"app":"gpu-agent"}},"template":{"metadata":{"labels":{"app":"gpu-agent"}},"spec":{"containers":[{"name":"agent","resources":{"requests":{"nvidia.com/gpu":"1"},"limits":{"nvidia.com/gpu":"1"}}}]}}}})");
  const ObjectRef ref{"kit", "apps", "DaemonSet", "shop", "gpu-agent"};
  const auto forecasts = forecast_placements(live, {{ref, desired.get(), nullptr}});
  REQUIRE(forecasts.size() == 1);
  CHECK(forecasts[0].pods == 2); // node-c's taint is not tolerated: no pod there
  CHECK(forecasts[0].pending == 1);
  // A daemon pod names its node (matchFields): kube-scheduler v1.26 filters that node alone.
  CHECK(forecasts[0].message ==
        "forecast: 1 pod will stay Pending: 0/3 nodes are available: 1 Insufficient nvidia.com/gpu. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod..");
}

// Which shard of `run --shards N` an object belongs to: a stable hash of its cluster's name, the
// `meridian.io/shard` label of its Cluster (validated: an integer in [0,N), reported with file and
// line), fleet-level objects with their cluster.
#include "manifest/manifest.h"
#include "model/desired.h"
#include "model/shards.h"
#include "validate/validate.h"

#include <catch2/catch.hpp>

#include <memory>
#include <set>

using namespace meridian;

namespace {

const char* fleet = R"(apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: edge-1
  labels:
    meridian.io/shard: "2"
spec:
  type: Registered
  region: cn-hangzhou
---
apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: prod-eu
spec:
  type: Managed
  region: eu-central-1
---
apiVersion: meridian.io/v1alpha1
kind: NodePool
metadata:
  name: eu-pool
spec:
  cluster: edge-1
  region: cn-hangzhou
  type: ess
  instanceTypes: [ecs.g7.large]
  desiredSize: 1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
  annotations:
    meridian.io/cluster: prod-eu
data:
  a: "1"
)";

} // namespace

TEST_CASE("a cluster's shard is FNV-1a of its name mod N") {
  // The values README's sharding section documents (FNV-1a 64 offset basis 14695981039346656037).
  CHECK(shard_of_cluster("", 4) == static_cast<int>(14695981039346656037ull % 4));
  CHECK(shard_of_cluster("kit-hz", 1) == 0);
  std::set<int> seen;
  for (const char* name : {"kit-hz", "kit-sh", "kit-bj", "edge-1", "edge-2", "prod-eu", "prod-us", "staging"}) {
    const int shard = shard_of_cluster(name, 3);
    CHECK(shard >= 0);
    CHECK(shard < 3);
    seen.insert(shard);
  }
  CHECK(seen.size() == 3); // eight names spread over all three shards
}

TEST_CASE("the meridian.io/shard label places a cluster and its objects; a bad one is reported with its line") {
  const auto set = std::make_unique<ManifestSet>(manifests_from_texts({{"clusters.yaml", fleet}}));
  const auto findings = validate_manifests(*set);
  std::string text;
  for (const Finding& finding : findings)
    text += finding.format() + "\n";
  INFO(text);
  REQUIRE(is_valid(findings));
  const DesiredState desired = build_desired_state(*set, "owner");

  const ShardMap map = make_shard_map(desired, 3);
  CHECK(map.errors.empty());
  CHECK(map.clusters.at("edge-1") == 2);
  CHECK(map.clusters.at("prod-eu") == shard_of_cluster("prod-eu", 3));
  CHECK(map.shard_of({"", "meridian.io", "Cluster", "", "edge-1"}, desired) == 2);
  CHECK(map.shard_of({"", "meridian.io", "NodePool", "", "eu-pool"}, desired) == 2); // its spec.cluster's
  CHECK(map.shard_of({"", "meridian.io", "NodePool", "", "gone"}, desired) == 0);    // a deletion
  CHECK(map.shard_of({"prod-eu", "", "ConfigMap", "default", "settings"}, desired) == shard_of_cluster("prod-eu", 3));
  CHECK(map.shard_of({"not-in-git", "", "ConfigMap", "default", "x"}, desired) == shard_of_cluster("not-in-git", 3));

  const ShardMap two = make_shard_map(desired, 2);
  REQUIRE(two.errors.size() == 1);
  CHECK(two.errors[0] == "clusters.yaml:6: Cluster/edge-1: metadata.labels.meridian.io/shard: expected an integer in [0,2) "
                         "(run --shards 2), got \"2\"");
  CHECK(two.clusters.at("edge-1") == shard_of_cluster("edge-1", 2)); // the hash, while the label is wrong
}

// Which shard of `run --shards N` each object of a desired state belongs to. A target cluster's
// shard is FNV-1a (64 bits) of its name mod N, unless its Cluster manifest says otherwise with the
// label `meridian.io/shard: "<i>"` (an integer in [0, N)). A Kubernetes object belongs to its
// cluster's shard; a Cluster to its own; a NodePool to its spec.cluster's; a NodePool no longer in
// Git (a deletion: its manifest is gone) to shard 0.
#pragma once

#include "model/desired.h"

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

inline constexpr std::string_view kShardLabel = "meridian.io/shard";

//! FNV-1a (64 bits) of `cluster`, mod `shards` (0 when shards <= 1). Stable across replicas and releases.
int shard_of_cluster(std::string_view cluster, int shards);

struct ShardMap {
  int shards = 0;
  std::map<std::string, int> clusters; //!< every Cluster of the desired state, by name
  //! One line per bad label: `file:line: Cluster/name: metadata.labels.meridian.io/shard: expected ...`.
  std::vector<std::string> errors;

  int cluster_shard(const std::string& cluster) const;
  //! The shard `ref` belongs to (`desired` finds a NodePool's cluster).
  int shard_of(const ObjectRef& ref, const DesiredState& desired) const;
};

ShardMap make_shard_map(const DesiredState& desired, int shards);

//! The target clusters of `desired` (its Clusters and the clusters its objects name) in each of
//! `map.shards` shards, sorted by name.
std::vector<std::vector<std::string>> clusters_by_shard(const ShardMap& map, const DesiredState& desired);

} // namespace meridian

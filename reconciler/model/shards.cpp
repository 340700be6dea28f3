#include "model/shards.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace meridian {

int shard_of_cluster(std::string_view cluster, int shards) {
  if (shards <= 1)
    return 0;
  uint64_t hash = 14695981039346656037ull;
  for (const char c : cluster) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return static_cast<int>(hash % static_cast<uint64_t>(shards));
}

int ShardMap::cluster_shard(const std::string& cluster) const {
  const auto found = clusters.find(cluster);
  return found != clusters.end() ? found->second : shard_of_cluster(cluster, shards);
}

int ShardMap::shard_of(const ObjectRef& ref, const DesiredState& desired) const {
  if (!ref.is_fleet_level())
    return cluster_shard(ref.cluster);
  if (ref.kind == "Cluster")
    return cluster_shard(ref.name);
  const DesiredObject* object = desired.find(ref);
  if (object == nullptr || object->body == nullptr)
    return 0;
  const Json* spec = find_member(*object->body, "spec");
  return spec != nullptr ? cluster_shard(std::string(string_member(*spec, "cluster"))) : 0;
}

ShardMap make_shard_map(const DesiredState& desired, int shards) {
  ShardMap map;
  map.shards = shards;
  for (const DesiredObject& object : desired.objects) {
    if (!object.ref.is_fleet_level() || object.ref.kind != "Cluster" || object.body == nullptr)
      continue;
    int shard = shard_of_cluster(object.ref.name, shards);
    // The body, not the manifest's parse: `meridian status` releases the parses once it has the bodies.
    const Json* labels = find_path(*object.body, "metadata.labels");
    const Json* label = labels != nullptr && labels->IsObject() ? find_member(*labels, kShardLabel) : nullptr;
    if (label != nullptr) {
      const std::string text = label->IsString() ? std::string(label->GetString(), label->GetStringLength()) : write_compact(*label);
      int value = -1;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc() || end != text.data() + text.size() || text.empty() || value < 0 || value >= shards) {
        map.errors.push_back(fmt::format("{}:{}: Cluster/{}: metadata.labels.{}: expected an integer in [0,{}) (run --shards {}), got \"{}\"",
                                         object.manifest != nullptr ? object.manifest->file : "?",
                                         object.manifest != nullptr ? object.manifest->line_of("/metadata/labels/meridian.io~1shard") : 0,
                                         object.ref.name, kShardLabel, shards, shards, text));
      } else {
        shard = value;
      }
    }
    map.clusters[object.ref.name] = shard;
  }
  return map;
}

std::vector<std::vector<std::string>> clusters_by_shard(const ShardMap& map, const DesiredState& desired) {
  std::set<std::string> names;
  for (const auto& [name, shard] : map.clusters)
    names.insert(name);
  for (const DesiredObject& object : desired.objects)
    if (!object.ref.cluster.empty())
      names.insert(object.ref.cluster);
  std::vector<std::vector<std::string>> clusters(static_cast<size_t>(std::max(map.shards, 1)));
  for (const std::string& name : names)
    clusters[static_cast<size_t>(map.cluster_shard(name))].push_back(name);
  return clusters;
}

} // namespace meridian

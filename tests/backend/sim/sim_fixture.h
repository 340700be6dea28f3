// Helpers for simulator tests: a simulator in a temporary directory, seeded from
// examples/fixtures/, and the example fleets of examples/ applied through the Backend interface.
#pragma once

#include "../../support/scratch_dir.h"
#include "backend/sim/sim.h"
#include "base/json.h"
#include "manifest/yaml_parser.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace sim_test {

using namespace meridian;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

inline std::string source_path(const std::string& relative) { return std::string(MERIDIAN_SOURCE_ROOT) + "/" + relative; }

inline std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

//! Named for the files it leaves when a test is killed.
struct TempDir : meridian::testing::ScratchDir {
  TempDir() : ScratchDir("meridian-sim") {}
};

//! One manifest ready to apply.
struct Manifest {
  ObjectRef ref;
  std::shared_ptr<JsonDocument> object;
};

inline std::shared_ptr<JsonDocument> parse(const std::string& json) {
  auto document = std::make_shared<JsonDocument>();
  const auto error = parse_json(json, *document);
  INFO(json);
  REQUIRE_FALSE(error);
  return document;
}

//! A copy of `document` with every occurrence of `from` in its JSON text replaced by `to`.
inline std::shared_ptr<JsonDocument> edited(const Json& document, const std::string& from, const std::string& to) {
  std::string text = write_compact(document);
  size_t at = 0;
  bool replaced = false;
  while ((at = text.find(from, at)) != std::string::npos) {
    text.replace(at, from.size(), to);
    at += to.size();
    replaced = true;
  }
  INFO("replacing " << from);
  REQUIRE(replaced);
  return parse(text);
}

class Fleet {
public:
  //! A simulator seeded from examples/fixtures/<fixture>.yaml ("" for an empty one).
  explicit Fleet(const std::string& fixture = "") {
    sim = std::make_unique<sim::Simulator>((dir.path / "sim.db").string());
    if (!fixture.empty())
      sim->init(slurp(source_path("examples/fixtures/" + fixture + ".yaml")), fixture + ".yaml");
  }

  //! Every manifest of examples/<folder>: Clusters, then NodePools, then the rest in file order.
  std::vector<Manifest> example(const std::string& folder) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::recursive_directory_iterator(source_path("examples/" + folder))) {
      if (entry.is_regular_file() && entry.path().extension() == ".yaml")
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<Manifest> fleet, pools, rest;
    for (const fs::path& file : files) {
      const std::string relative = fs::relative(file, source_path("examples/" + folder)).string();
      std::string cluster;
      if (relative.rfind("clusters/", 0) == 0)
        cluster = relative.substr(9, relative.find('/', 9) - 9);
      const auto parsed = parse_yaml(slurp(file));
      REQUIRE_FALSE(parsed->error);
      for (const YamlDocument& document : parsed->documents) {
        if (string_member(document.value, "kind") == "Fleet")
          continue;
        Manifest manifest{sim->ref_for(document.value, cluster), parse(write_compact(document.value))};
        if (manifest.ref.kind == "Cluster")
          fleet.push_back(manifest);
        else if (manifest.ref.kind == "NodePool")
          pools.push_back(manifest);
        else
          rest.push_back(manifest);
      }
    }
    fleet.insert(fleet.end(), pools.begin(), pools.end());
    fleet.insert(fleet.end(), rest.begin(), rest.end());
    return fleet;
  }

  void apply(const Manifest& manifest) { sim->apply(manifest.ref, *manifest.object, false); }
  void apply(const ObjectRef& ref, const std::shared_ptr<JsonDocument>& object) { sim->apply(ref, *object, false); }

  //! Applies examples/<folder> as the engine does (Clusters and NodePools, wait until their nodes
  //! are Ready, then the rest) and returns its manifests by "Kind/name".
  std::map<std::string, Manifest> apply_example(const std::string& folder) {
    std::map<std::string, Manifest> by_name;
    bool waited = false;
    for (const Manifest& manifest : example(folder)) {
      if (!manifest.ref.is_fleet_level() && !waited) {
        sim->wait(std::chrono::minutes(2));
        waited = true;
      }
      apply(manifest);
      by_name[manifest.ref.kind + "/" + manifest.ref.name] = manifest;
    }
    return by_name;
  }

  std::vector<LiveObject> pods(const std::string& cluster, const std::string& ns = "") { return sim->list("pods", cluster, ns); }
  std::vector<LiveObject> nodes(const std::string& cluster) { return sim->list("nodes", cluster, ""); }

  TempDir dir;
  std::unique_ptr<sim::Simulator> sim;
};

inline std::string text_of(const Json& object, const char* pointer) {
  const Json* found = find_pointer(object, pointer);
  return found != nullptr && found->IsString() ? std::string(found->GetString(), found->GetStringLength()) : std::string();
}

inline long long int_of(const Json& object, const char* pointer) {
  const Json* found = find_pointer(object, pointer);
  return found != nullptr && found->IsInt64() ? found->GetInt64() : -1;
}

inline std::string label(const Json& object, const std::string& key) {
  const Json* labels = find_path(object, "metadata.labels");
  if (labels == nullptr)
    return {};
  return std::string(string_member(*labels, key));
}

inline ObjectRef cluster_ref(const std::string& name) { return {"", "meridian.io", "Cluster", "", name}; }
inline ObjectRef pool_ref(const std::string& name) { return {"", "meridian.io", "NodePool", "", name}; }

//! Pods per node name ("" for Pending).
inline std::map<std::string, int> pods_per_node(const std::vector<PodPlacement>& placements) {
  std::map<std::string, int> count;
  for (const PodPlacement& placement : placements)
    ++count[placement.node];
  return count;
}

} // namespace sim_test

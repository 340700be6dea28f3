// The simulator's side of the health contract tests: live objects put in a World as they are
// (uids, owners and status kept; no controller runs), and the simulator's health of one of them.
#pragma once

#include "backend/sim/store.h"
#include "backend/sim/world.h"
#include "kube_rules/accessors.h"

#include <filesystem>
#include <string>
#include <vector>

#include <stdlib.h>

namespace health_contract {

using namespace meridian;

//! The identity of a live object in `cluster`.
inline ObjectRef ref_of(const Json& object, const std::string& cluster) {
  const std::string api_version = rules::text_at(object, "apiVersion");
  const size_t slash = api_version.find('/');
  return {cluster, slash == std::string::npos ? "" : api_version.substr(0, slash), rules::text_at(object, "kind"),
          rules::text_at(object, "metadata.namespace"), rules::text_at(object, "metadata.name")};
}

//! The simulator's health of `ref` in a World holding `objects` (of ref's cluster) as they are.
inline Health simulated_health(const std::vector<const Json*>& objects, const ObjectRef& ref) {
  char pattern[] = "/tmp/meridian-health-contract-XXXXXX";
  const std::filesystem::path dir = mkdtemp(pattern);
  Health health;
  {
    sim::Store store((dir / "sim.db").string());
    sim::Store::Transaction transaction(store, true);
    sim::World world(store);
    for (const Json* object : objects) {
      sim::Object& stored = world.insert(ref_of(*object, ref.cluster), *object);
      stored.doc.CopyFrom(*object, stored.allocator()); // insert gave it a uid of its own
    }
    health = sim::health_in(world, ref);
  }
  std::filesystem::remove_all(dir);
  return health;
}

} // namespace health_contract

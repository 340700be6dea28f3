// A backend made of others, as libgit2 stacks object-database backends: fleet-level objects
// (Cluster, NodePool) go to one backend, each cluster's Kubernetes objects to the backend of that
// cluster, opened when the cluster can be reached (the ACK backend: ACK for the fleet, a kube
// backend per cluster on the kubeconfig ACK hands out; the kube backend: its Cluster bindings for
// the fleet, a kube backend per bound cluster).
//
// The composite owns one clock, the fleet backend's: wait and now_ms go there only. Its revision is
// the revisions of its parts (nullopt when any part has none); changes_since and drift_revision
// merge the parts'. placements, namespace_contents and predict go to the cluster's backend (predict
// as CompositeOptions says),
// node_regions to the cluster's backend and, when it names none, to the fleet backend.
#pragma once

#include "backend/backend.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

//! Where the Kubernetes objects of each cluster live. Every backend it hands out stays alive
//! until it is destroyed (the composite keeps pointers to read their warnings and revisions).
class ClusterBackends {
public:
  virtual ~ClusterBackends() = default;
  //! The backend of `cluster`'s objects, or nullptr while the cluster does not exist or cannot be
  //! reached yet (its objects then read as absent). May hand out a new backend for a cluster (its
  //! credentials were fetched again).
  virtual Backend* backend_for(const std::string& cluster) = 0;
  //! The clusters whose managed objects list_managed reads, sorted.
  virtual std::vector<std::string> clusters(std::string_view owner) = 0;
};

struct CompositeOptions {
  //! Ask each cluster's backend for its forecast. Off where the fleet backend adds nodes that a
  //! cluster's backend cannot see before they exist (ACK's node pools: a forecast would leave out
  //! the pools the same plan adds); the composite then forecasts only through the fleet backend's
  //! forecaster, and has none when that has none.
  bool forecast_in_clusters = true;
};

//! The composed backend, named `name`. Each part answers dry-run applies with what it would store,
//! so the composite's server_side_dry_run is true. Used from one thread at a time.
std::unique_ptr<Backend> compose_backends(std::string name, std::unique_ptr<Backend> fleet, std::unique_ptr<ClusterBackends> clusters,
                                          CompositeOptions options = {});

} // namespace meridian

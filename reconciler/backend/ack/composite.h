// A backend made of two (internal to the ack backend, and meant to move below the backends with
// issue 14's split): fleet-level objects (Cluster, NodePool) go to one backend, each cluster's
// Kubernetes objects to the backend of that cluster, opened when the cluster can be reached. The
// fleet backend owns the clock. No revision (the parts cannot name one together yet), no forecasts.
#pragma once

#include "backend/backend.h"

#include <memory>
#include <string>
#include <vector>

namespace meridian::ack {

//! Where the Kubernetes objects of each cluster live.
class ClusterBackends {
public:
  virtual ~ClusterBackends() = default;
  //! The backend of `cluster`'s objects, or nullptr while the cluster does not exist or cannot be
  //! reached yet (its objects then read as absent).
  virtual Backend* backend_for(const std::string& cluster) = 0;
  //! The clusters whose managed objects list_managed reads, sorted.
  virtual std::vector<std::string> clusters(std::string_view owner) = 0;
};

std::unique_ptr<Backend> compose_backends(std::string name, std::unique_ptr<Backend> fleet, std::unique_ptr<ClusterBackends> clusters);

} // namespace meridian::ack

// What the parts of `--backend kube` share (internal to the kube backend): the options, the
// credentials provider, one API client per cluster, and what the fleet has touched and scoped.
//
// open_kube_backend composes (backend/composite.h) a bindings backend (bindings_backend.cpp: the
// Cluster objects, bound to kubeconfig contexts) with one cluster backend per Meridian cluster
// (kube_backend.cpp: that cluster's Kubernetes objects). Both read and write this state from the
// engine's thread only.
#pragma once

#include "backend/kube/client.h"
#include "backend/kube/kube.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

namespace meridian::kube {

struct KubeShared {
  KubeShared(KubeOptions options_, std::unique_ptr<ClusterCredentials> credentials_)
      : options(std::move(options_)), credentials(std::move(credentials_)) {}

  KubeOptions options;
  std::unique_ptr<ClusterCredentials> credentials;
  std::map<std::string, std::unique_ptr<ApiClient>> clients; //!< by cluster, opened on first use
  //! Clusters whose objects were read or applied: list_managed reads them.
  std::set<std::string> seen_clusters;
  //! Kinds read or applied in any cluster: list_managed reads them in every cluster when unscoped.
  std::set<std::pair<std::string, std::string>> touched_kinds;
  //! The clusters the last scope() named, and whether it named any Kubernetes object.
  std::set<std::string> scope_clusters;
  bool scoped = false;
  //! Cluster specs applied through the bindings backend, by cluster (options.state_file).
  std::map<std::string, std::shared_ptr<const JsonDocument>> cluster_specs;

  bool bound(const std::string& cluster) const { return credentials->binding(cluster).has_value(); }
  //! The connection of a bound cluster (a fresh one each call: credentials of its own).
  Connection connect(const std::string& cluster) const;
  ApiClient& client(const std::string& cluster);
  //! `gitVersion` of the cluster's /version; throws when it does not answer.
  std::string cluster_version(const std::string& cluster);
};

//! The Kubernetes objects of `cluster`. With `owns_scope` (a backend not composed by
//! open_kube_backend), its scope() alone says whether the fleet is scoped.
std::unique_ptr<Backend> open_cluster_backend(std::shared_ptr<KubeShared> shared, std::string cluster, bool owns_scope);
//! The Cluster objects (bindings_backend.cpp).
std::unique_ptr<Backend> open_bindings_backend(std::shared_ptr<KubeShared> shared);

} // namespace meridian::kube

// The Kubernetes backend: real clusters reached through kubeconfig contexts, over the REST API.
//
// Every Kubernetes object is read with paginated LISTs (one per resource type and namespace, cached
// for a few seconds so that a plan's N gets of one type cost one request; with KubeOptions::watch,
// kept current by a WATCH each, so that reads cost no request at all), applied with server-side
// apply (field manager `meridian`; force only when asked; dry-run with dryRun=All) and deleted with a
// propagation policy, waiting until the server answers 404. Kinds map to REST paths through the
// cluster's discovery documents, never through guessed plurals. CRDs are waited for until
// Established, then discovery is refreshed.
//
// Clusters are not created here: a Meridian Cluster is "bound" when its kubeconfig context is
// configured and the API server answers /version. NodePools need the alibabacloud backend.
//
// `--backend kube` is a composite (backend/composite.h): a bindings backend (bindings_backend.cpp)
// serves the Cluster objects, one cluster backend per Meridian cluster (kube_backend.cpp, opened on
// first use) its Kubernetes objects; they share one HTTPS client per cluster (shared.h). Used from
// one thread at a time (the engine's). Credentials from exec plugins and token files are refreshed
// as they expire or rotate.
#pragma once

#include "backend/backend.h"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace meridian::kube {

//! Where one Meridian cluster's API server is found: a kubeconfig file and a context in it.
struct ClusterBinding {
  std::string kubeconfig; //!< "" = $KUBECONFIG, else ~/.kube/config, else in-cluster config
  std::string context;    //!< "" = the kubeconfig's current-context
};

//! How the backend is configured (the `--kube-config` file, or defaults).
struct KubeOptions {
  //! Explicit bindings by Meridian cluster name. When empty, every cluster uses `fallback`.
  std::map<std::string, ClusterBinding> clusters;
  //! Binding for clusters without an explicit one; nullopt (with explicit bindings) = unbound.
  std::optional<ClusterBinding> fallback = ClusterBinding{};
  std::string field_manager = "meridian";
  //! Take over fields another field manager owns (server-side apply's force). Off: such a field is
  //! a Conflict that names the manager, in plan and apply (per object: meridian.io/force-conflicts).
  bool force_conflicts = false;
  std::string propagation_policy = "Background"; //!< or Foreground
  std::chrono::milliseconds delete_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds establish_timeout{std::chrono::minutes(1)};
  std::chrono::milliseconds poll_interval{std::chrono::milliseconds(500)};
  std::chrono::milliseconds list_cache_ttl{std::chrono::seconds(5)};
  int list_page_size = 500;
  int max_attempts = 5; //!< per read request, for 429, 5xx and connection failures (writes: apply retries)
  //! Keep a watch cache (watch.h) of what is read, instead of listing again at every read: for
  //! long-lived processes (`meridian run`). Backend::revision and changes_since then answer from
  //! it, and Backend::drift_revision moves when anyone changes a watched object's content.
  bool watch = false;
  //! Where Cluster specs applied through this backend are remembered ("" = in memory only).
  std::string state_file;
};

//! Where each Meridian cluster's API server is: the bindings of the `--kube-config` file or of
//! `--kubeconfig`/`--context` (file_credentials), or a kubeconfig another backend fetched (the ACK
//! backend hands the kube backend of each cluster the kubeconfig DescribeClusterUserKubeconfig
//! returned). The kube backend asks whenever it opens a connection, so a provider may hand out
//! fresh credentials for the next one.
class ClusterCredentials {
public:
  virtual ~ClusterCredentials() = default;
  //! The binding of `cluster`, or nullopt when it has none (the cluster is unbound).
  virtual std::optional<ClusterBinding> binding(const std::string& cluster) const = 0;
  //! The clusters bound by name, which list_managed reads without being asked, sorted.
  virtual std::vector<std::string> named_clusters() const = 0;
};

//! Bindings by cluster name, and `fallback` for every other cluster (nullopt: those are unbound).
std::unique_ptr<ClusterCredentials> file_credentials(std::map<std::string, ClusterBinding> clusters,
                                                     std::optional<ClusterBinding> fallback);

//! Reads a Meridian kube config file (YAML):
//!
//!   clusters:                      # Meridian cluster name → kubeconfig path and context
//!     edge: {kubeconfig: ~/.kube/edge.yaml, context: edge-admin}
//!     ml-prod: {context: ml-prod}  # kubeconfig defaults as kubectl's
//!   default: {context: dev}        # optional: clusters not listed (without it they are unbound)
//!   deletePropagation: Foreground  # optional: Background (default) or Foreground
//!
//! Throws UserError naming the file and the field.
KubeOptions load_kube_options(const std::string& path);

//! The backend, on the bindings of `options` (clusters and fallback). Connections are opened on
//! first use of each cluster.
std::unique_ptr<Backend> open_kube_backend(KubeOptions options);
//! The backend on `credentials` (options.clusters and options.fallback are not used).
std::unique_ptr<Backend> open_kube_backend(KubeOptions options, std::unique_ptr<ClusterCredentials> credentials);
//! The Kubernetes objects of `cluster` alone, on `credentials` (no Cluster objects: another
//! backend composes it, as the ACK backend does; options.state_file is not used).
std::unique_ptr<Backend> open_kube_cluster_backend(KubeOptions options, std::unique_ptr<ClusterCredentials> credentials, std::string cluster);

} // namespace meridian::kube

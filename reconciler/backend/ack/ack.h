// The ACK backend: Clusters and NodePools through the ACK OpenAPI (product CS, version 2015-12-15,
// ROA style, signature ACS3-HMAC-SHA256), every Kubernetes object through the kube backend, on the
// API server whose kubeconfig ACK hands out (DescribeClusterUserKubeconfig, kept in a 0600 file of
// a private temporary directory that is removed on exit; never in Git or logs).
//
// Identity: a Meridian Cluster is the ACK cluster of the same name (a Registered cluster may be
// bound to its cluster id instead); a NodePool is the node pool of that name in its spec.cluster.
// Ownership: clusters Meridian creates carry the tag `meridian.io/managed-by` (the node pools'
// scaling groups too); list_managed lists those and the bound Registered clusters.
//
// Changes: creates with CreateCluster / CreateClusterNodePool (no client token exists for them:
// a create whose answer is lost is not resent, the retry finds it by name); a bigger size alone is
// ScaleClusterNodePool, any other size, instance types, labels, taints or autoscaling change one
// ModifyClusterNodePool (never a re-create); a version change is
// UpgradeCluster, a cluster spec change ModifyCluster, added addons InstallClusterAddons. A field
// ACK cannot change in place (a Cluster's type or region, a NodePool's type, cluster or region) is a
// replacement: `replacement` names it for the plan, and apply refuses it unless allow_replace.
// Registered clusters are adopted (tagged), never created or deleted. Long operations are tasks:
// apply follows each task (DescribeTaskInfo) to its end, so that a failure (e.g.
// OperationDenied.NoStock) fails the object at once with ACK's code and message, which health then
// reports too; health gates on the object's own state (running, active).
//
// A kubeconfig ACK hands out is fetched again `kubeconfig_refresh_before` its expiration, and the
// cluster's kube backend opened anew on it.
//
// Used from one thread at a time (the engine's).
#pragma once

#include "backend/backend.h"
#include "backend/kube/kube.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace meridian::ack {

//! The VPC and vSwitches new clusters and node pools of one region use.
struct RegionNetwork {
  std::string vpc_id;
  std::vector<std::string> vswitch_ids;
  std::string service_cidr; //!< "" = ACK's default
  std::string pod_cidr;     //!< container_cidr (Flannel); "" = ACK's default
};

//! How an existing cluster is found: its ACK cluster id, and optionally a kubeconfig of its own
//! (a Registered IDC cluster reachable directly) instead of the one ACK hands out.
struct ClusterBinding {
  std::string cluster_id;
  std::string kubeconfig;
  std::string context;
};

struct AckOptions {
  std::string region = "cn-hangzhou"; //!< where account-wide calls (DescribeClustersV1) go
  //! Every call goes here when set (tests, private endpoints); else https://cs.<region>.aliyuncs.com.
  std::string endpoint;
  bool private_kubeconfig = false; //!< ask ACK for the API server's intranet address
  std::string network_plugin = "flannel"; //!< the network addon added to CreateCluster when addons name none
  std::map<std::string, RegionNetwork> networks;   //!< by region
  std::map<std::string, ClusterBinding> clusters;  //!< by Meridian cluster name
  bool allow_replace = false; //!< --allow-replace: delete and create again what cannot change in place
  std::chrono::milliseconds poll_interval{std::chrono::seconds(5)};
  std::chrono::milliseconds task_timeout{std::chrono::minutes(90)};
  std::chrono::milliseconds inventory_ttl{std::chrono::seconds(5)};
  //! A kubeconfig ACK hands out is fetched again this long before its `expiration`.
  std::chrono::seconds kubeconfig_refresh_before{std::chrono::minutes(10)};
  //! One line per new stage of a task apply waits for (the command line prints them on stderr).
  std::function<void(const std::string&)> progress;
  kube::KubeOptions kube; //!< for the objects inside clusters (bindings are filled in per cluster)
};

//! Reads an ack config file (YAML):
//!
//!   region: cn-hangzhou                      # optional (default cn-hangzhou)
//!   endpoint: https://cs-vpc.cn-hangzhou.aliyuncs.com   # optional; MERIDIAN_ACK_ENDPOINT also sets it
//!   kubeconfig: private                      # optional: public (default) or private
//!   networkPlugin: terway-eniip              # optional (default flannel)
//!   networks:                                # per region: where new clusters and pools go
//!     cn-hangzhou: {vpcId: vpc-1, vswitchIds: [vsw-1, vsw-2], serviceCidr: 172.21.0.0/20}
//!   clusters:                                # existing clusters (Registered ones must be here or found by name)
//!     idc-cluster: {clusterId: c0123456789, kubeconfig: ~/.kube/idc.yaml, context: idc}
//!
//! Throws UserError naming the file and the field.
AckOptions load_ack_options(const std::string& path);

//! The composed backend (ACK for Clusters and NodePools, kube inside clusters). Credentials are
//! resolved now, from the Alibaba Cloud chain (see credentials.h). (The command line sets
//! options.endpoint from --ack-endpoint, else $MERIDIAN_ACK_ENDPOINT, else the config file.)
std::unique_ptr<Backend> open_ack_backend(AckOptions options);

} // namespace meridian::ack

// Meridian's model of kube-scheduler: where a pod goes, or why it cannot go anywhere.
//
// Pure functions over JSON snapshots of one cluster's Nodes and Pods (as the Kubernetes API
// returns them), so that every rule can be tested alone; the simulator places its pods with it and the kube
// backend forecasts with it (below both, like kube_rules/). Follows kube-scheduler's filters
// (NodeUnschedulable, NodeName, NodeSelector / NodeAffinity, TaintToleration, NodeResourcesFit
// with cpu, memory, nvidia.com/gpu and pod count), its scoring (preferred node-affinity weight,
// then least allocated, ties broken by node name), and ACK's ResourcePolicy (ordered units).
#pragma once

#include "base/json.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace meridian::sched {

//! One cluster as the scheduler sees it. Pointers stay owned by the caller.
struct ClusterSnapshot {
  bool registered = false;                   //!< a Registered (IDC) cluster: nodes without a node pool are `idc`
  std::vector<const Json*> nodes;            //!< Node objects
  std::vector<const Json*> pods;             //!< Pod objects; those with spec.nodeName use node resources
  std::vector<const Json*> resource_policies;//!< scheduling.alibabacloud.com ResourcePolicy objects
};

struct ScheduleDecision {
  std::string node;                          //!< empty when the pod stays Pending
  std::string message;                       //!< when Pending: "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
  std::map<std::string, std::string> labels; //!< podLabels of the ResourcePolicy unit that took the pod
  std::map<std::string, std::string> annotations; //!< podAnnotations of that unit
  int unit = -1;                             //!< index of that unit, -1 without a ResourcePolicy
};

//! Chooses a node for `pod` (a Pod object without spec.nodeName).
ScheduleDecision schedule(const Json& pod, const ClusterSnapshot& cluster);

//! Why a DaemonSet pod cannot run on `node` (nullopt: it can), with the daemon controller's
//! automatic tolerations (not-ready, unreachable, disk/memory/pid-pressure, unschedulable,
//! network-unavailable for hostNetwork pods) and the resources it needs.
std::optional<std::string> daemon_pod_misfit(const Json& pod, const Json& node, const ClusterSnapshot& cluster);

//! Order in which to delete `candidates` (Pod objects of one workload) on scale-in: pods in the
//! last ResourcePolicy unit first, then Pending before Running, then newest first, then by name.
std::vector<const Json*> scale_in_order(const std::vector<const Json*>& candidates, const ClusterSnapshot& cluster);

//! True when `tolerations` (a Pod's spec.tolerations, may be null) tolerate `taint`.
bool tolerates(const Json* tolerations, const Json& taint);

//! True when a node's labels satisfy a pod's nodeSelector and required node affinity.
bool matches_node_selection(const Json& pod, const Json& node);

//! True when a daemon_pod_misfit text names only resources (Insufficient ..., Too many pods): the
//! daemon controller still makes the pod (since Kubernetes 1.12), and it stays Pending.
bool lacks_only_resources(std::string_view misfit);

//! The tolerations (key, effect; operator Exists) the daemon controller adds to every daemon pod.
std::vector<std::pair<std::string_view, std::string_view>> daemon_pod_tolerations(bool host_network);

} // namespace meridian::sched

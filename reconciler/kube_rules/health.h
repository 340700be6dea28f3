#pragma once
// Health of live Kubernetes objects, one rule per kind, as pure functions of the object and what
// it needs to know (the pods it controls, the cluster's nodes): kubectl rollout status for
// Deployment, DaemonSet and StatefulSet (partition- and selector-aware for OpenKruise), Pod phase
// and the container states that will not pass by themselves, Job conditions, CRD Established,
// Namespace and PersistentVolumeClaim phases, kstatus for custom resources; built-in kinds without
// a rule are healthy once present. The kube backend and the simulator both call `live_health`;
// a backend adds what the objects cannot show through `HealthInputs::explain_unschedulable`.

#include "base/json.h"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

enum class HealthStatus { healthy, progressing, degraded, missing, suspended };

struct Health {
  HealthStatus status = HealthStatus::progressing;
  std::string message; //!< why, in the words kubectl or ACK would use
};

} // namespace meridian

namespace meridian::rules {

//! What health needs besides the object. Not owned; valid for the call.
struct HealthInputs {
  //! The pods the object controls (a Deployment's: through its ReplicaSets), in any order.
  std::vector<const Json*> pods;
  //! The cluster's nodes: read only for an OpenKruise DaemonSet's rollingUpdate.selector.
  std::vector<const Json*> nodes;
  //! A backend's word on a workload's pod the scheduler could not place (its PodScheduled
  //! message given), used instead of Degraded when it returns a Health: the simulator knows a
  //! node pool is still scaling for it, which no object in the cluster says.
  std::function<std::optional<Health>(const Json& pod, std::string_view message)> explain_unschedulable;
};

//! Whether the health of an object of (group, kind) depends on its pods (so the caller lists them).
bool health_needs_pods(std::string_view group, std::string_view kind);

//! Whether the health of (group, kind) depends on more than its existence (false for built-in
//! kinds that have no rule: ConfigMap, Secret, Service, RBAC...; those are healthy once stored).
bool health_needs_status(std::string_view group, std::string_view kind);

//! Health of the live object `live` of (group, kind) named `name` (messages name it).
Health live_health(std::string_view group, std::string_view kind, std::string_view name, const Json& live, const HealthInputs& inputs);

//! The scheduler's message of a Pending pod it could not place (PodScheduled=False), "" otherwise.
std::string unschedulable_message(const Json& pod);

//! True for a pod being deleted (metadata.deletionTimestamp set).
bool pod_terminating(const Json& pod);

//! Why one pod cannot run, in kubectl's words with the pod and its node named, or "": the
//! scheduler cannot place it, a container waits for a reason that will not pass by itself (an
//! image that cannot be pulled, a crash loop, a missing ConfigMap or Secret), or the pod failed.
std::string pod_problem(const Json& pod);

} // namespace meridian::rules

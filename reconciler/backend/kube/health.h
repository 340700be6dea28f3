// Health of live Kubernetes objects by the rules the simulator applies (kubectl rollout status for
// Deployment, DaemonSet and StatefulSet, partition- and selector-aware for OpenKruise; Pod phase;
// CRD Established; Namespace Active; anything else healthy once present). Pure functions over the
// objects the API server returns (internal to the kube backend).
#pragma once

#include "backend/backend.h"

#include <string>
#include <vector>

namespace meridian::kube {

//! What health needs besides the object: its pods, and the nodes (for OpenKruise's selector).
struct HealthInputs {
  std::vector<const Json*> pods;
  std::vector<const Json*> nodes;
};

//! Whether the health of `ref` depends on its pods (so the caller lists them).
bool health_needs_pods(const ObjectRef& ref);

//! Whether the health of `ref` depends on more than its existence (false for built-in kinds that
//! have no rule: ConfigMap, Secret, Service, RBAC...; those are healthy once stored).
bool health_needs_status(const ObjectRef& ref);

//! Health of the live object `live` of `ref`.
Health live_health(const ObjectRef& ref, const Json& live, const HealthInputs& inputs);

//! The scheduler's message of a Pending pod it could not place (PodScheduled=False), "" otherwise.
std::string unschedulable_message(const Json& pod);

//! True for a pod being deleted (metadata.deletionTimestamp set).
bool pod_terminating(const Json& pod);

//! A LabelSelector as the `labelSelector` query parameter spells it (`app=web,tier in (a,b)`).
std::string selector_query(const Json& selector);

} // namespace meridian::kube

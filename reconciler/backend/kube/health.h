// The kube backend's side of health: kube_rules/health.h's rules called with an ObjectRef, and the
// label-selector query that lists a workload's pods (internal to the kube backend).
#pragma once

#include "backend/backend.h"
#include "kube_rules/health.h"

#include <string>

namespace meridian::kube {

using rules::HealthInputs;
using rules::pod_terminating;
using rules::unschedulable_message;

inline bool health_needs_pods(const ObjectRef& ref) { return rules::health_needs_pods(ref.group, ref.kind); }
inline bool health_needs_status(const ObjectRef& ref) { return rules::health_needs_status(ref.group, ref.kind); }
inline Health live_health(const ObjectRef& ref, const Json& live, const HealthInputs& inputs) {
  return rules::live_health(ref.group, ref.kind, ref.name, live, inputs);
}

//! A LabelSelector as the `labelSelector` query parameter spells it (`app=web,tier in (a,b)`).
std::string selector_query(const Json& selector);

} // namespace meridian::kube

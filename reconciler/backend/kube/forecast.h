// The pod forecast on real clusters: what applying workload changes would do to their pods, worked
// out by Meridian's model of kube-scheduler (kube_sched/scheduler.h) over a cluster's live Nodes
// and Pods, as the simulator forecasts over its own.
//
// Pure functions over JSON, so that the rules are tested without a server; kube_backend.cpp reads
// the Nodes and Pods (one LIST each, only for clusters whose workloads change).
#pragma once

#include "backend/backend.h"

#include <memory>
#include <vector>

namespace meridian::kube {

//! One cluster's live state as the scheduler needs it: its Nodes and its unfinished Pods.
struct SchedulingState {
  std::vector<std::shared_ptr<JsonDocument>> nodes;
  std::vector<std::shared_ptr<JsonDocument>> pods;
};

//! A workload about to be applied: desired body and live object (null when it is created).
struct WorkloadChange {
  ObjectRef ref;
  const Json* desired = nullptr;
  const Json* live = nullptr;
};

//! True for the kinds whose pods the forecast places: Deployment, ReplicaSet, StatefulSet,
//! DaemonSet (apps) and Pod.
bool is_forecast_workload(const ObjectRef& ref);

//! True when applying `desired` over `live` (null: a creation) changes the workload's pods: its
//! pod template or replica count is not already live (every field Git sets equals the live one).
bool changes_pods(const Json& desired, const Json* live);

//! The forecast of each workload among `changes` (one cluster's, in apply order): its current
//! pods are taken out (a changed template replaces them all; a replica change keeps them and adds
//! or drops pods), then its new pods are placed one by one as kube-scheduler would, each seeing
//! the ones before. Messages say "forecast: ...".
std::vector<PlacementForecast> forecast_placements(const SchedulingState& live, const std::vector<WorkloadChange>& changes);

} // namespace meridian::kube

// Health rules over live objects (kube_rules/health.h). Messages are kubectl's where kubectl has
// one (rollout_status.go's DeploymentStatusViewer, DaemonSetStatusViewer, StatefulSetStatusViewer).
#include "kube_rules/health.h"

#include "kube_rules/accessors.h"
#include "kube_rules/int_or_percent.h"
#include "kube_rules/selector.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace meridian::rules {
namespace {

bool condition_is(const Json& object, std::string_view type, std::string_view status) {
  const Json* conditions = find_path(object, "status.conditions");
  if (conditions == nullptr || !conditions->IsArray())
    return false;
  for (const auto& condition : conditions->GetArray()) {
    if (string_member(condition, "type") == type)
      return string_member(condition, "status") == status;
  }
  return false;
}

bool is_true(const Json* value) { return value != nullptr && value->IsTrue(); }

bool observed(const Json& live) { return int_at(live, "metadata.generation", 1) <= int_at(live, "status.observedGeneration", 0); }

//! `pods` ordered by name (the first stuck pod named must not depend on the order a backend lists).
std::vector<const Json*> by_name(const std::vector<const Json*>& pods) {
  std::vector<std::pair<std::string, const Json*>> named;
  named.reserve(pods.size());
  for (const Json* pod : pods)
    named.emplace_back(text_at(*pod, "metadata.name"), pod);
  std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const Json*> sorted;
  sorted.reserve(named.size());
  for (const auto& [name, pod] : named)
    sorted.push_back(pod);
  return sorted;
}

//! A workload with a pod that cannot run is Degraded, naming the first pod (by name), its node and
//! why, and how many other pods are stuck; unless the backend explains an unschedulable pod.
Health pending_health(const HealthInputs& inputs) {
  std::string first;
  size_t others = 0;
  for (const Json* pod : by_name(inputs.pods)) {
    if (pod_terminating(*pod))
      continue;
    std::string problem = pod_problem(*pod);
    if (problem.empty())
      continue;
    if (!first.empty()) {
      ++others;
      continue;
    }
    if (const std::string message = unschedulable_message(*pod); !message.empty() && inputs.explain_unschedulable)
      if (std::optional<Health> explained = inputs.explain_unschedulable(*pod, message))
        return *std::move(explained);
    first = std::move(problem);
  }
  if (first.empty())
    return {HealthStatus::healthy, ""};
  if (others > 0)
    first += fmt::format(" (and {} more pod{})", others, others == 1 ? "" : "s");
  return {HealthStatus::degraded, first};
}

//! kstatus, for kinds with no rule of their own (custom resources): a status not yet observing
//! the latest generation is in progress; Stalled=True is Degraded; Reconciling=True in progress;
//! Ready (or Available) decides when present; otherwise present is healthy.
Health generic_health(const Json& live) {
  const Json* observed_generation = find_path(live, "status.observedGeneration");
  if (observed_generation != nullptr && observed_generation->IsInt64() && observed_generation->GetInt64() < int_at(live, "metadata.generation", 0))
    return {HealthStatus::progressing, "waiting for the controller to observe the latest generation"};
  const Json* conditions = find_path(live, "status.conditions");
  if (conditions == nullptr || !conditions->IsArray())
    return {HealthStatus::healthy, ""};
  const auto with = [&](std::string_view type) -> const Json* {
    for (const auto& condition : conditions->GetArray())
      if (string_member(condition, "type") == type)
        return &condition;
    return nullptr;
  };
  const auto said = [](const Json& condition) {
    const std::string_view reason = string_member(condition, "reason");
    const std::string_view message = string_member(condition, "message");
    return fmt::format("{}{}{}", reason, !reason.empty() && !message.empty() ? ": " : "", message);
  };
  if (const Json* stalled = with("Stalled"); stalled != nullptr && string_member(*stalled, "status") == "True")
    return {HealthStatus::degraded, "Stalled: " + said(*stalled)};
  if (const Json* reconciling = with("Reconciling"); reconciling != nullptr && string_member(*reconciling, "status") == "True")
    return {HealthStatus::progressing, "Reconciling: " + said(*reconciling)};
  for (const char* type : {"Ready", "Available"}) {
    if (const Json* condition = with(type)) {
      if (string_member(*condition, "status") == "True")
        return {HealthStatus::healthy, ""};
      return {HealthStatus::progressing, fmt::format("{} is {}: {}", type, string_member(*condition, "status"), said(*condition))};
    }
  }
  return {HealthStatus::healthy, ""};
}

//! kubectl wait --for=condition=complete, and Argo CD's Job rule: Failed=True is Degraded.
Health job_health(const std::string& name, const Json& live) {
  const Json* conditions = find_path(live, "status.conditions");
  if (conditions != nullptr && conditions->IsArray()) {
    for (const auto& condition : conditions->GetArray()) {
      if (string_member(condition, "status") != "True")
        continue;
      if (string_member(condition, "type") == "Complete")
        return {HealthStatus::healthy, fmt::format("job \"{}\" completed", name)};
      if (string_member(condition, "type") == "Failed")
        return {HealthStatus::degraded, fmt::format("job \"{}\" failed: {}: {}", name, string_member(condition, "reason"),
                                                    string_member(condition, "message"))};
    }
  }
  if (is_true(find_path(live, "spec.suspend")))
    return {HealthStatus::suspended, fmt::format("job \"{}\" is suspended", name)};
  return {HealthStatus::progressing, fmt::format("waiting for job \"{}\" to complete: {} active, {} succeeded, {} failed", name,
                                                 int_at(live, "status.active", 0), int_at(live, "status.succeeded", 0),
                                                 int_at(live, "status.failed", 0))};
}

Health deployment_health(const std::string& name, const Json& live, const HealthInputs& inputs) {
  if (!observed(live))
    return {HealthStatus::progressing, "Waiting for deployment spec update to be observed..."};
  if (const Json* conditions = find_path(live, "status.conditions"); conditions != nullptr && conditions->IsArray()) {
    for (const auto& condition : conditions->GetArray()) {
      if (string_member(condition, "type") == "Progressing" && string_member(condition, "reason") == "ProgressDeadlineExceeded")
        return {HealthStatus::degraded, fmt::format("deployment \"{}\" exceeded its progress deadline", name)};
    }
  }
  if (Health pending = pending_health(inputs); pending.status != HealthStatus::healthy)
    return pending;
  if (is_true(find_path(live, "spec.paused")))
    return {HealthStatus::suspended, fmt::format("deployment \"{}\" is paused", name)};
  const long long replicas = int_at(live, "spec.replicas", 1);
  const long long updated = int_at(live, "status.updatedReplicas", 0);
  const long long total = int_at(live, "status.replicas", 0);
  const long long available = int_at(live, "status.availableReplicas", 0);
  if (updated < replicas)
    return {HealthStatus::progressing,
            fmt::format("Waiting for deployment \"{}\" rollout to finish: {} out of {} new replicas have been updated...", name, updated, replicas)};
  if (total > updated)
    return {HealthStatus::progressing,
            fmt::format("Waiting for deployment \"{}\" rollout to finish: {} old replicas are pending termination...", name, total - updated)};
  if (available < updated)
    return {HealthStatus::progressing,
            fmt::format("Waiting for deployment \"{}\" rollout to finish: {} of {} updated replicas are available...", name, available, updated)};
  return {HealthStatus::healthy, fmt::format("deployment \"{}\" successfully rolled out", name)};
}

//! Of the nodes an OpenKruise DaemonSet's rollingUpdate.selector picks, those running one of its
//! pods, and those running one at the current revision (status.daemonSetHash in v1alpha1,
//! status.updateRevision in v1beta1). Counted per node: a surge pod does not count twice.
std::pair<long long, long long> kruise_selected(const Json& live, const Json& selector, const HealthInputs& inputs) {
  std::string hash = text_at(live, "status.daemonSetHash");
  if (hash.empty())
    hash = text_at(live, "status.updateRevision");
  std::map<std::string, bool> node_updated;
  for (const Json* pod : inputs.pods) {
    if (pod_terminating(*pod))
      continue;
    const std::string node_name = text_at(*pod, "spec.nodeName");
    const auto node = std::find_if(inputs.nodes.begin(), inputs.nodes.end(),
                                   [&](const Json* candidate) { return text_at(*candidate, "metadata.name") == node_name; });
    if (node == inputs.nodes.end() || !selector_or_map_matches(selector, find_path(**node, "metadata.labels")))
      continue;
    const bool updated = !hash.empty() && text_at(*pod, "metadata.labels.controller-revision-hash") == hash;
    node_updated[node_name] = node_updated[node_name] || updated;
  }
  const auto updated = std::count_if(node_updated.begin(), node_updated.end(), [](const auto& entry) { return entry.second; });
  return {static_cast<long long>(node_updated.size()), static_cast<long long>(updated)};
}

Health daemonset_health(bool kruise, const std::string& name, const Json& live, const HealthInputs& inputs) {
  if (!observed(live))
    return {HealthStatus::progressing, "Waiting for daemon set spec update to be observed..."};
  if (Health pending = pending_health(inputs); pending.status != HealthStatus::healthy)
    return pending;
  const long long desired = int_at(live, "status.desiredNumberScheduled", 0);
  const long long updated_all = int_at(live, "status.updatedNumberScheduled", 0);
  const long long available = int_at(live, "status.numberAvailable", 0);
  if (text_at(live, "spec.updateStrategy.type", "RollingUpdate") == "OnDelete") {
    // kubectl has no rollout status for OnDelete: pods change only when deleted, so the set is as
    // healthy as its pods are available.
    if (available < desired)
      return {HealthStatus::progressing, fmt::format("daemon set \"{}\": {} of {} pods are available...", name, available, desired)};
    return {HealthStatus::healthy,
            fmt::format("daemon set \"{}\": {} of {} pods updated (OnDelete: pods change when deleted)", name, updated_all, desired)};
  }
  long long wanted = desired;
  long long updated = updated_all;
  bool paused = false;
  if (kruise) {
    const Json* rolling = find_path(live, "spec.updateStrategy.rollingUpdate");
    const Json* selector = rolling != nullptr ? find_member(*rolling, "selector") : nullptr;
    long long desired_selected = desired;
    if (selector != nullptr && selector->IsObject())
      std::tie(desired_selected, updated) = kruise_selected(live, *selector, inputs);
    const Json* partition = rolling != nullptr ? find_member(*rolling, "partition") : nullptr;
    const long long kept = partition == nullptr ? 0 : std::clamp(scaled_int_or_percent(*partition, desired, true).value_or(0), 0LL, desired);
    wanted = std::max(0LL, desired_selected - kept);
    paused = rolling != nullptr && is_true(find_member(*rolling, "paused"));
  }
  if (updated < wanted) {
    const std::string message =
        fmt::format("Waiting for daemon set \"{}\" rollout to finish: {} out of {} new pods have been updated...", name, updated, wanted);
    if (paused)
      return {HealthStatus::suspended, "rollout paused: " + message};
    return {HealthStatus::progressing, message};
  }
  if (available < desired)
    return {HealthStatus::progressing,
            fmt::format("Waiting for daemon set \"{}\" rollout to finish: {} of {} updated pods are available...", name, available, desired)};
  return {HealthStatus::healthy, fmt::format("daemon set \"{}\" successfully rolled out", name)};
}

Health statefulset_health(const std::string& name, const Json& live, const HealthInputs& inputs) {
  if (text_at(live, "spec.updateStrategy.type", "RollingUpdate") == "OnDelete")
    return {HealthStatus::healthy, fmt::format("statefulset \"{}\": OnDelete strategy, pods change when deleted", name)};
  if (int_at(live, "status.observedGeneration", 0) == 0 || !observed(live))
    return {HealthStatus::progressing, "Waiting for statefulset spec update to be observed..."};
  if (Health pending = pending_health(inputs); pending.status != HealthStatus::healthy)
    return pending;
  const long long replicas = int_at(live, "spec.replicas", 1);
  const long long ready = int_at(live, "status.readyReplicas", 0);
  if (ready < replicas)
    return {HealthStatus::progressing, fmt::format("Waiting for {} pods to be ready...", replicas - ready)};
  if (const Json* partition = find_path(live, "spec.updateStrategy.rollingUpdate.partition"); partition != nullptr && partition->IsInt64()) {
    const long long updated = int_at(live, "status.updatedReplicas", 0);
    if (updated < replicas - partition->GetInt64())
      return {HealthStatus::progressing, fmt::format("Waiting for partitioned roll out to finish: {} out of {} new pods have been updated...",
                                                     updated, replicas - partition->GetInt64())};
    return {HealthStatus::healthy, fmt::format("partitioned roll out complete: {} new pods have been updated...", updated)};
  }
  if (text_at(live, "status.updateRevision") != text_at(live, "status.currentRevision"))
    return {HealthStatus::progressing,
            fmt::format("waiting for statefulset rolling update to complete {} pods at revision {}...", int_at(live, "status.updatedReplicas", 0),
                        text_at(live, "status.updateRevision"))};
  return {HealthStatus::healthy, fmt::format("statefulset rolling update complete {} pods at revision {}...", int_at(live, "status.currentReplicas", 0),
                                             text_at(live, "status.currentRevision"))};
}

Health replicaset_health(const Json& live, const HealthInputs& inputs) {
  if (Health pending = pending_health(inputs); pending.status != HealthStatus::healthy)
    return pending;
  const long long replicas = int_at(live, "spec.replicas", 1);
  const long long available = int_at(live, "status.availableReplicas", 0);
  if (available < replicas)
    return {HealthStatus::progressing, fmt::format("Waiting for rollout to finish: {} of {} replicas are available...", available, replicas)};
  return {HealthStatus::healthy, ""};
}

Health pod_health(const Json& pod) {
  if (pod_terminating(pod))
    return {HealthStatus::progressing, "pod is Terminating"};
  const std::string phase = text_at(pod, "status.phase", "Pending");
  if (phase == "Succeeded")
    return {HealthStatus::healthy, "pod completed"};
  if (phase == "Failed")
    return {HealthStatus::degraded, text_at(pod, "status.message", "pod failed")};
  if (std::string problem = pod_problem(pod); !problem.empty())
    return {HealthStatus::degraded, std::move(problem)};
  if (phase == "Running")
    return condition_is(pod, "Ready", "True") ? Health{HealthStatus::healthy, ""} : Health{HealthStatus::progressing, "pod is not ready"};
  return {HealthStatus::progressing, "pod is Pending"};
}

Health crd_health(const std::string& name, const Json& live) {
  if (condition_is(live, "Established", "True"))
    return {HealthStatus::healthy, "established"};
  return {HealthStatus::progressing, fmt::format("waiting for CustomResourceDefinition {} to be Established", name)};
}

Health claim_health(const Json& live) {
  const std::string phase = text_at(live, "status.phase", "Pending");
  if (phase == "Bound")
    return {HealthStatus::healthy, ""};
  if (phase == "Lost")
    return {HealthStatus::degraded, "claim is Lost: its volume is gone"};
  return {HealthStatus::progressing, fmt::format("claim is {}: waiting for a volume to be bound", phase)};
}

Health namespace_health(const Json& live) {
  const std::string phase = text_at(live, "status.phase", "Active");
  if (phase == "Active")
    return {HealthStatus::healthy, ""};
  return {HealthStatus::progressing, fmt::format("namespace is {}", phase)};
}

//! Built-in API groups: the core group, unqualified groups (apps, batch...) and *.k8s.io.
bool builtin_group(std::string_view group) { return group.empty() || group.find('.') == std::string_view::npos || group.ends_with(".k8s.io"); }

} // namespace

bool pod_terminating(const Json& pod) {
  const Json* deletion = find_path(pod, "metadata.deletionTimestamp");
  return deletion != nullptr && deletion->IsString();
}

std::string unschedulable_message(const Json& pod) {
  const Json* conditions = find_path(pod, "status.conditions");
  if (conditions == nullptr || !conditions->IsArray() || !text_at(pod, "spec.nodeName").empty())
    return {};
  for (const auto& condition : conditions->GetArray()) {
    if (string_member(condition, "type") == "PodScheduled" && string_member(condition, "status") == "False")
      return std::string(string_member(condition, "message"));
  }
  return {};
}

std::string pod_problem(const Json& pod) {
  const std::string name = text_at(pod, "metadata.name");
  if (const std::string message = unschedulable_message(pod); !message.empty())
    return fmt::format("pod {} is Pending: {}", name, message);
  const std::string node = text_at(pod, "spec.nodeName");
  const std::string where = node.empty() ? fmt::format("pod {}", name) : fmt::format("pod {} on node {}", name, node);
  static const std::set<std::string_view> stuck = {"ImagePullBackOff",     "ErrImagePull",        "ErrImageNeverPull",
                                                   "InvalidImageName",     "CrashLoopBackOff",    "CreateContainerConfigError",
                                                   "CreateContainerError", "RunContainerError",   "PreCreateHookError",
                                                   "PostStartHookError"};
  for (const char* statuses : {"status.initContainerStatuses", "status.containerStatuses"}) {
    const Json* list = find_path(pod, statuses);
    if (list == nullptr || !list->IsArray())
      continue;
    for (const auto& container : list->GetArray()) {
      const Json* waiting = find_path(container, "state.waiting");
      if (waiting == nullptr || stuck.count(string_member(*waiting, "reason")) == 0)
        continue;
      const std::string_view message = string_member(*waiting, "message");
      return fmt::format("{}: container {}: {}{}{}", where, string_member(container, "name"), string_member(*waiting, "reason"),
                         message.empty() ? "" : ": ", message);
    }
  }
  if (text_at(pod, "status.phase") == "Failed" && text_at(pod, "spec.restartPolicy", "Always") == "Always")
    return fmt::format("{} failed: {}", where, text_at(pod, "status.message", text_at(pod, "status.reason", "no reason given")));
  return {};
}

bool health_needs_pods(std::string_view group, std::string_view kind) {
  if (group == "apps")
    return kind == "Deployment" || kind == "DaemonSet" || kind == "ReplicaSet" || kind == "StatefulSet";
  return group == "apps.kruise.io" && kind == "DaemonSet";
}

bool health_needs_status(std::string_view group, std::string_view kind) {
  if (health_needs_pods(group, kind))
    return true;
  if (group.empty())
    return kind == "Pod" || kind == "Namespace" || kind == "PersistentVolumeClaim";
  if (group == "batch" || group == "apiextensions.k8s.io")
    return kind == "Job" || kind == "CustomResourceDefinition";
  return !builtin_group(group); // other built-in groups have no rule; custom resources are judged by kstatus
}

Health live_health(std::string_view group, std::string_view kind, std::string_view object_name, const Json& live, const HealthInputs& inputs) {
  const std::string name(object_name);
  if (group == "apps" && kind == "Deployment")
    return deployment_health(name, live, inputs);
  if ((group == "apps" || group == "apps.kruise.io") && kind == "DaemonSet")
    return daemonset_health(group == "apps.kruise.io", name, live, inputs);
  if (group == "apps" && kind == "StatefulSet")
    return statefulset_health(name, live, inputs);
  if (group == "apps" && kind == "ReplicaSet")
    return replicaset_health(live, inputs);
  if (group.empty() && kind == "Pod")
    return pod_health(live);
  if (group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition")
    return crd_health(name, live);
  if (group == "batch" && kind == "Job")
    return job_health(name, live);
  if (group.empty() && kind == "PersistentVolumeClaim")
    return claim_health(live);
  if (group.empty() && kind == "Namespace")
    return namespace_health(live);
  if (builtin_group(group))
    return {HealthStatus::healthy, ""}; // built-in kinds without a rule: present is healthy
  return generic_health(live);
}

} // namespace meridian::rules

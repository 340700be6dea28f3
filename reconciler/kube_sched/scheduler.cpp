#include "kube_sched/scheduler.h"

#include "kube_rules/quantity.h"
#include "kube_rules/selector.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

namespace meridian::sched {

namespace {

using Uint128 = unsigned __int128;
//! Resource name → amount in milli-units.
using ResourceList = std::map<std::string, long long, std::less<>>;

constexpr std::string_view kVirtualNodeLabel = "type";
constexpr std::string_view kVirtualNodeValue = "virtual-kubelet";
constexpr std::string_view kVirtualProviderTaint = "virtual-kubelet.io/provider";
constexpr std::string_view kNodePoolLabel = "alibabacloud.com/nodepool-id";
constexpr std::string_view kUnschedulableTaint = "node.kubernetes.io/unschedulable";
constexpr long long kDefaultPodCapacity = 110;
// kube-scheduler scores pods without requests as if they asked for 100m cpu and 200Mi memory.
constexpr long long kDefaultCpuMilli = 100;
constexpr long long kDefaultMemoryMilli = 200LL * 1024 * 1024 * 1000;
constexpr long long kMaxNodeScore = 100;

constexpr std::string_view kReasonUnschedulable = "node(s) were unschedulable";
constexpr std::string_view kReasonNodeName = "node(s) didn't match the requested node name";
constexpr std::string_view kReasonAffinity = "node(s) didn't match Pod's node affinity/selector";
constexpr std::string_view kReasonTooManyPods = "Too many pods";
constexpr std::string_view kReasonUnitMax = "node(s) exceed ResourcePolicy unit max";
constexpr std::string_view kReasonLaterUnit = "node(s) are in a later ResourcePolicy unit";
constexpr std::string_view kReasonNoUnit = "node(s) didn't match any ResourcePolicy unit";

std::string_view as_view(const Json& value) {
  return value.IsString() ? std::string_view(value.GetString(), value.GetStringLength()) : std::string_view{};
}

//! A string-valued entry of a plain map such as metadata.labels.
std::optional<std::string_view> map_entry(const Json* map, std::string_view key) {
  if (map == nullptr)
    return std::nullopt;
  const Json* value = find_member(*map, key);
  if (value == nullptr || !value->IsString())
    return std::nullopt;
  return as_view(*value);
}

//! True when every entry of `wanted` (a plain string map, may be null) is in `present`.
bool map_contains(const Json* present, const Json* wanted) {
  if (wanted == nullptr || !wanted->IsObject())
    return true;
  for (const auto& entry : wanted->GetObject()) {
    if (map_entry(present, as_view(entry.name)) != as_view(entry.value))
      return false;
  }
  return true;
}

std::map<std::string, std::string> string_map(const Json* map) {
  std::map<std::string, std::string> result;
  if (map == nullptr || !map->IsObject())
    return result;
  for (const auto& entry : map->GetObject())
    result.emplace(as_view(entry.name), as_view(entry.value));
  return result;
}

std::string_view metadata_string(const Json& object, std::string_view key) {
  const Json* metadata = find_member(object, "metadata");
  return metadata == nullptr ? std::string_view{} : string_member(*metadata, key);
}

std::string_view name_of(const Json& object) { return metadata_string(object, "name"); }

std::string_view namespace_of(const Json& object) {
  const std::string_view ns = metadata_string(object, "namespace");
  return ns.empty() ? "default" : ns;
}

const Json* labels_of(const Json& object) { return find_path(object, "metadata.labels"); }

std::string_view bound_node(const Json& pod) {
  const Json* spec = find_member(pod, "spec");
  return spec == nullptr ? std::string_view{} : string_member(*spec, "nodeName");
}

bool is_terminating(const Json& pod) {
  const Json* deletion = find_path(pod, "metadata.deletionTimestamp");
  return deletion != nullptr && !deletion->IsNull();
}

bool is_finished(const Json& pod) {
  const Json* status = find_member(pod, "status");
  const std::string_view phase = status == nullptr ? std::string_view{} : string_member(*status, "phase");
  return phase == "Succeeded" || phase == "Failed";
}

//! A bound pod that still holds its node's resources.
bool holds_resources(const Json& pod) { return !bound_node(pod).empty() && !is_finished(pod) && !is_terminating(pod); }

bool same_pod(const Json& a, const Json& b) {
  if (&a == &b)
    return true;
  const std::string_view name = name_of(a);
  return !name.empty() && name == name_of(b) && namespace_of(a) == namespace_of(b);
}

bool is_virtual(const Json& node) { return map_entry(labels_of(node), kVirtualNodeLabel) == kVirtualNodeValue; }

// ---- resources ----

void add_to(ResourceList& total, const ResourceList& more) {
  for (const auto& [name, amount] : more)
    total[name] += amount;
}

void max_into(ResourceList& total, const ResourceList& other) {
  for (const auto& [name, amount] : other) {
    long long& current = total[name];
    current = std::max(current, amount);
  }
}

ResourceList resource_list(const Json* map) {
  ResourceList result;
  if (map == nullptr || !map->IsObject())
    return result;
  for (const auto& entry : map->GetObject()) {
    if (const auto amount = rules::quantity_milli(entry.value))
      result.emplace(as_view(entry.name), *amount);
  }
  return result;
}

//! A container's requests, defaulted from its limits the way the API server does.
ResourceList container_requests(const Json& container) {
  ResourceList requests = resource_list(find_path(container, "resources.requests"));
  for (const auto& [name, amount] : resource_list(find_path(container, "resources.limits")))
    requests.try_emplace(name, amount);
  return requests;
}

//! kube-scheduler's scoring view of a container: cpu and memory only, with defaults when unset.
ResourceList nonzero_requests(const ResourceList& requests) {
  const auto cpu = requests.find("cpu");
  const auto memory = requests.find("memory");
  return {{"cpu", cpu == requests.end() ? kDefaultCpuMilli : cpu->second},
          {"memory", memory == requests.end() ? kDefaultMemoryMilli : memory->second}};
}

//! What a pod occupies on its node: exact requests for fitting, non-zero ones for scoring.
struct PodDemand {
  ResourceList requests;
  ResourceList scoring;
};

PodDemand pod_demand(const Json& pod) {
  PodDemand demand;
  const Json* spec = find_member(pod, "spec");
  if (spec == nullptr)
    return demand;
  if (const Json* containers = find_member(*spec, "containers"); containers != nullptr && containers->IsArray()) {
    for (const auto& container : containers->GetArray()) {
      const ResourceList requests = container_requests(container);
      add_to(demand.requests, requests);
      add_to(demand.scoring, nonzero_requests(requests));
    }
  }
  if (const Json* init = find_member(*spec, "initContainers"); init != nullptr && init->IsArray()) {
    for (const auto& container : init->GetArray()) {
      const ResourceList requests = container_requests(container);
      max_into(demand.requests, requests);
      max_into(demand.scoring, nonzero_requests(requests));
    }
  }
  const ResourceList overhead = resource_list(find_member(*spec, "overhead"));
  add_to(demand.requests, overhead);
  for (const auto& [name, amount] : overhead) {
    if (name == "cpu" || name == "memory")
      demand.scoring[name] += amount;
  }
  return demand;
}

struct NodeUsage {
  ResourceList requested;
  ResourceList scoring;
  long long pods = 0;
};

using UsageByNode = std::map<std::string, NodeUsage, std::less<>>;

//! Resources held on each node by the cluster's bound pods, leaving out `pod` itself.
UsageByNode node_usage(const ClusterSnapshot& cluster, const Json& pod) {
  UsageByNode usage;
  for (const Json* other : cluster.pods) {
    if (!holds_resources(*other) || same_pod(*other, pod))
      continue;
    const PodDemand demand = pod_demand(*other);
    NodeUsage& node = usage[std::string(bound_node(*other))];
    add_to(node.requested, demand.requests);
    add_to(node.scoring, demand.scoring);
    ++node.pods;
  }
  return usage;
}

long long amount_of(const ResourceList& list, std::string_view name) {
  const auto found = list.find(name);
  return found == list.end() ? 0 : found->second;
}

std::vector<std::string> resource_misfits(const PodDemand& demand, const NodeUsage& used, const Json& node) {
  std::vector<std::string> reasons;
  const ResourceList allocatable = resource_list(find_path(node, "status.allocatable"));
  const auto pod_capacity = allocatable.find("pods");
  const long long max_pods = pod_capacity == allocatable.end() ? kDefaultPodCapacity : pod_capacity->second / 1000;
  if (used.pods + 1 > max_pods)
    reasons.emplace_back(kReasonTooManyPods);
  for (const auto& [name, amount] : demand.requests) {
    if (amount <= 0 || name == "pods")
      continue;
    if (amount > amount_of(allocatable, name) - amount_of(used.requested, name))
      reasons.push_back("Insufficient " + name);
  }
  return reasons;
}

//! kube-scheduler's LeastAllocated score (0–100): mean free share of cpu and memory after placing.
long long least_allocated_score(const PodDemand& demand, const NodeUsage& used, const Json& node) {
  const ResourceList allocatable = resource_list(find_path(node, "status.allocatable"));
  long long total = 0;
  long long resources = 0;
  for (const std::string_view resource : {"cpu", "memory"}) {
    const long long capacity = amount_of(allocatable, resource);
    if (capacity <= 0)
      continue;
    ++resources;
    const long long requested = amount_of(used.scoring, resource) + amount_of(demand.scoring, resource);
    if (requested <= capacity)
      total += static_cast<long long>(static_cast<Uint128>(capacity - requested) * kMaxNodeScore / capacity);
  }
  return resources == 0 ? 0 : total / resources;
}

// ---- taints and tolerations ----

struct Toleration {
  std::string_view key;
  std::string_view op;
  std::string_view value;
  std::string_view effect;
};

struct Taint {
  std::string_view key;
  std::string_view value;
  std::string_view effect;
};

Taint taint_from(const Json& taint) {
  return {string_member(taint, "key"), string_member(taint, "value"), string_member(taint, "effect")};
}

// Same logic as Toleration.ToleratesTaint in k8s.io/api/core/v1.
bool toleration_matches(const Toleration& toleration, const Taint& taint) {
  if (!toleration.effect.empty() && toleration.effect != taint.effect)
    return false;
  if (!toleration.key.empty() && toleration.key != taint.key)
    return false;
  if (toleration.op == "Exists")
    return true;
  if (toleration.op.empty() || toleration.op == "Equal")
    return toleration.value == taint.value;
  return false;
}

std::vector<Toleration> tolerations_of(const Json* tolerations) {
  std::vector<Toleration> result;
  if (tolerations == nullptr || !tolerations->IsArray())
    return result;
  for (const auto& toleration : tolerations->GetArray()) {
    result.push_back({string_member(toleration, "key"), string_member(toleration, "operator"),
                      string_member(toleration, "value"), string_member(toleration, "effect")});
  }
  return result;
}

bool any_tolerates(const std::vector<Toleration>& tolerations, const Taint& taint) {
  return std::any_of(tolerations.begin(), tolerations.end(),
                     [&](const Toleration& toleration) { return toleration_matches(toleration, taint); });
}

//! The node's taints plus those the node lifecycle controller adds: unschedulable for a cordoned
//! node, not-ready or unreachable for a Ready condition that is False or Unknown. A node without a
//! Ready condition counts as ready.
std::vector<Taint> node_taints(const Json& node) {
  std::vector<Taint> taints;
  if (const Json* listed = find_path(node, "spec.taints"); listed != nullptr && listed->IsArray()) {
    for (const auto& taint : listed->GetArray())
      taints.push_back(taint_from(taint));
  }
  if (const Json* unschedulable = find_path(node, "spec.unschedulable"); unschedulable != nullptr && unschedulable->IsTrue()) {
    const bool present = std::any_of(taints.begin(), taints.end(), [](const Taint& taint) {
      return taint.key == kUnschedulableTaint && taint.effect == "NoSchedule";
    });
    if (!present)
      taints.push_back({kUnschedulableTaint, "", "NoSchedule"});
  }
  const Json* conditions = find_path(node, "status.conditions");
  if (conditions == nullptr || !conditions->IsArray())
    return taints;
  for (const auto& condition : conditions->GetArray()) {
    if (string_member(condition, "type") != "Ready")
      continue;
    const std::string_view status = string_member(condition, "status");
    if (status == "True")
      break;
    const std::string_view key =
        status == "Unknown" ? "node.kubernetes.io/unreachable" : "node.kubernetes.io/not-ready";
    const bool present = std::any_of(taints.begin(), taints.end(), [&](const Taint& taint) {
      return taint.key == key && taint.effect == "NoSchedule";
    });
    if (!present)
      taints.push_back({key, "", "NoSchedule"});
    break;
  }
  return taints;
}

std::optional<Taint> first_untolerated_taint(const std::vector<Taint>& taints,
                                             const std::vector<Toleration>& tolerations) {
  for (const Taint& taint : taints) {
    if (taint.effect != "NoSchedule" && taint.effect != "NoExecute")
      continue;
    if (!any_tolerates(tolerations, taint))
      return taint;
  }
  return std::nullopt;
}

long long untolerated_prefer_no_schedule(const Json& node, const std::vector<Toleration>& tolerations) {
  long long count = 0;
  for (const Taint& taint : node_taints(node)) {
    if (taint.effect == "PreferNoSchedule" && !any_tolerates(tolerations, taint))
      ++count;
  }
  return count;
}

// ---- node affinity ----

bool contains_value(const Json* values, std::string_view wanted) {
  if (values == nullptr || !values->IsArray())
    return false;
  return std::any_of(values->Begin(), values->End(), [&](const Json& value) { return as_view(value) == wanted; });
}

std::optional<long long> parse_int(std::string_view text) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

//! Gt / Lt: both sides must be integers and exactly one value given.
bool compares(std::optional<std::string_view> actual, const Json* values, bool greater) {
  if (!actual || values == nullptr || !values->IsArray() || values->Size() != 1)
    return false;
  const auto left = parse_int(*actual);
  const auto right = parse_int(as_view((*values)[0]));
  if (!left || !right)
    return false;
  return greater ? *left > *right : *left < *right;
}

//! One NodeSelectorRequirement against the value the node has for its key (nullopt: absent).
bool requirement_matches(const Json& requirement, std::optional<std::string_view> actual) {
  const std::string_view op = string_member(requirement, "operator");
  const Json* values = find_member(requirement, "values");
  if (op == "In")
    return actual && contains_value(values, *actual);
  if (op == "NotIn")
    return !actual || !contains_value(values, *actual);
  if (op == "Exists")
    return actual.has_value();
  if (op == "DoesNotExist")
    return !actual;
  if (op == "Gt" || op == "Lt")
    return compares(actual, values, op == "Gt");
  return false;
}

bool requirements_match(const Json* requirements, const Json& node, bool fields) {
  if (requirements == nullptr || !requirements->IsArray())
    return true;
  const Json* labels = labels_of(node);
  for (const auto& requirement : requirements->GetArray()) {
    const std::string_view key = string_member(requirement, "key");
    std::optional<std::string_view> actual;
    if (!fields)
      actual = map_entry(labels, key);
    else if (key == "metadata.name")
      actual = name_of(node);
    if (!requirement_matches(requirement, actual))
      return false;
  }
  return true;
}

bool is_empty_array(const Json* value) { return value == nullptr || !value->IsArray() || value->Empty(); }

//! A NodeSelectorTerm: its requirements ANDed; a term without any requirement selects nothing.
bool term_matches(const Json& term, const Json& node) {
  const Json* expressions = find_member(term, "matchExpressions");
  const Json* fields = find_member(term, "matchFields");
  if (is_empty_array(expressions) && is_empty_array(fields))
    return false;
  return requirements_match(expressions, node, false) && requirements_match(fields, node, true);
}

// ---- topology spread ----

constexpr std::string_view kHostnameKey = "kubernetes.io/hostname";
constexpr std::string_view kZoneKey = "topology.kubernetes.io/zone";
constexpr std::string_view kReasonSpread = "node(s) didn't match pod topology spread constraints";
constexpr std::string_view kReasonSpreadLabel = "node(s) didn't match pod topology spread constraints (missing required label)";

//! The pods a spread constraint counts: those a label selector matches, or (kube-scheduler's
//! system default, from the pod's ReplicaSet, StatefulSet or ReplicationController) those of the
//! same controller.
struct PodSelector {
  const Json* label_selector = nullptr;
  std::string_view owner_kind;
  std::string_view owner_name;

  bool matches(const Json& pod) const;
};

struct SpreadConstraint {
  std::string_view key;
  long long max_skew = 1;
  PodSelector selector;
};

//! The controller ownerReference of a pod: kind and name, or empty.
std::pair<std::string_view, std::string_view> controller_of_pod(const Json& pod) {
  const Json* references = find_path(pod, "metadata.ownerReferences");
  if (references == nullptr || !references->IsArray())
    return {};
  for (const auto& reference : references->GetArray()) {
    if (const Json* controller = find_member(reference, "controller"); controller != nullptr && controller->IsTrue())
      return {string_member(reference, "kind"), string_member(reference, "name")};
  }
  return {};
}

bool PodSelector::matches(const Json& pod) const {
  if (label_selector != nullptr)
    return rules::selector_matches(*label_selector, labels_of(pod));
  return controller_of_pod(pod) == std::pair{owner_kind, owner_name};
}

//! The pod's topologySpreadConstraints with `when` (DoNotSchedule or ScheduleAnyway).
std::vector<SpreadConstraint> explicit_constraints(const Json& pod, std::string_view when) {
  std::vector<SpreadConstraint> constraints;
  const Json* listed = find_path(pod, "spec.topologySpreadConstraints");
  if (listed == nullptr || !listed->IsArray())
    return constraints;
  for (const auto& constraint : listed->GetArray()) {
    if (string_member(constraint, "whenUnsatisfiable") != when)
      continue;
    const Json* skew = find_member(constraint, "maxSkew");
    const Json* selector = find_member(constraint, "labelSelector");
    if (selector == nullptr || selector->IsNull())
      continue; // a constraint without a selector matches no pod
    constraints.push_back({string_member(constraint, "topologyKey"), skew != nullptr && skew->IsInt64() ? skew->GetInt64() : 1,
                           {selector, {}, {}}});
  }
  return constraints;
}

//! The constraints PodTopologySpread scores by: the pod's ScheduleAnyway ones, or when it has none
//! at all kube-scheduler's system defaults (hostname maxSkew 3, zone maxSkew 5) for a pod a
//! ReplicaSet, StatefulSet or ReplicationController owns. Services' selectors are not modelled.
std::vector<SpreadConstraint> scoring_constraints(const Json& pod, bool& system_default) {
  system_default = false;
  if (const Json* listed = find_path(pod, "spec.topologySpreadConstraints"); listed != nullptr && listed->IsArray() && !listed->Empty())
    return explicit_constraints(pod, "ScheduleAnyway");
  const auto [kind, name] = controller_of_pod(pod);
  if (kind != "ReplicaSet" && kind != "StatefulSet" && kind != "ReplicationController")
    return {};
  system_default = true;
  const PodSelector selector{nullptr, kind, name};
  return {{kHostnameKey, 3, selector}, {kZoneKey, 5, selector}};
}

bool has_all_keys(const Json& node, const std::vector<SpreadConstraint>& constraints) {
  return std::all_of(constraints.begin(), constraints.end(),
                     [&](const SpreadConstraint& constraint) { return map_entry(labels_of(node), constraint.key).has_value(); });
}

//! Pods on each node (by name) that `selector` matches in `ns`, leaving out terminating ones.
std::map<std::string_view, long long> matching_pods_by_node(const ClusterSnapshot& cluster, const Json& pod,
                                                            const PodSelector& selector) {
  std::map<std::string_view, long long> counts;
  const std::string_view ns = namespace_of(pod);
  for (const Json* other : cluster.pods) {
    if (!holds_resources(*other) || same_pod(*other, pod) || namespace_of(*other) != ns || !selector.matches(*other))
      continue;
    ++counts[bound_node(*other)];
  }
  return counts;
}

long long count_on(const std::map<std::string_view, long long>& counts, std::string_view node) {
  const auto found = counts.find(node);
  return found == counts.end() ? 0 : found->second;
}

//! PodTopologySpread's filter state for the pod's DoNotSchedule constraints: matching pods per
//! domain over the nodes that satisfy the pod's node selection and carry every constraint's key.
struct HardSpread {
  std::vector<SpreadConstraint> constraints;
  std::vector<std::map<std::string_view, long long>> per_domain; //!< per constraint: domain value → pods
  std::vector<long long> minimum;                                 //!< per constraint

  //! The reason `node` fails the constraints, or nullopt.
  std::optional<std::pair<std::string_view, bool>> misfit(const Json& pod, const Json& node) const {
    for (size_t index = 0; index < constraints.size(); ++index) {
      const auto value = map_entry(labels_of(node), constraints[index].key);
      if (!value)
        return std::pair{kReasonSpreadLabel, true};
      const long long self = constraints[index].selector.matches(pod) ? 1 : 0;
      const auto found = per_domain[index].find(*value);
      const long long here = found == per_domain[index].end() ? 0 : found->second;
      if (here + self - minimum[index] > constraints[index].max_skew)
        return std::pair{kReasonSpread, false};
    }
    return std::nullopt;
  }
};

HardSpread hard_spread(const Json& pod, const ClusterSnapshot& cluster) {
  HardSpread spread;
  spread.constraints = explicit_constraints(pod, "DoNotSchedule");
  for (const SpreadConstraint& constraint : spread.constraints) {
    const auto by_node = matching_pods_by_node(cluster, pod, constraint.selector);
    std::map<std::string_view, long long> domains;
    for (const Json* node : cluster.nodes) {
      if (!matches_node_selection(pod, *node) || !has_all_keys(*node, spread.constraints))
        continue;
      domains[*map_entry(labels_of(*node), constraint.key)] += count_on(by_node, name_of(*node));
    }
    long long minimum = domains.empty() ? 0 : std::numeric_limits<long long>::max();
    for (const auto& [domain, count] : domains)
      minimum = std::min(minimum, count);
    spread.per_domain.push_back(std::move(domains));
    spread.minimum.push_back(minimum);
  }
  return spread;
}

// ---- filtering ----

//! Why a node cannot take the pod: every failing filter's reasons (kube-scheduler v1.26 runs all
//! filter plugins on a node and merges their statuses), and whether preemption could help there
//! (it cannot when a filter failed as UnschedulableAndUnresolvable: unschedulable node, node name,
//! taints, node affinity, a missing topology label).
struct Misfit {
  std::vector<std::string> reasons;
  bool unresolvable = false;
};

using ReasonsByNode = std::map<std::string, Misfit, std::less<>>;

//! What one scheduling attempt knows besides the node: the pod, its needs, the cluster's load.
struct Attempt {
  const Json& pod;
  const PodDemand& demand;
  const std::vector<Toleration>& tolerations;
  const UsageByNode& usage;
  const ClusterSnapshot& cluster;
  HardSpread spread;

  const NodeUsage& used_on(const Json& node) const {
    static const NodeUsage kNone;
    const auto used = usage.find(name_of(node));
    return used == usage.end() ? kNone : used->second;
  }
};

Misfit filter_node(const Attempt& attempt, const Json& node) {
  Misfit misfit;
  const auto unresolvable = [&](std::string reason) {
    misfit.reasons.push_back(std::move(reason));
    misfit.unresolvable = true;
  };
  if (const Json* unschedulable = find_path(node, "spec.unschedulable");
      unschedulable != nullptr && unschedulable->IsTrue() &&
      !any_tolerates(attempt.tolerations, {kUnschedulableTaint, "", "NoSchedule"}))
    unresolvable(std::string(kReasonUnschedulable));
  if (const std::string_view wanted = bound_node(attempt.pod); !wanted.empty() && wanted != name_of(node))
    unresolvable(std::string(kReasonNodeName));
  if (const auto taint = first_untolerated_taint(node_taints(node), attempt.tolerations))
    unresolvable("node(s) had untolerated taint {" + std::string(taint->key) + ": " + std::string(taint->value) + "}");
  if (!matches_node_selection(attempt.pod, node))
    unresolvable(std::string(kReasonAffinity));
  for (std::string& reason : resource_misfits(attempt.demand, attempt.used_on(node), node))
    misfit.reasons.push_back(std::move(reason));
  if (const auto spread = attempt.spread.misfit(attempt.pod, node)) {
    misfit.reasons.emplace_back(spread->first);
    misfit.unresolvable = misfit.unresolvable || spread->second;
  }
  return misfit;
}

// ---- scoring ----

//! NodeResourcesBalancedAllocation (0–100): 1 minus the spread of the cpu and memory fractions the
//! node's pods request (exact requests, no defaults), the new pod included.
long long balanced_allocation_score(const PodDemand& demand, const NodeUsage& used, const Json& node) {
  const ResourceList allocatable = resource_list(find_path(node, "status.allocatable"));
  std::vector<double> fractions;
  for (const std::string_view resource : {"cpu", "memory"}) {
    const long long capacity = amount_of(allocatable, resource);
    if (capacity <= 0)
      continue;
    const long long requested = amount_of(used.requested, resource) + amount_of(demand.requests, resource);
    fractions.push_back(std::min(1.0, static_cast<double>(requested) / static_cast<double>(capacity)));
  }
  const double deviation = fractions.size() == 2 ? std::fabs((fractions[0] - fractions[1]) / 2) : 0.0;
  return static_cast<long long>((1 - deviation) * static_cast<double>(kMaxNodeScore));
}

//! The framework's DefaultNormalizeScore: scaled so the highest is 100 (reversed: the lowest).
void normalize(std::vector<long long>& scores, bool reverse) {
  const long long highest = scores.empty() ? 0 : *std::max_element(scores.begin(), scores.end());
  for (long long& score : scores) {
    if (highest == 0) {
      score = reverse ? kMaxNodeScore : score;
      continue;
    }
    score = kMaxNodeScore * score / highest;
    if (reverse)
      score = kMaxNodeScore - score;
  }
}

//! PodTopologySpread's score of each feasible node for its ScheduleAnyway constraints, normalized
//! as the plugin does (fewer matching pods in the node's domains scores higher).
std::vector<long long> spread_scores(const Json& pod, const ClusterSnapshot& cluster, const std::vector<const Json*>& feasible) {
  bool system_default = false;
  const std::vector<SpreadConstraint> constraints = scoring_constraints(pod, system_default);
  std::vector<long long> scores(feasible.size(), 0);
  if (constraints.empty()) {
    std::fill(scores.begin(), scores.end(), kMaxNodeScore);
    return scores;
  }
  // Only the system defaults spare nodes without every key (they still spread by hostname).
  const bool require_all_keys = !system_default;
  std::vector<bool> ignored(feasible.size(), false);
  std::vector<std::map<std::string_view, long long>> domain_counts(constraints.size());
  std::vector<double> weights(constraints.size());
  size_t considered = 0;
  for (size_t index = 0; index < feasible.size(); ++index) {
    if (require_all_keys && !has_all_keys(*feasible[index], constraints)) {
      ignored[index] = true;
      continue;
    }
    ++considered;
    for (size_t c = 0; c < constraints.size(); ++c) {
      if (constraints[c].key != kHostnameKey)
        domain_counts[c].try_emplace(map_entry(labels_of(*feasible[index]), constraints[c].key).value_or(""), 0);
    }
  }
  std::vector<std::map<std::string_view, long long>> by_node;
  for (size_t c = 0; c < constraints.size(); ++c) {
    // The system defaults share one selector: count its pods once.
    const PodSelector& selector = constraints[c].selector;
    const bool same_as_previous = c > 0 && selector.label_selector == constraints[c - 1].selector.label_selector &&
                                  selector.owner_kind == constraints[c - 1].selector.owner_kind &&
                                  selector.owner_name == constraints[c - 1].selector.owner_name;
    by_node.push_back(same_as_previous ? by_node.back() : matching_pods_by_node(cluster, pod, selector));
  }
  for (const Json* node : cluster.nodes) {
    if (!matches_node_selection(pod, *node) || (require_all_keys && !has_all_keys(*node, constraints)))
      continue;
    for (size_t c = 0; c < constraints.size(); ++c) {
      if (constraints[c].key == kHostnameKey)
        continue;
      const auto domain = domain_counts[c].find(map_entry(labels_of(*node), constraints[c].key).value_or(""));
      if (domain != domain_counts[c].end())
        domain->second += count_on(by_node[c], name_of(*node));
    }
  }
  for (size_t c = 0; c < constraints.size(); ++c) {
    const size_t size = constraints[c].key == kHostnameKey ? considered : domain_counts[c].size();
    weights[c] = std::log(static_cast<double>(size + 2));
  }
  long long lowest = std::numeric_limits<long long>::max();
  long long highest = 0;
  for (size_t index = 0; index < feasible.size(); ++index) {
    if (ignored[index])
      continue;
    double score = 0;
    for (size_t c = 0; c < constraints.size(); ++c) {
      const auto value = map_entry(labels_of(*feasible[index]), constraints[c].key);
      if (!value)
        continue;
      const long long count = constraints[c].key == kHostnameKey ? count_on(by_node[c], name_of(*feasible[index]))
                                                                  : domain_counts[c].at(*value);
      score += static_cast<double>(count) * weights[c] + static_cast<double>(constraints[c].max_skew - 1);
    }
    scores[index] = std::llround(score);
    lowest = std::min(lowest, scores[index]);
    highest = std::max(highest, scores[index]);
  }
  for (size_t index = 0; index < feasible.size(); ++index) {
    if (ignored[index])
      scores[index] = 0;
    else if (highest == 0)
      scores[index] = kMaxNodeScore;
    else
      scores[index] = kMaxNodeScore * (highest + lowest - scores[index]) / highest;
  }
  return scores;
}

long long preferred_affinity_weight(const Json& pod, const Json& node) {
  const Json* preferred = find_path(pod, "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution");
  if (preferred == nullptr || !preferred->IsArray())
    return 0;
  long long total = 0;
  for (const auto& entry : preferred->GetArray()) {
    const Json* weight = find_member(entry, "weight");
    const Json* preference = find_member(entry, "preference");
    if (weight == nullptr || !weight->IsInt64() || preference == nullptr)
      continue;
    if (term_matches(*preference, node))
      total += weight->GetInt64();
  }
  return total;
}

// kube-scheduler v1.26's default score weights.
constexpr long long kTaintTolerationWeight = 3;
constexpr long long kNodeAffinityWeight = 2;
constexpr long long kTopologySpreadWeight = 2;
constexpr long long kResourcesFitWeight = 1;
constexpr long long kBalancedAllocationWeight = 1;

//! The weighted sum of the score plugins for each feasible node, each plugin normalized over them.
std::vector<long long> total_scores(const Attempt& attempt, const std::vector<const Json*>& feasible) {
  std::vector<long long> taints;
  std::vector<long long> affinity;
  std::vector<long long> totals;
  std::vector<Toleration> soft_tolerations;
  for (const Toleration& toleration : attempt.tolerations) {
    if (toleration.effect.empty() || toleration.effect == "PreferNoSchedule")
      soft_tolerations.push_back(toleration);
  }
  for (const Json* node : feasible) {
    const NodeUsage& used = attempt.used_on(*node);
    taints.push_back(untolerated_prefer_no_schedule(*node, soft_tolerations));
    affinity.push_back(preferred_affinity_weight(attempt.pod, *node));
    totals.push_back(kResourcesFitWeight * least_allocated_score(attempt.demand, used, *node) +
                     kBalancedAllocationWeight * balanced_allocation_score(attempt.demand, used, *node));
  }
  normalize(taints, true);
  normalize(affinity, false);
  const std::vector<long long> spread = spread_scores(attempt.pod, attempt.cluster, feasible);
  for (size_t index = 0; index < feasible.size(); ++index)
    totals[index] += kTaintTolerationWeight * taints[index] + kNodeAffinityWeight * affinity[index] +
                     kTopologySpreadWeight * spread[index];
  return totals;
}

//! NodeAffinity's PreFilter: when every required term names nodes (`matchFields` metadata.name In,
//! as a daemon pod's does), only those nodes are filtered; the others get no reason at all.
std::vector<const Json*> prefiltered_nodes(const Json& pod, const std::vector<const Json*>& nodes) {
  const Json* terms = find_path(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
  if (terms == nullptr || !terms->IsArray() || terms->Empty())
    return nodes;
  std::set<std::string_view> names;
  for (const auto& term : terms->GetArray()) {
    std::optional<std::set<std::string_view>> term_names;
    if (const Json* fields = find_member(term, "matchFields"); fields != nullptr && fields->IsArray()) {
      for (const auto& field : fields->GetArray()) {
        if (string_member(field, "key") != "metadata.name" || string_member(field, "operator") != "In")
          continue;
        std::set<std::string_view> values;
        if (const Json* listed = find_member(field, "values"); listed != nullptr && listed->IsArray()) {
          for (const auto& value : listed->GetArray())
            values.insert(as_view(value));
        }
        if (term_names) {
          std::erase_if(*term_names, [&](std::string_view name) { return values.count(name) == 0; });
        } else {
          term_names = std::move(values);
        }
      }
    }
    if (!term_names)
      return nodes; // a term that names no node: every node may match
    names.insert(term_names->begin(), term_names->end());
  }
  std::vector<const Json*> kept;
  for (const Json* node : nodes) {
    if (names.count(name_of(*node)) != 0)
      kept.push_back(node);
  }
  return kept;
}

struct Evaluation {
  std::string best;      //!< empty when no node fits
  ReasonsByNode reasons; //!< for each node that does not fit
};

//! Filters `nodes`, scores the feasible ones and takes the highest total; among equal totals the
//! first by name (kube-scheduler picks one of them at random).
Evaluation evaluate(const Attempt& attempt, const std::vector<const Json*>& nodes) {
  Evaluation evaluation;
  std::vector<const Json*> feasible;
  for (const Json* node : nodes) {
    Misfit misfit = filter_node(attempt, *node);
    if (misfit.reasons.empty())
      feasible.push_back(node);
    else
      evaluation.reasons[std::string(name_of(*node))] = std::move(misfit);
  }
  if (feasible.empty())
    return evaluation;
  const std::vector<long long> totals = total_scores(attempt, feasible);
  size_t best = 0;
  for (size_t index = 1; index < feasible.size(); ++index) {
    if (totals[index] > totals[best] || (totals[index] == totals[best] && name_of(*feasible[index]) < name_of(*feasible[best])))
      best = index;
  }
  evaluation.best = name_of(*feasible[best]);
  return evaluation;
}

//! "count reason" entries sorted as strings (sort.Strings), joined as kube-scheduler does.
std::string reason_histogram(const std::map<std::string, int>& histogram) {
  std::vector<std::string> entries;
  for (const auto& [reason, count] : histogram)
    entries.push_back(std::to_string(count) + " " + reason);
  std::sort(entries.begin(), entries.end());
  std::string joined;
  for (const std::string& entry : entries)
    joined += (joined.empty() ? "" : ", ") + entry;
  return joined;
}

//! kube-scheduler v1.26's FitError text with DefaultPreemption's clause: nodes where preemption
//! cannot help, and the others, where (priorities not modelled) no victims are found.
std::string unschedulable_message(size_t node_count, const ReasonsByNode& reasons) {
  std::map<std::string, int> filters;
  std::map<std::string, int> preemption;
  for (const auto& [node, misfit] : reasons) {
    for (const std::string& reason : misfit.reasons)
      ++filters[reason];
    ++preemption[misfit.unresolvable ? "Preemption is not helpful for scheduling" : "No preemption victims found for incoming pod"];
  }
  const std::string nodes = "0/" + std::to_string(node_count) + " nodes are available: ";
  return nodes + reason_histogram(filters) + ". preemption: " + nodes + reason_histogram(preemption) + "..";
}

std::vector<Toleration> pod_tolerations(const Json& pod) { return tolerations_of(find_path(pod, "spec.tolerations")); }

// ---- ResourcePolicy ----

//! The ResourcePolicy governing `pod`: same namespace, selector ⊆ pod labels; the first by name if several.
const Json* policy_for(const Json& pod, const ClusterSnapshot& cluster) {
  const Json* chosen = nullptr;
  for (const Json* policy : cluster.resource_policies) {
    if (namespace_of(*policy) != namespace_of(pod) ||
        !map_contains(labels_of(pod), find_path(*policy, "spec.selector")))
      continue;
    if (chosen == nullptr || name_of(*policy) < name_of(*chosen))
      chosen = policy;
  }
  return chosen;
}

std::vector<const Json*> policy_units(const Json& policy) {
  std::vector<const Json*> units;
  const Json* listed = find_path(policy, "spec.units");
  if (listed == nullptr || !listed->IsArray())
    return units;
  for (const auto& unit : listed->GetArray())
    units.push_back(&unit);
  return units;
}

bool node_in_unit(const Json& unit, const Json& node, bool registered) {
  if (!map_contains(labels_of(node), find_member(unit, "nodeSelector")))
    return false;
  const std::string_view resource = string_member(unit, "resource");
  if (resource == "idc")
    return registered && !is_virtual(node) && !map_entry(labels_of(node), kNodePoolLabel);
  if (resource == "ecs")
    return !is_virtual(node);
  if (resource == "eci" || resource == "acs" || resource == "elastic")
    return is_virtual(node);
  return false;
}

std::vector<const Json*> unit_nodes(const Json& unit, const ClusterSnapshot& cluster) {
  std::vector<const Json*> nodes;
  for (const Json* node : cluster.nodes) {
    if (node_in_unit(unit, *node, cluster.registered))
      nodes.push_back(node);
  }
  return nodes;
}

const Json* node_named(const ClusterSnapshot& cluster, std::string_view name) {
  for (const Json* node : cluster.nodes) {
    if (name_of(*node) == name)
      return node;
  }
  return nullptr;
}

//! Tolerations the scheduler adds inside a unit: virtual-node units tolerate the provider taint.
std::vector<Toleration> unit_tolerations(const Json& pod, const Json& unit) {
  std::vector<Toleration> tolerations = pod_tolerations(pod);
  const std::string_view resource = string_member(unit, "resource");
  if (resource == "eci" || resource == "acs" || resource == "elastic")
    tolerations.push_back({kVirtualProviderTaint, "Exists", "", ""});
  return tolerations;
}

//! A pod placed in `unit`: bound to one of its nodes and carrying its podLabels and podAnnotations.
bool pod_in_unit(const Json& pod, const Json& unit, const ClusterSnapshot& cluster) {
  const std::string_view node_name = bound_node(pod);
  if (node_name.empty() || is_finished(pod))
    return false;
  const Json* node = node_named(cluster, node_name);
  return node != nullptr && node_in_unit(unit, *node, cluster.registered) &&
         map_contains(labels_of(pod), find_member(unit, "podLabels")) &&
         map_contains(find_path(pod, "metadata.annotations"), find_member(unit, "podAnnotations"));
}

bool governed_by(const Json& pod, const Json& policy) {
  return namespace_of(pod) == namespace_of(policy) && map_contains(labels_of(pod), find_path(policy, "spec.selector"));
}

//! The unit's occupancy as `max` and `maxResources` count it.
struct UnitLoad {
  long long pods = 0;
  long long terminating = 0;
  ResourceList requested;
};

UnitLoad unit_load(const Json& policy, const Json& unit, const Json& pod, const ClusterSnapshot& cluster) {
  const Json* ignore = find_path(policy, "spec.ignoreTerminatingPod");
  const bool ignore_terminating = ignore == nullptr || !ignore->IsBool() || ignore->GetBool();
  UnitLoad load;
  for (const Json* other : cluster.pods) {
    if (same_pod(*other, pod) || !governed_by(*other, policy) || !pod_in_unit(*other, unit, cluster))
      continue;
    if (is_terminating(*other)) {
      ++load.terminating;
      if (ignore_terminating)
        continue;
    }
    ++load.pods;
    add_to(load.requested, pod_demand(*other).requests);
  }
  return load;
}

std::optional<long long> unit_max(const Json& unit) {
  const Json* max = find_member(unit, "max");
  if (max == nullptr || !max->IsInt64())
    return std::nullopt;
  return max->GetInt64();
}

bool unit_exceeded(const Json& unit, const UnitLoad& load, const PodDemand& demand) {
  if (const auto max = unit_max(unit); max && load.pods >= *max)
    return true;
  for (const auto& [name, limit] : resource_list(find_member(unit, "maxResources"))) {
    if (amount_of(load.requested, name) + amount_of(demand.requests, name) > limit)
      return true;
  }
  return false;
}

//! After the unit lacked resources (without being at its max), may the pod try the next unit?
// TimeoutOrExceedMax needs a clock this pure function does not have; it behaves as if the timeout
// had passed, i.e. like the default.
bool moves_on_when_lacking(const Json& policy, const Json& unit, const UnitLoad& load) {
  const Json* when = find_path(policy, "spec.whenTryNextUnits");
  const std::string_view name = when == nullptr ? std::string_view{} : string_member(*when, "policy");
  if (name == "ExceedMax")
    return !unit_max(unit) && find_member(unit, "maxResources") == nullptr;
  if (name == "LackResourceAndNoTerminating")
    return load.terminating == 0;
  return true;
}

ScheduleDecision schedule_with_policy(const Json& pod, const Json& policy, const ClusterSnapshot& cluster,
                                      const PodDemand& demand, const UsageByNode& usage) {
  ReasonsByNode reasons;
  const std::vector<const Json*> units = policy_units(policy);
  for (size_t index = 0; index < units.size(); ++index) {
    const Json& unit = *units[index];
    const std::vector<const Json*> nodes = unit_nodes(unit, cluster);
    const UnitLoad load = unit_load(policy, unit, pod, cluster);
    if (unit_exceeded(unit, load, demand)) {
      for (const Json* node : nodes)
        reasons.try_emplace(std::string(name_of(*node)), Misfit{{std::string(kReasonUnitMax)}, true});
      continue;
    }
    const std::vector<Toleration> tolerations = unit_tolerations(pod, unit);
    Evaluation evaluation = evaluate({pod, demand, tolerations, usage, cluster, hard_spread(pod, cluster)}, nodes);
    if (!evaluation.best.empty()) {
      return {evaluation.best,
              {},
              string_map(find_member(unit, "podLabels")),
              string_map(find_member(unit, "podAnnotations")),
              static_cast<int>(index)};
    }
    for (auto& [node, node_reasons] : evaluation.reasons) {
      auto [entry, inserted] = reasons.try_emplace(node, node_reasons);
      if (!inserted && entry->second.reasons == std::vector<std::string>{std::string(kReasonUnitMax)})
        entry->second = std::move(node_reasons);
    }
    if (!moves_on_when_lacking(policy, unit, load))
      break;
  }
  for (const Json* node : cluster.nodes) {
    const bool in_some_unit = std::any_of(
        units.begin(), units.end(), [&](const Json* unit) { return node_in_unit(*unit, *node, cluster.registered); });
    reasons.try_emplace(std::string(name_of(*node)), Misfit{{std::string(in_some_unit ? kReasonLaterUnit : kReasonNoUnit)}, true});
  }
  ScheduleDecision decision;
  decision.message = unschedulable_message(cluster.nodes.size(), reasons);
  return decision;
}

//! The unit a bound pod counts toward (the first that claims it), or nullopt.
std::optional<size_t> unit_of(const Json& pod, const ClusterSnapshot& cluster) {
  const Json* policy = policy_for(pod, cluster);
  if (policy == nullptr)
    return std::nullopt;
  const std::vector<const Json*> units = policy_units(*policy);
  for (size_t index = 0; index < units.size(); ++index) {
    if (pod_in_unit(pod, *units[index], cluster))
      return index;
  }
  return std::nullopt;
}

int phase_rank(const Json& pod) {
  const Json* status = find_member(pod, "status");
  const std::string_view phase = status == nullptr ? std::string_view{} : string_member(*status, "phase");
  if (phase == "Running")
    return 2;
  if (phase == "Unknown")
    return 1;
  return 0;
}

// The daemon controller's automatic tolerations (AddOrUpdateDaemonPodTolerations).
std::vector<Toleration> daemon_tolerations(const Json& pod) {
  std::vector<Toleration> tolerations = pod_tolerations(pod);
  const Json* host_network = find_path(pod, "spec.hostNetwork");
  for (const auto& [key, effect] : daemon_pod_tolerations(host_network != nullptr && host_network->IsTrue()))
    tolerations.push_back({key, "Exists", "", effect});
  return tolerations;
}

} // namespace

bool tolerates(const Json* tolerations, const Json& taint) {
  return any_tolerates(tolerations_of(tolerations), taint_from(taint));
}


bool lacks_only_resources(std::string_view misfit) {
  size_t start = 0;
  while (start <= misfit.size()) {
    const size_t end = misfit.find(", ", start);
    const std::string_view reason = misfit.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!reason.starts_with("Insufficient ") && reason != kReasonTooManyPods)
      return false;
    if (end == std::string_view::npos)
      break;
    start = end + 2;
  }
  return true;
}

std::vector<std::pair<std::string_view, std::string_view>> daemon_pod_tolerations(bool host_network) {
  std::vector<std::pair<std::string_view, std::string_view>> tolerations = {
      {"node.kubernetes.io/not-ready", "NoExecute"},      {"node.kubernetes.io/unreachable", "NoExecute"},
      {"node.kubernetes.io/disk-pressure", "NoSchedule"}, {"node.kubernetes.io/memory-pressure", "NoSchedule"},
      {"node.kubernetes.io/pid-pressure", "NoSchedule"},  {kUnschedulableTaint, "NoSchedule"}};
  if (host_network)
    tolerations.emplace_back("node.kubernetes.io/network-unavailable", "NoSchedule");
  return tolerations;
}

bool matches_node_selection(const Json& pod, const Json& node) {
  if (!map_contains(labels_of(node), find_path(pod, "spec.nodeSelector")))
    return false;
  const Json* required = find_path(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
  if (required == nullptr || required->IsNull())
    return true;
  const Json* terms = find_member(*required, "nodeSelectorTerms");
  if (terms == nullptr || !terms->IsArray())
    return false;
  return std::any_of(terms->Begin(), terms->End(), [&](const Json& term) { return term_matches(term, node); });
}

ScheduleDecision schedule(const Json& pod, const ClusterSnapshot& cluster) {
  ScheduleDecision decision;
  if (cluster.nodes.empty()) {
    decision.message = "no nodes available to schedule pods";
    return decision;
  }
  const PodDemand demand = pod_demand(pod);
  const UsageByNode usage = node_usage(cluster, pod);
  if (const Json* policy = policy_for(pod, cluster))
    return schedule_with_policy(pod, *policy, cluster, demand, usage);
  const std::vector<Toleration> tolerations = pod_tolerations(pod);
  const std::vector<const Json*> nodes = prefiltered_nodes(pod, cluster.nodes);
  Evaluation evaluation = evaluate({pod, demand, tolerations, usage, cluster, hard_spread(pod, cluster)}, nodes);
  decision.node = evaluation.best;
  if (!decision.node.empty())
    return decision;
  // Nodes NodeAffinity's PreFilter left out have no status: preemption tries them all the same.
  for (const Json* node : cluster.nodes)
    evaluation.reasons.try_emplace(std::string(name_of(*node)));
  decision.message = unschedulable_message(cluster.nodes.size(), evaluation.reasons);
  return decision;
}

std::optional<std::string> daemon_pod_misfit(const Json& pod, const Json& node, const ClusterSnapshot& cluster) {
  const PodDemand demand = pod_demand(pod);
  const std::vector<Toleration> tolerations = daemon_tolerations(pod);
  const UsageByNode usage = node_usage(cluster, pod);
  std::vector<std::string> reasons =
      filter_node({pod, demand, tolerations, usage, cluster, hard_spread(pod, cluster)}, node).reasons;
  if (reasons.empty())
    return std::nullopt;
  std::sort(reasons.begin(), reasons.end());
  std::string joined;
  for (const std::string& reason : reasons)
    joined += (joined.empty() ? "" : ", ") + reason;
  return joined;
}

std::vector<const Json*> scale_in_order(const std::vector<const Json*>& candidates, const ClusterSnapshot& cluster) {
  struct Ranked {
    const Json* pod;
    size_t unit_rank; // higher goes first: unbound pods, then pods outside every unit, then by unit descending
    int phase;
    std::string_view created;
    std::string_view name;
  };
  std::vector<Ranked> ranked;
  for (const Json* pod : candidates) {
    constexpr size_t kUnbound = std::numeric_limits<size_t>::max();
    size_t unit_rank = kUnbound;
    if (!bound_node(*pod).empty()) {
      const auto unit = unit_of(*pod, cluster);
      unit_rank = unit ? *unit : kUnbound - 1;
    }
    ranked.push_back({pod, unit_rank, phase_rank(*pod), metadata_string(*pod, "creationTimestamp"), name_of(*pod)});
  }
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    return std::tie(b.unit_rank, a.phase, b.created, a.name) < std::tie(a.unit_rank, b.phase, a.created, b.name);
  });
  std::vector<const Json*> order;
  for (const Ranked& entry : ranked)
    order.push_back(entry.pod);
  return order;
}

} // namespace meridian::sched

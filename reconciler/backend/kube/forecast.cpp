#include "backend/kube/forecast.h"

#include "kube_sched/scheduler.h"
#include "kube_rules/accessors.h"
#include "kube_rules/health.h"
#include "kube_rules/selector.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

namespace meridian::kube {

namespace {

using rules::text_at;

constexpr std::string_view kRegionLabel = "topology.kubernetes.io/region";

std::string_view view_of(const Json& value) {
  return value.IsString() ? std::string_view(value.GetString(), value.GetStringLength()) : std::string_view{};
}

Json string_value(std::string_view value, JsonAllocator& allocator) {
  return Json(value.data(), static_cast<rapidjson::SizeType>(value.size()), allocator);
}

void put(Json& object, std::string_view key, Json value, JsonAllocator& allocator) {
  if (Json* existing = const_cast<Json*>(find_member(object, key))) {
    *existing = std::move(value);
    return;
  }
  object.AddMember(string_value(key, allocator), value, allocator);
}

Json& object_at(Json& object, std::string_view key, JsonAllocator& allocator) {
  if (const Json* existing = find_member(object, key); existing == nullptr || !existing->IsObject())
    put(object, key, Json(rapidjson::kObjectType), allocator);
  return *const_cast<Json*>(find_member(object, key));
}

//! True when every field `desired` sets has the same value in `live` (what the server adds, such
//! as defaults, is ignored).
bool contains(const Json& live, const Json& desired) {
  if (desired.IsObject()) {
    if (!live.IsObject())
      return false;
    for (const auto& member : desired.GetObject()) {
      const Json* other = find_member(live, view_of(member.name));
      if (other == nullptr ? !member.value.IsNull() : !contains(*other, member.value))
        return false;
    }
    return true;
  }
  if (desired.IsArray()) {
    if (!live.IsArray() || live.Size() != desired.Size())
      return false;
    for (rapidjson::SizeType index = 0; index < desired.Size(); ++index) {
      if (!contains(live[index], desired[index]))
        return false;
    }
    return true;
  }
  if (desired.IsNumber() && live.IsNumber())
    return desired.GetDouble() == live.GetDouble();
  return json_equal(live, desired);
}

bool contains_at(const Json* live, const Json& desired, std::string_view path) {
  const Json* wanted = find_path(desired, path);
  if (wanted == nullptr)
    return true;
  const Json* present = live == nullptr ? nullptr : find_path(*live, path);
  return present != nullptr && contains(*present, *wanted);
}

int replicas_of(const Json& desired) {
  const Json* replicas = find_path(desired, "spec.replicas");
  return replicas != nullptr && replicas->IsInt() ? std::max(0, replicas->GetInt()) : 1;
}

std::string namespace_of(const ObjectRef& ref) { return ref.namespace_.empty() ? "default" : ref.namespace_; }

//! The live pods of a workload: same namespace, matched by its selector (a Pod: by name).
std::vector<const Json*> pods_of(const WorkloadChange& change, const std::vector<const Json*>& pods) {
  std::vector<const Json*> result;
  const std::string ns = namespace_of(change.ref);
  const Json* selector = find_path(*change.desired, "spec.selector");
  for (const Json* pod : pods) {
    if (text_at(*pod, "metadata.namespace") != ns || rules::pod_terminating(*pod))
      continue;
    const bool mine = change.ref.kind == "Pod" ? text_at(*pod, "metadata.name") == change.ref.name
                                               : selector != nullptr && rules::selector_matches(*selector, find_path(*pod, "metadata.labels"));
    if (mine)
      result.push_back(pod);
  }
  return result;
}

//! The controller a new pod of `change` gets: ReplicaSet (of a Deployment), StatefulSet or
//! DaemonSet, named after the workload so that the system-default spreading groups its pods.
std::pair<std::string, std::string> owner_for(const WorkloadChange& change) {
  if (change.ref.kind == "Deployment")
    return {"ReplicaSet", change.ref.name + "-forecast"};
  return {change.ref.kind, change.ref.name};
}

class Forecaster {
public:
  explicit Forecaster(const SchedulingState& live) {
    for (const auto& node : live.nodes) {
      snapshot_.nodes.push_back(node.get());
      if (const Json* labels = find_path(*node, "metadata.labels"); labels != nullptr)
        regions_[text_at(*node, "metadata.name")] = std::string(string_member(*labels, kRegionLabel));
    }
    std::sort(snapshot_.nodes.begin(), snapshot_.nodes.end(),
              [](const Json* a, const Json* b) { return text_at(*a, "metadata.name") < text_at(*b, "metadata.name"); });
    for (const auto& pod : live.pods)
      snapshot_.pods.push_back(pod.get());
  }

  PlacementForecast forecast(const WorkloadChange& change) {
    const std::vector<const Json*> current = pods_of(change, snapshot_.pods);
    const bool replaced = change.ref.kind == "Pod" ? !contains_at(change.live, *change.desired, "spec")
                                                   : !contains_at(change.live, *change.desired, "spec.template");
    std::vector<const Json*> kept;
    if (!replaced && change.ref.kind != "DaemonSet" && change.ref.kind != "Pod") {
      kept = sched::scale_in_order(current, snapshot_);
      const size_t wanted = static_cast<size_t>(replicas_of(*change.desired));
      // scale_in_order lists the pods to delete first.
      kept.erase(kept.begin(), kept.begin() + static_cast<long>(kept.size() > wanted ? kept.size() - wanted : 0));
    } else if (!replaced) {
      kept = current;
    }
    const std::set<const Json*> dropped = difference(current, kept);
    std::erase_if(snapshot_.pods, [&](const Json* pod) { return dropped.count(pod) != 0; });

    std::vector<PodPlacement> placements;
    for (const Json* pod : kept)
      placements.push_back(placement_of(*pod));
    if (change.ref.kind == "DaemonSet")
      place_daemon_pods(change, placements);
    else if (change.ref.kind == "Pod")
      place(make_pod(*change.desired, change, change.ref.name, true), placements);
    else
      place_replicas(change, kept, placements);

    std::sort(placements.begin(), placements.end(), [](const PodPlacement& a, const PodPlacement& b) { return a.name < b.name; });
    PlacementForecast forecast;
    forecast.workload = change.ref;
    forecast.pods = static_cast<int>(placements.size());
    forecast.pending = static_cast<int>(std::count_if(placements.begin(), placements.end(), [](const PodPlacement& p) { return p.node.empty(); }));
    forecast.message = "forecast: " + forecast_message(placements);
    forecast.placements = std::move(placements);
    return forecast;
  }

private:
  static std::set<const Json*> difference(const std::vector<const Json*>& all, const std::vector<const Json*>& kept) {
    std::set<const Json*> result(all.begin(), all.end());
    for (const Json* pod : kept)
      result.erase(pod);
    return result;
  }

  PodPlacement placement_of(const Json& pod) const {
    PodPlacement placement;
    placement.name = text_at(pod, "metadata.name");
    placement.node = text_at(pod, "spec.nodeName");
    placement.phase = placement.node.empty() ? "Pending" : text_at(pod, "status.phase");
    if (placement.phase.empty())
      placement.phase = "Pending";
    placement.region = region_of(placement.node);
    return placement;
  }

  std::string region_of(const std::string& node) const {
    const auto found = regions_.find(node);
    return found == regions_.end() ? std::string() : found->second;
  }

  //! A new pod of `change`: a copy of the Pod manifest (`whole`), or one made from the template.
  JsonDocument& make_pod(const Json& source, const WorkloadChange& change, const std::string& name, bool whole) {
    JsonDocument& pod = made_.emplace_back();
    JsonAllocator& allocator = pod.GetAllocator();
    if (whole) {
      pod.CopyFrom(source, allocator);
    } else {
      pod.SetObject();
      if (const Json* metadata = find_member(source, "metadata"); metadata != nullptr && metadata->IsObject())
        put(pod, "metadata", Json(*metadata, allocator), allocator);
      if (const Json* spec = find_member(source, "spec"); spec != nullptr && spec->IsObject())
        put(pod, "spec", Json(*spec, allocator), allocator);
      const auto [kind, owner] = owner_for(change);
      Json reference(rapidjson::kObjectType);
      put(reference, "apiVersion", string_value("apps/v1", allocator), allocator);
      put(reference, "kind", string_value(kind, allocator), allocator);
      put(reference, "name", string_value(owner, allocator), allocator);
      put(reference, "controller", Json(true), allocator);
      Json references(rapidjson::kArrayType);
      references.PushBack(reference, allocator);
      put(object_at(pod, "metadata", allocator), "ownerReferences", std::move(references), allocator);
    }
    put(pod, "apiVersion", string_value("v1", allocator), allocator);
    put(pod, "kind", string_value("Pod", allocator), allocator);
    Json& metadata = object_at(pod, "metadata", allocator);
    put(metadata, "name", string_value(name, allocator), allocator);
    put(metadata, "namespace", string_value(namespace_of(change.ref), allocator), allocator);
    object_at(pod, "spec", allocator);
    return pod;
  }

  //! Schedules `pod` and binds it in the snapshot when it finds a node.
  void place(JsonDocument& pod, std::vector<PodPlacement>& placements) {
    const sched::ScheduleDecision decision = sched::schedule(pod, snapshot_);
    PodPlacement placement;
    placement.name = text_at(pod, "metadata.name");
    placement.node = decision.node;
    placement.phase = decision.node.empty() ? "Pending" : "Running";
    placement.message = decision.message;
    placement.region = region_of(decision.node);
    if (!decision.node.empty()) {
      put(pod["spec"], "nodeName", string_value(decision.node, pod.GetAllocator()), pod.GetAllocator());
      snapshot_.pods.push_back(&pod);
    }
    placements.push_back(std::move(placement));
  }

  void place_replicas(const WorkloadChange& change, const std::vector<const Json*>& kept, std::vector<PodPlacement>& placements) {
    const Json* pod_template = find_path(*change.desired, "spec.template");
    if (pod_template == nullptr)
      return;
    const int wanted = replicas_of(*change.desired);
    for (int index = static_cast<int>(kept.size()); index < wanted; ++index) {
      const std::string name = change.ref.kind == "StatefulSet" ? fmt_name(change.ref.name, index) : fmt_name(change.ref.name + "-forecast", index);
      JsonDocument& pod = make_pod(*pod_template, change, name, false);
      adopt_kept_owner(pod, kept);
      place(pod, placements);
    }
  }

  static std::string fmt_name(const std::string& prefix, int index) { return prefix + "-" + std::to_string(index); }

  //! New replicas of an unchanged template join the ReplicaSet of the pods kept (for spreading).
  static void adopt_kept_owner(JsonDocument& pod, const std::vector<const Json*>& kept) {
    if (kept.empty())
      return;
    const Json* references = find_path(*kept.front(), "metadata.ownerReferences");
    if (references == nullptr || !references->IsArray())
      return;
    put(pod["metadata"], "ownerReferences", Json(*references, pod.GetAllocator()), pod.GetAllocator());
  }

  // The daemon controller's pod for one node: its required node affinity replaced by the node's
  // name, and the tolerations it adds (AddOrUpdateDaemonPodTolerations).
  void place_daemon_pods(const WorkloadChange& change, std::vector<PodPlacement>& placements) {
    const Json* pod_template = find_path(*change.desired, "spec.template");
    if (pod_template == nullptr)
      return;
    const sched::ClusterSnapshot no_pods;
    for (const Json* node : snapshot_.nodes) {
      const std::string node_name = text_at(*node, "metadata.name");
      JsonDocument& pod = make_pod(*pod_template, change, change.ref.name + "-" + node_name, false);
      JsonAllocator& allocator = pod.GetAllocator();
      Json& spec = pod["spec"];
      Json& node_affinity = object_at(object_at(spec, "affinity", allocator), "nodeAffinity", allocator);
      // Should the daemon run here (taints, node selector, the template's affinity)? Resources do
      // not decide: a pod that does not fit is created and stays Pending.
      const auto misfit = sched::daemon_pod_misfit(pod, *node, no_pods);
      if (misfit && !sched::lacks_only_resources(*misfit))
        continue;
      put(node_affinity, "requiredDuringSchedulingIgnoredDuringExecution", node_name_affinity(node_name, allocator), allocator);
      add_daemon_tolerations(spec, allocator);
      place(pod, placements);
    }
  }

  static Json node_name_affinity(const std::string& node, JsonAllocator& allocator) {
    Json values(rapidjson::kArrayType);
    values.PushBack(string_value(node, allocator), allocator);
    Json field(rapidjson::kObjectType);
    put(field, "key", string_value("metadata.name", allocator), allocator);
    put(field, "operator", string_value("In", allocator), allocator);
    put(field, "values", std::move(values), allocator);
    Json fields(rapidjson::kArrayType);
    fields.PushBack(field, allocator);
    Json term(rapidjson::kObjectType);
    put(term, "matchFields", std::move(fields), allocator);
    Json terms(rapidjson::kArrayType);
    terms.PushBack(term, allocator);
    Json required(rapidjson::kObjectType);
    put(required, "nodeSelectorTerms", std::move(terms), allocator);
    return required;
  }

  static void add_daemon_tolerations(Json& spec, JsonAllocator& allocator) {
    if (const Json* listed = find_member(spec, "tolerations"); listed == nullptr || !listed->IsArray())
      put(spec, "tolerations", Json(rapidjson::kArrayType), allocator);
    Json& tolerations = *const_cast<Json*>(find_member(spec, "tolerations"));
    const Json* host_network = find_member(spec, "hostNetwork");
    for (const auto& [key, effect] : sched::daemon_pod_tolerations(host_network != nullptr && host_network->IsTrue())) {
      Json toleration(rapidjson::kObjectType);
      put(toleration, "key", string_value(key, allocator), allocator);
      put(toleration, "operator", string_value("Exists", allocator), allocator);
      put(toleration, "effect", string_value(effect, allocator), allocator);
      tolerations.PushBack(toleration, allocator);
    }
  }

  sched::ClusterSnapshot snapshot_;
  std::map<std::string, std::string> regions_;
  std::deque<JsonDocument> made_;
};

} // namespace

bool is_forecast_workload(const ObjectRef& ref) {
  if (ref.group == "apps")
    return ref.kind == "Deployment" || ref.kind == "ReplicaSet" || ref.kind == "StatefulSet" || ref.kind == "DaemonSet";
  return ref.group.empty() && ref.kind == "Pod";
}

bool changes_pods(const Json& desired, const Json* live) {
  if (live == nullptr)
    return true;
  if (string_member(desired, "kind") == "Pod")
    return !contains_at(live, desired, "spec");
  if (!contains_at(live, desired, "spec.template"))
    return true;
  const Json* live_replicas = find_path(*live, "spec.replicas");
  return find_path(desired, "spec.replicas") != nullptr &&
         (live_replicas == nullptr || !live_replicas->IsInt() || live_replicas->GetInt() != replicas_of(desired));
}

std::vector<PlacementForecast> forecast_placements(const SchedulingState& live, const std::vector<WorkloadChange>& changes) {
  Forecaster forecaster(live);
  std::vector<PlacementForecast> forecasts;
  for (const WorkloadChange& change : changes)
    forecasts.push_back(forecaster.forecast(change));
  return forecasts;
}

} // namespace meridian::kube

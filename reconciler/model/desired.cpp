#include "model/desired.h"

#include "base/duration.h"
#include "kube_rules/scope.h"
#include "manifest/placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <optional>
#include <set>

namespace meridian {
namespace {

std::string_view view(const Json& value) { return {value.GetString(), value.GetStringLength()}; }

std::string trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return std::string(text);
}

FleetSettings read_fleet(const Json& fleet) {
  FleetSettings settings;
  if (const Json* metadata = find_member(fleet, "metadata"))
    settings.name = std::string(string_member(*metadata, "name", settings.name));
  const Json* spec = find_member(fleet, "spec");
  if (spec == nullptr)
    return settings;
  if (const Json* rollout = find_member(*spec, "rollout")) {
    if (const Json* regions = find_member(*rollout, "regions"); regions != nullptr && regions->IsArray())
      for (const auto& region : regions->GetArray())
        if (region.IsString())
          settings.regions.emplace_back(view(region));
    if (const Json* parallel = find_member(*rollout, "maxParallelRegions"); parallel != nullptr && parallel->IsInt())
      settings.max_parallel_regions = std::max(1, parallel->GetInt());
    if (const Json* halt = find_member(*rollout, "haltOnFailure"); halt != nullptr && halt->IsBool())
      settings.halt_on_failure = halt->GetBool();
    if (const auto timeout = parse_duration(string_member(*rollout, "healthTimeout")))
      settings.health_timeout = *timeout;
  }
  if (const Json* prune = find_member(*spec, "prune"); prune != nullptr && prune->IsBool())
    settings.prune = prune->GetBool();
  const auto rules = [&](const char* field, std::vector<IgnoreRule>& out) {
    const Json* list = find_member(*spec, field);
    if (list == nullptr || !list->IsArray())
      return;
    for (const auto& entry : list->GetArray()) {
      IgnoreRule rule{std::string(string_member(entry, "group")), std::string(string_member(entry, "kind")),
                      std::string(string_member(entry, "name")), std::string(string_member(entry, "namespace")), {}};
      if (const Json* pointers = find_member(entry, "jsonPointers"); pointers != nullptr && pointers->IsArray())
        for (const auto& pointer : pointers->GetArray())
          if (pointer.IsString())
            rule.pointers.emplace_back(view(pointer));
      out.push_back(std::move(rule));
    }
  };
  rules("ignoreDifferences", settings.ignore);
  rules("sensitiveFields", settings.sensitive);
  if (const Json* force = find_member(*spec, "forceConflicts"); force != nullptr && force->IsBool())
    settings.force_conflicts = force->GetBool();
  if (const Json* checks = find_member(*spec, "healthChecks"); checks != nullptr && checks->IsArray()) {
    // validate_manifests checked the expressions (check_fleet_health): one that fails here is a bug.
    for (const auto& entry : checks->GetArray()) {
      HealthRule rule;
      rule.group = std::string(string_member(entry, "group"));
      rule.kind = std::string(string_member(entry, "kind"));
      rule.healthy_text = std::string(string_member(entry, "healthy"));
      rule.degraded_text = std::string(string_member(entry, "degraded"));
      rule.message_path = std::string(string_member(entry, "message"));
      if (!rule.healthy_text.empty())
        rule.healthy = parse_json_expression(rule.healthy_text);
      if (!rule.degraded_text.empty())
        rule.degraded = parse_json_expression(rule.degraded_text);
      settings.health_checks.push_back(std::move(rule));
    }
  }
  return settings;
}

// Sets metadata.<map>.<key> (map: annotations or labels).
void set_metadata_entry(JsonDocument& body, const char* map, std::string_view key, std::string_view value) {
  auto& allocator = body.GetAllocator();
  if (!body.HasMember("metadata"))
    body.AddMember("metadata", Json(rapidjson::kObjectType), allocator);
  Json& metadata = body["metadata"];
  if (!metadata.HasMember(map) || !metadata[map].IsObject()) {
    metadata.RemoveMember(map);
    metadata.AddMember(Json(rapidjson::StringRef(map)), Json(rapidjson::kObjectType), allocator);
  }
  Json& annotations = metadata[map];
  annotations.RemoveMember(Json(rapidjson::StringRef(key.data(), key.size())));
  annotations.AddMember(Json(key.data(), static_cast<rapidjson::SizeType>(key.size()), allocator),
                        Json(value.data(), static_cast<rapidjson::SizeType>(value.size()), allocator), allocator);
}

void set_annotation(JsonDocument& body, std::string_view key, std::string_view value) { set_metadata_entry(body, "annotations", key, value); }

// Kinds whose group is implied when depends-on names them without one.
std::string default_group(std::string_view kind) {
  if (kind == "Cluster" || kind == "NodePool" || kind == "Fleet")
    return "meridian.io";
  if (kind == "Deployment" || kind == "DaemonSet" || kind == "StatefulSet" || kind == "ReplicaSet")
    return "apps";
  if (kind == "ResourcePolicy")
    return "scheduling.alibabacloud.com";
  if (kind == "CustomResourceDefinition")
    return "apiextensions.k8s.io";
  return "";
}

// Parses one `meridian.io/depends-on` entry: Kind/name, Kind/namespace/name, Kind.group/....
std::optional<ObjectRef> parse_dependency(std::string_view entry, const DesiredObject& from) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t slash = entry.find('/', start);
    parts.push_back(trim(entry.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start)));
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); }))
    return std::nullopt;
  ObjectRef ref;
  const size_t dot = parts[0].find('.');
  ref.kind = parts[0].substr(0, dot);
  ref.group = dot == std::string::npos ? default_group(ref.kind) : parts[0].substr(dot + 1);
  ref.name = parts.back();
  if (parts.size() == 3)
    ref.namespace_ = parts[1];
  else if (is_namespaced_kind(ref.group, ref.kind) && ref.group != "meridian.io")
    ref.namespace_ = from.ref.namespace_;
  if (ref.group != "meridian.io")
    ref.cluster = from.ref.cluster;
  return ref;
}

} // namespace

int kind_tier(std::string_view group, std::string_view kind) {
  if (group == "meridian.io")
    return kind == "Cluster" ? 0 : 1;
  if (kind == "Namespace" || kind == "CustomResourceDefinition")
    return 2;
  static const std::set<std::string_view> config = {
      "ResourcePolicy", "ConfigMap", "Secret", "Service", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
      "ClusterRoleBinding", "PriorityClass", "StorageClass", "PersistentVolumeClaim", "LimitRange", "ResourceQuota",
      "NetworkPolicy", "IngressClass", "PodDisruptionBudget"};
  return config.count(kind) != 0 ? 3 : 4;
}

bool is_namespaced_kind(std::string_view group, std::string_view kind) {
  if (group == "meridian.io")
    return false;
  return !rules::is_cluster_scoped_kind(kind);
}

bool is_workload_kind(std::string_view kind) {
  return kind == "Deployment" || kind == "DaemonSet" || kind == "Pod" || kind == "StatefulSet" || kind == "ReplicaSet";
}

std::vector<std::string> order_regions(const FleetSettings& fleet, std::vector<std::string> regions) {
  std::sort(regions.begin(), regions.end());
  regions.erase(std::unique(regions.begin(), regions.end()), regions.end());
  std::vector<std::string> ordered;
  for (const std::string& region : fleet.regions)
    if (std::binary_search(regions.begin(), regions.end(), region) &&
        std::find(ordered.begin(), ordered.end(), region) == ordered.end())
      ordered.push_back(region);
  for (const std::string& region : regions)
    if (std::find(ordered.begin(), ordered.end(), region) == ordered.end())
      ordered.push_back(region);
  return ordered;
}

const DesiredObject* DesiredState::find(const ObjectRef& ref) const {
  if (!index.empty() || objects.empty()) {
    const auto position = index.find(ref);
    return position == index.end() ? nullptr : &objects[position->second];
  }
  const auto found = std::lower_bound(objects.begin(), objects.end(), ref,
                                      [](const DesiredObject& object, const ObjectRef& key) { return object.ref < key; });
  return found != objects.end() && found->ref == ref ? &*found : nullptr;
}

namespace {

uint64_t new_content_id() {
  static std::atomic<uint64_t> next_content_id{1};
  return next_content_id++;
}

// The object of `manifest` (not a Fleet), but for the edges that need the other objects (add_edges).
// When `previous` (an earlier state of the same owner) has this object made from the same parse,
// its body is shared: the body is a function of the manifest document and the owner (the
// ManifestCache hands out the same parse for the same blob), and bodies are never changed once built.
// With `placed_on`, the copy for that cluster of an object placed by a cluster selector: its body
// also depends on the cluster's facts (its variables), so it is never shared; a variable that
// cannot be substituted is a finding (validation reports it first).
DesiredObject make_object(const Manifest& manifest, const DesiredState& state, const DesiredState* previous, JsonArena& arena,
                          const ClusterFacts* placed_on = nullptr, std::vector<Finding>* findings = nullptr) {
  DesiredObject object;
  object.manifest = &manifest;
  object.placed = placed_on != nullptr;
  const std::string& target = placed_on != nullptr ? placed_on->name : manifest.cluster;
  object.ref = {target, manifest.group, manifest.kind, manifest.namespace_, manifest.name};
  if (!manifest.is_meridian_kind() && object.ref.namespace_.empty() && is_namespaced_kind(manifest.group, manifest.kind))
    object.ref.namespace_ = "default";
  object.tier = kind_tier(manifest.group, manifest.kind);
  const DesiredObject* before = previous != nullptr && !object.placed ? previous->find(object.ref) : nullptr;
  const bool reused = before != nullptr && !before->placed && before->manifest != nullptr && before->manifest->object == manifest.object &&
                     previous->fleet.force_conflicts == state.fleet.force_conflicts;
  if (reused)
    object.body = before->body;
  else
    object.body = arena.copy(*manifest.object);
  if (placed_on != nullptr)
    for (SubstitutionError& error : substitute_cluster_variables(*object.body, object.body->GetAllocator(), *placed_on))
      if (findings != nullptr)
        findings->push_back({manifest.file, manifest.line_of(error.pointer), manifest.display_name(), pointer_to_field(error.pointer),
                             std::move(error.message)});
  if (!reused) {
    set_annotation(*object.body, managed_by_annotation, state.owner);
    if (!manifest.is_meridian_kind()) { // see kOwnerLabel in backend/backend.h
      set_metadata_entry(*object.body, "labels", kOwnerLabel, owner_label_value(state.owner));
      set_annotation(*object.body, kTrackingAnnotation, tracking_id(object.ref));
      // Fleet.spec.forceConflicts: as if every object carried the annotation (unless it says otherwise).
      const Json* annotations = find_path(*object.body, "metadata.annotations");
      if (state.fleet.force_conflicts && (annotations == nullptr || find_member(*annotations, force_conflicts_annotation) == nullptr))
        set_annotation(*object.body, force_conflicts_annotation, "true");
    }
  }
  if (!manifest.is_meridian_kind() && !reused) {
    if (object.ref.namespace_ != manifest.namespace_ && (*object.body)["metadata"].IsObject())
      (*object.body)["metadata"].AddMember("namespace", Json(object.ref.namespace_.c_str(), object.body->GetAllocator()),
                                           object.body->GetAllocator());
  }
  const Json* spec = find_member(*manifest.object, "spec");
  if (manifest.is_meridian_kind()) {
    object.region = spec ? std::string(string_member(*spec, "region")) : "";
    if (manifest.kind == "NodePool" && spec != nullptr)
      object.depends_on.push_back({"", "meridian.io", "Cluster", "", std::string(string_member(*spec, "cluster"))});
    return object;
  }
  const auto cluster = state.clusters.find(object.ref.cluster);
  object.region = cluster != state.clusters.end() ? cluster->second.region : "";
  object.depends_on.push_back({"", "meridian.io", "Cluster", "", object.ref.cluster});
  if (!object.ref.namespace_.empty())
    object.depends_on.push_back({object.ref.cluster, "", "Namespace", "", object.ref.namespace_});
  if (manifest.kind == "DaemonSet") {
    const Json* annotations = find_path(*object.body, "metadata.annotations");
    const std::string_view mode = annotations != nullptr ? string_member(*annotations, rollout_annotation) : "";
    if (manifest.group == "apps.kruise.io")
      object.region_rollout = RegionRollout::kruise_selector;
    else if (mode == "by-region")
      object.region_rollout = RegionRollout::on_delete;
    // Meridian replaces the pods itself, region by region: the controller must not.
    if (object.region_rollout == RegionRollout::on_delete && !reused && (*object.body)["spec"].IsObject()) {
      Json& body_spec = (*object.body)["spec"];
      auto& allocator = object.body->GetAllocator();
      body_spec.RemoveMember("updateStrategy");
      Json strategy(rapidjson::kObjectType);
      strategy.AddMember("type", "OnDelete", allocator);
      body_spec.AddMember("updateStrategy", strategy, allocator);
    }
  }
  return object;
}

// The node pools in Git by the cluster they belong to: a workload waits for its cluster's.
std::map<std::string, std::vector<ObjectRef>> pools_by_cluster(const DesiredState& state) {
  std::map<std::string, std::vector<ObjectRef>> pools;
  for (const DesiredObject& object : state.objects)
    if (object.ref.group == "meridian.io" && object.ref.kind == "NodePool")
      if (const Json* spec = find_member(*object.manifest->object, "spec"))
        pools[std::string(string_member(*spec, "cluster"))].push_back(object.ref);
  return pools;
}

// The edges that need the other objects of `state` (all made, sorted and indexed): a workload
// waits for its cluster's node pools (`pools`), and `meridian.io/depends-on`; then only edges to
// objects Git defines are kept (an implicit Namespace may be a built-in one), sorted.
void add_edges(DesiredObject& object, const DesiredState& state, const std::vector<ObjectRef>& pools, std::vector<Finding>& findings) {
  if (!object.ref.is_fleet_level()) {
    if (object.tier == 4)
      object.depends_on.insert(object.depends_on.end(), pools.begin(), pools.end());
    const Json* annotations = find_path(*object.manifest->object, "metadata.annotations");
    const std::string_view entries = annotations != nullptr ? string_member(*annotations, depends_on_annotation) : "";
    size_t start = 0;
    while (!entries.empty() && start <= entries.size()) {
      const size_t comma = entries.find(',', start);
      const std::string entry = trim(entries.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
      start = comma == std::string_view::npos ? entries.size() + 1 : comma + 1;
      if (entry.empty())
        continue;
      const Manifest& manifest = *object.manifest;
      const std::string pointer = "/metadata/annotations/meridian.io~1depends-on";
      const auto dependency = parse_dependency(entry, object);
      if (!dependency) {
        findings.push_back({manifest.file, manifest.line_of(pointer), manifest.display_name(),
                            "metadata.annotations.meridian.io/depends-on",
                            fmt::format("\"{}\": expected Kind/name or Kind/namespace/name", entry)});
        continue;
      }
      if (state.find(*dependency) == nullptr) {
        findings.push_back({manifest.file, manifest.line_of(pointer), manifest.display_name(),
                            "metadata.annotations.meridian.io/depends-on",
                            fmt::format("\"{}\" names no object of the repository{}", entry,
                                        dependency->cluster.empty() ? "" : " in cluster " + dependency->cluster)});
        continue;
      }
      object.depends_on.push_back(*dependency);
    }
  }
  std::vector<ObjectRef> kept;
  for (const ObjectRef& dependency : object.depends_on)
    if (!(dependency == object.ref) && state.find(dependency) != nullptr)
      kept.push_back(dependency);
  std::sort(kept.begin(), kept.end());
  kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
  object.depends_on = std::move(kept);
}

// Positions of each object's dependencies, for the plan's ordering.
void index_edges(DesiredState& state) {
  for (DesiredObject& object : state.objects) {
    object.depends_on_index.clear();
    for (const ObjectRef& dependency : object.depends_on)
      if (const auto found = state.index.find(dependency); found != state.index.end())
        object.depends_on_index.push_back(found->second);
  }
}

} // namespace

DesiredState build_desired_state(const ManifestSet& set, std::string owner, const DesiredState* previous) {
  DesiredState state;
  state.content_id = new_content_id();
  JsonArena arena; // the desired objects share one pool (see JsonArena)
  state.owner = std::move(owner);
  state.repository = set.repository;
  state.commit = set.commit;
  state.path = set.path;
  for (const Manifest& manifest : set.manifests) {
    if (!manifest.object->IsObject() || !manifest.is_meridian_kind())
      continue;
    if (manifest.kind == "Fleet")
      state.fleet = read_fleet(*manifest.object);
    if (manifest.kind == "Cluster") {
      const Json* spec = find_member(*manifest.object, "spec");
      state.clusters[manifest.name] = {manifest.name, spec ? std::string(string_member(*spec, "type")) : "",
                                       spec ? std::string(string_member(*spec, "region")) : ""};
    }
  }
  state.objects.reserve(set.manifests.size());
  const DesiredState* earlier = previous != nullptr && previous->owner == state.owner ? previous : nullptr;
  std::map<std::string, ClusterFacts> facts; // read once, when a selector needs them
  for (const Manifest& manifest : set.manifests) {
    if (!manifest.object->IsObject() || manifest.kind == "Fleet")
      continue;
    if (!manifest.cluster_selector) {
      state.objects.push_back(make_object(manifest, state, earlier, arena));
      continue;
    }
    // One copy per selected cluster, in cluster name order (then sorted by ref with the rest).
    const auto placement_finding = [&](std::string message, Severity severity) {
      state.findings.push_back({manifest.file, manifest.line_of("/metadata/annotations/meridian.io~1cluster-selector"),
                                manifest.display_name(), "metadata.annotations.meridian.io/cluster-selector", std::move(message), severity});
    };
    const LabelSelectorParse selector = parse_cluster_selector(manifest);
    if (!selector.selector) {
      placement_finding(selector.error, Severity::error);
      continue;
    }
    if (facts.empty())
      facts = cluster_facts(set);
    const std::vector<const ClusterFacts*> selected = select_clusters(*selector.selector, facts);
    if (selected.empty())
      placement_finding(selects_no_cluster(*manifest.cluster_selector, facts), Severity::warning);
    for (const ClusterFacts* cluster : selected)
      state.objects.push_back(make_object(manifest, state, nullptr, arena, cluster, &state.findings));
  }
  std::sort(state.objects.begin(), state.objects.end(), [](const DesiredObject& a, const DesiredObject& b) { return a.ref < b.ref; });
  state.index.reserve(state.objects.size());
  for (size_t position = 0; position < state.objects.size(); ++position)
    state.index.emplace(state.objects[position].ref, position);

  const std::map<std::string, std::vector<ObjectRef>> pools = pools_by_cluster(state);
  const std::vector<ObjectRef> no_pools;
  for (DesiredObject& object : state.objects) {
    const auto cluster_pools = pools.find(object.ref.cluster);
    add_edges(object, state, cluster_pools != pools.end() ? cluster_pools->second : no_pools, state.findings);
  }
  index_edges(state);
  // A cycle is reported once, naming its members in order.
  std::vector<int> color(state.objects.size(), 0); // by object index: 0 unvisited, 1 on the stack, 2 done
  const auto index_of = [&](const DesiredObject& object) { return static_cast<size_t>(&object - state.objects.data()); };
  std::vector<const DesiredObject*> stack;
  std::function<void(const DesiredObject&)> visit = [&](const DesiredObject& object) {
    color[index_of(object)] = 1;
    stack.push_back(&object);
    for (const ObjectRef& dependency : object.depends_on) {
      const DesiredObject* next = state.find(dependency);
      if (next == nullptr)
        continue; // not in the repository: nothing to order
      if (color[index_of(*next)] == 1) {
        std::string cycle;
        auto begin = std::find(stack.begin(), stack.end(), next);
        for (auto it = begin; it != stack.end(); ++it)
          cycle += (*it)->ref.display() + " → ";
        cycle += dependency.display();
        const Manifest& manifest = *next->manifest;
        state.findings.push_back({manifest.file, manifest.line_of("/metadata/annotations/meridian.io~1depends-on"),
                                  manifest.display_name(), "metadata.annotations.meridian.io/depends-on",
                                  "dependency cycle: " + cycle});
      } else if (color[index_of(*next)] == 0) {
        visit(*next);
      }
    }
    stack.pop_back();
    color[index_of(object)] = 2;
  };
  for (const DesiredObject& object : state.objects)
    if (color[index_of(object)] == 0)
      visit(object);
  std::sort(state.findings.begin(), state.findings.end());
  return state;
}

std::optional<DesiredEdit> prepare_desired_edit(const DesiredState& state, const ManifestSet& set, const ManifestEdit& edit) {
  DesiredEdit result;
  JsonArena arena;
  for (const ManifestEdit::Document& document : edit.documents) {
    const Manifest& manifest = document.manifest;
    if (document.same || !manifest.object->IsObject() || manifest.kind == "Fleet")
      continue; // the same content: the object stays as it is (and Fleets are settings, not objects)
    // An object placed by a cluster selector is several objects whose bodies depend on their
    // clusters: an edit of one is built in full (which places and substitutes it again).
    if (manifest.cluster_selector || set.manifests[document.index].cluster_selector)
      return std::nullopt;
    DesiredObject object = make_object(manifest, state, nullptr, arena);
    const auto position = state.index.find(object.ref);
    if (position == state.index.end())
      return std::nullopt;
    const DesiredObject& before = state.objects[position->second];
    if (before.manifest != &set.manifests[document.index])
      return std::nullopt; // not the object of that document
    std::vector<Finding> findings;
    std::vector<ObjectRef> pools;
    if (object.tier == 4)
      if (auto all = pools_by_cluster(state); all.count(object.ref.cluster) != 0)
        pools = std::move(all[object.ref.cluster]);
    add_edges(object, state, pools, findings);
    // Anything but the body changed (dependencies, region, rollout mode, a finding): the whole
    // state is built again, which checks for cycles and reports findings in full.
    if (!findings.empty() || object.depends_on != before.depends_on || object.region != before.region || object.tier != before.tier ||
        object.region_rollout != before.region_rollout)
      return std::nullopt;
    object.manifest = before.manifest; // the document's place in the set, which apply_edit fills
    object.depends_on_index = before.depends_on_index;
    result.objects.emplace_back(position->second, std::move(object));
  }
  return result;
}

void apply_desired_edit(DesiredState& state, DesiredEdit edit, const ManifestSet& set) {
  state.edited_from = state.content_id;
  state.content_id = new_content_id();
  state.edited.clear();
  for (auto& [position, object] : edit.objects) {
    state.objects[position] = std::move(object);
    state.edited.push_back(position);
  }
  std::sort(state.edited.begin(), state.edited.end());
  state.commit = set.commit;
}
void rebase_desired_state(DesiredState& state, const ManifestSet& from, const ManifestSet& to) {
  if (from.manifests.size() != to.manifests.size())
    throw std::logic_error("rebase_desired_state: the sets hold different documents");
  if (&from != &to) // a set updated in place (update_same_documents) is where the objects point already
    for (DesiredObject& object : state.objects)
      if (object.manifest != nullptr)
        object.manifest = &to.manifests[static_cast<size_t>(object.manifest - from.manifests.data())];
  state.repository = to.repository;
  state.commit = to.commit;
  state.path = to.path;
}

} // namespace meridian

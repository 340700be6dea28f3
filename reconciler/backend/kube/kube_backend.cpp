// The Kubernetes backend: Backend over ApiClient (one per cluster), with LIST caches, server-side
// apply, deletion waits and health from live status.
#include "backend/kube/client.h"
#include "backend/kube/forecast.h"
#include "backend/kube/health.h"
#include "backend/kube/kube.h"
#include "backend/kube/shared.h"
#include "backend/kube/watch.h"

#include "base/error.h"
#include "kube_rules/accessors.h"
#include "kube_rules/server_fields.h"
#include "manifest/yaml_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace meridian::kube {
namespace {

constexpr std::string_view kRegionLabel = "topology.kubernetes.io/region";
constexpr std::string_view kCrdGroup = "apiextensions.k8s.io";
constexpr std::string_view kForceConflictsAnnotation = "meridian.io/force-conflicts";

//! Kinds list_managed always looks at (kubectl's prune allow-list and what fleets here carry);
//! kinds this process read or applied are added. Kinds a cluster does not serve are skipped.
const std::vector<std::pair<std::string_view, std::string_view>>& default_managed_kinds() {
  static const std::vector<std::pair<std::string_view, std::string_view>> kinds = {
      {"", "Namespace"},
      {"", "ConfigMap"},
      {"", "Secret"},
      {"", "Service"},
      {"", "ServiceAccount"},
      {"", "PersistentVolumeClaim"},
      {"apps", "Deployment"},
      {"apps", "DaemonSet"},
      {"apps", "StatefulSet"},
      {"batch", "Job"},
      {"batch", "CronJob"},
      {"networking.k8s.io", "Ingress"},
      {"policy", "PodDisruptionBudget"},
      {"rbac.authorization.k8s.io", "Role"},
      {"rbac.authorization.k8s.io", "RoleBinding"},
      {"rbac.authorization.k8s.io", "ClusterRole"},
      {"rbac.authorization.k8s.io", "ClusterRoleBinding"},
      {"apiextensions.k8s.io", "CustomResourceDefinition"},
      {"apps.kruise.io", "DaemonSet"},
      {"scheduling.alibabacloud.com", "ResourcePolicy"},
  };
  return kinds;
}

using rules::text_at;

//! The manifest to send: without what the server owns (status, uid, resourceVersion, managedFields...).
std::string apply_body(const Json& desired) {
  JsonDocument clean;
  clean.CopyFrom(desired, clean.GetAllocator());
  rules::remove_server_owned(clean);
  return write_compact(clean);
}

std::string group_of(std::string_view api_version) {
  const size_t slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(api_version.substr(0, slash));
}

std::string version_of(std::string_view api_version) {
  const size_t slash = api_version.find('/');
  return std::string(slash == std::string_view::npos ? api_version : api_version.substr(slash + 1));
}

bool condition_true(const Json& object, std::string_view type) {
  const Json* conditions = find_path(object, "status.conditions");
  if (conditions == nullptr || !conditions->IsArray())
    return false;
  for (const auto& condition : conditions->GetArray())
    if (string_member(condition, "type") == type)
      return string_member(condition, "status") == "True";
  return false;
}

const Json* condition(const Json& object, std::string_view type) {
  const Json* conditions = find_path(object, "status.conditions");
  if (conditions == nullptr || !conditions->IsArray())
    return nullptr;
  for (const auto& entry : conditions->GetArray())
    if (string_member(entry, "type") == type)
      return &entry;
  return nullptr;
}

std::string controller_uid(const Json& object) {
  const Json* owners = find_path(object, "metadata.ownerReferences");
  if (owners == nullptr || !owners->IsArray())
    return {};
  for (const auto& owner : owners->GetArray()) {
    const Json* controller = find_member(owner, "controller");
    if (controller != nullptr && controller->IsTrue())
      return std::string(string_member(owner, "uid"));
  }
  return {};
}

class KubeBackend final : public Backend, public Forecaster {
public:
  KubeBackend(std::shared_ptr<KubeShared> shared, std::string cluster, bool owns_scope)
      : options_(shared->options), shared_(std::move(shared)), cluster_(std::move(cluster)), owns_scope_(owns_scope) {
    if (options_.watch)
      hub_ = std::make_unique<WatchHub>();
  }
  ~KubeBackend() override {
    if (hub_)
      hub_->stop();
    informers_.clear(); // joins their threads while the hub they use still exists
  }

  std::string name() const override { return "kube"; }
  Forecaster* forecaster() override { return this; }
  bool server_side_dry_run() const override { return true; }

  //! Reads what the fleet manages in this cluster and no more: with a scope (make_plan's), its
  //! kinds, in its namespaces; without one, the default kinds and the kinds this process touched,
  //! everywhere. Every LIST selects the owner's label; an object is ours when its tracking id names
  //! it in this cluster. A kind the identity may not list is skipped with a warning (take_warnings).
  std::vector<LiveObject> list_managed(std::string_view owner) override {
    std::vector<LiveObject> result;
    const std::string selector = "labelSelector=" + url_encode(fmt::format("{}={}", kOwnerLabel, owner_label_value(owner)));
    const std::string& cluster = cluster_;
    if (!shared_->bound(cluster))
      return result;
    ApiClient& api = client(cluster);
    for (const auto& [kind, namespaces] : kinds_to_read()) {
      // Kinds this process touched were resolved (and refreshed) already; no refresh per default kind.
      const auto type = api.resource_for_kind(kind.first, kind.second, false);
      if (!type || !type->supports("list"))
        continue;
      std::vector<std::string> read_in; // namespaces; "" = every one (or a cluster-scoped kind)
      if (!type->namespaced || namespaces.count("") != 0)
        read_in.push_back("");
      else
        read_in.assign(namespaces.begin(), namespaces.end());
      for (const std::string& ns : read_in) {
        const std::string path = type->collection_path(ns);
        std::vector<std::shared_ptr<const JsonDocument>> items;
        try {
          if (hub_) {
            items = informer(api, *type, ns).items();
          } else {
            for (auto& item : api.list(path, options_.list_page_size, selector))
              items.push_back(std::move(item));
          }
        } catch (const RejectedError& error) {
          if (error.reason() != "Forbidden")
            throw;
          note_warning(fmt::format("cluster {}: cannot list {} ({}), so extra and pruned objects of that kind are not seen: {}", cluster,
                                   type->plural, path, error.what()));
          continue;
        }
        for (auto& item : items) {
          ObjectRef ref{cluster, kind.first, kind.second, type->namespaced ? text_at(*item, "metadata.namespace") : "",
                        text_at(*item, "metadata.name")};
          // A watched collection holds every object of it; a LIST selected the owner's label.
          if (hub_) {
            const Json* labels = find_path(*item, "metadata.labels");
            if (labels == nullptr || string_member(*labels, kOwnerLabel) != owner_label_value(owner))
              continue;
          }
          if (owned_by(*item, ref, owner))
            result.push_back({std::move(ref), std::move(item)});
        }
      }
    }
    std::sort(result.begin(), result.end(), [](const LiveObject& a, const LiveObject& b) { return a.ref < b.ref; });
    return result;
  }

  //! The refs of this cluster (the composite hands each cluster's backend its own).
  void scope(const std::vector<ObjectRef>& refs) override {
    scope_.clear();
    for (const ObjectRef& ref : refs)
      if (ref.cluster == cluster_)
        scope_[{ref.group, ref.kind}].insert(ref.namespace_);
    if (owns_scope_)
      shared_->scoped = !scope_.empty();
  }
  bool wants_scope() const override { return true; }

  std::vector<std::string> take_warnings() override {
    std::vector<std::string> taken;
    taken.swap(warnings_);
    return taken;
  }

  std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) override {
    shared_->seen_clusters.insert(ref.cluster);
    shared_->touched_kinds.emplace(ref.group, ref.kind);
    ApiClient& api = client(ref.cluster);
    const auto type = api.resource_for_kind(ref.group, ref.kind);
    if (!type)
      return nullptr; // the kind is not served, so no object of it exists
    return lookup(api, *type, type->namespaced ? ref.namespace_ : "", ref.name);
  }

  std::optional<std::string> revision() override {
    if (!hub_ || watch_failed())
      return std::nullopt;
    return fmt::format("watch:{}", hub_->sequence());
  }

  std::optional<std::vector<ObjectRef>> changes_since(const std::string& revision) override {
    if (!hub_ || !revision.starts_with("watch:") || watch_failed())
      return std::nullopt;
    return hub_->changes_since(std::stoull(revision.substr(6)));
  }

  std::optional<std::string> drift_revision() override {
    if (!hub_)
      return std::nullopt;
    return fmt::format("watch:{}", hub_->content_changes());
  }

  //! What deleting the Namespace would take with it: every object of every namespaced kind the
  //! server serves (events and the Endpoints that mirror Services apart: they are the cluster's
  //! bookkeeping, not anyone's objects). nullopt when a kind may not be listed (prune then asks
  //! for the opt-in annotation).
  std::optional<std::vector<LiveObject>> namespace_contents(const std::string& cluster, const std::string& ns) override {
    if (!shared_->bound(cluster))
      return std::nullopt;
    ApiClient& api = client(cluster);
    std::vector<LiveObject> contents;
    for (const ResourceType& type : api.namespaced_listable()) {
      if (type.kind == "Event" || (type.group.empty() && type.kind == "Endpoints"))
        continue;
      std::vector<std::shared_ptr<JsonDocument>> items;
      try {
        items = api.list(type.collection_path(ns), options_.list_page_size);
      } catch (const RejectedError& error) {
        if (error.reason() == "Forbidden" || error.reason() == "MethodNotAllowed" || error.reason() == "NotFound")
          return std::nullopt;
        throw;
      }
      for (auto& item : items)
        contents.push_back({{cluster, type.group, type.kind, ns, text_at(*item, "metadata.name")}, std::move(item)});
    }
    std::sort(contents.begin(), contents.end(), [](const LiveObject& a, const LiveObject& b) { return a.ref < b.ref; });
    return contents;
  }

  std::shared_ptr<const JsonDocument> get_as(const ObjectRef& ref, std::string_view api_version) override {
    ApiClient& api = client(ref.cluster);
    return with_context(ref, [&]() -> std::shared_ptr<const JsonDocument> {
      const auto type = api.resource_for(group_of(api_version), version_of(api_version), ref.kind);
      if (!type)
        return get(ref);
      const ApiResponse live = api.request({"GET", type->object_path(type->namespaced ? ref.namespace_ : "", ref.name), {}, {}}, {404});
      return live.status == 404 ? nullptr : std::shared_ptr<const JsonDocument>(live.object);
    });
  }

  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override {
    if (!desired.IsObject())
      throw UserError(fmt::format("{}: the manifest is not an object", ref.display()));
    shared_->seen_clusters.insert(ref.cluster);
    shared_->touched_kinds.emplace(ref.group, ref.kind);
    ApiClient& api = client(ref.cluster);
    const std::string api_version = text_at(desired, "apiVersion");
    const std::string kind = text_at(desired, "kind");
    return with_context(ref, [&] {
      const auto type = api.resource_for(group_of(api_version), version_of(api_version), kind);
      if (!type)
        throw RejectedError("NoKindMatch", fmt::format("no matches for kind \"{}\" in version \"{}\"{}", kind, api_version,
                                    group_of(api_version).empty() ? "" : " (is its CustomResourceDefinition installed?)"));
      const std::string ns = type->namespaced ? ref.namespace_ : "";
      // Fields another manager owns are a Conflict, not taken over, unless the user said so (the
      // --force-conflicts option, or the object's meridian.io/force-conflicts: "true").
      const Json* annotations = find_path(desired, "metadata.annotations");
      const bool force = options_.force_conflicts ||
                         (annotations != nullptr && string_member(*annotations, kForceConflictsAnnotation) == "true");
      std::string target = fmt::format("{}?fieldManager={}{}", type->object_path(ns, ref.name), url_encode(options_.field_manager),
                                       force ? "&force=true" : "");
      if (dry_run)
        target += "&dryRun=All";
      const ApiResponse response = api.request({"PATCH", target, apply_body(desired), "application/apply-patch+yaml"});
      if (!dry_run) {
        written_.insert(ref);
        remember(api, *type, ns, ref.name, response.object);
        if (ref.group == kCrdGroup && ref.kind == "CustomResourceDefinition")
          wait_established(api, *type, ref.name, text_at(desired, "spec.group"));
      }
      return std::shared_ptr<const JsonDocument>(response.object);
    });
  }

  void remove(const ObjectRef& ref, bool dry_run) override {
    ApiClient& api = client(ref.cluster);
    with_context(ref, [&] {
      const auto type = api.resource_for_kind(ref.group, ref.kind);
      if (!type)
        return 0;
      const std::string ns = type->namespaced ? ref.namespace_ : "";
      const std::string path = type->object_path(ns, ref.name);
      const std::string body = fmt::format(R"({{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"{}"}})", options_.propagation_policy);
      const ApiResponse response = api.request({"DELETE", dry_run ? path + "?dryRun=All" : path, body, "application/json"}, {404});
      if (dry_run)
        return 0;
      written_.erase(ref);
      forget(api, *type, ns, ref.name);
      if (response.status == 404)
        return 0;
      wait_gone(api, path);
      return 0;
    });
  }

  Health health(const ObjectRef& ref) override { return health_or_unreadable([&] { return read_health(ref); }); }

  std::vector<PodPlacement> placements(const ObjectRef& workload) override {
    ApiClient& api = client(workload.cluster);
    const auto type = api.resource_for_kind(workload.group, workload.kind);
    if (!type)
      return {};
    const ApiResponse live = api.request({"GET", type->object_path(type->namespaced ? workload.namespace_ : "", workload.name), {}, {}}, {404});
    if (live.status == 404)
      return {};
    std::map<std::string, std::string> regions;
    for (const auto& node : api.list("/api/v1/nodes", options_.list_page_size)) {
      const Json* labels = find_path(*node, "metadata.labels");
      regions[text_at(*node, "metadata.name")] = labels == nullptr ? "" : std::string(string_member(*labels, kRegionLabel));
    }
    std::vector<PodPlacement> result;
    for (const auto& pod : workload_pods(api, workload, *live.object)) {
      PodPlacement placement;
      placement.name = text_at(*pod, "metadata.name");
      placement.node = text_at(*pod, "spec.nodeName");
      placement.phase = pod_terminating(*pod) ? "Terminating" : text_at(*pod, "status.phase", "Pending");
      placement.message = unschedulable_message(*pod);
      if (const auto region = regions.find(placement.node); region != regions.end())
        placement.region = region->second;
      result.push_back(std::move(placement));
    }
    std::sort(result.begin(), result.end(), [](const PodPlacement& a, const PodPlacement& b) { return a.name < b.name; });
    return result;
  }

  // The live Nodes and Pods of each cluster whose workloads change their pods (one LIST each),
  // fed to the scheduler model (forecast.h). A cluster whose nodes or pods cannot be read gets a
  // warning and no forecast.
  std::vector<PlacementForecast> predict(const std::vector<std::pair<ObjectRef, const Json*>>& changes) override {
    std::map<std::string, std::vector<WorkloadChange>> by_cluster;
    std::vector<std::shared_ptr<const JsonDocument>> lives;
    for (const auto& [ref, desired] : changes) {
      if (desired == nullptr || !is_forecast_workload(ref))
        continue;
      std::shared_ptr<const JsonDocument> live;
      try {
        live = get(ref);
      } catch (const Error& error) {
        note_warning(fmt::format("cluster {}: no pod forecast for {}: {}", ref.cluster, ref.display(), error.what()));
        continue;
      }
      if (!changes_pods(*desired, live.get()))
        continue;
      by_cluster[ref.cluster].push_back({ref, desired, live.get()});
      lives.push_back(std::move(live));
    }
    std::vector<PlacementForecast> forecasts;
    for (const auto& [cluster, workloads] : by_cluster) {
      SchedulingState state;
      try {
        ApiClient& api = client(cluster);
        state.nodes = api.list("/api/v1/nodes", options_.list_page_size);
        state.pods = api.list("/api/v1/pods", options_.list_page_size,
                              "fieldSelector=" + url_encode("status.phase!=Succeeded,status.phase!=Failed"));
      } catch (const Error& error) {
        const std::string where = fmt::format("cluster {}: ", cluster);
        const std::string_view what = error.what();
        note_warning(fmt::format("no pod forecast: {}{}", what.starts_with(where) ? "" : where, what));
        continue;
      }
      for (PlacementForecast& forecast : forecast_placements(state, workloads))
        forecasts.push_back(std::move(forecast));
    }
    return forecasts;
  }

  void wait(std::chrono::milliseconds duration) override { sleep_for(duration); }
  long long now_ms() override { return steady_now_ms(); }

  //! The regions of the cluster's nodes (none: the composite asks the bindings backend).
  std::vector<std::string> node_regions(const std::string& cluster) override {
    std::set<std::string> regions;
    if (shared_->bound(cluster)) {
      for (const auto& node : client(cluster).list("/api/v1/nodes", options_.list_page_size)) {
        const Json* labels = find_path(*node, "metadata.labels");
        if (labels != nullptr && !string_member(*labels, kRegionLabel).empty())
          regions.emplace(string_member(*labels, kRegionLabel));
      }
    }
    return {regions.begin(), regions.end()};
  }

private:
  using NameIndex = std::map<std::string, std::shared_ptr<const JsonDocument>>;
  struct CachedList {
    std::chrono::steady_clock::time_point fetched;
    NameIndex objects;
  };

  //! Runs `body`, prefixing errors with the object and its cluster (TransientError stays transient).
  template <typename Body> static auto with_context(const ObjectRef& ref, Body&& body) -> decltype(body()) {
    return rethrow_reworded(std::forward<Body>(body), [&](const std::string& message) {
      const std::string cluster_prefix = fmt::format("cluster {}: ", ref.cluster);
      const std::string rest = message.starts_with(cluster_prefix) ? message.substr(cluster_prefix.size()) : message;
      return fmt::format("{} (cluster {}): {}", ref.display(), ref.cluster, rest);
    });
  }


  //! (group, kind) → namespaces ("" = all) that list_managed reads in `cluster`.
  //! With a scope that names no object of this cluster, nothing.
  std::map<std::pair<std::string, std::string>, std::set<std::string>> kinds_to_read() const {
    std::map<std::pair<std::string, std::string>, std::set<std::string>> kinds;
    if (!scope_.empty())
      kinds = scope_;
    else if (!shared_->scoped)
      for (const auto& [group, kind] : default_managed_kinds())
        kinds[{std::string(group), std::string(kind)}].insert("");
    if (!shared_->scoped)
      for (const auto& kind : shared_->touched_kinds)
        kinds[kind].insert("");
    return kinds;
  }

  void note_warning(std::string warning) {
    if (std::find(warnings_.begin(), warnings_.end(), warning) == warnings_.end())
      warnings_.push_back(std::move(warning));
  }

  ApiClient& client(const std::string& cluster) { return shared_->client(cluster); }

  Health read_health(const ObjectRef& ref) {
    // A kind without a health rule that this process just wrote is healthy: its PATCH answered.
    if (!health_needs_status(ref) && written_.count(ref) != 0)
      return {HealthStatus::healthy, ""};
    ApiClient& api = client(ref.cluster);
    const auto type = api.resource_for_kind(ref.group, ref.kind);
    if (!type)
      return {HealthStatus::missing, fmt::format("{} does not exist (the cluster does not serve kind {})", ref.display(), ref.kind)};
    ApiResponse live;
    if (hub_) {
      // The watch cache holds it (and it is current): no request.
      const auto cached = lookup(api, *type, type->namespaced ? ref.namespace_ : "", ref.name);
      live.status = cached == nullptr ? 404 : 200;
      if (cached != nullptr) {
        live.object = std::make_shared<JsonDocument>();
        live.object->CopyFrom(*cached, live.object->GetAllocator());
      }
    } else {
      live = api.request({"GET", type->object_path(type->namespaced ? ref.namespace_ : "", ref.name), {}, {}}, {404});
    }
    if (live.status == 404)
      return {HealthStatus::missing, fmt::format("{} does not exist", ref.display())};
    std::vector<std::shared_ptr<JsonDocument>> pods;
    std::vector<std::shared_ptr<JsonDocument>> nodes;
    HealthInputs inputs;
    if (health_needs_pods(ref)) {
      pods = workload_pods(api, ref, *live.object);
      if (ref.group == "apps.kruise.io" && find_path(*live.object, "spec.updateStrategy.rollingUpdate.selector") != nullptr)
        nodes = api.list("/api/v1/nodes", options_.list_page_size);
    }
    for (const auto& pod : pods)
      inputs.pods.push_back(pod.get());
    for (const auto& node : nodes)
      inputs.nodes.push_back(node.get());
    Health health = live_health(ref, *live.object, inputs);
    if (health.status == HealthStatus::progressing && health_needs_pods(ref))
      if (const std::string warning = last_warning(api, ref, *live.object); !warning.empty())
        health.message += fmt::format(" (last warning: {})", warning);
    return health;
  }

  //! The newest Warning event about a workload that is not progressing as it should, such as the
  //! controller failing to create its pods (FailedCreate: a LimitRange or quota rejects them), which
  //! its status alone never says. One request, made only for an unhealthy workload.
  std::string last_warning(ApiClient& api, const ObjectRef& ref, const Json& live) {
    const std::string query = "fieldSelector=" + url_encode(fmt::format("involvedObject.uid={},type=Warning", text_at(live, "metadata.uid")));
    std::vector<std::shared_ptr<JsonDocument>> events;
    try {
      events = api.list(fmt::format("/api/v1/namespaces/{}/events", url_encode(ref.namespace_)), options_.list_page_size, query);
    } catch (const Error&) {
      return {}; // events are a hint: an identity that may not read them still gets the health
    }
    const Json* newest = nullptr;
    std::string newest_time;
    for (const auto& event : events) {
      std::string time = text_at(*event, "lastTimestamp");
      if (time.empty())
        time = text_at(*event, "eventTime");
      if (newest == nullptr || time >= newest_time) {
        newest = event.get();
        newest_time = time;
      }
    }
    if (newest == nullptr)
      return {};
    std::string message = text_at(*newest, "message");
    if (constexpr std::string_view combined = "(combined from similar events): "; message.starts_with(combined))
      message = message.substr(combined.size());
    return fmt::format("{}: {}", text_at(*newest, "reason"), message);
  }

  //! Pods the workload controls: listed by its selector, kept when their controller is the workload
  //! (for a Deployment: one of its ReplicaSets).
  std::vector<std::shared_ptr<JsonDocument>> workload_pods(ApiClient& api, const ObjectRef& workload, const Json& live) {
    if (workload.group.empty() && workload.kind == "Pod") {
      auto self = std::make_shared<JsonDocument>();
      self->CopyFrom(live, self->GetAllocator());
      return {self};
    }
    const Json* selector = find_path(live, "spec.selector");
    if (selector == nullptr || !selector->IsObject())
      return {};
    const std::string query = "labelSelector=" + url_encode(selector_query(*selector));
    const std::string ns_path = fmt::format("/namespaces/{}", url_encode(workload.namespace_));
    std::set<std::string> owners = {text_at(live, "metadata.uid")};
    if (workload.kind == "Deployment") {
      owners.clear();
      for (const auto& set : api.list(fmt::format("/apis/apps/v1{}/replicasets", ns_path), options_.list_page_size, query)) {
        if (controller_uid(*set) == text_at(live, "metadata.uid"))
          owners.insert(text_at(*set, "metadata.uid"));
      }
    }
    std::vector<std::shared_ptr<JsonDocument>> pods;
    for (auto& pod : api.list(fmt::format("/api/v1{}/pods", ns_path), options_.list_page_size, query)) {
      if (owners.count(controller_uid(*pod)) != 0)
        pods.push_back(std::move(pod));
    }
    std::sort(pods.begin(), pods.end(), [](const auto& a, const auto& b) { return text_at(*a, "metadata.name") < text_at(*b, "metadata.name"); });
    return pods;
  }

  //! The object `name` of a collection, from the watch cache or from a LIST cached for a while.
  std::shared_ptr<const JsonDocument> lookup(ApiClient& api, const ResourceType& type, const std::string& ns, const std::string& name) {
    if (hub_)
      return informer(api, type, ns).get(name);
    const auto& cached = cached_list(api, type, ns);
    const auto found = cached.find(name);
    return found == cached.end() ? nullptr : found->second;
  }

  //! The watch of a collection path, listed and started on first use. Throws what the LIST throws.
  Informer& informer(ApiClient& api, const ResourceType& type, const std::string& ns) {
    const std::string key = api.cluster() + " " + type.collection_path(ns);
    if (const auto found = informers_.find(key); found != informers_.end())
      return *found->second;
    RetryPolicy once;
    once.max_attempts = 1; // the informer backs off itself
    auto watcher = std::make_unique<ApiClient>(api.cluster(), shared_->connect(api.cluster()), make_https_transport(api.endpoint()), once);
    auto created = std::make_unique<Informer>(api.cluster(), type, ns, std::move(watcher), *hub_, options_.list_page_size);
    for (const auto& object : created->items())
      hub_->record({api.cluster(), type.group, type.kind, type.namespaced ? text_at(*object, "metadata.namespace") : "",
                    text_at(*object, "metadata.name")},
                   true);
    hub_->record({api.cluster(), type.group, type.kind, ns, ""}, false); // a new collection is a new revision
    return *informers_.emplace(key, std::move(created)).first->second;
  }

  bool watch_failed() const {
    return std::any_of(informers_.begin(), informers_.end(), [](const auto& entry) { return !entry.second->failure().empty(); });
  }

  const NameIndex& cached_list(ApiClient& api, const ResourceType& type, const std::string& ns) {
    const std::string key = api.cluster() + " " + type.collection_path(ns);
    const auto now = std::chrono::steady_clock::now();
    auto& entry = lists_[key];
    if (entry.fetched != std::chrono::steady_clock::time_point{} && now - entry.fetched < options_.list_cache_ttl)
      return entry.objects;
    entry.objects.clear();
    for (auto& item : api.list(type.collection_path(ns), options_.list_page_size))
      entry.objects[text_at(*item, "metadata.name")] = std::move(item);
    entry.fetched = now;
    return entry.objects;
  }

  void remember(ApiClient& api, const ResourceType& type, const std::string& ns, const std::string& name,
                const std::shared_ptr<JsonDocument>& object) {
    if (hub_) {
      if (const auto watched = informers_.find(api.cluster() + " " + type.collection_path(ns)); watched != informers_.end())
        watched->second->put(name, object);
      hub_->record({api.cluster(), type.group, type.kind, ns, name}, true);
      return;
    }
    const auto entry = lists_.find(api.cluster() + " " + type.collection_path(ns));
    if (entry != lists_.end())
      entry->second.objects[name] = object;
  }

  void forget(ApiClient& api, const ResourceType& type, const std::string& ns, const std::string& name) {
    if (hub_) {
      if (const auto watched = informers_.find(api.cluster() + " " + type.collection_path(ns)); watched != informers_.end())
        watched->second->erase(name);
      hub_->record({api.cluster(), type.group, type.kind, ns, name}, true);
      return;
    }
    const auto entry = lists_.find(api.cluster() + " " + type.collection_path(ns));
    if (entry != lists_.end())
      entry->second.objects.erase(name);
  }

  //! Polls a CRD until Established, then refreshes discovery of its group so its kind resolves.
  void wait_established(ApiClient& api, const ResourceType& type, const std::string& name, const std::string& group) {
    const auto deadline = std::chrono::steady_clock::now() + options_.establish_timeout;
    const std::string path = type.object_path("", name);
    for (;;) {
      const ApiResponse live = api.request({"GET", path, {}, {}});
      if (condition_true(*live.object, "Established")) {
        api.forget_group(group);
        return;
      }
      if (const Json* names = condition(*live.object, "NamesAccepted"); names != nullptr && string_member(*names, "status") == "False")
        throw UserError(fmt::format("names not accepted: {}", string_member(*names, "message")));
      if (std::chrono::steady_clock::now() >= deadline)
        throw TransientError(fmt::format("not Established after {}s", options_.establish_timeout.count() / 1000));
      wait(options_.poll_interval);
    }
  }

  //! Polls until the object answers 404 (finalizers and foreground deletion take time).
  void wait_gone(ApiClient& api, const std::string& path) {
    const auto deadline = std::chrono::steady_clock::now() + options_.delete_timeout;
    for (;;) {
      const ApiResponse live = api.request({"GET", path, {}, {}}, {404});
      if (live.status == 404)
        return;
      if (std::chrono::steady_clock::now() >= deadline) {
        std::string finalizers;
        if (const Json* list = find_path(*live.object, "metadata.finalizers"); list != nullptr && list->IsArray())
          for (const auto& finalizer : list->GetArray())
            if (finalizer.IsString())
              finalizers += (finalizers.empty() ? "" : ", ") + std::string(finalizer.GetString());
        throw TransientError(fmt::format("still present {}s after deletion{}", options_.delete_timeout.count() / 1000,
                                         finalizers.empty() ? "" : " (finalizers: " + finalizers + ")"));
      }
      wait(options_.poll_interval);
    }
  }

  const KubeOptions& options_; //!< shared_'s
  std::shared_ptr<KubeShared> shared_;
  std::string cluster_;
  bool owns_scope_ = false;
  std::unique_ptr<WatchHub> hub_; //!< with options_.watch; outlives informers_
  std::map<std::string, std::unique_ptr<Informer>> informers_; //!< by "cluster collection-path"
  std::map<std::string, CachedList> lists_; //!< by "cluster collection-path"
  //! (group, kind) → namespaces: what the fleet manages in this cluster (scope()); empty = none.
  std::map<std::pair<std::string, std::string>, std::set<std::string>> scope_;
  std::vector<std::string> warnings_;
  std::set<ObjectRef> written_; //!< applied (not dry-run) by this process and not deleted since
};

//! The file binding: named clusters and a fallback.
class FileCredentials final : public ClusterCredentials {
public:
  FileCredentials(std::map<std::string, ClusterBinding> clusters, std::optional<ClusterBinding> fallback)
      : clusters_(std::move(clusters)), fallback_(std::move(fallback)) {}

  std::optional<ClusterBinding> binding(const std::string& cluster) const override {
    if (const auto found = clusters_.find(cluster); found != clusters_.end())
      return found->second;
    return fallback_;
  }

  std::vector<std::string> named_clusters() const override {
    std::vector<std::string> names;
    for (const auto& [name, binding] : clusters_)
      names.push_back(name);
    return names;
  }

private:
  std::map<std::string, ClusterBinding> clusters_;
  std::optional<ClusterBinding> fallback_;
};

ClusterBinding parse_binding(const Json& value, const std::string& where) {
  if (!value.IsObject())
    throw UserError(fmt::format("{}: expected a mapping with kubeconfig and/or context", where));
  ClusterBinding binding;
  for (const auto& member : value.GetObject()) {
    const std::string key = member.name.GetString();
    if (key != "kubeconfig" && key != "context")
      throw UserError(fmt::format("{}.{}: unknown field (expected kubeconfig, context)", where, key));
    if (!member.value.IsString())
      throw UserError(fmt::format("{}.{}: expected a string", where, key));
    (key == "kubeconfig" ? binding.kubeconfig : binding.context) = member.value.GetString();
  }
  return binding;
}

} // namespace

KubeOptions load_kube_options(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw UserError(fmt::format("{}: cannot read the kube config file", path));
  std::ostringstream text;
  text << in.rdbuf();
  const auto file = parse_yaml(text.str());
  if (file->error)
    throw UserError(fmt::format("{}:{}: {}", path, file->error->line, file->error->message));
  KubeOptions options;
  options.fallback.reset();
  if (file->documents.empty())
    return options;
  const Json& root = file->documents[0].value;
  if (!root.IsObject())
    throw UserError(fmt::format("{}: expected a mapping with clusters", path));
  const std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  const auto absolute = [&](ClusterBinding binding) {
    if (!binding.kubeconfig.empty() && !binding.kubeconfig.starts_with("~") && std::filesystem::path(binding.kubeconfig).is_relative())
      binding.kubeconfig = (base / binding.kubeconfig).string();
    return binding;
  };
  for (const auto& member : root.GetObject()) {
    const std::string key = member.name.GetString();
    if (key == "apiVersion" || key == "kind")
      continue;
    if (key == "clusters") {
      if (!member.value.IsObject())
        throw UserError(fmt::format("{}: clusters: expected a mapping of cluster name to {{kubeconfig, context}}", path));
      for (const auto& cluster : member.value.GetObject())
        options.clusters[cluster.name.GetString()] =
            absolute(parse_binding(cluster.value, fmt::format("{}: clusters.{}", path, cluster.name.GetString())));
    } else if (key == "default") {
      options.fallback = absolute(parse_binding(member.value, fmt::format("{}: default", path)));
    } else if (key == "deletePropagation") {
      const std::string policy = member.value.IsString() ? member.value.GetString() : "";
      if (policy != "Background" && policy != "Foreground")
        throw UserError(fmt::format("{}: deletePropagation: expected Background or Foreground, got \"{}\"", path, policy));
      options.propagation_policy = policy;
    } else {
      throw UserError(fmt::format("{}: {}: unknown field (expected clusters, default, deletePropagation)", path, key));
    }
  }
  return options;
}

std::unique_ptr<ClusterCredentials> file_credentials(std::map<std::string, ClusterBinding> clusters, std::optional<ClusterBinding> fallback) {
  return std::make_unique<FileCredentials>(std::move(clusters), std::move(fallback));
}

Connection KubeShared::connect(const std::string& cluster) const {
  const std::optional<ClusterBinding> binding = credentials->binding(cluster);
  if (!binding)
    throw UserError(fmt::format("cluster {}: not bound to a kubeconfig context (add it to the --kube-config file)", cluster));
  try {
    return resolve_connection(*binding);
  } catch (const Error& error) {
    throw UserError(fmt::format("cluster {}: {}", cluster, error.what()));
  }
}

ApiClient& KubeShared::client(const std::string& cluster) {
  if (const auto found = clients.find(cluster); found != clients.end())
    return *found->second;
  Connection connection = connect(cluster);
  auto transport = make_https_transport(connection.endpoint);
  RetryPolicy retry;
  retry.max_attempts = options.max_attempts;
  auto api = std::make_unique<ApiClient>(cluster, std::move(connection), std::move(transport), retry);
  return *clients.emplace(cluster, std::move(api)).first->second;
}

std::string KubeShared::cluster_version(const std::string& cluster) {
  const ApiResponse version = client(cluster).request({"GET", "/version", {}, {}});
  return text_at(*version.object, "gitVersion");
}

std::unique_ptr<Backend> open_cluster_backend(std::shared_ptr<KubeShared> shared, std::string cluster, bool owns_scope) {
  return std::make_unique<KubeBackend>(std::move(shared), std::move(cluster), owns_scope);
}

std::unique_ptr<Backend> open_kube_cluster_backend(KubeOptions options, std::unique_ptr<ClusterCredentials> credentials, std::string cluster) {
  return open_cluster_backend(std::make_shared<KubeShared>(std::move(options), std::move(credentials)), std::move(cluster), true);
}

} // namespace meridian::kube

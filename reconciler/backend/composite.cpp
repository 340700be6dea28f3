// The composed backend (see composite.h).
#include "backend/composite.h"

#include "base/error.h"
#include "base/json.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

namespace meridian {
namespace {

Json text(std::string_view value, JsonAllocator& allocator) {
  return Json(value.data(), static_cast<rapidjson::SizeType>(value.size()), allocator);
}

class CompositeBackend final : public Backend, public Forecaster {
public:
  CompositeBackend(std::string name, std::unique_ptr<Backend> fleet, std::unique_ptr<ClusterBackends> clusters, CompositeOptions options)
      : name_(std::move(name)), options_(options), fleet_(std::move(fleet)), clusters_(std::move(clusters)) {}

  std::string name() const override { return name_; }
  //! This, when clusters forecast (whether a cluster's backend can is known only once it is
  //! opened) or the fleet backend does.
  Forecaster* forecaster() override {
    return options_.forecast_in_clusters || fleet_->forecaster() != nullptr ? this : nullptr;
  }

  //! Kept and handed to each cluster's backend (its own refs) when that backend is first used.
  void scope(const std::vector<ObjectRef>& refs) override {
    scope_ = refs;
    scoped_.clear();
    fleet_->scope(refs);
  }
  bool wants_scope() const override { return true; }

  std::vector<std::string> take_warnings() override {
    std::vector<std::string> warnings = fleet_->take_warnings();
    for (const auto& [cluster, used] : used_)
      for (std::string& warning : used.backend->take_warnings())
        warnings.push_back(std::move(warning));
    for (std::string& warning : warnings_)
      warnings.push_back(std::move(warning));
    warnings_.clear();
    return warnings;
  }

  std::vector<LiveObject> list_managed(std::string_view owner) override {
    std::vector<LiveObject> result;
    visit_managed(owner, [&](LiveObject&& live) { result.push_back(std::move(live)); });
    std::sort(result.begin(), result.end(), [](const LiveObject& a, const LiveObject& b) { return a.ref < b.ref; });
    return result;
  }

  //! The fleet backend's objects, then each cluster's Kubernetes objects (a cluster backend's own
  //! fleet-level objects are the fleet backend's to tell).
  void visit_managed(std::string_view owner, const std::function<void(LiveObject&&)>& visit) override {
    fleet_->visit_managed(owner, visit);
    for (const std::string& cluster : clusters_->clusters(owner)) {
      Backend* backend = cluster_backend(cluster);
      if (backend == nullptr)
        continue;
      backend->visit_managed(owner, [&](LiveObject&& live) {
        if (!live.ref.is_fleet_level())
          visit(std::move(live));
      });
    }
  }

  //! The parts' revisions: the fleet's and, for each cluster whose backend was used, which backend
  //! it is (a count of those handed out) and its revision. nullopt when any part has none.
  std::optional<std::string> revision() override {
    const std::optional<std::string> fleet = fleet_->revision();
    if (!fleet)
      return std::nullopt;
    JsonDocument document(rapidjson::kObjectType);
    JsonAllocator& allocator = document.GetAllocator();
    document.AddMember("fleet", text(*fleet, allocator), allocator);
    Json clusters(rapidjson::kObjectType);
    for (const auto& [cluster, used] : used_) {
      const std::optional<std::string> part = used.backend->revision();
      if (!part)
        return std::nullopt;
      Json entry(rapidjson::kObjectType);
      entry.AddMember("backend", Json(static_cast<int64_t>(used.generation)), allocator);
      entry.AddMember("revision", text(*part, allocator), allocator);
      clusters.AddMember(text(cluster, allocator), entry, allocator);
    }
    document.AddMember("clusters", clusters, allocator);
    return write_canonical(document);
  }

  //! The parts' changes since their revisions in `revision`; nullopt when a part cannot tell or a
  //! cluster's backend is another one than at `revision` (or was not used then).
  std::optional<std::vector<ObjectRef>> changes_since(const std::string& revision) override {
    JsonDocument document;
    if (parse_json(revision, document) || !document.IsObject())
      return std::nullopt;
    const Json* fleet = find_member(document, "fleet");
    const Json* clusters = find_member(document, "clusters");
    if (fleet == nullptr || !fleet->IsString() || clusters == nullptr || !clusters->IsObject())
      return std::nullopt;
    std::optional<std::vector<ObjectRef>> changes = fleet_->changes_since(fleet->GetString());
    if (!changes)
      return std::nullopt;
    for (const auto& [cluster, used] : used_) {
      const Json* entry = find_member(*clusters, cluster);
      const Json* generation = entry == nullptr ? nullptr : find_member(*entry, "backend");
      const Json* part = entry == nullptr ? nullptr : find_member(*entry, "revision");
      if (generation == nullptr || !generation->IsInt64() || generation->GetInt64() != static_cast<int64_t>(used.generation) ||
          part == nullptr || !part->IsString())
        return std::nullopt;
      const std::optional<std::vector<ObjectRef>> more = used.backend->changes_since(part->GetString());
      if (!more)
        return std::nullopt;
      for (const ObjectRef& ref : *more)
        if (!ref.is_fleet_level())
          changes->push_back(ref);
    }
    return changes;
  }

  //! The drift revisions of the parts that watch, nullopt when none does.
  std::optional<std::string> drift_revision() override {
    JsonDocument document(rapidjson::kObjectType);
    JsonAllocator& allocator = document.GetAllocator();
    if (const std::optional<std::string> fleet = fleet_->drift_revision())
      document.AddMember("fleet", text(*fleet, allocator), allocator);
    for (const auto& [cluster, used] : used_)
      if (const std::optional<std::string> part = used.backend->drift_revision())
        document.AddMember(text(fmt::format("{}#{}", cluster, used.generation), allocator), text(*part, allocator), allocator);
    if (document.MemberCount() == 0)
      return std::nullopt;
    return write_canonical(document);
  }

  std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) override {
    if (ref.is_fleet_level())
      return fleet_->get(ref);
    Backend* backend = cluster_backend(ref.cluster);
    return backend == nullptr ? nullptr : backend->get(ref);
  }

  std::shared_ptr<const JsonDocument> get_as(const ObjectRef& ref, std::string_view api_version) override {
    if (ref.is_fleet_level())
      return fleet_->get_as(ref, api_version);
    Backend* backend = cluster_backend(ref.cluster);
    return backend == nullptr ? nullptr : backend->get_as(ref, api_version);
  }

  std::optional<std::vector<LiveObject>> namespace_contents(const std::string& cluster, const std::string& ns) override {
    Backend* backend = cluster_backend(cluster);
    return backend == nullptr ? std::nullopt : backend->namespace_contents(cluster, ns);
  }

  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override {
    if (ref.is_fleet_level())
      return fleet_->apply(ref, desired, dry_run);
    Backend* backend = cluster_backend(ref.cluster);
    if (backend == nullptr) {
      if (dry_run)
        return nullptr; // nothing to ask yet: the plan diffs locally
      throw TransientError(fmt::format("{} (cluster {}): the cluster is not running yet", ref.display(), ref.cluster));
    }
    return backend->apply(ref, desired, dry_run);
  }

  bool server_side_dry_run() const override { return true; }

  std::optional<std::string> replacement(const ObjectRef& ref, const Json& desired, const Json& live) override {
    if (ref.is_fleet_level())
      return fleet_->replacement(ref, desired, live);
    Backend* backend = cluster_backend(ref.cluster);
    return backend == nullptr ? std::nullopt : backend->replacement(ref, desired, live);
  }

  void remove(const ObjectRef& ref, bool dry_run) override {
    if (ref.is_fleet_level())
      return fleet_->remove(ref, dry_run);
    if (Backend* backend = cluster_backend(ref.cluster))
      backend->remove(ref, dry_run);
  }

  Health health(const ObjectRef& ref) override {
    if (ref.is_fleet_level())
      return fleet_->health(ref);
    Backend* backend = nullptr;
    try {
      backend = cluster_backend(ref.cluster);
    } catch (const TransientError& error) {
      return {HealthStatus::progressing, error.what()};
    } catch (const UserError& error) {
      return {HealthStatus::degraded, error.what()};
    }
    if (backend == nullptr)
      return {HealthStatus::missing, fmt::format("cluster {} is not running yet", ref.cluster)};
    return backend->health(ref);
  }

  std::vector<PodPlacement> placements(const ObjectRef& workload) override {
    if (workload.is_fleet_level())
      return fleet_->placements(workload);
    Backend* backend = cluster_backend(workload.cluster);
    return backend == nullptr ? std::vector<PodPlacement>{} : backend->placements(workload);
  }

  //! Fleet-level changes to the fleet backend's forecaster, each cluster's to its backend's; a
  //! part without a forecaster forecasts nothing, a cluster that cannot be opened gets a warning.
  std::vector<PlacementForecast> predict(const std::vector<std::pair<ObjectRef, const Json*>>& changes) override {
    std::map<std::string, std::vector<std::pair<ObjectRef, const Json*>>> by_part; //!< "" = the fleet backend
    for (const auto& change : changes)
      by_part[change.first.is_fleet_level() ? std::string() : change.first.cluster].push_back(change);
    std::vector<PlacementForecast> forecasts;
    for (const auto& [cluster, part_changes] : by_part) {
      Backend* backend = fleet_.get();
      if (!cluster.empty() && !options_.forecast_in_clusters)
        continue;
      if (!cluster.empty()) {
        try {
          backend = cluster_backend(cluster);
        } catch (const Error& error) {
          note_warning(fmt::format("no pod forecast: cluster {}: {}", cluster, error.what()));
          continue;
        }
      }
      Forecaster* forecaster = backend == nullptr ? nullptr : backend->forecaster();
      if (forecaster == nullptr)
        continue;
      for (PlacementForecast& forecast : forecaster->predict(part_changes))
        forecasts.push_back(std::move(forecast));
    }
    return forecasts;
  }

  void wait(std::chrono::milliseconds duration) override { fleet_->wait(duration); }
  long long now_ms() override { return fleet_->now_ms(); }

  std::vector<std::string> node_regions(const std::string& cluster) override {
    if (Backend* backend = cluster_backend(cluster)) {
      std::vector<std::string> regions = backend->node_regions(cluster);
      if (!regions.empty())
        return regions;
    }
    return fleet_->node_regions(cluster);
  }

private:
  struct Used {
    Backend* backend = nullptr; //!< owned by clusters_
    size_t generation = 0;      //!< how many backends this cluster has had
  };

  //! The backend of `cluster`'s objects (nullptr while unreachable), scoped to its refs.
  Backend* cluster_backend(const std::string& cluster) {
    Backend* backend = clusters_->backend_for(cluster);
    if (backend == nullptr)
      return nullptr;
    Used& used = used_[cluster];
    if (used.backend != backend) {
      used.backend = backend;
      ++used.generation;
    }
    // A cluster's backend may be a new one (its credentials were fetched again): scope it too.
    if (backend->wants_scope() && std::exchange(scoped_[cluster], backend) != backend) {
      std::vector<ObjectRef> refs;
      for (const ObjectRef& ref : scope_)
        if (ref.cluster == cluster)
          refs.push_back(ref);
      backend->scope(refs);
    }
    return backend;
  }

  void note_warning(std::string warning) {
    if (std::find(warnings_.begin(), warnings_.end(), warning) == warnings_.end())
      warnings_.push_back(std::move(warning));
  }

  std::string name_;
  CompositeOptions options_;
  std::vector<ObjectRef> scope_;
  std::map<std::string, Backend*> scoped_; //!< the backend of each cluster that has scope_ already
  std::map<std::string, Used> used_;       //!< cluster backends handed out, by cluster
  std::vector<std::string> warnings_;      //!< the composite's own (forecasts it could not ask for)
  std::unique_ptr<Backend> fleet_;
  std::unique_ptr<ClusterBackends> clusters_; //!< after fleet_: destroyed first, as it may point into it
};

} // namespace

std::unique_ptr<Backend> compose_backends(std::string name, std::unique_ptr<Backend> fleet, std::unique_ptr<ClusterBackends> clusters,
                                          CompositeOptions options) {
  return std::make_unique<CompositeBackend>(std::move(name), std::move(fleet), std::move(clusters), options);
}

} // namespace meridian

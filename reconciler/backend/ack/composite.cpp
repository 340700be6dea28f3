// The composed backend (see composite.h).
#include "backend/ack/composite.h"

#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

namespace meridian::ack {
namespace {

class CompositeBackend final : public Backend {
public:
  CompositeBackend(std::string name, std::unique_ptr<Backend> fleet, std::unique_ptr<ClusterBackends> clusters)
      : name_(std::move(name)), fleet_(std::move(fleet)), clusters_(std::move(clusters)) {}

  std::string name() const override { return name_; }

  //! Kept and handed to each cluster's backend (its own refs) when that backend is first used.
  void scope(const std::vector<ObjectRef>& refs) override {
    scope_ = refs;
    scoped_.clear();
    fleet_->scope(refs);
  }
  bool wants_scope() const override { return true; }

  std::vector<std::string> take_warnings() override {
    std::vector<std::string> warnings = fleet_->take_warnings();
    for (const auto& [cluster, backend] : used_)
      for (std::string& warning : backend->take_warnings())
        warnings.push_back(std::move(warning));
    return warnings;
  }

  std::vector<LiveObject> list_managed(std::string_view owner) override {
    std::vector<LiveObject> result = fleet_->list_managed(owner);
    for (const std::string& cluster : clusters_->clusters(owner)) {
      Backend* backend = cluster_backend(cluster);
      if (backend == nullptr)
        continue;
      for (LiveObject& live : backend->list_managed(owner))
        if (!live.ref.is_fleet_level())
          result.push_back(std::move(live));
    }
    std::sort(result.begin(), result.end(), [](const LiveObject& a, const LiveObject& b) { return a.ref < b.ref; });
    return result;
  }

  std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) override {
    if (ref.is_fleet_level())
      return fleet_->get(ref);
    Backend* backend = cluster_backend(ref.cluster);
    return backend == nullptr ? nullptr : backend->get(ref);
  }

  std::shared_ptr<const JsonDocument> get_as(const ObjectRef& ref, std::string_view api_version) override {
    if (ref.is_fleet_level())
      return fleet_->get(ref);
    Backend* backend = cluster_backend(ref.cluster);
    return backend == nullptr ? nullptr : backend->get_as(ref, api_version);
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
    return ref.is_fleet_level() ? fleet_->replacement(ref, desired, live) : std::nullopt;
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
      return {};
    Backend* backend = cluster_backend(workload.cluster);
    return backend == nullptr ? std::vector<PodPlacement>{} : backend->placements(workload);
  }

  std::vector<PlacementForecast> predict(const std::vector<std::pair<ObjectRef, const Json*>>&) override { return {}; }

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
  //! The backend of `cluster`'s objects (nullptr while unreachable), scoped to its refs.
  Backend* cluster_backend(const std::string& cluster) {
    Backend* backend = clusters_->backend_for(cluster);
    if (backend == nullptr)
      return nullptr;
    used_[cluster] = backend;
    // A cluster's backend may be a new one (its kubeconfig was fetched again): scope it too.
    if (backend->wants_scope() && std::exchange(scoped_[cluster], backend) != backend) {
      std::vector<ObjectRef> refs;
      for (const ObjectRef& ref : scope_)
        if (ref.cluster == cluster)
          refs.push_back(ref);
      backend->scope(refs);
    }
    return backend;
  }

  std::string name_;
  std::vector<ObjectRef> scope_;
  std::map<std::string, Backend*> scoped_; //!< the backend of each cluster that has scope_ already
  std::map<std::string, Backend*> used_;  //!< cluster backends handed out (owned by clusters_), by cluster
  std::unique_ptr<Backend> fleet_;
  std::unique_ptr<ClusterBackends> clusters_; //!< after fleet_: destroyed first, as it may point into it
};

} // namespace

std::unique_ptr<Backend> compose_backends(std::string name, std::unique_ptr<Backend> fleet, std::unique_ptr<ClusterBackends> clusters) {
  return std::make_unique<CompositeBackend>(std::move(name), std::move(fleet), std::move(clusters));
}

} // namespace meridian::ack

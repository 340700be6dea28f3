// The fleet-level part of `--backend kube` (see shared.h): Cluster objects are not created here, a
// Meridian Cluster is "bound" when its kubeconfig context is configured and its API server answers
// /version; the specs applied to it are remembered (KubeOptions::state_file). NodePools need the
// alibabacloud backend. open_kube_backend composes it with one cluster backend per cluster.
#include "backend/composite.h"
#include "backend/kube/shared.h"

#include "base/error.h"
#include "kube_rules/accessors.h"
#include "kube_rules/server_fields.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace meridian::kube {
namespace {

constexpr std::string_view kFleetGroup = "meridian.io";

using rules::text_at;

void set_member(Json& object, std::string_view key, Json value, JsonAllocator& allocator) {
  object.RemoveMember(Json(rapidjson::StringRef(key.data(), key.size())));
  object.AddMember(Json(key.data(), static_cast<rapidjson::SizeType>(key.size()), allocator), value, allocator);
}

Json string_value(std::string_view text, JsonAllocator& allocator) {
  return Json(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
}

//! Cluster objects from the bindings. Its revision (with KubeOptions::watch) counts the Cluster
//! specs applied and removed through it, so that the composite's revision has one.
class BindingsBackend final : public Backend {
public:
  explicit BindingsBackend(std::shared_ptr<KubeShared> shared) : shared_(std::move(shared)) { load_cluster_specs(); }

  std::string name() const override { return "kube"; }
  bool server_side_dry_run() const override { return true; }

  //! A Cluster for each bound cluster a spec was applied to.
  std::vector<LiveObject> list_managed(std::string_view owner) override {
    (void)owner;
    std::vector<LiveObject> result;
    for (const auto& [cluster, spec] : shared_->cluster_specs)
      if (shared_->bound(cluster))
        result.push_back({fleet_ref("Cluster", cluster), synthetic_cluster(cluster)});
    return result;
  }

  //! Remembers which clusters the refs name (their backends list them); Clusters are not scoped.
  void scope(const std::vector<ObjectRef>& refs) override {
    shared_->scope_clusters.clear();
    shared_->scoped = false;
    for (const ObjectRef& ref : refs)
      if (!ref.is_fleet_level()) {
        shared_->scope_clusters.insert(ref.cluster);
        shared_->scoped = true;
      }
  }
  bool wants_scope() const override { return true; }

  std::optional<std::string> revision() override {
    if (!shared_->options.watch)
      return std::nullopt;
    return fmt::format("bindings:{}", changed_.size());
  }

  std::optional<std::vector<ObjectRef>> changes_since(const std::string& revision) override {
    if (!shared_->options.watch || !revision.starts_with("bindings:"))
      return std::nullopt;
    size_t since = 0;
    try {
      since = std::stoull(revision.substr(9));
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (since > changed_.size())
      return std::nullopt;
    return std::vector<ObjectRef>(changed_.begin() + static_cast<std::ptrdiff_t>(since), changed_.end());
  }

  std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) override {
    if (ref.kind != "Cluster" || !shared_->bound(ref.name))
      return nullptr;
    return synthetic_cluster(ref.name, shared_->cluster_version(ref.name));
  }

  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override {
    if (!desired.IsObject())
      throw UserError(fmt::format("{}: the manifest is not an object", ref.display()));
    if (ref.kind == "NodePool")
      throw UserError(fmt::format("{}: NodePool needs the alibabacloud backend", ref.display()));
    if (ref.kind != "Cluster")
      throw UserError(fmt::format("{}: the kube backend cannot apply {}", ref.display(), ref.kind));
    return bind_cluster(ref, desired, dry_run);
  }

  //! Clusters are not deleted through Kubernetes: Meridian only stops managing the binding.
  void remove(const ObjectRef& ref, bool dry_run) override {
    if (ref.kind == "Cluster" && !dry_run && shared_->cluster_specs.erase(ref.name) != 0) {
      save_cluster_specs();
      changed_.push_back(ref);
    }
  }

  Health health(const ObjectRef& ref) override {
    return health_or_unreadable([&]() -> Health {
      if (ref.kind == "NodePool")
        return {HealthStatus::missing, "NodePool needs the alibabacloud backend"};
      if (!shared_->bound(ref.name))
        return {HealthStatus::missing, fmt::format("cluster {} is not bound to a kubeconfig context", ref.name)};
      const std::string version = shared_->cluster_version(ref.name);
      return {HealthStatus::healthy, version.empty() ? "cluster is running" : fmt::format("cluster is running (Kubernetes {})", version)};
    });
  }

  void wait(std::chrono::milliseconds duration) override { sleep_for(duration); }
  long long now_ms() override { return steady_now_ms(); }

  //! The region of the Cluster's spec (the composite asks when the cluster's nodes name none).
  std::vector<std::string> node_regions(const std::string& cluster) override {
    if (const auto spec = shared_->cluster_specs.find(cluster);
        spec != shared_->cluster_specs.end() && !text_at(*spec->second, "spec.region").empty())
      return {text_at(*spec->second, "spec.region")};
    return {};
  }

private:
  static ObjectRef fleet_ref(std::string_view kind, const std::string& name) {
    return {"", std::string(kFleetGroup), std::string(kind), "", name};
  }

  std::shared_ptr<const JsonDocument> synthetic_cluster(const std::string& cluster, const std::string& version = {}) {
    auto document = std::make_shared<JsonDocument>();
    JsonAllocator& allocator = document->GetAllocator();
    const auto spec = shared_->cluster_specs.find(cluster);
    if (spec != shared_->cluster_specs.end())
      document->CopyFrom(*spec->second, allocator);
    else
      document->SetObject();
    set_member(*document, "apiVersion", string_value(text_at(*document, "apiVersion", "meridian.io/v1alpha1"), allocator), allocator);
    set_member(*document, "kind", string_value("Cluster", allocator), allocator);
    if (find_member(*document, "metadata") == nullptr)
      set_member(*document, "metadata", Json(rapidjson::kObjectType), allocator);
    set_member((*document)["metadata"], "name", string_value(cluster, allocator), allocator);
    Json status(rapidjson::kObjectType);
    set_member(status, "state", string_value("running", allocator), allocator);
    set_member(status, "server", string_value(shared_->client(cluster).endpoint().server, allocator), allocator);
    if (!version.empty())
      set_member(status, "currentVersion", string_value(version, allocator), allocator);
    set_member(*document, "status", std::move(status), allocator);
    return document;
  }

  std::shared_ptr<const JsonDocument> bind_cluster(const ObjectRef& ref, const Json& desired, bool dry_run) {
    if (!shared_->bound(ref.name))
      throw UserError(fmt::format("{}: the kube backend cannot create clusters and this one is not bound to a kubeconfig context "
                                  "(add it to the --kube-config file)",
                                  ref.display()));
    std::string version;
    try {
      version = shared_->cluster_version(ref.name);
    } catch (const TransientError& error) {
      throw TransientError(fmt::format("{}: not reachable: {}", ref.display(), error.what()));
    }
    auto stored = std::make_shared<JsonDocument>();
    JsonDocument clean; // the manifest as apply sends it: without what the server owns
    clean.CopyFrom(desired, clean.GetAllocator());
    rules::remove_server_owned(clean);
    JsonDocument sent;
    parse_json(write_compact(clean), sent);
    stored->CopyFrom(sent, stored->GetAllocator());
    auto& specs = shared_->cluster_specs;
    if (dry_run) {
      const auto previous = specs.find(ref.name);
      std::shared_ptr<const JsonDocument> saved = previous == specs.end() ? nullptr : previous->second;
      specs[ref.name] = stored;
      auto result = synthetic_cluster(ref.name, version);
      if (saved)
        specs[ref.name] = saved;
      else
        specs.erase(ref.name);
      return result;
    }
    specs[ref.name] = stored;
    save_cluster_specs();
    changed_.push_back(ref);
    return synthetic_cluster(ref.name, version);
  }

  void load_cluster_specs() {
    const std::string& path = shared_->options.state_file;
    if (path.empty() || !std::filesystem::exists(path))
      return;
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    JsonDocument document;
    if (const auto error = parse_json(text.str(), document))
      throw UserError(fmt::format("{}: corrupt JSON: {}", path, *error));
    if (!document.IsObject())
      return;
    for (const auto& member : document.GetObject()) {
      auto spec = std::make_shared<JsonDocument>();
      spec->CopyFrom(member.value, spec->GetAllocator());
      shared_->cluster_specs[member.name.GetString()] = std::move(spec);
    }
  }

  void save_cluster_specs() {
    const std::string& path = shared_->options.state_file;
    if (path.empty())
      return;
    JsonDocument document(rapidjson::kObjectType);
    for (const auto& [name, spec] : shared_->cluster_specs)
      set_member(document, name, Json(*spec, document.GetAllocator()), document.GetAllocator());
    const std::string temporary = path + ".tmp";
    {
      std::ofstream out(temporary, std::ios::trunc);
      out << write_canonical(document, true) << "\n";
      if (!out)
        throw UserError(fmt::format("{}: cannot write", temporary));
    }
    std::filesystem::rename(temporary, path);
  }

  std::shared_ptr<KubeShared> shared_;
  std::vector<ObjectRef> changed_; //!< Clusters bound or unbound through this backend, in order
};

//! One cluster backend per Meridian cluster, opened on first use (also for a cluster without a
//! binding: its calls then fail as they did, naming the missing binding).
class KubeClusters final : public ClusterBackends {
public:
  explicit KubeClusters(std::shared_ptr<KubeShared> shared) : shared_(std::move(shared)) {}

  Backend* backend_for(const std::string& cluster) override {
    auto& backend = opened_[cluster];
    if (!backend)
      backend = open_cluster_backend(shared_, cluster, false);
    return backend.get();
  }

  //! The clusters read or applied to, bound by name, given a Cluster spec, or named by the scope.
  std::vector<std::string> clusters(std::string_view owner) override {
    (void)owner;
    std::set<std::string> clusters = shared_->seen_clusters;
    for (const std::string& name : shared_->credentials->named_clusters())
      clusters.insert(name);
    for (const auto& [name, spec] : shared_->cluster_specs)
      clusters.insert(name);
    for (const std::string& name : shared_->scope_clusters)
      clusters.insert(name);
    return {clusters.begin(), clusters.end()};
  }

private:
  std::shared_ptr<KubeShared> shared_;
  std::map<std::string, std::unique_ptr<Backend>> opened_;
};

} // namespace

std::unique_ptr<Backend> open_bindings_backend(std::shared_ptr<KubeShared> shared) {
  return std::make_unique<BindingsBackend>(std::move(shared));
}

std::unique_ptr<Backend> open_kube_backend(KubeOptions options) {
  auto credentials = file_credentials(options.clusters, options.fallback);
  return open_kube_backend(std::move(options), std::move(credentials));
}

std::unique_ptr<Backend> open_kube_backend(KubeOptions options, std::unique_ptr<ClusterCredentials> credentials) {
  auto shared = std::make_shared<KubeShared>(std::move(options), std::move(credentials));
  auto fleet = open_bindings_backend(shared);
  return compose_backends("kube", std::move(fleet), std::make_unique<KubeClusters>(shared));
}

} // namespace meridian::kube

// The ACK backend: Clusters and NodePools over the CS OpenAPI, composed with the kube backend for
// the objects inside each cluster (see ack.h).
#include "backend/ack/ack.h"
#include "backend/composite.h"
#include "kube_rules/accessors.h"
#include "backend/ack/mapping.h"
#include "backend/ack/open.h"
#include "backend/kube/kubeconfig.h"

#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace meridian::ack {
namespace {

constexpr std::string_view kFleetGroup = "meridian.io";
constexpr int kPageSize = 100;

ObjectRef fleet_ref(std::string_view kind, const std::string& name) { return {"", std::string(kFleetGroup), std::string(kind), "", name}; }

using rules::text_at;

std::string owner_of(const Json& desired) {
  const Json* annotations = find_path(desired, "metadata.annotations");
  return annotations == nullptr ? std::string() : std::string(string_member(*annotations, kOwnerTag));
}

//! Versions compare by their numbers: 1.30.7-aliyun.1 < 1.31.1-aliyun.1.
std::vector<long> version_numbers(std::string_view version) {
  std::vector<long> numbers;
  long current = -1;
  for (const char c : version) {
    if (c >= '0' && c <= '9') {
      current = (current < 0 ? 0 : current * 10) + (c - '0');
    } else if (current >= 0) {
      numbers.push_back(current);
      current = -1;
    }
  }
  if (current >= 0)
    numbers.push_back(current);
  return numbers;
}

Json text(std::string_view value, JsonAllocator& allocator) {
  return Json(value.data(), static_cast<rapidjson::SizeType>(value.size()), allocator);
}

void put(Json& object, std::string_view key, Json value, JsonAllocator& allocator) {
  object.RemoveMember(Json(rapidjson::StringRef(key.data(), key.size())));
  object.AddMember(text(key, allocator), value, allocator);
}

//! What the engine sees of an object while ACK creates it: the manifest and a status.
std::shared_ptr<JsonDocument> pending_object(const Json& desired, std::string_view state, std::string_view id_field, const std::string& id) {
  auto document = std::make_shared<JsonDocument>();
  document->CopyFrom(desired, document->GetAllocator());
  JsonAllocator& allocator = document->GetAllocator();
  Json status(rapidjson::kObjectType);
  put(status, "state", text(state, allocator), allocator);
  if (!id.empty())
    put(status, id_field, text(id, allocator), allocator);
  put(*document, "status", std::move(status), allocator);
  return document;
}

//! How many nodes a ModifyClusterNodePool `body` adds when all it changes is a bigger
//! scaling_group.desired_size of a pool whose size is set by hand (`live` is the pool as Meridian
//! shows it); 0 for any other change.
long long scale_out_of(const Json& body, const Json& live) {
  if (!body.IsObject() || body.MemberCount() != 1)
    return 0;
  const Json* group = find_member(body, "scaling_group");
  if (group == nullptr || !group->IsObject() || group->MemberCount() != 1)
    return 0;
  const Json* want = find_member(*group, "desired_size");
  const Json* have = find_path(live, "spec.desiredSize");
  if (want == nullptr || !want->IsInt64() || have == nullptr || !have->IsInt64())
    return 0;
  if (const Json* enabled = find_path(live, "spec.autoScaling.enabled"); enabled != nullptr && enabled->IsBool() && enabled->GetBool())
    return 0;
  return std::max<long long>(0, want->GetInt64() - have->GetInt64());
}

//! A private directory (0700) for fetched kubeconfigs, removed with everything in it.
class SecretDirectory {
public:
  SecretDirectory() = default;
  SecretDirectory(const SecretDirectory&) = delete;
  SecretDirectory& operator=(const SecretDirectory&) = delete;
  ~SecretDirectory() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }

  //! Writes `content` to `name` in the directory, readable by this user only; returns its path.
  std::string write(const std::string& name, const std::string& content) {
    if (path_.empty()) {
      std::string pattern = (std::filesystem::temp_directory_path() / "meridian-ack-XXXXXX").string();
      if (mkdtemp(pattern.data()) == nullptr)
        throw UserError(fmt::format("cannot create a private directory for kubeconfigs under {}", std::filesystem::temp_directory_path().string()));
      path_ = pattern;
    }
    const std::string file = path_ + "/" + name + ".kubeconfig";
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      throw UserError(fmt::format("{}: cannot write the fetched kubeconfig", file));
    size_t written = 0;
    while (written < content.size()) {
      const ssize_t count = ::write(fd, content.data() + written, content.size() - written);
      if (count <= 0) {
        ::close(fd);
        throw UserError(fmt::format("{}: cannot write the fetched kubeconfig", file));
      }
      written += static_cast<size_t>(count);
    }
    ::close(fd);
    return file;
  }

private:
  std::string path_;
};

class AckBackend final : public Backend {
public:
  AckBackend(AckOptions options, std::unique_ptr<OpenApiClient> client) : options_(std::move(options)), client_(std::move(client)) {}

  std::string name() const override { return "ack"; }

  std::vector<LiveObject> list_managed(std::string_view owner) override {
    owner_ = owner;
    Inventory& inventory = load();
    std::vector<LiveObject> result;
    for (auto& [name, cluster] : inventory.clusters) {
      const auto tags = tags_of(find_member(*cluster->ack, "tags"));
      const auto tag = tags.find(std::string(kOwnerTag));
      const bool ours = tag != tags.end() && tag->second == owner_tag_value(owner_);
      if (!ours && options_.clusters.count(name) == 0)
        continue;
      result.push_back({fleet_ref("Cluster", name), cluster_live(*cluster)});
      for (const auto& pool : pools(*cluster)) {
        const auto pool_tags = tags_of(find_path(*pool, "scaling_group.tags"));
        const auto pool_tag = pool_tags.find(std::string(kOwnerTag));
        if (pool_tag == pool_tags.end() || pool_tag->second != owner_tag_value(owner_))
          continue;
        result.push_back({fleet_ref("NodePool", text_at(*pool, "nodepool_info.name")), nodepool_object(*pool, name, owner_, options_)});
      }
    }
    std::sort(result.begin(), result.end(), [](const LiveObject& a, const LiveObject& b) { return a.ref < b.ref; });
    return result;
  }

  std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) override {
    if (!ref.is_fleet_level())
      throw UserError(fmt::format("{}: the ACK backend holds only Clusters and NodePools", ref.display()));
    return with_context(ref, [&]() -> std::shared_ptr<const JsonDocument> {
      if (ref.kind == "Cluster") {
        const auto cluster = find_cluster(ref.name);
        return cluster == nullptr ? nullptr : cluster_live(*cluster);
      }
      if (ref.kind == "NodePool") {
        const auto found = find_pool(ref.name);
        return found ? nodepool_object(*found->second, found->first->name, owner_, options_) : nullptr;
      }
      return nullptr;
    });
  }

  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override {
    if (!desired.IsObject())
      throw UserError(fmt::format("{}: the manifest is not an object", ref.display()));
    if (!ref.is_fleet_level() || (ref.kind != "Cluster" && ref.kind != "NodePool"))
      throw UserError(fmt::format("{}: the ACK backend holds only Clusters and NodePools", ref.display()));
    if (const std::string owner = owner_of(desired); !owner.empty())
      owner_ = owner;
    return with_context(ref, [&] {
      if (!dry_run)
        failures_.erase(ref);
      return ref.kind == "Cluster" ? apply_cluster(ref, desired, dry_run) : apply_nodepool(ref, desired, dry_run);
    });
  }

  std::optional<std::string> replacement(const ObjectRef& ref, const Json& desired, const Json& live) override {
    if (!ref.is_fleet_level())
      return std::nullopt;
    const std::vector<std::string> fields = replaced_fields(ref, desired, live);
    if (fields.empty())
      return std::nullopt;
    std::string list;
    for (const std::string& field : fields)
      list += (list.empty() ? "" : ", ") + field;
    return fmt::format("{}: ACK cannot change this in place; apply deletes the {} and creates it again{}", list,
                       ref.kind == "Cluster" ? "cluster (with everything in it)" : "node pool (and its nodes)",
                       options_.allow_replace ? "" : ", which it refuses without --allow-replace");
  }

  void remove(const ObjectRef& ref, bool dry_run) override {
    if (!ref.is_fleet_level())
      throw UserError(fmt::format("{}: the ACK backend holds only Clusters and NodePools", ref.display()));
    with_context(ref, [&] {
      if (ref.kind == "Cluster")
        remove_cluster(ref, dry_run);
      else if (ref.kind == "NodePool")
        remove_nodepool(ref, dry_run);
      return 0;
    });
  }

  Health health(const ObjectRef& ref) override { return health_or_unreadable([&] { return read_health(ref); }); }

  void wait(std::chrono::milliseconds duration) override { sleep_for(duration); }
  long long now_ms() override { return steady_now_ms(); }

  std::vector<std::string> node_regions(const std::string& cluster_name) override {
    std::set<std::string> regions;
    if (const auto cluster = find_cluster(cluster_name)) {
      regions.insert(cluster->region);
      for (const auto& pool : pools(*cluster))
        if (const std::string region = spec_text(*nodepool_object(*pool, cluster_name, owner_, options_), "region"); !region.empty())
          regions.insert(region);
    }
    return {regions.begin(), regions.end()};
  }

  //! A cluster's kubeconfig and, when ACK handed it out, when it expires.
  struct Kubeconfig {
    kube::ClusterBinding binding;
    std::optional<std::chrono::system_clock::time_point> expiration;
  };

  //! The kubeconfig of a running cluster (the configured one, or fetched from ACK), nullopt while
  //! the cluster does not exist or is not running.
  std::optional<Kubeconfig> kubeconfig(const std::string& cluster_name, SecretDirectory& secrets) {
    const auto bound = options_.clusters.find(cluster_name);
    if (bound != options_.clusters.end() && !bound->second.kubeconfig.empty())
      return Kubeconfig{{bound->second.kubeconfig, bound->second.context}, std::nullopt};
    const auto cluster = find_cluster(cluster_name);
    if (cluster == nullptr || string_member(*cluster->ack, "state") != "running")
      return std::nullopt;
    const ApiResult answer = client_->call(cluster->region, {"DescribeClusterUserKubeconfig", "GET",
                                                             fmt::format("/k8s/{}/user_config", path_component(cluster->id)),
                                                             {{"PrivateIpAddress", options_.private_kubeconfig ? "true" : "false"}}});
    const std::string config = text_at(*answer.body, "config");
    if (config.empty())
      throw UserError(fmt::format("Cluster/{}: ACK DescribeClusterUserKubeconfig: the answer has no config", cluster_name));
    std::optional<std::chrono::system_clock::time_point> expiration;
    if (const std::string text = text_at(*answer.body, "expiration"); !text.empty()) {
      expiration = kube::parse_rfc3339(text);
      if (!expiration)
        throw TransientError(fmt::format("Cluster/{}: ACK DescribeClusterUserKubeconfig: expiration: expected an RFC 3339 time, got \"{}\"",
                                         cluster_name, text));
    }
    return Kubeconfig{{secrets.write(cluster->id, config), ""}, expiration};
  }

  std::chrono::seconds kubeconfig_refresh_before() const { return options_.kubeconfig_refresh_before; }

  //! Clusters whose objects list_managed reads: Meridian's (by tag) and the bound ones.
  std::vector<std::string> managed_clusters(std::string_view owner) {
    std::vector<std::string> names;
    for (auto& [name, cluster] : load().clusters) {
      const auto tags = tags_of(find_member(*cluster->ack, "tags"));
      const auto tag = tags.find(std::string(kOwnerTag));
      if ((tag != tags.end() && tag->second == owner_tag_value(std::string(owner))) || options_.clusters.count(name) != 0)
        names.push_back(name);
    }
    return names;
  }

private:
  struct ClusterEntry {
    std::string name; //!< Meridian's name (the ACK name, or the binding's key)
    std::string id;
    std::string region;
    std::shared_ptr<JsonDocument> ack; //!< the DescribeClustersV1 item or DescribeClusterDetail answer
    std::optional<std::vector<std::shared_ptr<JsonDocument>>> pools;
  };
  struct Inventory {
    std::chrono::steady_clock::time_point loaded{};
    std::map<std::string, std::shared_ptr<ClusterEntry>> clusters; //!< by Meridian name
  };
  struct Task {
    std::string id;
    std::string region;
  };

  template <typename Body> static auto with_context(const ObjectRef& ref, Body&& body) -> decltype(body()) {
    const std::string prefix = ref.display() + ": ";
    return rethrow_reworded(std::forward<Body>(body),
                            [&](const std::string& message) { return message.starts_with(prefix) ? message : prefix + message; });
  }

  Inventory& load() {
    const auto now = std::chrono::steady_clock::now();
    if (inventory_.loaded != std::chrono::steady_clock::time_point{} && now - inventory_.loaded < options_.inventory_ttl)
      return inventory_;
    Inventory fresh;
    ambiguous_.clear();
    std::map<std::string, std::vector<std::string>> ids_by_name;
    std::map<std::string, std::shared_ptr<JsonDocument>> by_id;
    for (int page = 1;; ++page) {
      const ApiResult answer = client_->call(options_.region, {"DescribeClustersV1", "GET", "/api/v1/clusters",
                                                               {{"page_number", std::to_string(page)}, {"page_size", std::to_string(kPageSize)}}});
      const Json* clusters = find_member(*answer.body, "clusters");
      if (clusters == nullptr || !clusters->IsArray())
        throw TransientError("ACK DescribeClustersV1: the answer has no clusters list");
      for (const Json& item : clusters->GetArray()) {
        const std::string state(string_member(item, "state"));
        if (state == "deleted")
          continue;
        auto copy = std::make_shared<JsonDocument>();
        copy->CopyFrom(item, copy->GetAllocator());
        const std::string id(string_member(item, "cluster_id"));
        ids_by_name[std::string(string_member(item, "name"))].push_back(id);
        by_id[id] = std::move(copy);
      }
      const Json* total = find_path(*answer.body, "page_info.total_count");
      const long long seen = static_cast<long long>(page) * kPageSize;
      if (clusters->Empty() || total == nullptr || !total->IsInt64() || seen >= total->GetInt64())
        break;
    }
    std::set<std::string> bound_ids;
    for (const auto& [name, binding] : options_.clusters) {
      if (binding.cluster_id.empty())
        continue;
      bound_ids.insert(binding.cluster_id);
      auto found = by_id.find(binding.cluster_id);
      std::shared_ptr<JsonDocument> detail;
      if (found != by_id.end()) {
        detail = found->second;
      } else {
        const ApiResult answer = client_->call(options_.region, {"DescribeClusterDetail", "GET", "/clusters/" + path_component(binding.cluster_id), {}, nullptr}, {404});
        if (answer.status == 404)
          throw UserError(fmt::format("Cluster/{}: ACK has no cluster {} (clusters.{}.clusterId in the ack config)", name, binding.cluster_id, name));
        detail = answer.body;
      }
      fresh.clusters[name] = std::make_shared<ClusterEntry>(ClusterEntry{name, binding.cluster_id, std::string(string_member(*detail, "region_id")), detail, std::nullopt});
    }
    for (const auto& [name, ids] : ids_by_name) {
      if (fresh.clusters.count(name) != 0)
        continue;
      std::vector<std::string> unbound;
      for (const std::string& id : ids)
        if (bound_ids.count(id) == 0)
          unbound.push_back(id);
      if (unbound.empty())
        continue;
      if (unbound.size() > 1) {
        ambiguous_[name] = unbound;
        continue;
      }
      const auto& item = by_id[unbound[0]];
      fresh.clusters[name] = std::make_shared<ClusterEntry>(ClusterEntry{name, unbound[0], std::string(string_member(*item, "region_id")), item, std::nullopt});
    }
    fresh.loaded = now;
    inventory_ = std::move(fresh);
    return inventory_;
  }

  void invalidate() { inventory_.loaded = {}; }

  std::shared_ptr<ClusterEntry> find_cluster(const std::string& name) {
    Inventory& inventory = load();
    if (const auto ambiguous = ambiguous_.find(name); ambiguous != ambiguous_.end()) {
      std::string ids;
      for (const std::string& id : ambiguous->second)
        ids += (ids.empty() ? "" : ", ") + id;
      throw UserError(fmt::format("Cluster/{}: {} ACK clusters have this name ({}): bind one with clusters.{}.clusterId in the ack config",
                                  name, ambiguous->second.size(), ids, name));
    }
    const auto found = inventory.clusters.find(name);
    return found == inventory.clusters.end() ? nullptr : found->second;
  }

  std::shared_ptr<const JsonDocument> cluster_live(const ClusterEntry& cluster) {
    auto live = cluster_object(*cluster.ack, owner_);
    JsonAllocator& allocator = live->GetAllocator();
    put((*live)["metadata"], "name", text(cluster.name, allocator), allocator);
    if (const auto failure = failures_.find(fleet_ref("Cluster", cluster.name)); failure != failures_.end())
      put((*live)["status"], "reason", text(failure->second, allocator), allocator);
    return live;
  }

  const std::vector<std::shared_ptr<JsonDocument>>& pools(ClusterEntry& cluster) {
    if (cluster.pools)
      return *cluster.pools;
    cluster.pools.emplace();
    const std::string state(string_member(*cluster.ack, "state"));
    if (state == "deleting" || state == "initial" || state == "failed")
      return *cluster.pools;
    const ApiResult answer = client_->call(cluster.region, {"DescribeClusterNodePools", "GET", fmt::format("/clusters/{}/nodepools", path_component(cluster.id)), {}, nullptr});
    if (const Json* list = find_member(*answer.body, "nodepools"); list != nullptr && list->IsArray())
      for (const Json& pool : list->GetArray()) {
        auto copy = std::make_shared<JsonDocument>();
        copy->CopyFrom(pool, copy->GetAllocator());
        cluster.pools->push_back(std::move(copy));
      }
    return *cluster.pools;
  }

  //! The cluster and ACK node pool named `name`, searched in every cluster.
  std::optional<std::pair<std::shared_ptr<ClusterEntry>, std::shared_ptr<JsonDocument>>> find_pool(const std::string& name) {
    std::optional<std::pair<std::shared_ptr<ClusterEntry>, std::shared_ptr<JsonDocument>>> found;
    for (auto& [cluster_name, cluster] : load().clusters) {
      for (const auto& pool : pools(*cluster)) {
        if (text_at(*pool, "nodepool_info.name") != name)
          continue;
        if (found)
          throw UserError(fmt::format("node pools named {} exist in clusters {} and {}: NodePool names must be unique in the fleet", name,
                                      found->first->name, cluster_name));
        found.emplace(cluster, pool);
      }
    }
    return found;
  }

  //! Follows the task an answer names until it ends (ACK's long operations: create, scale, upgrade),
  //! reporting each new stage through options.progress; throws its failure's reason, which health
  //! also reports until the next apply.
  std::string run_task(const ObjectRef& ref, const ApiResult& answer, const std::string& region) {
    invalidate();
    const std::string task = text_at(*answer.body, "task_id");
    if (task.empty())
      return task;
    tasks_[ref] = Task{task, region};
    try {
      follow_task(ref, tasks_[ref]);
    } catch (const TransientError&) {
      throw; // still running: health follows it from here
    } catch (const UserError& error) {
      tasks_.erase(ref);
      failures_[ref] = error.what();
      throw;
    }
    tasks_.erase(ref);
    invalidate();
    return task;
  }

  //! Follows a task until it ends; throws the failure's reason.
  void follow_task(const ObjectRef& ref, const Task& task) {
    const auto deadline = std::chrono::steady_clock::now() + options_.task_timeout;
    std::string reported;
    for (;;) {
      const auto [state, detail] = task_state(task);
      if (state == "success")
        return;
      if (state == "failed" || state == "fail")
        throw UserError(fmt::format("ACK task {} failed: {}", task.id, detail));
      if (options_.progress && detail != reported)
        options_.progress(fmt::format("{}: ACK task {} {}", ref.display(), task.id, detail));
      reported = detail;
      if (std::chrono::steady_clock::now() >= deadline)
        throw TransientError(fmt::format("ACK task {} still {} after {} s", task.id, state, options_.task_timeout.count() / 1000));
      wait(options_.poll_interval);
    }
  }

  //! The state of a task (running, success, failed) and what to say about it.
  std::pair<std::string, std::string> task_state(const Task& task) {
    const ApiResult answer = client_->call(task.region, {"DescribeTaskInfo", "GET", "/tasks/" + path_component(task.id), {}, nullptr});
    const std::string state = text_at(*answer.body, "state");
    if (state == "failed" || state == "fail") {
      std::string code = text_at(*answer.body, "error.code");
      std::string message = text_at(*answer.body, "error.message");
      if (code.empty() && message.empty())
        message = "no reason given";
      return {state, code.empty() ? message : message.empty() ? code : code + ": " + message};
    }
    const std::string stage = text_at(*answer.body, "current_stage");
    return {state, stage.empty() ? state : fmt::format("{} (stage {})", state, stage)};
  }

  std::shared_ptr<const JsonDocument> apply_cluster(const ObjectRef& ref, const Json& desired, bool dry_run) {
    const auto live = find_cluster(ref.name);
    const std::string type = spec_text(desired, "type");
    if (live == nullptr) {
      JsonDocument body = create_cluster_body(ref, desired, options_); // validates, also on a dry run
      if (dry_run)
        return pending_object(desired, "initial", "clusterId", "");
      const std::string region = spec_text(desired, "region");
      const ApiResult answer = client_->call(region, {"CreateCluster", "POST", "/clusters", {}, &body, false});
      const std::string id = text_at(*answer.body, "cluster_id");
      run_task(ref, answer, region);
      const auto created = find_cluster(ref.name);
      return created != nullptr ? cluster_live(*created) : pending_object(desired, "initial", "clusterId", id);
    }
    const auto current = cluster_live(*live);
    if (const std::vector<std::string> replaced = replaced_fields(ref, desired, *current); !replaced.empty()) {
      if (type == "Registered" || spec_text(*current, "type") == "Registered")
        throw UserError(fmt::format("{}: a Registered cluster is never replaced", replaced[0]));
      if (!options_.allow_replace)
        throw UserError(fmt::format("{}: ACK cannot change this in place; replacing the cluster deletes it and everything in it "
                                    "(re-run with --allow-replace to do so)",
                                    replaced[0]));
      if (dry_run)
        return pending_object(desired, "initial", "clusterId", "");
      remove_cluster(ref, false);
      return apply_cluster(ref, desired, false);
    }
    const std::string region = live->region;
    const std::string id = live->id;
    const std::string cluster_path = "/clusters/" + path_component(id);
    // Kubernetes version: UpgradeCluster, forward only.
    const std::string want_version = spec_text(desired, "kubernetesVersion");
    const std::string have_version = spec_text(*current, "kubernetesVersion");
    const bool upgrade = !want_version.empty() && want_version != have_version;
    if (upgrade) {
      if (spec_text(*current, "type") == "Registered")
        throw UserError(fmt::format("spec.kubernetesVersion: a Registered cluster's version is not changed through ACK (it runs {})", have_version));
      if (version_numbers(want_version) < version_numbers(have_version))
        throw UserError(fmt::format("spec.kubernetesVersion: ACK cannot downgrade a cluster ({} → {})", have_version, want_version));
    }
    const std::string want_spec = spec_text(desired, "clusterSpec");
    const bool respec = !want_spec.empty() && want_spec != spec_text(*current, "clusterSpec");
    const std::vector<std::string> want_addons = spec_addons(desired);
    const std::vector<std::string> have_addons = spec_addons(*current);
    const bool readdon = find_path(desired, "spec.addons") != nullptr && want_addons != have_addons;
    auto tags = tags_of(find_member(*live->ack, "tags"));
    std::map<std::string, std::string> want_tags;
    if (!owner_.empty() && tags[std::string(kOwnerTag)] != owner_tag_value(owner_))
      want_tags[std::string(kOwnerTag)] = owner_tag_value(owner_);
    if (readdon) {
      std::string joined;
      for (const std::string& addon : want_addons)
        joined += (joined.empty() ? "" : ",") + addon;
      want_tags[std::string(kAddonsTag)] = joined;
    }
    if (dry_run) {
      auto result = std::make_shared<JsonDocument>();
      result->CopyFrom(desired, result->GetAllocator());
      put(*result, "status", Json((*current)["status"], result->GetAllocator()), result->GetAllocator());
      return result;
    }
    if (upgrade) {
      JsonDocument body(rapidjson::kObjectType);
      put(body, "next_version", text(want_version, body.GetAllocator()), body.GetAllocator());
      put(body, "version", text(have_version, body.GetAllocator()), body.GetAllocator());
      run_task(ref, client_->call(region, {"UpgradeCluster", "POST", fmt::format("/api/v2/clusters/{}/upgrade", path_component(id)), {}, &body}), region);
    }
    if (respec) {
      JsonDocument body(rapidjson::kObjectType);
      put(body, "cluster_spec", text(want_spec, body.GetAllocator()), body.GetAllocator());
      run_task(ref, client_->call(region, {"ModifyCluster", "PUT", "/api/v2" + cluster_path, {}, &body}), region);
    }
    if (readdon) {
      const auto addon_list = [](const std::vector<std::string>& names) {
        JsonDocument body(rapidjson::kArrayType);
        for (const std::string& name : names) {
          Json entry(rapidjson::kObjectType);
          put(entry, "name", text(name, body.GetAllocator()), body.GetAllocator());
          body.PushBack(entry, body.GetAllocator());
        }
        return body;
      };
      std::vector<std::string> added, removed;
      for (const std::string& addon : want_addons)
        if (std::find(have_addons.begin(), have_addons.end(), addon) == have_addons.end())
          added.push_back(addon);
      for (const std::string& addon : have_addons)
        if (std::find(want_addons.begin(), want_addons.end(), addon) == want_addons.end())
          removed.push_back(addon);
      if (!added.empty()) {
        JsonDocument body = addon_list(added);
        run_task(ref, client_->call(region, {"InstallClusterAddons", "POST", cluster_path + "/components/install", {}, &body}), region);
      }
      if (!removed.empty()) {
        JsonDocument body = addon_list(removed);
        run_task(ref, client_->call(region, {"UnInstallClusterAddons", "POST", cluster_path + "/components/uninstall", {}, &body}), region);
      }
    }
    if (!want_tags.empty()) {
      JsonDocument body(rapidjson::kArrayType);
      for (const auto& [key, value] : want_tags) {
        Json entry(rapidjson::kObjectType);
        put(entry, "key", text(key, body.GetAllocator()), body.GetAllocator());
        put(entry, "value", text(value, body.GetAllocator()), body.GetAllocator());
        body.PushBack(entry, body.GetAllocator());
      }
      client_->call(region, {"ModifyClusterTags", "POST", cluster_path + "/tags", {}, &body});
    }
    invalidate();
    const auto after = find_cluster(ref.name);
    return after == nullptr ? nullptr : cluster_live(*after);
  }

  std::shared_ptr<const JsonDocument> apply_nodepool(const ObjectRef& ref, const Json& desired, bool dry_run) {
    const std::string cluster_name = spec_text(desired, "cluster");
    const auto cluster = find_cluster(cluster_name);
    if (cluster == nullptr) {
      if (dry_run)
        return pending_object(desired, "initial", "nodepoolId", "");
      throw TransientError(fmt::format("spec.cluster: Cluster/{} does not exist on ACK yet", cluster_name));
    }
    const std::string cluster_type = meridian_cluster_type(*cluster->ack);
    const auto found = find_pool(ref.name);
    if (!found) {
      JsonDocument body = create_nodepool_body(ref, desired, options_, cluster_type);
      if (dry_run)
        return pending_object(desired, "initial", "nodepoolId", "");
      const std::string state(string_member(*cluster->ack, "state"));
      if (state != "running")
        throw TransientError(fmt::format("spec.cluster: Cluster/{} is {}, not running yet", cluster_name, state));
      const std::string region = cluster->region;
      const ApiResult answer =
          client_->call(region, {"CreateClusterNodePool", "POST", fmt::format("/clusters/{}/nodepools", path_component(cluster->id)), {}, &body, false});
      const std::string id = text_at(*answer.body, "nodepool_id");
      run_task(ref, answer, region);
      const auto created = find_pool(ref.name);
      return created ? nodepool_object(*created->second, created->first->name, owner_, options_)
                     : pending_object(desired, "initial", "nodepoolId", id);
    }
    const auto current = nodepool_object(*found->second, found->first->name, owner_, options_);
    if (const std::vector<std::string> replaced = replaced_fields(ref, desired, *current); !replaced.empty()) {
      if (!options_.allow_replace)
        throw UserError(fmt::format("{}: ACK cannot change this in place; replacing the node pool deletes it and its nodes "
                                    "(re-run with --allow-replace to do so)",
                                    replaced[0]));
      if (dry_run)
        return pending_object(desired, "initial", "nodepoolId", "");
      remove_nodepool(ref, false);
      return apply_nodepool(ref, desired, false);
    }
    std::optional<JsonDocument> body = modify_nodepool_body(desired, *current);
    const auto pool_tags = tags_of(find_path(*found->second, "scaling_group.tags"));
    const auto pool_tag = pool_tags.find(std::string(kOwnerTag));
    if (!owner_.empty() && (pool_tag == pool_tags.end() || pool_tag->second != owner_tag_value(owner_))) {
      if (!body)
        body.emplace(rapidjson::kObjectType);
      JsonAllocator& allocator = body->GetAllocator();
      auto tags = pool_tags;
      tags[std::string(kOwnerTag)] = owner_tag_value(owner_);
      Json list(rapidjson::kArrayType);
      for (const auto& [key, value] : tags) {
        Json entry(rapidjson::kObjectType);
        put(entry, "key", text(key, allocator), allocator);
        put(entry, "value", text(value, allocator), allocator);
        list.PushBack(entry, allocator);
      }
      if (!body->HasMember("scaling_group"))
        put(*body, "scaling_group", Json(rapidjson::kObjectType), allocator);
      put((*body)["scaling_group"], "tags", std::move(list), allocator);
    }
    if (dry_run || !body) {
      auto result = std::make_shared<JsonDocument>();
      result->CopyFrom(desired, result->GetAllocator());
      put(*result, "status", Json((*current)["status"], result->GetAllocator()), result->GetAllocator());
      return result;
    }
    const std::string region = found->first->region;
    const std::string path = fmt::format("/clusters/{}/nodepools/{}", path_component(found->first->id), path_component(text_at(*found->second, "nodepool_info.nodepool_id")));
    if (const long long added = scale_out_of(*body, *current); added > 0) {
      // A bigger size and nothing else: ScaleClusterNodePool adds the nodes (it only adds).
      JsonDocument scale(rapidjson::kObjectType);
      put(scale, "count", Json(static_cast<int64_t>(added)), scale.GetAllocator());
      run_task(ref, client_->call(region, {"ScaleClusterNodePool", "POST", path, {}, &scale}), region);
    } else {
      run_task(ref, client_->call(region, {"ModifyClusterNodePool", "PUT", path, {}, &*body}), region);
    }
    const auto after = find_pool(ref.name);
    return after ? nodepool_object(*after->second, after->first->name, owner_, options_) : nullptr;
  }

  void remove_cluster(const ObjectRef& ref, bool dry_run) {
    const auto live = find_cluster(ref.name);
    if (live == nullptr)
      return;
    if (meridian_cluster_type(*live->ack) == "Registered" || options_.clusters.count(ref.name) != 0)
      throw UserError("a Registered or bound cluster is never deleted by Meridian (remove it from ACK One yourself)");
    if (dry_run)
      return;
    const std::string region = live->region;
    const ApiResult answer = client_->call(region, {"DeleteCluster", "DELETE", "/clusters/" + path_component(live->id), {{"retain_all_resources", "false"}}}, {404});
    tasks_.erase(ref);
    invalidate();
    if (answer.status == 404)
      return;
    if (const std::string task = text_at(*answer.body, "task_id"); !task.empty())
      follow_task(ref, Task{task, region});
    invalidate();
  }

  void remove_nodepool(const ObjectRef& ref, bool dry_run) {
    const auto found = find_pool(ref.name);
    if (!found || dry_run)
      return;
    const std::string region = found->first->region;
    const std::string path = fmt::format("/clusters/{}/nodepools/{}", path_component(found->first->id), path_component(text_at(*found->second, "nodepool_info.nodepool_id")));
    const ApiResult answer = client_->call(region, {"DeleteClusterNodepool", "DELETE", path, {{"force", "true"}}}, {404});
    tasks_.erase(ref);
    invalidate();
    if (answer.status == 404)
      return;
    if (const std::string task = text_at(*answer.body, "task_id"); !task.empty())
      follow_task(ref, Task{task, region});
    invalidate();
  }

  Health read_health(const ObjectRef& ref) {
    if (const auto task = tasks_.find(ref); task != tasks_.end()) {
      const auto [state, detail] = task_state(task->second);
      if (state == "failed" || state == "fail") {
        failures_[ref] = fmt::format("ACK task {} failed: {}", task->second.id, detail);
        tasks_.erase(task);
        invalidate();
      } else if (state != "success") {
        return {HealthStatus::progressing, fmt::format("ACK task {} {}", task->second.id, detail)};
      } else {
        tasks_.erase(task);
        invalidate();
      }
    }
    if (const auto failure = failures_.find(ref); failure != failures_.end())
      return {HealthStatus::degraded, failure->second};
    if (ref.kind == "Cluster") {
      const auto cluster = find_cluster(ref.name);
      if (cluster == nullptr)
        return {HealthStatus::missing, fmt::format("no ACK cluster is named {}", ref.name)};
      const std::string state(string_member(*cluster->ack, "state"));
      if (state == "running")
        return {HealthStatus::healthy, fmt::format("cluster {} is running (Kubernetes {})", cluster->id, string_member(*cluster->ack, "current_version"))};
      if (state == "initial" || state == "updating" || state == "upgrading" || state == "scaling" || state == "removing" || state == "draining")
        return {HealthStatus::progressing, fmt::format("cluster {} is {}", cluster->id, state)};
      if (state == "waiting")
        return {HealthStatus::progressing, fmt::format("cluster {} is waiting for its agent to connect (Registered)", cluster->id)};
      if (state == "deleting" || state == "deleted")
        return {HealthStatus::missing, fmt::format("cluster {} is {}", cluster->id, state)};
      return {HealthStatus::degraded, fmt::format("cluster {} is {}", cluster->id, state)};
    }
    const auto found = find_pool(ref.name);
    if (!found)
      return {HealthStatus::missing, fmt::format("no ACK node pool is named {}", ref.name)};
    const Json& pool = *found->second;
    const std::string state = text_at(pool, "status.state");
    const Json* total = find_path(pool, "status.total_nodes");
    const Json* healthy = find_path(pool, "status.healthy_nodes");
    const std::string nodes = total != nullptr && total->IsInt64() && healthy != nullptr && healthy->IsInt64()
                                  ? fmt::format("{}/{} nodes healthy", healthy->GetInt64(), total->GetInt64())
                                  : std::string("nodes unknown");
    if (state == "active")
      return {HealthStatus::healthy, fmt::format("node pool is active ({})", nodes)};
    if (state == "scaling" || state == "removing" || state == "updating" || state == "initial")
      return {HealthStatus::progressing, fmt::format("node pool is {} ({})", state, nodes)};
    if (state == "deleting")
      return {HealthStatus::missing, "node pool is deleting"};
    return {HealthStatus::degraded, fmt::format("node pool is {} ({})", state.empty() ? "in an unknown state" : state, nodes)};
  }

  AckOptions options_;
  std::unique_ptr<OpenApiClient> client_;
  Inventory inventory_;
  std::map<std::string, std::vector<std::string>> ambiguous_; //!< names several unbound ACK clusters share
  std::map<ObjectRef, Task> tasks_;           //!< the last task an apply started, until it ends
  std::map<ObjectRef, std::string> failures_; //!< why the last task failed, until the next apply
  std::string owner_;
};

//! The credentials of one cluster's kube backend: the kubeconfig ACK handed out (or the one of the
//! ack config file's binding).
class FetchedKubeconfig final : public kube::ClusterCredentials {
public:
  FetchedKubeconfig(std::string cluster, kube::ClusterBinding binding) : cluster_(std::move(cluster)), binding_(std::move(binding)) {}

  std::optional<kube::ClusterBinding> binding(const std::string& cluster) const override {
    return cluster == cluster_ ? std::optional<kube::ClusterBinding>(binding_) : std::nullopt;
  }
  std::vector<std::string> named_clusters() const override { return {cluster_}; }

private:
  std::string cluster_;
  kube::ClusterBinding binding_;
};

//! One kube backend per reachable cluster, on the kubeconfig ACK hands out (or the bound one). A
//! kubeconfig ACK hands out is fetched again before it expires, and a new kube backend opened on it.
class AckClusters final : public ClusterBackends {
public:
  AckClusters(AckBackend& fleet, kube::KubeOptions kube) : fleet_(fleet), kube_(std::move(kube)) {}

  Backend* backend_for(const std::string& cluster) override {
    const auto now = std::chrono::system_clock::now();
    if (const auto found = opened_.find(cluster); found != opened_.end()) {
      if (!found->second.refresh_at || now < *found->second.refresh_at)
        return found->second.backend.get();
      // Kept until the end: the composite may still hold the old backend's warnings.
      retired_.push_back(std::move(found->second.backend));
      opened_.erase(found);
    }
    const auto config = fleet_.kubeconfig(cluster, secrets_);
    if (!config)
      return nullptr;
    kube::KubeOptions options = kube_;
    options.state_file.clear();
    Opened opened{kube::open_kube_cluster_backend(std::move(options), std::make_unique<FetchedKubeconfig>(cluster, config->binding), cluster), std::nullopt};
    if (config->expiration) {
      auto refresh_at = *config->expiration - fleet_.kubeconfig_refresh_before();
      if (refresh_at <= now) // a kubeconfig shorter-lived than the margin: fetch again half-way
        refresh_at = now + (*config->expiration - now) / 2;
      opened.refresh_at = refresh_at;
    }
    return opened_.emplace(cluster, std::move(opened)).first->second.backend.get();
  }

  std::vector<std::string> clusters(std::string_view owner) override { return fleet_.managed_clusters(owner); }

private:
  struct Opened {
    std::unique_ptr<Backend> backend;
    std::optional<std::chrono::system_clock::time_point> refresh_at; //!< none: a kubeconfig of the ack config file
  };

  AckBackend& fleet_;
  kube::KubeOptions kube_;
  SecretDirectory secrets_;
  std::map<std::string, Opened> opened_;
  std::vector<std::unique_ptr<Backend>> retired_;
};

} // namespace

std::unique_ptr<Backend> open_ack_backend(AckOptions options, std::unique_ptr<OpenApiClient> client) {
  kube::KubeOptions kube = options.kube;
  auto fleet = std::make_unique<AckBackend>(std::move(options), std::move(client));
  auto clusters = std::make_unique<AckClusters>(*fleet, std::move(kube));
  CompositeOptions composite;
  composite.forecast_in_clusters = false; // a cluster's kube forecast cannot see the pools a plan adds
  return compose_backends("ack", std::move(fleet), std::move(clusters), composite);
}

std::unique_ptr<Backend> open_ack_backend(AckOptions options) {
  auto credentials = resolve_credentials(process_lookup());
  ClientOptions client_options;
  client_options.endpoint = options.endpoint;
  auto client = std::make_unique<OpenApiClient>(std::move(credentials), make_http_transport(), std::move(client_options));
  return open_ack_backend(std::move(options), std::move(client));
}

} // namespace meridian::ack

// Nodes of the fake ACK's node pools on a real API server (see pool_nodes.h).
#include "pool_nodes.h"

#include "backend/kube/client.h"
#include "backend/kube/kubeconfig.h"

#include <fmt/format.h>

#include <unistd.h>

#include <ctime>

namespace meridian::testing {
namespace {

//! What ECS reports for the instance types the tests use (vCPUs, memory, GPUs and their model).
struct InstanceType {
  std::string cpu;
  std::string memory;
  int gpus = 0;
  std::string gpu_name;
  std::string gpu_memory;
};

InstanceType instance_type(const std::string& name) {
  static const std::map<std::string, InstanceType> known = {
      {"ecs.gn5-c4g1.xlarge", {"4", "30Gi", 1, "Tesla-P100-PCIE-16GB", "16280MiB"}},
      {"ecs.gn6i-c4g1.xlarge", {"4", "15Gi", 1, "Tesla-T4", "15109MiB"}},
      {"ecs.g7.large", {"2", "8Gi", 0, "", ""}},
      {"ecs.g7.xlarge", {"4", "16Gi", 0, "", ""}},
  };
  const auto found = known.find(name);
  return found == known.end() ? InstanceType{"2", "4Gi", 0, "", ""} : found->second;
}

std::string text_at(const Json& value, std::string_view path) {
  const Json* found = find_path(value, path);
  return found != nullptr && found->IsString() ? std::string(found->GetString(), found->GetStringLength()) : std::string();
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

Json str(std::string_view text, JsonAllocator& allocator) { return Json(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator); }

void put(Json& object, std::string_view key, Json value, JsonAllocator& allocator) {
  object.RemoveMember(Json(rapidjson::StringRef(key.data(), key.size())));
  object.AddMember(str(key, allocator), value, allocator);
}

} // namespace

PoolNodes::PoolNodes(const std::string& kubeconfig_path, std::map<std::string, std::string> vswitch_regions)
    : vswitch_regions_(std::move(vswitch_regions)) {
  kube::Connection connection = kube::resolve_connection(kube::ClusterBinding{kubeconfig_path, ""});
  auto transport = kube::make_https_transport(connection.endpoint);
  client_ = std::make_unique<kube::ApiClient>("kit", std::move(connection), std::move(transport));
}

PoolNodes::~PoolNodes() = default;

void PoolNodes::sync(const std::string& pool_id, const Json* pool) {
  const auto existing = client_->list("/api/v1/nodes", 500, "labelSelector=" + kube::url_encode("alibabacloud.com/nodepool-id=" + pool_id));
  int size = 0;
  if (pool != nullptr) {
    const Json* desired = find_path(*pool, "scaling_group.desired_size");
    size = desired != nullptr && desired->IsInt() ? desired->GetInt() : 0;
  }
  // One fake ACK per test run: its pid keeps its nodes apart from another run's on a shared kit.
  const std::string prefix = pool == nullptr ? "" : fmt::format("{}-{}-{}-", text_at(*pool, "nodepool_info.name"), getpid(), pool_id.substr(pool_id.size() - 4));
  std::set<std::string> wanted;
  for (int index = 0; index < size; ++index)
    wanted.insert(prefix + std::to_string(index));
  std::set<std::string> present;
  for (const auto& node : existing) {
    const std::string name = text_at(*node, "metadata.name");
    if (wanted.count(name) != 0) {
      present.insert(name);
      continue;
    }
    client_->request({"DELETE", "/api/v1/nodes/" + kube::url_encode(name), "", ""}, {404});
    made_.erase(name);
  }
  if (pool == nullptr)
    return;
  std::string region = text_at(*pool, "nodepool_info.region_id");
  if (const Json* vswitches = find_path(*pool, "scaling_group.vswitch_ids"); vswitches != nullptr && vswitches->IsArray() && !vswitches->Empty())
    if (const auto found = vswitch_regions_.find((*vswitches)[0].GetString()); found != vswitch_regions_.end())
      region = found->second;
  const Json* types = find_path(*pool, "scaling_group.instance_types");
  const InstanceType type = instance_type(types != nullptr && types->IsArray() && !types->Empty() ? (*types)[0].GetString() : "");
  int address = 0;
  for (const std::string& name : wanted) {
    ++address;
    if (present.count(name) != 0)
      continue;
    JsonDocument node(rapidjson::kObjectType);
    JsonAllocator& a = node.GetAllocator();
    put(node, "apiVersion", str("v1", a), a);
    put(node, "kind", str("Node", a), a);
    Json metadata(rapidjson::kObjectType);
    put(metadata, "name", str(name, a), a);
    Json labels(rapidjson::kObjectType);
    for (const auto& [key, value] : std::map<std::string, std::string>{{"kit.local/fake-node", "true"},
                                                                       {"kubernetes.io/hostname", name},
                                                                       {"kubernetes.io/os", "linux"},
                                                                       {"kubernetes.io/arch", "amd64"},
                                                                       {"topology.kubernetes.io/region", region},
                                                                       {"alibabacloud.com/nodepool-id", pool_id}})
      put(labels, key, str(value, a), a);
    if (type.gpus > 0) {
      put(labels, "aliyun.accelerator/nvidia_count", str(std::to_string(type.gpus), a), a);
      put(labels, "aliyun.accelerator/nvidia_mem", str(type.gpu_memory, a), a);
      put(labels, "aliyun.accelerator/nvidia_name", str(type.gpu_name, a), a);
    }
    if (const Json* pool_labels = find_path(*pool, "kubernetes_config.labels"); pool_labels != nullptr && pool_labels->IsArray())
      for (const Json& label : pool_labels->GetArray())
        put(labels, text_at(label, "key"), str(text_at(label, "value"), a), a);
    put(metadata, "labels", std::move(labels), a);
    put(node, "metadata", std::move(metadata), a);
    Json spec(rapidjson::kObjectType);
    Json taints(rapidjson::kArrayType);
    if (const Json* pool_taints = find_path(*pool, "kubernetes_config.taints"); pool_taints != nullptr && pool_taints->IsArray())
      for (const Json& taint : pool_taints->GetArray())
        taints.PushBack(Json(taint, a), a);
    put(spec, "taints", std::move(taints), a);
    put(node, "spec", std::move(spec), a);
    client_->request({"POST", "/api/v1/nodes", write_compact(node), "application/json"});
    made_.insert(name);

    JsonDocument status(rapidjson::kObjectType);
    JsonAllocator& s = status.GetAllocator();
    Json capacity(rapidjson::kObjectType);
    put(capacity, "cpu", str(type.cpu, s), s);
    put(capacity, "memory", str(type.memory, s), s);
    put(capacity, "pods", str("110", s), s);
    if (type.gpus > 0)
      put(capacity, "nvidia.com/gpu", str(std::to_string(type.gpus), s), s);
    Json body(rapidjson::kObjectType);
    put(body, "allocatable", Json(capacity, s), s);
    put(body, "capacity", std::move(capacity), s);
    Json ready(rapidjson::kObjectType);
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}, {"message", "joined from the fake ACK's node pool"},
             {"lastHeartbeatTime", utc_now()}, {"lastTransitionTime", utc_now()}})
      put(ready, key, str(value, s), s);
    Json conditions(rapidjson::kArrayType);
    conditions.PushBack(ready, s);
    put(body, "conditions", std::move(conditions), s);
    Json addresses(rapidjson::kArrayType);
    Json internal(rapidjson::kObjectType);
    put(internal, "type", str("InternalIP", s), s);
    put(internal, "address", str(fmt::format("10.{}.{}.{}", getpid() % 250, pool_id.size() > 2 ? std::stoi(pool_id.substr(pool_id.size() - 2)) : 0, address), s), s);
    addresses.PushBack(internal, s);
    put(body, "addresses", std::move(addresses), s);
    put(status, "status", std::move(body), s);
    client_->request({"PATCH", "/api/v1/nodes/" + kube::url_encode(name) + "/status", write_compact(status), "application/merge-patch+json"});
  }
}

void PoolNodes::remove_all() {
  for (const std::string& name : made_)
    client_->request({"DELETE", "/api/v1/nodes/" + kube::url_encode(name), "", ""}, {404});
  made_.clear();
}

} // namespace meridian::testing

// ACK JSON ↔ Meridian objects (see mapping.h).
#include "backend/ack/mapping.h"

#include "backend/ack/signature.h"
#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>

namespace meridian::ack {
namespace {

Json text(std::string_view value, JsonAllocator& allocator) {
  return Json(value.data(), static_cast<rapidjson::SizeType>(value.size()), allocator);
}

void put(Json& object, std::string_view key, Json value, JsonAllocator& allocator) {
  object.RemoveMember(Json(rapidjson::StringRef(key.data(), key.size())));
  object.AddMember(text(key, allocator), value, allocator);
}

Json& child(Json& object, std::string_view key, JsonAllocator& allocator) {
  if (const Json* found = find_member(object, key); found == nullptr || !found->IsObject())
    put(object, key, Json(rapidjson::kObjectType), allocator);
  return object.FindMember(Json(rapidjson::StringRef(key.data(), key.size())))->value;
}

Json string_array(const std::vector<std::string>& items, JsonAllocator& allocator) {
  Json array(rapidjson::kArrayType);
  for (const std::string& item : items)
    array.PushBack(text(item, allocator), allocator);
  return array;
}

std::string text_of(const Json* value) {
  return value != nullptr && value->IsString() ? std::string(value->GetString(), value->GetStringLength()) : std::string();
}

std::vector<std::string> strings_at(const Json& object, std::string_view path) {
  std::vector<std::string> items;
  const Json* array = find_path(object, path);
  if (array != nullptr && array->IsArray())
    for (const Json& item : array->GetArray())
      if (item.IsString())
        items.emplace_back(item.GetString(), item.GetStringLength());
  return items;
}

Json key_values(const std::map<std::string, std::string>& pairs, JsonAllocator& allocator) {
  Json array(rapidjson::kArrayType);
  for (const auto& [key, value] : pairs) {
    Json entry(rapidjson::kObjectType);
    put(entry, "key", text(key, allocator), allocator);
    put(entry, "value", text(value, allocator), allocator);
    array.PushBack(entry, allocator);
  }
  return array;
}

std::string owner_of(const Json& desired) {
  const Json* annotations = find_path(desired, "metadata.annotations");
  return annotations == nullptr ? std::string() : std::string(string_member(*annotations, kOwnerTag));
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items)
    out += (out.empty() ? "" : ",") + item;
  return out;
}

std::vector<std::string> split(std::string_view list) {
  std::vector<std::string> items;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (std::string_view item = list.substr(0, comma); !item.empty())
      items.emplace_back(item);
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  return items;
}

const RegionNetwork& network_for(const ObjectRef& ref, const std::string& region, const AckOptions& options) {
  const auto network = options.networks.find(region);
  if (network == options.networks.end())
    throw UserError(fmt::format("{}: spec.region: no network for region {} in the ack config (add networks.{}: {{vpcId, vswitchIds}})",
                                ref.display(), region.empty() ? "\"\"" : region, region));
  return network->second;
}

bool is_network_plugin(std::string_view addon) { return addon == "flannel" || addon.starts_with("terway"); }

//! Meridian's labels map as ACK's [{key, value}], sorted by key.
Json labels_body(const Json* labels, JsonAllocator& allocator) {
  std::map<std::string, std::string> pairs;
  if (labels != nullptr && labels->IsObject())
    for (const auto& member : labels->GetObject())
      pairs[member.name.GetString()] = text_of(&member.value);
  return key_values(pairs, allocator);
}

Json taints_body(const Json* taints, JsonAllocator& allocator) {
  Json array(rapidjson::kArrayType);
  if (taints == nullptr || !taints->IsArray())
    return array;
  for (const Json& taint : taints->GetArray()) {
    Json entry(rapidjson::kObjectType);
    put(entry, "key", text(string_member(taint, "key"), allocator), allocator);
    if (const Json* value = find_member(taint, "value"); value != nullptr && value->IsString())
      put(entry, "value", text(text_of(value), allocator), allocator);
    put(entry, "effect", text(string_member(taint, "effect", "NoSchedule"), allocator), allocator);
    array.PushBack(entry, allocator);
  }
  return array;
}

Json auto_scaling_body(const Json* scaling, JsonAllocator& allocator) {
  Json body(rapidjson::kObjectType);
  const Json* enabled = scaling == nullptr ? nullptr : find_member(*scaling, "enabled");
  put(body, "enable", Json(enabled != nullptr && enabled->IsTrue()), allocator);
  if (scaling != nullptr) {
    if (const Json* min = find_member(*scaling, "minSize"); min != nullptr && min->IsInt64())
      put(body, "min_instances", Json(min->GetInt64()), allocator);
    if (const Json* max = find_member(*scaling, "maxSize"); max != nullptr && max->IsInt64())
      put(body, "max_instances", Json(max->GetInt64()), allocator);
  }
  return body;
}

bool autoscaling_enabled(const Json& spec) {
  const Json* enabled = find_path(spec, "autoScaling.enabled");
  return enabled != nullptr && enabled->IsTrue();
}

bool differs(const Json& desired_spec, const Json& live_spec, std::string_view field) {
  const Json* want = find_member(desired_spec, field);
  const Json* have = find_member(live_spec, field);
  if (want == nullptr)
    return false;
  return have == nullptr || !json_equal(*want, *have);
}

} // namespace

std::string owner_tag_value(const std::string& owner) {
  if (owner.size() <= 128)
    return owner;
  return "sha256:" + sha256_hex(owner);
}

std::map<std::string, std::string> tags_of(const Json* tags) {
  std::map<std::string, std::string> pairs;
  if (tags != nullptr && tags->IsArray())
    for (const Json& tag : tags->GetArray())
      pairs[std::string(string_member(tag, "key"))] = std::string(string_member(tag, "value"));
  return pairs;
}

std::string meridian_cluster_type(const Json& cluster) {
  const std::string_view type = string_member(cluster, "cluster_type");
  const std::string_view profile = string_member(cluster, "profile");
  if (type == "ExternalKubernetes")
    return "Registered";
  if (type == "Ask" || profile == "Serverless")
    return "Serverless";
  if (profile == "Edge")
    return "Edge";
  if (type == "ManagedKubernetes" || type == "Kubernetes")
    return "Managed";
  return "";
}

std::string spec_text(const Json& object, std::string_view field) {
  const Json* spec = find_member(object, "spec");
  return spec == nullptr ? std::string() : text_of(find_member(*spec, field));
}

std::vector<std::string> spec_addons(const Json& object) { return strings_at(object, "spec.addons"); }

std::shared_ptr<JsonDocument> cluster_object(const Json& cluster, const std::string& owner) {
  auto document = std::make_shared<JsonDocument>(rapidjson::kObjectType);
  JsonAllocator& allocator = document->GetAllocator();
  const auto tags = tags_of(find_member(cluster, "tags"));
  put(*document, "apiVersion", text("meridian.io/v1alpha1", allocator), allocator);
  put(*document, "kind", text("Cluster", allocator), allocator);
  Json& metadata = child(*document, "metadata", allocator);
  put(metadata, "name", text(string_member(cluster, "name"), allocator), allocator);
  if (const auto tag = tags.find(std::string(kOwnerTag)); tag != tags.end() && !tag->second.empty()) {
    Json& annotations = child(metadata, "annotations", allocator);
    put(annotations, kOwnerTag, text(!owner.empty() && owner_tag_value(owner) == tag->second ? owner : tag->second, allocator), allocator);
  }
  Json& spec = child(*document, "spec", allocator);
  put(spec, "type", text(meridian_cluster_type(cluster), allocator), allocator);
  put(spec, "region", text(string_member(cluster, "region_id"), allocator), allocator);
  if (const std::string_view version = string_member(cluster, "current_version"); !version.empty())
    put(spec, "kubernetesVersion", text(version, allocator), allocator);
  if (const std::string_view cluster_spec = string_member(cluster, "cluster_spec"); !cluster_spec.empty())
    put(spec, "clusterSpec", text(cluster_spec, allocator), allocator);
  if (const auto addons = tags.find(std::string(kAddonsTag)); addons != tags.end())
    put(spec, "addons", string_array(split(addons->second), allocator), allocator);
  Json& status = child(*document, "status", allocator);
  put(status, "state", text(string_member(cluster, "state"), allocator), allocator);
  put(status, "clusterId", text(string_member(cluster, "cluster_id"), allocator), allocator);
  if (const std::string_view version = string_member(cluster, "current_version"); !version.empty())
    put(status, "currentVersion", text(version, allocator), allocator);
  return document;
}

std::shared_ptr<JsonDocument> nodepool_object(const Json& pool, const std::string& cluster_name, const std::string& owner,
                                              const AckOptions& options) {
  auto document = std::make_shared<JsonDocument>(rapidjson::kObjectType);
  JsonAllocator& allocator = document->GetAllocator();
  const Json* info = find_member(pool, "nodepool_info");
  const Json* group = find_member(pool, "scaling_group");
  const Json* kubernetes = find_member(pool, "kubernetes_config");
  const Json* scaling = find_member(pool, "auto_scaling");
  const Json empty(rapidjson::kObjectType);
  if (info == nullptr)
    info = &empty;
  if (group == nullptr)
    group = &empty;
  put(*document, "apiVersion", text("meridian.io/v1alpha1", allocator), allocator);
  put(*document, "kind", text("NodePool", allocator), allocator);
  Json& metadata = child(*document, "metadata", allocator);
  put(metadata, "name", text(string_member(*info, "name"), allocator), allocator);
  const auto tags = tags_of(find_member(*group, "tags"));
  if (const auto tag = tags.find(std::string(kOwnerTag)); tag != tags.end() && !tag->second.empty()) {
    Json& annotations = child(metadata, "annotations", allocator);
    put(annotations, kOwnerTag, text(!owner.empty() && owner_tag_value(owner) == tag->second ? owner : tag->second, allocator), allocator);
  }
  Json& spec = child(*document, "spec", allocator);
  put(spec, "cluster", text(cluster_name, allocator), allocator);
  std::string region(string_member(*info, "region_id"));
  const std::vector<std::string> vswitches = strings_at(*group, "vswitch_ids");
  for (const auto& [network_region, network] : options.networks)
    if (!vswitches.empty() && std::all_of(vswitches.begin(), vswitches.end(), [&](const std::string& id) {
          return std::find(network.vswitch_ids.begin(), network.vswitch_ids.end(), id) != network.vswitch_ids.end();
        }))
      region = network_region;
  put(spec, "region", text(region, allocator), allocator);
  put(spec, "type", text(string_member(*info, "type", "ess"), allocator), allocator);
  put(spec, "instanceTypes", string_array(strings_at(*group, "instance_types"), allocator), allocator);
  if (const Json* size = find_member(*group, "desired_size"); size != nullptr && size->IsInt64())
    put(spec, "desiredSize", Json(size->GetInt64()), allocator);
  if (scaling != nullptr && scaling->IsObject()) {
    Json auto_scaling(rapidjson::kObjectType);
    const Json* enable = find_member(*scaling, "enable");
    put(auto_scaling, "enabled", Json(enable != nullptr && enable->IsTrue()), allocator);
    if (const Json* min = find_member(*scaling, "min_instances"); min != nullptr && min->IsInt64())
      put(auto_scaling, "minSize", Json(min->GetInt64()), allocator);
    if (const Json* max = find_member(*scaling, "max_instances"); max != nullptr && max->IsInt64())
      put(auto_scaling, "maxSize", Json(max->GetInt64()), allocator);
    put(spec, "autoScaling", std::move(auto_scaling), allocator);
  }
  if (kubernetes != nullptr) {
    const auto labels = tags_of(find_member(*kubernetes, "labels"));
    if (!labels.empty()) {
      Json map(rapidjson::kObjectType);
      for (const auto& [key, value] : labels)
        put(map, key, text(value, allocator), allocator);
      put(spec, "labels", std::move(map), allocator);
    }
    if (const Json* taints = find_member(*kubernetes, "taints"); taints != nullptr && taints->IsArray() && !taints->Empty()) {
      Json list(rapidjson::kArrayType);
      for (const Json& taint : taints->GetArray()) {
        Json entry(rapidjson::kObjectType);
        put(entry, "key", text(string_member(taint, "key"), allocator), allocator);
        if (const Json* value = find_member(taint, "value"); value != nullptr && value->IsString() && value->GetStringLength() > 0)
          put(entry, "value", text(text_of(value), allocator), allocator);
        put(entry, "effect", text(string_member(taint, "effect", "NoSchedule"), allocator), allocator);
        list.PushBack(entry, allocator);
      }
      put(spec, "taints", std::move(list), allocator);
    }
  }
  Json& status = child(*document, "status", allocator);
  const Json* pool_status = find_member(pool, "status");
  put(status, "state", text(pool_status == nullptr ? "" : string_member(*pool_status, "state"), allocator), allocator);
  put(status, "nodepoolId", text(string_member(*info, "nodepool_id"), allocator), allocator);
  if (pool_status != nullptr)
    for (const auto& [from, to] : {std::pair{"total_nodes", "totalNodes"}, {"healthy_nodes", "healthyNodes"}, {"failed_nodes", "failedNodes"}})
      if (const Json* count = find_member(*pool_status, from); count != nullptr && count->IsInt64())
        put(status, to, Json(count->GetInt64()), allocator);
  return document;
}

JsonDocument create_cluster_body(const ObjectRef& ref, const Json& desired, const AckOptions& options) {
  const std::string type = spec_text(desired, "type");
  const std::string region = spec_text(desired, "region");
  if (type == "Registered")
    throw UserError(fmt::format("{}: spec.type: a Registered cluster is never created: register it with ACK One, then bind it with "
                                "clusters.{}.clusterId in the ack config (or give it this name)",
                                ref.display(), ref.name));
  if (type != "Managed" && type != "Edge" && type != "Serverless")
    throw UserError(fmt::format("{}: spec.type: expected Managed, Edge, Serverless or Registered, got \"{}\"", ref.display(), type));
  const RegionNetwork& network = network_for(ref, region, options);
  JsonDocument body(rapidjson::kObjectType);
  JsonAllocator& allocator = body.GetAllocator();
  put(body, "name", text(ref.name, allocator), allocator);
  put(body, "region_id", text(region, allocator), allocator);
  put(body, "cluster_type", text("ManagedKubernetes", allocator), allocator);
  put(body, "profile", text(type == "Managed" ? "Default" : type, allocator), allocator);
  if (const std::string spec = spec_text(desired, "clusterSpec"); !spec.empty())
    put(body, "cluster_spec", text(spec, allocator), allocator);
  if (const std::string version = spec_text(desired, "kubernetesVersion"); !version.empty())
    put(body, "kubernetes_version", text(version, allocator), allocator);
  put(body, "vpcid", text(network.vpc_id, allocator), allocator);
  put(body, "vswitch_ids", string_array(network.vswitch_ids, allocator), allocator);
  if (!network.service_cidr.empty())
    put(body, "service_cidr", text(network.service_cidr, allocator), allocator);
  const std::vector<std::string> addons = spec_addons(desired);
  std::vector<std::string> installed = addons;
  if (type != "Serverless" && std::none_of(addons.begin(), addons.end(), is_network_plugin))
    installed.insert(installed.begin(), options.network_plugin);
  if (!network.pod_cidr.empty() && std::find(installed.begin(), installed.end(), "flannel") != installed.end())
    put(body, "container_cidr", text(network.pod_cidr, allocator), allocator);
  Json addon_list(rapidjson::kArrayType);
  for (const std::string& addon : installed) {
    Json entry(rapidjson::kObjectType);
    put(entry, "name", text(addon, allocator), allocator);
    addon_list.PushBack(entry, allocator);
  }
  put(body, "addons", std::move(addon_list), allocator);
  std::map<std::string, std::string> tags{{std::string(kOwnerTag), owner_tag_value(owner_of(desired))}};
  if (!addons.empty())
    tags[std::string(kAddonsTag)] = join(addons);
  put(body, "tags", key_values(tags, allocator), allocator);
  return body;
}

JsonDocument create_nodepool_body(const ObjectRef& ref, const Json& desired, const AckOptions& options, const std::string& cluster_type) {
  const Json* spec = find_member(desired, "spec");
  if (spec == nullptr || !spec->IsObject())
    throw UserError(fmt::format("{}: spec: expected a mapping", ref.display()));
  const std::string type = spec_text(desired, "type");
  const std::string cluster = spec_text(desired, "cluster");
  if (cluster_type == "Serverless")
    throw UserError(fmt::format("{}: spec.cluster: Cluster/{} is Serverless, which has no node pools (its pods run on virtual nodes)",
                                ref.display(), cluster));
  if (type == "edge" && cluster_type != "Edge")
    throw UserError(fmt::format("{}: spec.type: edge node pools need an Edge cluster, Cluster/{} is {}", ref.display(), cluster, cluster_type));
  if (type != "ess" && type != "edge")
    throw UserError(fmt::format("{}: spec.type: expected ess or edge, got \"{}\"", ref.display(), type));
  const std::vector<std::string> instance_types = strings_at(*spec, "instanceTypes");
  if (instance_types.empty())
    throw UserError(fmt::format("{}: spec.instanceTypes: expected at least one instance type", ref.display()));
  const RegionNetwork& network = network_for(ref, spec_text(desired, "region"), options);
  JsonDocument body(rapidjson::kObjectType);
  JsonAllocator& allocator = body.GetAllocator();
  Json& info = child(body, "nodepool_info", allocator);
  put(info, "name", text(ref.name, allocator), allocator);
  put(info, "type", text(type, allocator), allocator);
  Json& group = child(body, "scaling_group", allocator);
  put(group, "vswitch_ids", string_array(network.vswitch_ids, allocator), allocator);
  put(group, "instance_types", string_array(instance_types, allocator), allocator);
  if (!autoscaling_enabled(*spec)) {
    const Json* size = find_member(*spec, "desiredSize");
    put(group, "desired_size", Json(size != nullptr && size->IsInt64() ? size->GetInt64() : 0), allocator);
  }
  put(group, "tags", key_values({{std::string(kOwnerTag), owner_tag_value(owner_of(desired))}}, allocator), allocator);
  Json& kubernetes = child(body, "kubernetes_config", allocator);
  put(kubernetes, "runtime", text("containerd", allocator), allocator);
  put(kubernetes, "labels", labels_body(find_member(*spec, "labels"), allocator), allocator);
  put(kubernetes, "taints", taints_body(find_member(*spec, "taints"), allocator), allocator);
  if (const Json* scaling = find_member(*spec, "autoScaling"); scaling != nullptr)
    put(body, "auto_scaling", auto_scaling_body(scaling, allocator), allocator);
  if (type == "edge")
    put(body, "interconnect_mode", text("basic", allocator), allocator);
  return body;
}

std::optional<JsonDocument> modify_nodepool_body(const Json& desired, const Json& live) {
  const Json* want = find_member(desired, "spec");
  const Json* have = find_member(live, "spec");
  const Json empty(rapidjson::kObjectType);
  if (want == nullptr)
    return std::nullopt;
  if (have == nullptr)
    have = &empty;
  JsonDocument body(rapidjson::kObjectType);
  JsonAllocator& allocator = body.GetAllocator();
  bool changed = false;
  if (differs(*want, *have, "instanceTypes")) {
    put(child(body, "scaling_group", allocator), "instance_types", string_array(strings_at(*want, "instanceTypes"), allocator), allocator);
    changed = true;
  }
  if (!autoscaling_enabled(*want) && differs(*want, *have, "desiredSize")) {
    put(child(body, "scaling_group", allocator), "desired_size", Json(find_member(*want, "desiredSize")->GetInt64()), allocator);
    changed = true;
  }
  if (differs(*want, *have, "autoScaling")) {
    put(body, "auto_scaling", auto_scaling_body(find_member(*want, "autoScaling"), allocator), allocator);
    changed = true;
  }
  // Git is the whole truth for a pool's labels and taints: absent in Git clears them on ACK.
  const auto set_or_cleared = [&](std::string_view field) {
    const Json* in_git = find_member(*want, field);
    const Json* in_ack = find_member(*have, field);
    if (in_git == nullptr)
      return in_ack != nullptr;
    return in_ack == nullptr || !json_equal(*in_git, *in_ack);
  };
  if (set_or_cleared("labels") || set_or_cleared("taints")) {
    Json& kubernetes = child(body, "kubernetes_config", allocator);
    put(kubernetes, "labels", labels_body(find_member(*want, "labels"), allocator), allocator);
    put(kubernetes, "taints", taints_body(find_member(*want, "taints"), allocator), allocator);
    put(body, "update_nodes", Json(true), allocator);
    changed = true;
  }
  if (!changed)
    return std::nullopt;
  return body;
}

std::vector<std::string> replaced_fields(const ObjectRef& ref, const Json& desired, const Json& live) {
  std::vector<std::string> fields;
  const std::vector<std::string_view> immutable =
      ref.kind == "Cluster" ? std::vector<std::string_view>{"type", "region"} : std::vector<std::string_view>{"cluster", "region", "type"};
  for (const std::string_view field : immutable) {
    const std::string want = spec_text(desired, field);
    const std::string have = spec_text(live, field);
    if (!want.empty() && !have.empty() && want != have)
      fields.push_back(fmt::format("spec.{} (\"{}\" → \"{}\")", field, have, want));
  }
  return fields;
}

} // namespace meridian::ack

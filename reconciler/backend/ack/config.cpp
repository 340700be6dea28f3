// The ack config file (see ack.h).
#include "backend/ack/ack.h"

#include "base/error.h"
#include "manifest/yaml_parser.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace meridian::ack {
namespace {

std::string string_field(const Json& value, const std::string& where) {
  if (!value.IsString() || value.GetStringLength() == 0)
    throw UserError(fmt::format("{}: expected a non-empty string, got {}", where, describe_value(value)));
  return {value.GetString(), value.GetStringLength()};
}

std::vector<std::string> string_list(const Json& value, const std::string& where) {
  if (!value.IsArray() || value.Empty())
    throw UserError(fmt::format("{}: expected a non-empty list of strings", where));
  std::vector<std::string> items;
  for (rapidjson::SizeType index = 0; index < value.Size(); ++index)
    items.push_back(string_field(value[index], fmt::format("{}[{}]", where, index)));
  return items;
}

template <typename Handler> void each_field(const Json& value, const std::string& where, std::string_view expected, Handler&& handle) {
  if (!value.IsObject())
    throw UserError(fmt::format("{}: expected a mapping with {}", where, expected));
  for (const auto& member : value.GetObject())
    handle(std::string(member.name.GetString(), member.name.GetStringLength()), member.value);
}

RegionNetwork parse_network(const Json& value, const std::string& where) {
  RegionNetwork network;
  constexpr std::string_view expected = "vpcId, vswitchIds, serviceCidr, podCidr";
  each_field(value, where, expected, [&](const std::string& key, const Json& field) {
    const std::string at = where + "." + key;
    if (key == "vpcId")
      network.vpc_id = string_field(field, at);
    else if (key == "vswitchIds")
      network.vswitch_ids = string_list(field, at);
    else if (key == "serviceCidr")
      network.service_cidr = string_field(field, at);
    else if (key == "podCidr")
      network.pod_cidr = string_field(field, at);
    else
      throw UserError(fmt::format("{}: unknown field (expected {})", at, expected));
  });
  if (network.vpc_id.empty() || network.vswitch_ids.empty())
    throw UserError(fmt::format("{}: expected vpcId and vswitchIds", where));
  return network;
}

ClusterBinding parse_binding(const Json& value, const std::string& where, const std::filesystem::path& base) {
  ClusterBinding binding;
  constexpr std::string_view expected = "clusterId, kubeconfig, context";
  each_field(value, where, expected, [&](const std::string& key, const Json& field) {
    const std::string at = where + "." + key;
    if (key == "clusterId")
      binding.cluster_id = string_field(field, at);
    else if (key == "kubeconfig")
      binding.kubeconfig = string_field(field, at);
    else if (key == "context")
      binding.context = string_field(field, at);
    else
      throw UserError(fmt::format("{}: unknown field (expected {})", at, expected));
  });
  if (binding.cluster_id.empty() && binding.kubeconfig.empty())
    throw UserError(fmt::format("{}: expected clusterId (and optionally kubeconfig, context)", where));
  if (!binding.kubeconfig.empty() && !binding.kubeconfig.starts_with("~") && std::filesystem::path(binding.kubeconfig).is_relative())
    binding.kubeconfig = (base / binding.kubeconfig).string();
  return binding;
}

} // namespace

AckOptions load_ack_options(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw UserError(fmt::format("{}: cannot read the ack config file", path));
  std::ostringstream text;
  text << in.rdbuf();
  const auto file = parse_yaml(text.str());
  if (file->error)
    throw UserError(fmt::format("{}:{}: {}", path, file->error->line, file->error->message));
  AckOptions options;
  if (file->documents.empty())
    return options;
  const std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  constexpr std::string_view expected = "region, endpoint, kubeconfig, networkPlugin, networks, clusters";
  each_field(file->documents[0].value, path, expected, [&](const std::string& key, const Json& value) {
    const std::string where = fmt::format("{}: {}", path, key);
    if (key == "region") {
      options.region = string_field(value, where);
    } else if (key == "endpoint") {
      options.endpoint = string_field(value, where);
      if (!options.endpoint.starts_with("https://") && !options.endpoint.starts_with("http://"))
        throw UserError(fmt::format("{}: expected an http:// or https:// URL, got \"{}\"", where, options.endpoint));
    } else if (key == "kubeconfig") {
      const std::string which = value.IsString() ? value.GetString() : "";
      if (which != "public" && which != "private")
        throw UserError(fmt::format("{}: expected public or private, got {}", where, describe_value(value)));
      options.private_kubeconfig = which == "private";
    } else if (key == "networkPlugin") {
      options.network_plugin = string_field(value, where);
    } else if (key == "networks") {
      each_field(value, where, "a region per key", [&](const std::string& region, const Json& network) {
        options.networks[region] = parse_network(network, fmt::format("{}.{}", where, region));
      });
    } else if (key == "clusters") {
      each_field(value, where, "a cluster name per key", [&](const std::string& cluster, const Json& binding) {
        options.clusters[cluster] = parse_binding(binding, fmt::format("{}.{}", where, cluster), base);
      });
    } else if (key != "apiVersion" && key != "kind") {
      throw UserError(fmt::format("{}: unknown field (expected {})", where, expected));
    }
  });
  return options;
}

} // namespace meridian::ack

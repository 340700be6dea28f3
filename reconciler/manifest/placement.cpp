#include "manifest/placement.h"

#include <fmt/format.h>

#include <optional>

namespace meridian {
namespace {

constexpr std::string_view kVariables = "expected ${cluster.name}, ${cluster.region} or ${cluster.labels.<key>} (write $${ for a literal ${)";
constexpr std::string_view kLabelsPrefix = "cluster.labels.";

bool is_identity_field(std::string_view pointer) {
  return pointer == "/apiVersion" || pointer == "/kind" || pointer == "/metadata/name" || pointer == "/metadata/namespace";
}

// `text` with its variables replaced for `cluster`, or nullopt and `error`.
std::optional<std::string> expand(std::string_view text, const ClusterFacts& cluster, std::string& error) {
  std::string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    if (text.compare(at, 3, "$${") == 0) {
      out += "${";
      at += 3;
      continue;
    }
    if (text.compare(at, 2, "${") != 0) {
      out += text[at++];
      continue;
    }
    const size_t close = text.find('}', at + 2);
    if (close == std::string_view::npos) {
      error = fmt::format("unterminated variable \"{}\": {}", text.substr(at), kVariables);
      return std::nullopt;
    }
    const std::string_view name = text.substr(at + 2, close - at - 2);
    if (name == "cluster.name") {
      out += cluster.name;
    } else if (name == "cluster.region") {
      out += cluster.region;
    } else if (name.size() > kLabelsPrefix.size() && name.substr(0, kLabelsPrefix.size()) == kLabelsPrefix) {
      const std::string key(name.substr(kLabelsPrefix.size()));
      const auto label = cluster.labels.find(key);
      if (label == cluster.labels.end()) {
        error = fmt::format("${{{}}}: cluster {} has no label \"{}\"", name, cluster.name, key);
        return std::nullopt;
      }
      out += label->second;
    } else {
      error = fmt::format("unknown variable ${{{}}}: {}", name, kVariables);
      return std::nullopt;
    }
    at = close + 1;
  }
  return out;
}

// Visits every string value below `value` (at `pointer`), handing each expansion to `replace`.
template <typename Value, typename Replace>
void walk(Value& value, std::string& pointer, const ClusterFacts& cluster, std::vector<SubstitutionError>& errors, const Replace& replace) {
  if (value.IsString()) {
    const std::string_view text(value.GetString(), value.GetStringLength());
    if (text.find('$') == std::string_view::npos)
      return;
    if (is_identity_field(pointer)) {
      if (text.find("${") != std::string_view::npos)
        errors.push_back({pointer, "variables are not substituted in apiVersion, kind, metadata.name or metadata.namespace: the copies "
                                   "share one identity and are told apart by their cluster"});
      return;
    }
    std::string error;
    if (std::optional<std::string> expanded = expand(text, cluster, error))
      replace(value, *expanded);
    else
      errors.push_back({pointer, std::move(error)});
    return;
  }
  const size_t length = pointer.size();
  if (value.IsObject()) {
    for (auto member = value.MemberBegin(); member != value.MemberEnd(); ++member) {
      pointer += '/';
      pointer += escape_pointer_token({member->name.GetString(), member->name.GetStringLength()});
      walk(member->value, pointer, cluster, errors, replace);
      pointer.resize(length);
    }
  } else if (value.IsArray()) {
    for (rapidjson::SizeType index = 0; index < value.Size(); ++index) {
      pointer += '/';
      pointer += std::to_string(index);
      walk(value[index], pointer, cluster, errors, replace);
      pointer.resize(length);
    }
  }
}

} // namespace

std::map<std::string, ClusterFacts> cluster_facts(const ManifestSet& set) {
  std::map<std::string, ClusterFacts> clusters;
  for (const Manifest& manifest : set.manifests) {
    if (manifest.object == nullptr || !manifest.object->IsObject() || !manifest.is_meridian_kind() || manifest.kind != "Cluster" ||
        manifest.name.empty() || clusters.count(manifest.name) != 0)
      continue;
    ClusterFacts facts;
    facts.name = manifest.name;
    if (const Json* spec = find_member(*manifest.object, "spec"))
      facts.region = std::string(string_member(*spec, "region"));
    if (const Json* labels = find_path(*manifest.object, "metadata.labels"); labels != nullptr && labels->IsObject())
      for (const auto& label : labels->GetObject())
        if (label.value.IsString())
          facts.labels.emplace(std::string(label.name.GetString(), label.name.GetStringLength()),
                               std::string(label.value.GetString(), label.value.GetStringLength()));
    clusters.emplace(manifest.name, std::move(facts));
  }
  return clusters;
}

std::vector<const ClusterFacts*> select_clusters(const LabelSelector& selector, const std::map<std::string, ClusterFacts>& clusters) {
  std::vector<const ClusterFacts*> selected;
  for (const auto& [name, cluster] : clusters)
    if (selector.matches(cluster.labels))
      selected.push_back(&cluster);
  return selected;
}

std::string selects_no_cluster(std::string_view selector, const std::map<std::string, ClusterFacts>& clusters) {
  std::string known;
  constexpr size_t kShown = 5;
  size_t shown = 0;
  for (const auto& [name, cluster] : clusters) {
    if (shown == kShown) {
      known += fmt::format(", and {} more", clusters.size() - kShown);
      break;
    }
    std::string labels;
    for (const auto& [key, value] : cluster.labels)
      labels += (labels.empty() ? "" : ",") + key + "=" + value;
    known += fmt::format("{}{} {{{}}}", shown == 0 ? "" : ", ", name, labels);
    ++shown;
  }
  return fmt::format("\"{}\" selects no cluster: the object is applied nowhere ({})", selector,
                     known.empty() ? "the repository defines no Cluster" : "clusters: " + known);
}

LabelSelectorParse parse_cluster_selector(const Manifest& manifest) {
  const std::string& text = manifest.cluster_selector.value_or("");
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    return {std::nullopt, "empty selector: expected a label selector over the labels of Cluster objects, e.g. \"tier=edge\" (an empty "
                          "selector would select every cluster; label them and select the label)"};
  return parse_label_selector(text);
}

std::vector<SubstitutionError> substitute_cluster_variables(Json& document, JsonAllocator& allocator, const ClusterFacts& cluster) {
  std::vector<SubstitutionError> errors;
  std::string pointer;
  walk(document, pointer, cluster, errors, [&](Json& value, const std::string& text) {
    value.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
  });
  return errors;
}

std::vector<SubstitutionError> check_cluster_variables(const Json& document, const ClusterFacts& cluster) {
  std::vector<SubstitutionError> errors;
  std::string pointer;
  walk(document, pointer, cluster, errors, [](const Json&, const std::string&) {});
  return errors;
}

} // namespace meridian

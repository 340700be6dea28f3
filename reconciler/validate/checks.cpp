#include "validate/validate.h"

#include "base/error.h"
#include "base/json_expression.h"
#include "base/label_selector.h"
#include "kube_rules/selector.h"
#include "manifest/placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <set>
#include <thread>

namespace meridian {
namespace {

std::string_view view(const Json& value) { return {value.GetString(), value.GetStringLength()}; }

Finding finding_at(const Manifest& manifest, std::string_view pointer, std::string message,
                   Severity severity = Severity::error) {
  return {manifest.file, manifest.line_of(pointer), manifest.display_name(), pointer_to_field(pointer), std::move(message), severity};
}

// A kind as Kubernetes names one: a CamelCase identifier (it becomes a path segment and a type name).
bool is_kind(std::string_view text) {
  if (text.empty() || text.size() > 63 || !std::isalpha(static_cast<unsigned char>(text.front())))
    return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

// `version` or `group/version`, as the API server accepts them.
bool is_api_version(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos)
    return is_dns_label(text);
  return is_dns_subdomain(text.substr(0, slash)) && is_dns_label(text.substr(slash + 1));
}

// apiVersion and kind name a type, a URL path and a table row: anything but well-formed names is
// refused before it reaches a schema, a backend or a terminal. (Their absence is the schema's.)
bool check_type_names(const Manifest& manifest, std::vector<Finding>& out) {
  const Json& object = *manifest.object;
  bool valid = true;
  const Json* api_version = find_member(object, "apiVersion");
  if (api_version != nullptr && api_version->IsString() && !is_api_version(view(*api_version))) {
    out.push_back({manifest.file, manifest.line_of("/apiVersion"), "", "apiVersion",
                   fmt::format("invalid apiVersion {}: expected version or group/version (a DNS subdomain and a DNS label, "
                               "lower-case), e.g. v1 or apps/v1",
                               describe_value(*api_version))});
    valid = false;
  }
  const Json* kind = find_member(object, "kind");
  if (kind != nullptr && kind->IsString() && !is_kind(view(*kind))) {
    out.push_back({manifest.file, manifest.line_of("/kind"), "", "kind",
                   fmt::format("invalid kind {}: expected a CamelCase name of letters and digits starting with a letter, "
                               "e.g. ConfigMap",
                               describe_value(*kind))});
    valid = false;
  }
  return valid;
}

// Fleet.spec.healthChecks: every expression parses, and a kind has one rule.
void check_health_checks(const Manifest& manifest, std::vector<Finding>& out) {
  const Json* checks = find_path(*manifest.object, "spec.healthChecks");
  if (checks == nullptr || !checks->IsArray())
    return;
  std::set<std::pair<std::string, std::string>> kinds;
  for (rapidjson::SizeType index = 0; index < checks->Size(); ++index) {
    const Json& entry = (*checks)[index];
    if (!entry.IsObject())
      continue; // the schema pass says so
    const std::string at = fmt::format("/spec/healthChecks/{}", index);
    const std::pair<std::string, std::string> kind{std::string(string_member(entry, "group")), std::string(string_member(entry, "kind"))};
    if (!kind.second.empty() && !kinds.insert(kind).second)
      out.push_back(finding_at(manifest, at + "/kind",
                               fmt::format("a second health check for {}{}: a kind has at most one", kind.second,
                                           kind.first.empty() ? "" : "." + kind.first)));
    for (const char* field : {"healthy", "degraded", "message"}) {
      const Json* text = find_member(entry, field);
      if (text == nullptr || !text->IsString())
        continue;
      try {
        if (std::string_view(field) == "message") {
          JsonDocument empty(rapidjson::kObjectType);
          (void)json_value_at(empty, view(*text));
        } else {
          (void)parse_json_expression(view(*text));
        }
      } catch (const Error& error) {
        out.push_back(finding_at(manifest, fmt::format("{}/{}", at, field),
                                 fmt::format("{} {}: {} (see the README's health checks)",
                                             std::string_view(field) == "message" ? "path" : "expression", describe_value(*text), error.what())));
      }
    }
  }
}

// Schema pass for one document.
void check_document(const Manifest& manifest, const SchemaSet& schemas, std::vector<Finding>& out) {
  const Json& object = *manifest.object;
  if (!object.IsObject()) {
    out.push_back({manifest.file, manifest.line, "", "",
                   fmt::format("expected a mapping (a Kubernetes object with apiVersion, kind and metadata), got {}",
                               json_type_name(object))});
    return;
  }
  if (!check_type_names(manifest, out))
    return;
  if (manifest.group == "meridian.io") {
    static const std::set<std::string> kinds = {"Cluster", "NodePool", "Fleet"};
    const bool known_version = manifest.api_version == "meridian.io/v1alpha1";
    if (!known_version || (kinds.count(manifest.kind) == 0 && !manifest.kind.empty())) {
      out.push_back(finding_at(manifest, known_version ? "/kind" : "/apiVersion",
                               known_version ? fmt::format("unknown kind {} in meridian.io/v1alpha1, expected Cluster, NodePool or Fleet", manifest.kind)
                                             : fmt::format("unknown version {}, expected meridian.io/v1alpha1", manifest.api_version)));
      return;
    }
  }
  std::vector<Violation> violations;
  schemas.validate(schemas.schema_name(manifest.api_version, manifest.kind), object, violations);
  for (Violation& violation : violations)
    out.push_back({manifest.file, manifest.line_of(violation.pointer), manifest.display_name(), violation.field,
                   std::move(violation.message), Severity::error});
  if (manifest.is_meridian_kind() && manifest.kind == "Fleet")
    check_health_checks(manifest, out);
}

// Identity as Kubernetes sees it: the version does not matter, the group does.
std::string identity_key(const Manifest& manifest, std::string_view cluster) {
  return fmt::format("{}|{}|{}|{}|{}", cluster, manifest.group, manifest.kind, manifest.namespace_, manifest.name);
}
std::string identity_key(const Manifest& manifest) { return identity_key(manifest, manifest.cluster); }

std::string closest_name(std::string_view, const std::map<std::string, const Manifest*>& candidates) {
  std::string known;
  for (const auto& [candidate, manifest] : candidates)
    known += (known.empty() ? "" : ", ") + candidate;
  return known.empty() ? "the repository defines no Cluster" : "known clusters: " + known;
}

// The checks of a Kubernetes object that read its own fields only (after the schema pass).
void check_own_fields(const Manifest& manifest, std::vector<Finding>& findings) {
  const bool has_pod_template = manifest.kind == "DaemonSet" || manifest.kind == "Deployment" ||
                                manifest.kind == "StatefulSet" || manifest.kind == "ReplicaSet";
  if (!has_pod_template)
    return;
  const Json* selector = find_path(*manifest.object, "spec.selector");
  const Json* labels = find_path(*manifest.object, "spec.template.metadata.labels");
  if (selector != nullptr && selector->IsObject() && !rules::selector_matches(*selector, labels))
    findings.push_back(finding_at(manifest, "/spec/selector",
                                  fmt::format("does not match spec.template.metadata.labels (labels {}); {} would own no pods",
                                              labels != nullptr ? describe_value(*labels) : "{}", manifest.kind)));
}

constexpr std::string_view kSelectorPointer = "/metadata/annotations/meridian.io~1cluster-selector";

// A Cluster's labels are what selectors match: each must be a label Kubernetes would accept.
void check_cluster_labels(const Manifest& manifest, std::vector<Finding>& findings) {
  const Json* labels = find_path(*manifest.object, "metadata.labels");
  if (labels == nullptr || !labels->IsObject())
    return;
  for (const auto& label : labels->GetObject()) {
    const std::string_view key = view(label.name);
    const std::string pointer = "/metadata/labels/" + escape_pointer_token(key);
    if (std::string error = label_key_error(key); !error.empty())
      findings.push_back(finding_at(manifest, pointer, std::move(error)));
    else if (label.value.IsString())
      if (std::string value_error = label_value_error(view(label.value)); !value_error.empty())
        findings.push_back(finding_at(manifest, pointer, std::move(value_error)));
  }
}

// An object placed by `meridian.io/cluster-selector`: one target only, a selector that parses, the
// clusters it selects (none is a warning), each copy's identity unique, and its variables
// substitutable for every selected cluster.
void check_placement(const Manifest& manifest, const std::map<std::string, ClusterFacts>& clusters,
                     std::map<std::string, const Manifest*>& seen, std::vector<Finding>& findings) {
  if (!manifest.cluster.empty()) {
    findings.push_back(finding_at(manifest, kSelectorPointer,
                                  manifest.cluster_from_path
                                      ? fmt::format("the file lies under clusters/{}/, which targets cluster {}: an object targets one "
                                                    "cluster by name or clusters by label, not both (move it out of clusters/ or drop the "
                                                    "selector)",
                                                    manifest.cluster, manifest.cluster)
                                      : fmt::format("{} is set too (\"{}\"): an object targets one cluster by name or clusters by label, "
                                                    "not both",
                                                    cluster_annotation, manifest.cluster)));
    return;
  }
  const LabelSelectorParse parsed = parse_cluster_selector(manifest);
  if (!parsed.selector) {
    findings.push_back(finding_at(manifest, kSelectorPointer,
                                  fmt::format("\"{}\": not a label selector: {}", *manifest.cluster_selector, parsed.error)));
    return;
  }
  const std::vector<const ClusterFacts*> selected = select_clusters(*parsed.selector, clusters);
  if (selected.empty()) {
    findings.push_back(finding_at(manifest, kSelectorPointer, selects_no_cluster(*manifest.cluster_selector, clusters), Severity::warning));
    return;
  }
  for (const ClusterFacts* cluster : selected) {
    if (const auto [existing, inserted] = seen.emplace(identity_key(manifest, cluster->name), &manifest); !inserted)
      findings.push_back(finding_at(manifest, "/metadata/name",
                                    fmt::format("duplicate definition in cluster {} (selected by {}): also defined at {}:{}", cluster->name,
                                                cluster_selector_annotation, existing->second->file, existing->second->line)));
    for (SubstitutionError& error : check_cluster_variables(*manifest.object, *cluster))
      findings.push_back(finding_at(manifest, error.pointer, std::move(error.message)));
  }
}

// Each document's schema findings, in the set's order: documents the memo knows are not checked
// again (their slot stays empty); the others are checked on every core.
std::vector<std::vector<Finding>> schema_findings(const ManifestSet& set, const SchemaSet& schemas, const ValidationMemo* memo) {
  std::vector<char> needed(set.manifests.size(), 1);
  if (memo != nullptr)
    for (size_t index = 0; index < set.manifests.size(); ++index)
      needed[index] = memo->entries.count({set.manifests[index].object, set.manifests[index].file}) == 0;
  std::vector<std::vector<Finding>> documents(set.manifests.size());
  constexpr size_t kDocumentsPerThread = 256;
  const size_t threads =
      std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), 8, set.manifests.size() / kDocumentsPerThread + 1});
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t index = next++; index < set.manifests.size(); index = next++)
      if (needed[index])
        check_document(set.manifests[index], schemas, documents[index]);
  };
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < threads; ++i)
    helpers.emplace_back(work);
  work();
  for (std::thread& helper : helpers)
    helper.join();
  return documents;
}

// What the checks across documents need from a first pass over identities.
struct Identities {
  std::map<std::string, const Manifest*> clusters; //!< Cluster manifests by name
  std::map<std::string, const Manifest*> seen;     //!< by identity key, for duplicates
  const Manifest* fleet = nullptr;
};

// Records `manifest`'s identity: a duplicate, a second Fleet and a Cluster's labels are findings.
void record_identity(const Manifest& manifest, Identities& identities, std::vector<Finding>& findings) {
  if (!manifest.object->IsObject() || manifest.kind.empty() || manifest.name.empty())
    return;
  if (manifest.cluster_selector)
    return; // its copies' identities are checked once the clusters are known (check_placement)
  const auto [existing, inserted] = identities.seen.emplace(identity_key(manifest), &manifest);
  if (!inserted)
    findings.push_back(finding_at(manifest, "/metadata/name",
                                  fmt::format("duplicate definition: also defined at {}:{}", existing->second->file, existing->second->line)));
  if (manifest.is_meridian_kind() && manifest.kind == "Cluster") {
    identities.clusters.emplace(manifest.name, &manifest);
    check_cluster_labels(manifest, findings);
  }
  if (manifest.is_meridian_kind() && manifest.kind == "Fleet") {
    if (identities.fleet != nullptr)
      findings.push_back(finding_at(manifest, "", fmt::format("a second Fleet: a repository holds at most one (the first is at {}:{})",
                                                              identities.fleet->file, identities.fleet->line)));
    else
      identities.fleet = &manifest;
  }
}

// A Meridian kind: it places nothing by selector, and a NodePool names a Cluster of the repository
// that has node pools.
void check_meridian_object(const Manifest& manifest, const std::map<std::string, const Manifest*>& clusters, std::vector<Finding>& findings) {
  const Json& object = *manifest.object;
  if (const Json* annotations = find_path(object, "metadata.annotations");
      annotations != nullptr && find_member(*annotations, cluster_selector_annotation) != nullptr)
    findings.push_back(finding_at(manifest, kSelectorPointer,
                                  fmt::format("{} places Kubernetes objects on clusters; a {} is not placed (remove the annotation)",
                                              cluster_selector_annotation, manifest.kind)));
  if (manifest.kind != "NodePool")
    return;
  const Json* spec = find_member(object, "spec");
  const std::string_view cluster_name = spec != nullptr ? string_member(*spec, "cluster") : std::string_view{};
  if (cluster_name.empty())
    return; // the schema pass reports the missing field
  const auto target = clusters.find(std::string(cluster_name));
  if (target == clusters.end()) {
    findings.push_back(finding_at(manifest, "/spec/cluster",
                                  fmt::format("names no Cluster in the repository: \"{}\"; {}", cluster_name, closest_name(cluster_name, clusters))));
    return;
  }
  const Json* target_spec = find_member(*target->second->object, "spec");
  if (target_spec != nullptr && string_member(*target_spec, "type") == "Serverless")
    findings.push_back(finding_at(manifest, "/spec/cluster",
                                  fmt::format("{} is a Serverless cluster, which has no node pools (its pods run on virtual nodes)", cluster_name)));
}

// A Kubernetes object without a selector names a cluster the repository defines.
void check_target_cluster(const Manifest& manifest, const std::map<std::string, const Manifest*>& clusters, std::vector<Finding>& findings) {
  if (manifest.cluster.empty()) {
    findings.push_back(finding_at(manifest, "/metadata",
                                  fmt::format("no target cluster: add the annotation {}: <cluster> or {}: <label selector>, or keep "
                                              "the file under clusters/<cluster>/",
                                              cluster_annotation, cluster_selector_annotation)));
  } else if (clusters.count(manifest.cluster) == 0) {
    const std::string pointer = manifest.cluster_from_path ? "" : "/metadata/annotations/meridian.io~1cluster";
    findings.push_back(finding_at(manifest, pointer,
                                  fmt::format("target cluster \"{}\"{} is not defined in the repository; {}", manifest.cluster,
                                              manifest.cluster_from_path ? " (from the path clusters/<name>/)" : "",
                                              closest_name(manifest.cluster, clusters))));
  }
}

void sort_unique(std::vector<Finding>& findings) {
  std::sort(findings.begin(), findings.end());
  findings.erase(std::unique(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) { return !(a < b) && !(b < a); }),
                 findings.end());
}

} // namespace

std::vector<Finding> validate_manifests(const ManifestSet& set, const SchemaSet& schemas, ValidationMemo* memo) {
  std::vector<Finding> findings = set.findings;
  std::vector<std::vector<Finding>> documents = schema_findings(set, schemas, memo);
  std::map<std::pair<const Json*, std::string>, ValidationMemo::Entry> checked;
  Identities identities;
  for (size_t index = 0; index < set.manifests.size(); ++index) {
    const Manifest& manifest = set.manifests[index];
    if (memo == nullptr) {
      findings.insert(findings.end(), std::make_move_iterator(documents[index].begin()), std::make_move_iterator(documents[index].end()));
    } else {
      auto key = std::make_pair(manifest.object, manifest.file);
      const auto known = memo->entries.find(key);
      ValidationMemo::Entry entry;
      if (known != memo->entries.end()) {
        entry = std::move(known->second);
      } else {
        entry.keep = manifest.blob;
        entry.findings = std::move(documents[index]);
      }
      findings.insert(findings.end(), entry.findings.begin(), entry.findings.end());
      checked.emplace(std::move(key), std::move(entry));
    }
    record_identity(manifest, identities, findings);
  }

  std::map<std::string, ClusterFacts> facts; // read once, when a selector needs them
  for (const Manifest& manifest : set.manifests) {
    if (!manifest.object->IsObject() || manifest.kind.empty() || manifest.api_version.empty())
      continue;
    if (manifest.is_meridian_kind()) {
      check_meridian_object(manifest, identities.clusters, findings);
      continue;
    }
    if (manifest.cluster_selector) {
      if (facts.empty() && !identities.clusters.empty())
        facts = cluster_facts(set);
      check_placement(manifest, facts, identities.seen, findings);
    } else {
      check_target_cluster(manifest, identities.clusters, findings);
    }
    check_own_fields(manifest, findings);
  }
  if (memo != nullptr)
    memo->entries = std::move(checked);
  sort_unique(findings);
  return findings;
}

std::vector<Finding> validate_edit(const ManifestSet& set, const ManifestEdit& edit, const SchemaSet& schemas, ValidationMemo* memo) {
  std::vector<Finding> findings;
  for (const ManifestEdit::Document& document : edit.documents) {
    const Manifest& manifest = document.manifest;
    std::vector<Finding> own;
    check_document(manifest, schemas, own);
    if (memo != nullptr) {
      memo->entries.erase({set.manifests[document.index].object, manifest.file});
      memo->entries[{manifest.object, manifest.file}] = {manifest.blob, own};
    }
    findings.insert(findings.end(), own.begin(), own.end());
    if (manifest.object->IsObject() && !manifest.kind.empty() && !manifest.api_version.empty() && !manifest.is_meridian_kind())
      check_own_fields(manifest, findings);
  }
  sort_unique(findings);
  return findings;
}

bool is_valid(const std::vector<Finding>& findings) {
  return std::none_of(findings.begin(), findings.end(), [](const Finding& finding) { return finding.severity == Severity::error; });
}

} // namespace meridian

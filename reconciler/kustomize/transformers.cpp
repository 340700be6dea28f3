// The transformers of one kustomization, in kustomize's order (patchesStrategicMerge, patches,
// namespace, prefix/suffix, labels, annotations, patchesJson6902, replicas, images, replacements),
// and the name references fixed once at the top of a build.
#include "kustomize/internal.h"
#include "kustomize/patch.h"

#include "base/label_selector.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <tuple>
#include <functional>
#include <map>
#include <regex>

namespace meridian::kustomize {
namespace {

// ---- Field specs: where a transformer writes, by kind -----------------------------------------

struct FieldSpec {
  std::string_view group;   //!< empty: any
  std::string_view version; //!< empty: any
  std::string_view kind;    //!< empty: any
  std::string_view path;    //!< '/'-separated; lists on the way are walked item by item
  bool create = false;
};

bool spec_matches(const FieldSpec& spec, const Resource& resource) {
  if (!spec.kind.empty() && spec.kind != resource.kind())
    return false;
  if (!spec.group.empty() && spec.group != resource.group())
    return false;
  return spec.version.empty() || spec.version == resource.version();
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> steps;
  std::string step;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\\' && i + 1 < path.size() && path[i + 1] == '/') {
      step += '/';
      ++i;
    } else if (path[i] == '/') {
      steps.push_back(std::move(step));
      step.clear();
    } else {
      step += path[i];
    }
  }
  steps.push_back(std::move(step));
  for (std::string& s : steps)
    if (s.size() > 2 && s.substr(s.size() - 2) == "[]")
      s.resize(s.size() - 2);
  return steps;
}

using Visitor = std::function<void(Json& leaf)>;

// Calls `visit` on the value at `steps[index...]` below `node`; with `create`, missing mappings on
// the way (and the leaf, as a mapping) are made.
void walk(Json& node, const std::vector<std::string>& steps, size_t index, bool create, JsonAllocator& allocator, const Visitor& visit) {
  if (node.IsArray()) {
    for (Json& item : node.GetArray())
      walk(item, steps, index, create, allocator, visit);
    return;
  }
  if (index == steps.size()) {
    visit(node);
    return;
  }
  if (!node.IsObject())
    return;
  const std::string& step = steps[index];
  auto member = node.FindMember(Json(rapidjson::StringRef(step.data(), step.size())));
  if (member == node.MemberEnd() || member->value.IsNull()) {
    if (!create)
      return;
    if (member != node.MemberEnd())
      node.EraseMember(member);
    node.AddMember(Json(step.data(), static_cast<rapidjson::SizeType>(step.size()), allocator), Json(rapidjson::kObjectType), allocator);
    member = node.FindMember(Json(rapidjson::StringRef(step.data(), step.size())));
  }
  walk(member->value, steps, index + 1, create, allocator, visit);
}

void apply_specs(Resource& resource, const std::vector<FieldSpec>& specs, JsonAllocator& allocator, const Visitor& visit) {
  for (const FieldSpec& spec : specs)
    if (spec_matches(spec, resource))
      walk(resource.value, split_path(spec.path), 0, spec.create, allocator, visit);
}

const std::vector<FieldSpec>& metadata_label_specs() {
  static const std::vector<FieldSpec> specs = {
      {"", "", "", "metadata/labels", true},
      {"", "v1", "ReplicationController", "spec/template/metadata/labels", true},
      {"", "", "Deployment", "spec/template/metadata/labels", true},
      {"", "", "ReplicaSet", "spec/template/metadata/labels", true},
      {"", "", "DaemonSet", "spec/template/metadata/labels", true},
      {"apps", "", "StatefulSet", "spec/template/metadata/labels", true},
      {"batch", "", "Job", "spec/template/metadata/labels", true},
      {"batch", "", "CronJob", "spec/jobTemplate/metadata/labels", true},
      {"batch", "", "CronJob", "spec/jobTemplate/spec/template/metadata/labels", true},
  };
  return specs;
}

const std::vector<FieldSpec>& common_label_specs() {
  static const std::vector<FieldSpec> specs = [] {
    std::vector<FieldSpec> out = {
        {"", "v1", "Service", "spec/selector", true},
        {"", "v1", "ReplicationController", "spec/selector", true},
        {"", "", "Deployment", "spec/selector/matchLabels", true},
        {"", "", "ReplicaSet", "spec/selector/matchLabels", true},
        {"", "", "DaemonSet", "spec/selector/matchLabels", true},
        {"apps", "", "StatefulSet", "spec/selector/matchLabels", true},
        {"apps", "", "StatefulSet", "spec/volumeClaimTemplates[]/metadata/labels", true},
        {"batch", "", "Job", "spec/selector/matchLabels", false},
        {"batch", "", "CronJob", "spec/jobTemplate/spec/selector/matchLabels", false},
        {"policy", "", "PodDisruptionBudget", "spec/selector/matchLabels", false},
        {"networking.k8s.io", "", "NetworkPolicy", "spec/podSelector/matchLabels", false},
        {"networking.k8s.io", "", "NetworkPolicy", "spec/ingress/from/podSelector/matchLabels", false},
        {"networking.k8s.io", "", "NetworkPolicy", "spec/egress/to/podSelector/matchLabels", false},
    };
    for (const std::string_view kind : {"Deployment", "StatefulSet"})
      for (const std::string_view path : {
               "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
               "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
               "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
               "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
               "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels"})
        out.push_back({"apps", "", kind, path, false});
    out.insert(out.end(), metadata_label_specs().begin(), metadata_label_specs().end());
    return out;
  }();
  return specs;
}

const std::vector<FieldSpec>& annotation_specs() {
  static const std::vector<FieldSpec> specs = {
      {"", "", "", "metadata/annotations", true},
      {"", "v1", "ReplicationController", "spec/template/metadata/annotations", true},
      {"", "", "Deployment", "spec/template/metadata/annotations", true},
      {"", "", "ReplicaSet", "spec/template/metadata/annotations", true},
      {"", "", "DaemonSet", "spec/template/metadata/annotations", true},
      {"apps", "", "StatefulSet", "spec/template/metadata/annotations", true},
      {"batch", "", "Job", "spec/template/metadata/annotations", true},
      {"batch", "", "CronJob", "spec/jobTemplate/metadata/annotations", true},
      {"batch", "", "CronJob", "spec/jobTemplate/spec/template/metadata/annotations", true},
  };
  return specs;
}

// Name references: which fields of which kinds name an object of a kind (kustomize's
// nameReference configuration).
struct NameReference {
  std::string_view kind;
  std::string_view group; //!< of the referenced kind; empty: core
  std::vector<FieldSpec> fields;
};

const std::vector<NameReference>& name_references() {
  static const std::vector<NameReference> references = [] {
    // The pod spec of each workload kind.
    const std::vector<std::pair<std::string_view, std::string_view>> pod_specs = {
        {"Pod", "spec"}, {"PodTemplate", "template/spec"}, {"Deployment", "spec/template/spec"}, {"ReplicaSet", "spec/template/spec"},
        {"DaemonSet", "spec/template/spec"}, {"StatefulSet", "spec/template/spec"}, {"Job", "spec/template/spec"},
        {"CronJob", "spec/jobTemplate/spec/template/spec"}, {"ReplicationController", "spec/template/spec"}};
    static std::vector<std::string> paths; // owns the composed paths (FieldSpec holds views)
    paths.reserve(256);
    const auto compose = [&](std::string_view prefix, std::string_view rest) -> std::string_view {
      paths.push_back(std::string(prefix) + "/" + std::string(rest));
      return paths.back();
    };
    NameReference config_map{"ConfigMap", "", {}};
    NameReference secret{"Secret", "", {}};
    NameReference service_account{"ServiceAccount", "", {}};
    NameReference claim{"PersistentVolumeClaim", "", {}};
    NameReference priority{"PriorityClass", "scheduling.k8s.io", {}};
    for (const auto& [kind, prefix] : pod_specs) {
      const bool cm_kind = kind != "ReplicationController";
      if (cm_kind) {
        for (const std::string_view rest : {"volumes/configMap/name", "containers/env/valueFrom/configMapKeyRef/name",
                                            "initContainers/env/valueFrom/configMapKeyRef/name", "containers/envFrom/configMapRef/name",
                                            "initContainers/envFrom/configMapRef/name", "volumes/projected/sources/configMap/name"})
          config_map.fields.push_back({"", "", kind, compose(prefix, rest)});
        for (const std::string_view rest : {"volumes/secret/secretName", "containers/env/valueFrom/secretKeyRef/name",
                                            "initContainers/env/valueFrom/secretKeyRef/name", "containers/envFrom/secretRef/name",
                                            "initContainers/envFrom/secretRef/name", "imagePullSecrets/name", "volumes/projected/sources/secret/name"})
          secret.fields.push_back({"", "", kind, compose(prefix, rest)});
      }
      if (kind != "PodTemplate" && kind != "ReplicaSet") {
        service_account.fields.push_back({"", "", kind, compose(prefix, "serviceAccountName")});
        claim.fields.push_back({"", "", kind, compose(prefix, "volumes/persistentVolumeClaim/claimName")});
        priority.fields.push_back({"", "", kind, compose(prefix, "priorityClassName")});
      }
    }
    config_map.fields.push_back({"", "", "Node", "spec/configSource/configMap"});
    config_map.fields.push_back({"", "", "Role", "rules/resourceNames"});
    config_map.fields.push_back({"", "", "ClusterRole", "rules/resourceNames"});
    config_map.fields.push_back({"", "", "Ingress", "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap"});
    for (const std::string_view path : {"spec/tls/secretName", "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
                                        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
                                        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret"})
      secret.fields.push_back({"", "", "Ingress", path});
    secret.fields.push_back({"", "", "ServiceAccount", "imagePullSecrets/name"});
    for (const std::string_view path : {"parameters/secretName", "parameters/adminSecretName", "parameters/userSecretName", "parameters/secretRef"})
      secret.fields.push_back({"", "", "StorageClass", path});
    secret.fields.push_back({"", "", "Role", "rules/resourceNames"});
    secret.fields.push_back({"", "", "ClusterRole", "rules/resourceNames"});
    secret.fields.push_back({"", "", "PersistentVolume", "spec/azureFile/secretName"});
    service_account.fields.push_back({"rbac.authorization.k8s.io", "", "RoleBinding", "subjects"});
    service_account.fields.push_back({"rbac.authorization.k8s.io", "", "ClusterRoleBinding", "subjects"});
    std::vector<NameReference> out = {std::move(config_map), std::move(secret), std::move(service_account), std::move(claim), std::move(priority)};
    for (const std::string_view kind : {"Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"})
      out.push_back({kind, "", {{"", "", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"}}});
    out.push_back({"Service", "", {{"apps", "", "StatefulSet", "spec/serviceName"},
                                   {"", "", "Ingress", "spec/rules/http/paths/backend/serviceName"},
                                   {"", "", "Ingress", "spec/backend/serviceName"},
                                   {"", "", "Ingress", "spec/rules/http/paths/backend/service/name"},
                                   {"", "", "Ingress", "spec/defaultBackend/service/name"},
                                   {"apiregistration.k8s.io", "", "APIService", "spec/service/name"},
                                   {"admissionregistration.k8s.io", "", "ValidatingWebhookConfiguration", "webhooks/clientConfig/service"},
                                   {"admissionregistration.k8s.io", "", "MutatingWebhookConfiguration", "webhooks/clientConfig/service"},
                                   {"", "", "HTTPRoute", "spec/rules/backendRefs/name"}}});
    out.push_back({"Role", "rbac.authorization.k8s.io", {{"rbac.authorization.k8s.io", "", "RoleBinding", "roleRef/name"}}});
    out.push_back({"ClusterRole", "rbac.authorization.k8s.io",
                   {{"rbac.authorization.k8s.io", "", "RoleBinding", "roleRef/name"}, {"rbac.authorization.k8s.io", "", "ClusterRoleBinding", "roleRef/name"}}});
    out.push_back({"PersistentVolume", "", {{"", "", "PersistentVolumeClaim", "spec/volumeName"}, {"", "", "ClusterRole", "rules/resourceNames"}}});
    out.push_back({"StorageClass", "storage.k8s.io", {{"", "", "PersistentVolume", "spec/storageClassName"},
                                                      {"", "", "PersistentVolumeClaim", "spec/storageClassName"},
                                                      {"", "", "StatefulSet", "spec/volumeClaimTemplates/spec/storageClassName"}}});
    out.push_back({"IngressClass", "networking.k8s.io", {{"", "", "Ingress", "spec/ingressClassName"}}});
    return out;
  }();
  return references;
}

// ---- Selectors ---------------------------------------------------------------------------------

bool regex_matches(const std::string& pattern, const std::string& text) {
  if (pattern.empty())
    return true;
  try {
    return std::regex_match(text, std::regex("(?:" + pattern + ")"));
  } catch (const std::regex_error&) {
    return pattern == text;
  }
}

// Whether `labels` (metadata.labels or annotations) satisfy `selector`; non-string values compare as
// the YAML scalar they were written as.
bool selector_matches(const LabelSelector& selector, const Json* labels) {
  return selector.matches([&](std::string_view key) -> std::optional<std::string> {
    const Json* value = labels == nullptr ? nullptr : find_member(*labels, key);
    if (value == nullptr)
      return std::nullopt;
    return scalar_text(*value);
  });
}

struct Selector {
  std::string group, version, kind, name, namespace_, label_selector, annotation_selector;
  LabelSelector labels, annotations;
};

Selector read_selector(const Kustomization& kustomization, const Json& value, const std::string& pointer) {
  if (!value.IsObject())
    throw kustomization.error(pointer, fmt::format("expected a mapping, got {}", json_type_name(value)));
  Selector selector;
  for (auto member = value.MemberBegin(); member != value.MemberEnd(); ++member) {
    const std::string_view name = sv(member->name);
    static constexpr std::string_view known[] = {"group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector"};
    if (std::find(std::begin(known), std::end(known), name) == std::end(known))
      throw kustomization.error(pointer + "/" + escape_pointer_token(name), "unknown field of a target (expected group, version, kind, name, "
                                                                            "namespace, labelSelector or annotationSelector)");
  }
  selector.group = kustomization.string(value, "group", pointer);
  selector.version = kustomization.string(value, "version", pointer);
  selector.kind = kustomization.string(value, "kind", pointer);
  selector.name = kustomization.string(value, "name", pointer);
  selector.namespace_ = kustomization.string(value, "namespace", pointer);
  selector.label_selector = kustomization.string(value, "labelSelector", pointer);
  selector.annotation_selector = kustomization.string(value, "annotationSelector", pointer);
  for (const auto& [text, requirements, field] : {std::tuple{selector.label_selector, &selector.labels, "labelSelector"},
                                                  std::tuple{selector.annotation_selector, &selector.annotations, "annotationSelector"}}) {
    if (text.empty())
      continue;
    LabelSelectorParse parsed = parse_label_selector(text);
    if (!parsed.selector)
      throw kustomization.error(pointer + "/" + field, fmt::format("\"{}\": not a label selector: {}", text, parsed.error));
    *requirements = std::move(*parsed.selector);
  }
  return selector;
}

bool selects(const Selector& selector, const Resource& resource) {
  if (!regex_matches(selector.kind, resource.kind()) || !regex_matches(selector.group, resource.group()) ||
      !regex_matches(selector.version, resource.version()))
    return false;
  if (!selector.name.empty()) {
    bool any = regex_matches(selector.name, resource.name());
    for (const std::string& old : resource.old_names)
      any = any || regex_matches(selector.name, old);
    if (!any)
      return false;
  }
  if (!selector.namespace_.empty() && !regex_matches(selector.namespace_, resource.namespace_()) &&
      !regex_matches(selector.namespace_, resource.original_namespace))
    return false;
  if (!selector.labels.empty() && !selector_matches(selector.labels, find_path(resource.value, "metadata.labels")))
    return false;
  return selector.annotations.empty() || selector_matches(selector.annotations, find_path(resource.value, "metadata.annotations"));
}

// ---- Patches -------------------------------------------------------------------------------------

struct PatchText {
  std::string text;
  std::string origin; //!< "file" or "kustomization.yaml:12" for messages
};

std::unique_ptr<YamlFile> parse_patch(const Kustomization& kustomization, const std::string& pointer, const std::string& text) {
  std::unique_ptr<YamlFile> yaml = parse_yaml(text);
  if (yaml->error)
    throw kustomization.error(pointer, fmt::format("patch does not parse: line {}: {}", yaml->error->line, yaml->error->message));
  return yaml;
}

// Applies a strategic merge patch to one resource, keeping its name and namespace unless allowed.
// Returns false when the patch deletes the resource.
bool merge_into(Resource& resource, const Json& patch, JsonAllocator& allocator, bool allow_name_change, bool allow_kind_change) {
  const std::string name = resource.name();
  const std::string namespace_ = resource.namespace_();
  const std::string kind = resource.kind();
  const std::string api_version = resource.api_version();
  // Kept as it was written (an apiVersion may be a number in a custom resource: nulltostring_test.go).
  Json original_api_version;
  if (const Json* value = find_member(resource.value, "apiVersion"))
    original_api_version.CopyFrom(*value, allocator);
  const bool builtin = is_builtin_group(resource.group());
  if (!strategic_merge(resource.value, patch, allocator, builtin))
    return false;
  Json& metadata = metadata_of(resource.value, allocator);
  const std::string patched_name = resource.name();
  set_string(metadata, "name", name, allocator);
  if (allow_name_change && patched_name != name)
    resource.set_name(patched_name, allocator);
  if (namespace_.empty()) {
    if (auto member = metadata.FindMember("namespace"); member != metadata.MemberEnd())
      metadata.EraseMember(member);
  } else {
    set_string(metadata, "namespace", namespace_, allocator);
  }
  if (!allow_kind_change) {
    set_string(resource.value, "kind", kind, allocator);
    if (auto member = resource.value.FindMember("apiVersion"); member != resource.value.MemberEnd() && !original_api_version.IsNull())
      member->value.CopyFrom(original_api_version, allocator);
    else
      set_string(resource.value, "apiVersion", api_version, allocator);
  } else if (resource.kind() != kind && resource.original_kind.empty()) {
    resource.original_kind = kind;
  }
  return true;
}

// A JSON 6902 patch that renames a resource leaves its earlier name known, as kustomize keeps
// its original id: later patches and references may still use it.
void json6902_tracking_name(Resource& resource, const Json& operations, JsonAllocator& allocator) {
  const std::string before = resource.name();
  const std::string kind_before = resource.kind();
  json6902(resource.value, operations, allocator);
  if (resource.kind() != kind_before && resource.original_kind.empty())
    resource.original_kind = kind_before;
  const std::string after = resource.name();
  if (after != before && !before.empty() && std::find(resource.old_names.begin(), resource.old_names.end(), before) == resource.old_names.end())
    resource.old_names.push_back(before);
}

// The resources a target-less strategic merge patch names (kind, name, namespace of the patch).
std::vector<size_t> patch_targets(const std::vector<Resource>& accumulated, const Json& patch) {
  std::vector<size_t> out;
  const std::string_view kind = string_member(patch, "kind");
  const std::string_view api_version = string_member(patch, "apiVersion");
  const Json* metadata = find_member(patch, "metadata");
  const std::string_view name = metadata == nullptr ? std::string_view{} : string_member(*metadata, "name");
  const std::string_view namespace_ = metadata == nullptr ? std::string_view{} : string_member(*metadata, "namespace");
  const size_t slash = api_version.find('/');
  const std::string_view group = slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
  for (size_t index = 0; index < accumulated.size(); ++index) {
    const Resource& resource = accumulated[index];
    // kustomize matches a resource by its current id or by its original one (kind and first name).
    const bool current = resource.kind() == kind && resource.has_name(name);
    const bool original = !resource.original_kind.empty() && resource.original_kind == kind &&
                          (resource.old_names.empty() ? resource.name() : resource.old_names.front()) == name;
    if (!current && !original)
      continue;
    if (!api_version.empty() && resource.group() != group)
      continue;
    if (!namespace_.empty() && resource.namespace_() != namespace_ && resource.original_namespace != namespace_)
      continue;
    out.push_back(index);
  }
  return out;
}

void apply_target_less(const Kustomization& kustomization, const std::string& pointer, std::vector<Resource>& accumulated, const Json& patch,
                       JsonAllocator& allocator) {
  if (!patch.IsObject())
    throw kustomization.error(pointer, fmt::format("a strategic merge patch must be a mapping, got {}", json_type_name(patch)));
  const std::vector<size_t> targets = patch_targets(accumulated, patch);
  const std::string_view kind = string_member(patch, "kind");
  const std::string_view name = find_member(patch, "metadata") ? string_member(*find_member(patch, "metadata"), "name") : std::string_view{};
  if (kind.empty() || name.empty())
    throw kustomization.error(pointer, "a strategic merge patch without a target needs kind and metadata.name");
  if (targets.empty())
    throw kustomization.error(pointer, fmt::format("no resource matches strategic merge patch {}/{}", kind, name));
  if (targets.size() > 1)
    throw kustomization.error(pointer, fmt::format("strategic merge patch {}/{} matches {} resources: give it a namespace or use patches with a target",
                                                   kind, name, targets.size()));
  try {
    if (!merge_into(accumulated[targets.front()], patch, allocator, false, false))
      accumulated.erase(accumulated.begin() + static_cast<long>(targets.front()));
  } catch (const Error& error) {
    throw kustomization.error(pointer, error.what());
  }
}

// ---- Images --------------------------------------------------------------------------------------

struct ImageRule {
  std::string name, new_name, new_tag, digest;
};

// "registry/name:tag@digest" → (name, ":tag" or "@digest" part).
std::pair<std::string, std::string> split_image(std::string_view image) {
  const size_t at = image.find('@');
  std::string_view name = image.substr(0, at);
  std::string rest = at == std::string_view::npos ? std::string() : std::string(image.substr(at));
  const size_t slash = name.rfind('/');
  const size_t colon = name.find(':', slash == std::string_view::npos ? 0 : slash);
  if (colon != std::string_view::npos) {
    rest = std::string(name.substr(colon)) + rest;
    name = name.substr(0, colon);
  }
  return {std::string(name), rest};
}

void update_images(Json& node, const ImageRule& rule, JsonAllocator& allocator) {
  if (node.IsArray()) {
    for (Json& item : node.GetArray())
      update_images(item, rule, allocator);
    return;
  }
  if (!node.IsObject())
    return;
  for (auto member = node.MemberBegin(); member != node.MemberEnd(); ++member) {
    const std::string_view key = sv(member->name);
    if ((key == "containers" || key == "initContainers" || key == "ephemeralContainers") && member->value.IsArray()) {
      for (Json& container : member->value.GetArray()) {
        if (!container.IsObject())
          continue;
        const std::string_view image = string_member(container, "image");
        if (image.empty())
          continue;
        auto [name, tag] = split_image(image);
        if (name != rule.name)
          continue;
        std::string updated = rule.new_name.empty() ? name : rule.new_name;
        if (!rule.digest.empty())
          updated += "@" + rule.digest;
        else if (!rule.new_tag.empty())
          updated += ":" + rule.new_tag;
        else
          updated += tag;
        set_string(container, "image", updated, allocator);
      }
      continue;
    }
    update_images(member->value, rule, allocator);
  }
}

} // namespace

// ---- The transformers of one kustomization ---------------------------------------------------------

void Builder::apply_strategic_merge_patches(const Kustomization& kustomization, std::vector<Resource>& accumulated) {
  const std::vector<std::string> entries = kustomization.strings("patchesStrategicMerge");
  for (size_t index = 0; index < entries.size(); ++index) {
    const std::string pointer = fmt::format("/patchesStrategicMerge/{}", index);
    const std::string& entry = entries[index];
    // An entry is a file, or (as kustomize allows) the patch itself inline.
    const bool inline_patch = entry.find('\n') != std::string::npos || (!file_exists(kustomization, entry) && entry.find(':') != std::string::npos);
    const std::string text = inline_patch ? entry : read_relative(kustomization, pointer, entry);
    const std::unique_ptr<YamlFile> yaml = parse_patch(kustomization, pointer, text);
    for (const YamlDocument& document : yaml->documents)
      apply_target_less(kustomization, pointer, accumulated, document.value, allocator_);
  }
}

void Builder::apply_patches(const Kustomization& kustomization, std::vector<Resource>& accumulated) {
  const std::vector<const Json*> patches = kustomization.objects("patches");
  for (size_t index = 0; index < patches.size(); ++index) {
    const Json& patch = *patches[index];
    const std::string pointer = fmt::format("/patches/{}", index);
    const std::string path = kustomization.string(patch, "path", pointer);
    const std::string inline_text = kustomization.string(patch, "patch", pointer);
    if (path.empty() == inline_text.empty())
      throw kustomization.error(pointer, "expected exactly one of path and patch");
    for (auto member = patch.MemberBegin(); member != patch.MemberEnd(); ++member) {
      const std::string_view name = sv(member->name);
      if (name != "path" && name != "patch" && name != "target" && name != "options")
        throw kustomization.error(pointer + "/" + escape_pointer_token(name), "unknown field of a patch (expected path, patch, target or options)");
    }
    const std::string text = path.empty() ? inline_text : read_relative(kustomization, pointer + "/path", path);
    const std::unique_ptr<YamlFile> yaml = parse_patch(kustomization, pointer, text);
    if (yaml->documents.empty())
      throw kustomization.error(pointer, "the patch is empty");
    bool allow_name_change = false;
    bool allow_kind_change = false;
    if (const Json* options = find_member(patch, "options"); options != nullptr && options->IsObject()) {
      const Json* name_change = find_member(*options, "allowNameChange");
      const Json* kind_change = find_member(*options, "allowKindChange");
      allow_name_change = name_change != nullptr && name_change->IsBool() && name_change->GetBool();
      allow_kind_change = kind_change != nullptr && kind_change->IsBool() && kind_change->GetBool();
    }
    const bool is_json6902 = yaml->documents.front().value.IsArray();
    const Json* target_value = find_member(patch, "target");
    if (target_value == nullptr || target_value->IsNull()) {
      if (is_json6902)
        throw kustomization.error(pointer, "a JSON 6902 patch needs a target");
      for (const YamlDocument& document : yaml->documents)
        apply_target_less(kustomization, pointer, accumulated, document.value, allocator_);
      continue;
    }
    const Selector selector = read_selector(kustomization, *target_value, pointer + "/target");
    for (size_t position = 0; position < accumulated.size();) {
      Resource& resource = accumulated[position];
      if (!selects(selector, resource)) {
        ++position;
        continue;
      }
      bool keep = true;
      try {
        if (is_json6902) {
          json6902_tracking_name(resource, yaml->documents.front().value, allocator_);
        } else {
          for (const YamlDocument& document : yaml->documents) {
            if (!document.value.IsObject())
              throw UserError(fmt::format("a strategic merge patch must be a mapping, got {}", json_type_name(document.value)));
            keep = keep && merge_into(resource, document.value, allocator_, allow_name_change, allow_kind_change);
          }
        }
      } catch (const Error& error) {
        throw kustomization.error(pointer, fmt::format("{}: {}", resource.display(), error.what()));
      }
      if (keep)
        ++position;
      else
        accumulated.erase(accumulated.begin() + static_cast<long>(position));
    }
  }
}

void Builder::apply_json6902_patches(const Kustomization& kustomization, std::vector<Resource>& accumulated) {
  const std::vector<const Json*> patches = kustomization.objects("patchesJson6902");
  for (size_t index = 0; index < patches.size(); ++index) {
    const Json& patch = *patches[index];
    const std::string pointer = fmt::format("/patchesJson6902/{}", index);
    const Json* target_value = find_member(patch, "target");
    if (target_value == nullptr)
      throw kustomization.error(pointer, "target: required field is missing");
    const std::string path = kustomization.string(patch, "path", pointer);
    const std::string inline_text = kustomization.string(patch, "patch", pointer);
    if (path.empty() == inline_text.empty())
      throw kustomization.error(pointer, "expected exactly one of path and patch");
    const std::string text = path.empty() ? inline_text : read_relative(kustomization, pointer + "/path", path);
    const std::unique_ptr<YamlFile> yaml = parse_patch(kustomization, pointer, text);
    if (yaml->documents.empty() || !yaml->documents.front().value.IsArray())
      throw kustomization.error(pointer, "a JSON 6902 patch must be a list of operations");
    const Selector selector = read_selector(kustomization, *target_value, pointer + "/target");
    for (Resource& resource : accumulated) {
      if (!selects(selector, resource))
        continue;
      try {
        json6902_tracking_name(resource, yaml->documents.front().value, allocator_);
      } catch (const Error& error) {
        throw kustomization.error(pointer, fmt::format("{}: {}", resource.display(), error.what()));
      }
    }
  }
}

void Builder::transform(const Kustomization& kustomization, std::vector<Resource>& accumulated) {
  apply_strategic_merge_patches(kustomization, accumulated);
  apply_patches(kustomization, accumulated);

  const std::string namespace_ = kustomization.string(*kustomization.root, "namespace", "");
  if (!namespace_.empty()) {
    for (Resource& resource : accumulated) {
      if (resource.kind() == "CustomResourceDefinition")
        walk(resource.value, split_path("spec/conversion/webhook/clientConfig/service"), 0, false, allocator_, [&](Json& service) {
          if (service.IsObject() && find_member(service, "namespace") != nullptr)
            set_string(service, "namespace", namespace_, allocator_);
        });
      // The service account named "default" is every namespace's own: it follows. Others follow
      // their ServiceAccount when the build holds it (name references, at the end of the build).
      const std::string kind = resource.kind();
      if (kind == "RoleBinding" || kind == "ClusterRoleBinding")
        if (auto subjects = resource.value.FindMember("subjects"); subjects != resource.value.MemberEnd() && subjects->value.IsArray())
          for (Json& subject : subjects->value.GetArray())
            if (subject.IsObject() && string_member(subject, "kind") == "ServiceAccount" && string_member(subject, "name") == "default")
              set_string(subject, "namespace", namespace_, allocator_);
      if (is_cluster_scoped(resource.group(), kind))
        continue;
      set_string(metadata_of(resource.value, allocator_), "namespace", namespace_, allocator_);
    }
  }

  const std::string prefix = kustomization.string(*kustomization.root, "namePrefix", "");
  const std::string suffix = kustomization.string(*kustomization.root, "nameSuffix", "");
  if (!prefix.empty() || !suffix.empty())
    for (Resource& resource : accumulated) {
      const std::string kind = resource.kind();
      if (kind == "Namespace" || kind == "CustomResourceDefinition" || kind == "APIService")
        continue;
      resource.set_name(prefix + resource.name() + suffix, allocator_);
    }

  // labels (each entry), then commonLabels.
  const auto add_pairs = [&](const std::vector<std::pair<std::string, std::string>>& pairs, const std::vector<FieldSpec>& specs) {
    if (pairs.empty())
      return;
    for (Resource& resource : accumulated)
      apply_specs(resource, specs, allocator_, [&](Json& map) {
        if (!map.IsObject())
          return;
        for (const auto& [key, value] : pairs)
          set_string(map, key, value, allocator_);
      });
  };
  const std::vector<const Json*> labels = kustomization.objects("labels");
  for (size_t index = 0; index < labels.size(); ++index) {
    const std::string pointer = fmt::format("/labels/{}", index);
    const Json& entry = *labels[index];
    const auto pairs = kustomization.string_map(find_member(entry, "pairs"), pointer + "/pairs");
    const Json* selectors = find_member(entry, "includeSelectors");
    const Json* templates = find_member(entry, "includeTemplates");
    const Json* claims = find_member(entry, "includeVolumeClaimTemplates");
    const bool include_selectors = selectors != nullptr && selectors->IsBool() && selectors->GetBool();
    const bool include_templates = templates != nullptr && templates->IsBool() && templates->GetBool();
    const bool include_claims = claims != nullptr && claims->IsBool() && claims->GetBool();
    std::vector<FieldSpec> specs;
    if (include_selectors)
      specs = common_label_specs();
    else if (include_templates)
      specs = metadata_label_specs();
    else
      specs = {{"", "", "", "metadata/labels", true}};
    if (include_claims && !include_selectors)
      specs.push_back({"apps", "", "StatefulSet", "spec/volumeClaimTemplates[]/metadata/labels", true});
    // fields: more places, as field specs (path, group, version, kind, create).
    std::vector<std::string> owned; // the specs' strings
    const Json* fields = find_member(entry, "fields");
    if (fields != nullptr && !fields->IsNull()) {
      if (!fields->IsArray())
        throw kustomization.error(pointer + "/fields", fmt::format("expected a list, got {}", json_type_name(*fields)));
      owned.reserve(fields->Size() * 4);
      for (rapidjson::SizeType i = 0; i < fields->Size(); ++i) {
        const std::string at = fmt::format("{}/fields/{}", pointer, i);
        const Json& field = (*fields)[i];
        if (!field.IsObject())
          throw kustomization.error(at, "expected a mapping with path (and group, version, kind, create)");
        const auto keep = [&](std::string_view name) -> std::string_view { return owned.emplace_back(kustomization.string(field, name, at)); };
        FieldSpec spec{keep("group"), keep("version"), keep("kind"), keep("path"), false};
        if (spec.path.empty())
          throw kustomization.error(at, "path: required field is missing");
        const Json* create = find_member(field, "create");
        spec.create = create != nullptr && create->IsBool() && create->GetBool();
        specs.push_back(spec);
      }
    }
    add_pairs(pairs, specs);
  }
  add_pairs(kustomization.string_map(kustomization.field("commonLabels"), "/commonLabels"), common_label_specs());
  add_pairs(kustomization.string_map(kustomization.field("commonAnnotations"), "/commonAnnotations"), annotation_specs());

  apply_json6902_patches(kustomization, accumulated);

  const std::vector<const Json*> replicas = kustomization.objects("replicas");
  for (size_t index = 0; index < replicas.size(); ++index) {
    const std::string pointer = fmt::format("/replicas/{}", index);
    const std::string name = kustomization.string(*replicas[index], "name", pointer);
    const Json* count = find_member(*replicas[index], "count");
    if (name.empty())
      throw kustomization.error(pointer, "name: required field is missing");
    if (count == nullptr || !count->IsInt64() || count->GetInt64() < 0)
      throw kustomization.error(pointer + "/count", "expected a non-negative integer");
    for (Resource& resource : accumulated) {
      const std::string kind = resource.kind();
      if (!resource.has_name(name) || (kind != "Deployment" && kind != "ReplicationController" && kind != "ReplicaSet" && kind != "StatefulSet"))
        continue;
      walk(resource.value, {"spec"}, 0, true, allocator_, [&](Json& spec) {
        if (!spec.IsObject())
          return;
        auto member = spec.FindMember("replicas");
        if (member != spec.MemberEnd())
          member->value.SetInt64(count->GetInt64());
        else
          spec.AddMember("replicas", Json(count->GetInt64()), allocator_);
      });
    }
  }

  const std::vector<const Json*> images = kustomization.objects("images");
  for (size_t index = 0; index < images.size(); ++index) {
    const std::string pointer = fmt::format("/images/{}", index);
    ImageRule rule{kustomization.string(*images[index], "name", pointer), kustomization.string(*images[index], "newName", pointer),
                   kustomization.string(*images[index], "newTag", pointer), kustomization.string(*images[index], "digest", pointer)};
    if (rule.name.empty())
      throw kustomization.error(pointer, "name: required field is missing");
    for (Resource& resource : accumulated)
      update_images(resource.value, rule, allocator_);
  }

  apply_replacements(kustomization, accumulated);
}

// ---- Name references, once at the top --------------------------------------------------------------

void Builder::fix_references(std::vector<Resource>& accumulated) {
  // kustomize refuses a binding's ServiceAccount subject that names a ServiceAccount of the build
  // with a blank namespace (blankvalues_test.go: "namespace is blank").
  for (const Resource& binding : accumulated) {
    if ((binding.kind() != "RoleBinding" && binding.kind() != "ClusterRoleBinding") || binding.group() != "rbac.authorization.k8s.io")
      continue;
    const Json* subjects = find_member(binding.value, "subjects");
    if (subjects == nullptr || !subjects->IsArray())
      continue;
    for (rapidjson::SizeType index = 0; index < subjects->Size(); ++index) {
      const Json& subject = (*subjects)[index];
      if (!subject.IsObject() || string_member(subject, "kind") != "ServiceAccount")
        continue;
      const Json* ns = find_member(subject, "namespace");
      if (ns == nullptr || !(ns->IsNull() || (ns->IsString() && ns->GetStringLength() == 0)))
        continue;
      const std::string_view name = string_member(subject, "name");
      const bool in_build = std::any_of(accumulated.begin(), accumulated.end(),
                                        [&](const Resource& resource) { return resource.kind() == "ServiceAccount" && resource.has_name(name); });
      if (in_build)
        throw UserError(fmt::format("{}:{}: {}: subjects[{}].namespace: blank; give the ServiceAccount's namespace or leave the field out",
                                    binding.file, binding.line, binding.display(), index));
    }
  }
  const auto effective = [](std::string_view ns) { return ns.empty() ? std::string("default") : std::string(ns); };
  for (const NameReference& reference : name_references()) {
    // Referrals of the kind; nothing to do unless one was renamed or moved during the build.
    std::vector<const Resource*> referrals;
    bool any_moved = false;
    for (const Resource& resource : accumulated)
      if (resource.kind() == reference.kind && (reference.group.empty() || resource.group() == reference.group || resource.group().empty())) {
        referrals.push_back(&resource);
        any_moved = any_moved || !resource.old_names.empty() || resource.namespace_() != resource.original_namespace;
      }
    if (!any_moved)
      continue;
    for (Resource& referrer : accumulated) {
      const std::string referrer_namespace = referrer.namespace_();
      const bool referrer_cluster_scoped = is_cluster_scoped(referrer.group(), referrer.kind());
      // The referral `old` names, seen from `referrer` (an object reference such as a subject gives
      // its own namespace, which is the referral's namespace before or after the build); nullptr
      // when there is none, or several that disagree.
      const auto referral_of = [&](std::string_view old, const std::optional<std::string>& given_namespace) -> const Resource* {
        std::vector<const Resource*> candidates;
        for (const Resource* referral : referrals) {
          if (!referral->has_name(old))
            continue;
          const bool namespaced = !is_cluster_scoped(referral->group(), referral->kind());
          if (namespaced && given_namespace) {
            if (effective(*given_namespace) != effective(referral->original_namespace) && effective(*given_namespace) != effective(referral->namespace_()))
              continue;
          } else if (namespaced && !referrer_cluster_scoped && effective(referral->namespace_()) != effective(referrer_namespace)) {
            // As kustomize: a namespaced referral must be in the referrer's namespace; a cluster-scoped
            // referrer (a ClusterRole) may name objects of any namespace.
            continue;
          }
          candidates.push_back(referral);
        }
        // Several (a base included twice): the one that came through the referrer's kustomizations.
        if (candidates.size() > 1) {
          std::vector<const Resource*> same_chain;
          for (const Resource* candidate : candidates)
            if (candidate->chain == referrer.chain)
              same_chain.push_back(candidate);
          if (!same_chain.empty())
            candidates = same_chain;
        }
        if (candidates.empty())
          return nullptr;
        // Still several: one that kept the name wins (nothing to update), else they must agree.
        for (const Resource* candidate : candidates)
          if (candidate->name() == old && candidates.size() > 1)
            return nullptr;
        for (const Resource* candidate : candidates)
          if (candidate->name() != candidates.front()->name() || candidate->namespace_() != candidates.front()->namespace_())
            return nullptr;
        return candidates.front();
      };
      const auto set_to = [&](Json& value, const std::string& text) {
        value.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator_);
      };
      const auto update_name = [&](Json& value) {
        if (!value.IsString())
          return;
        if (const Resource* referral = referral_of(sv(value), std::nullopt); referral != nullptr && referral->name() != sv(value))
          set_to(value, referral->name());
      };
      // An object reference ({name, namespace}): both follow the referral.
      const auto update_object = [&](Json& object) {
        if (reference.kind == "ServiceAccount" && string_member(object, "kind") != "ServiceAccount")
          return;
        auto name = object.FindMember("name");
        if (name == object.MemberEnd() || !name->value.IsString())
          return;
        std::optional<std::string> given;
        if (const Json* ns = find_member(object, "namespace"); ns != nullptr && ns->IsString())
          given = std::string(sv(*ns));
        const Resource* referral = referral_of(sv(name->value), given);
        if (referral == nullptr)
          return;
        set_to(name->value, referral->name());
        if (!referral->namespace_().empty() && (given || referral->namespace_() != referral->original_namespace))
          set_string(object, "namespace", referral->namespace_(), allocator_);
      };
      // A roleRef names its kind: it follows a Role or a ClusterRole, not both (kustomize's roleRef filter).
      const Json* role_ref = find_member(referrer.value, "roleRef");
      const std::string_view role_ref_kind = role_ref != nullptr && role_ref->IsObject() ? string_member(*role_ref, "kind") : std::string_view{};
      std::vector<FieldSpec> other_kind_fields;
      const bool other_kind = !role_ref_kind.empty() && role_ref_kind != reference.kind;
      if (other_kind)
        for (const FieldSpec& spec : reference.fields)
          if (spec.path != "roleRef/name")
            other_kind_fields.push_back(spec);
      apply_specs(referrer, other_kind ? other_kind_fields : reference.fields, allocator_, [&](Json& leaf) {
        if (leaf.IsString())
          update_name(leaf);
        else if (leaf.IsObject())
          update_object(leaf);
      });
    }
  }
}

// ---- Replacements ----------------------------------------------------------------------------------

namespace {

// "spec.containers.[name=app].image" → steps; brackets may hold dots.
std::vector<std::string> field_path_steps(std::string_view path) {
  std::vector<std::string> steps;
  std::string step;
  int depth = 0;
  for (const char c : path) {
    if (c == '[')
      ++depth;
    if (c == ']')
      --depth;
    if (c == '.' && depth == 0) {
      steps.push_back(std::move(step));
      step.clear();
      continue;
    }
    step += c;
  }
  steps.push_back(std::move(step));
  return steps;
}

// Every node at `steps[index...]` below `node`; with `create`, missing mappings are made.
void find_nodes(Json& node, const std::vector<std::string>& steps, size_t index, bool create, JsonAllocator& allocator, std::vector<Json*>& out) {
  if (index == steps.size()) {
    out.push_back(&node);
    return;
  }
  const std::string& step = steps[index];
  if (step == "*" || step == "[*]") {
    if (node.IsArray())
      for (Json& item : node.GetArray())
        find_nodes(item, steps, index + 1, create, allocator, out);
    else if (node.IsObject())
      for (auto member = node.MemberBegin(); member != node.MemberEnd(); ++member)
        find_nodes(member->value, steps, index + 1, create, allocator, out);
    return;
  }
  if (step.size() > 2 && step.front() == '[' && step.back() == ']') {
    if (!node.IsArray())
      return;
    const std::string inner = step.substr(1, step.size() - 2);
    const size_t equals = inner.find('=');
    if (equals == std::string::npos)
      return;
    const std::string key = inner.substr(0, equals);
    const std::string value = inner.substr(equals + 1);
    for (Json& item : node.GetArray()) {
      if (key.empty() ? (item.IsString() && sv(item) == value) : (item.IsObject() && find_member(item, key) != nullptr && scalar_text(*find_member(item, key)) == value))
        find_nodes(item, steps, index + 1, create, allocator, out);
    }
    return;
  }
  if (node.IsArray()) {
    size_t position = 0;
    const auto [end, ec] = std::from_chars(step.data(), step.data() + step.size(), position);
    if (ec == std::errc{} && end == step.data() + step.size() && position < node.Size())
      find_nodes(node[static_cast<rapidjson::SizeType>(position)], steps, index + 1, create, allocator, out);
    return;
  }
  if (!node.IsObject()) {
    if (!(create && node.IsNull()))
      return;
    node.SetObject();
  }
  auto member = node.FindMember(Json(rapidjson::StringRef(step.data(), step.size())));
  if (member == node.MemberEnd()) {
    if (!create)
      return;
    node.AddMember(Json(step.data(), static_cast<rapidjson::SizeType>(step.size()), allocator), Json(), allocator);
    member = node.FindMember(Json(rapidjson::StringRef(step.data(), step.size())));
  }
  find_nodes(member->value, steps, index + 1, create, allocator, out);
}

std::vector<std::string> split_on(std::string_view text, std::string_view delimiter) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t found = text.find(delimiter, start);
    parts.emplace_back(text.substr(start, found == std::string_view::npos ? std::string_view::npos : found - start));
    if (found == std::string_view::npos)
      return parts;
    start = found + delimiter.size();
  }
}

struct DelimiterOptions {
  std::string delimiter;
  long long index = 0;
  bool create = false;
};

DelimiterOptions read_delimiter_options(const Kustomization& kustomization, const Json& parent, const std::string& pointer) {
  DelimiterOptions out;
  const Json* options = find_member(parent, "options");
  if (options == nullptr || options->IsNull())
    return out;
  if (!options->IsObject())
    throw kustomization.error(pointer + "/options", fmt::format("expected a mapping, got {}", json_type_name(*options)));
  out.delimiter = kustomization.string(*options, "delimiter", pointer + "/options");
  if (const Json* index = find_member(*options, "index"); index != nullptr && index->IsInt64())
    out.index = index->GetInt64();
  if (const Json* create = find_member(*options, "create"); create != nullptr && create->IsBool())
    out.create = create->GetBool();
  return out;
}

} // namespace

void Builder::apply_replacements(const Kustomization& kustomization, std::vector<Resource>& accumulated) {
  const std::vector<const Json*> entries = kustomization.objects("replacements");
  // Entries given by path hold a replacement, or a list of them, in a file.
  std::vector<std::pair<const Json*, std::string>> replacements; // (replacement, pointer)
  std::vector<std::unique_ptr<YamlFile>> files;
  for (size_t index = 0; index < entries.size(); ++index) {
    const std::string pointer = fmt::format("/replacements/{}", index);
    const std::string path = kustomization.string(*entries[index], "path", pointer);
    if (path.empty()) {
      replacements.emplace_back(entries[index], pointer);
      continue;
    }
    files.push_back(parse_patch(kustomization, pointer, read_relative(kustomization, pointer + "/path", path)));
    for (const YamlDocument& document : files.back()->documents) {
      if (document.value.IsArray()) {
        for (const Json& item : document.value.GetArray())
          replacements.emplace_back(&item, pointer);
      } else {
        replacements.emplace_back(&document.value, pointer);
      }
    }
  }
  for (const auto& [replacement, pointer] : replacements) {
    if (!replacement->IsObject())
      throw kustomization.error(pointer, "expected a mapping with source and targets");
    const Json* source_value = find_member(*replacement, "source");
    if (source_value == nullptr)
      throw kustomization.error(pointer, "source: required field is missing");
    // The source selector also takes fieldPath and options.
    Json source_selector(rapidjson::kObjectType);
    for (auto member = source_value->MemberBegin(); source_value->IsObject() && member != source_value->MemberEnd(); ++member)
      if (sv(member->name) != "fieldPath" && sv(member->name) != "options")
        source_selector.AddMember(Json(member->name, allocator_), Json(member->value, allocator_), allocator_);
    const Selector source = read_selector(kustomization, source_selector, pointer + "/source");
    std::vector<Resource*> sources;
    for (Resource& resource : accumulated)
      if (selects(source, resource))
        sources.push_back(&resource);
    if (sources.size() != 1)
      throw kustomization.error(pointer + "/source", sources.empty() ? "selects no resource" : fmt::format("selects {} resources, expected one", sources.size()));
    std::string field_path = kustomization.string(*source_value, "fieldPath", pointer + "/source");
    if (field_path.empty())
      field_path = "metadata.name";
    std::vector<Json*> found;
    find_nodes(sources.front()->value, field_path_steps(field_path), 0, false, allocator_, found);
    if (found.empty())
      throw kustomization.error(pointer + "/source/fieldPath", fmt::format("{}: no field \"{}\"", sources.front()->display(), field_path));
    Json value(*found.front(), allocator_);
    const DelimiterOptions source_options = read_delimiter_options(kustomization, *source_value, pointer + "/source");
    if (!source_options.delimiter.empty() && value.IsString()) {
      const std::vector<std::string> parts = split_on(sv(value), source_options.delimiter);
      if (source_options.index < 0 || static_cast<size_t>(source_options.index) >= parts.size())
        throw kustomization.error(pointer + "/source/options/index", fmt::format("index {} is out of range ({} parts)", source_options.index, parts.size()));
      const std::string& part = parts[static_cast<size_t>(source_options.index)];
      value.SetString(part.data(), static_cast<rapidjson::SizeType>(part.size()), allocator_);
    }
    const Json* targets = find_member(*replacement, "targets");
    if (targets == nullptr || !targets->IsArray())
      throw kustomization.error(pointer, "targets: expected a list");
    for (rapidjson::SizeType target_index = 0; target_index < targets->Size(); ++target_index) {
      const Json& target = (*targets)[target_index];
      const std::string target_pointer = fmt::format("{}/targets/{}", pointer, target_index);
      const Json* select_value = find_member(target, "select");
      if (select_value == nullptr)
        throw kustomization.error(target_pointer, "select: required field is missing");
      const Selector select = read_selector(kustomization, *select_value, target_pointer + "/select");
      std::vector<Selector> rejects;
      if (const Json* reject = find_member(target, "reject"); reject != nullptr && reject->IsArray())
        for (rapidjson::SizeType i = 0; i < reject->Size(); ++i)
          rejects.push_back(read_selector(kustomization, (*reject)[i], fmt::format("{}/reject/{}", target_pointer, i)));
      const DelimiterOptions options = read_delimiter_options(kustomization, target, target_pointer);
      const Json* paths = find_member(target, "fieldPaths");
      if (paths == nullptr || !paths->IsArray())
        throw kustomization.error(target_pointer, "fieldPaths: expected a list");
      for (Resource& resource : accumulated) {
        if (!selects(select, resource) ||
            std::any_of(rejects.begin(), rejects.end(), [&](const Selector& reject) { return selects(reject, resource); }))
          continue;
        for (rapidjson::SizeType path_index = 0; path_index < paths->Size(); ++path_index) {
          const std::string path = scalar_text((*paths)[path_index]);
          std::vector<Json*> nodes;
          find_nodes(resource.value, field_path_steps(path), 0, options.create, allocator_, nodes);
          if (nodes.empty())
            throw kustomization.error(fmt::format("{}/fieldPaths/{}", target_pointer, path_index),
                                      fmt::format("{}: no field \"{}\" (set options.create to add it)", resource.display(), path));
          for (Json* node : nodes) {
            // A field `create` just made is an empty string to the delimiter, as in kustomize
            // ("a" at index -1 of a new field gives "a,").
            if (!options.delimiter.empty() && options.create && node->IsNull() && value.IsString())
              node->SetString("", allocator_);
            if (!options.delimiter.empty() && node->IsString() && value.IsString()) {
              std::vector<std::string> parts = split_on(sv(*node), options.delimiter);
              const std::string text(sv(value));
              if (options.index < 0)
                parts.insert(parts.begin(), text);
              else if (static_cast<size_t>(options.index) >= parts.size())
                parts.push_back(text);
              else
                parts[static_cast<size_t>(options.index)] = text;
              std::string joined;
              for (size_t i = 0; i < parts.size(); ++i)
                joined += (i == 0 ? "" : options.delimiter) + parts[i];
              node->SetString(joined.data(), static_cast<rapidjson::SizeType>(joined.size()), allocator_);
              continue;
            }
            node->CopyFrom(value, allocator_);
          }
        }
      }
    }
  }
}

void Builder::sort_legacy(std::vector<Resource>& accumulated) const {
  static constexpr std::string_view first[] = {"Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
                                               "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
                                               "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
                                               "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget"};
  static constexpr std::string_view last[] = {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"};
  // kustomize's legacy order: the kinds of orderFirst in that order, then every other kind, then
  // orderLast; ties by group, version, kind, then namespace and name.
  const auto rank = [&](const std::string& kind) -> long {
    if (legacy_kinds_) {
      const auto& custom_first = legacy_kinds_->first;
      const auto& custom_last = legacy_kinds_->last;
      for (size_t i = 0; i < custom_first.size(); ++i)
        if (custom_first[i] == kind)
          return static_cast<long>(i) - static_cast<long>(custom_first.size());
      for (size_t i = 0; i < custom_last.size(); ++i)
        if (custom_last[i] == kind)
          return static_cast<long>(i) + 1;
      return 0;
    }
    for (size_t i = 0; i < std::size(first); ++i)
      if (first[i] == kind)
        return static_cast<long>(i) - 100;
    for (size_t i = 0; i < std::size(last); ++i)
      if (last[i] == kind)
        return 100 + static_cast<long>(i);
    return 0;
  };
  std::stable_sort(accumulated.begin(), accumulated.end(), [&](const Resource& a, const Resource& b) {
    const long ra = rank(a.kind());
    const long rb = rank(b.kind());
    if (ra != rb)
      return ra < rb;
    return std::make_tuple(a.group(), a.version(), a.kind(), a.namespace_(), a.name()) <
           std::make_tuple(b.group(), b.version(), b.kind(), b.namespace_(), b.name());
  });
}

} // namespace meridian::kustomize

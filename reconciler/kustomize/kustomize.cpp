// The build: kustomize's accumulation (resources, generators, components, transformers per
// kustomization, recursively), then, once at the top, content-hash suffixes and name references.
#include "kustomize/kustomize.h"

#include "base/error.h"
#include "kustomize/internal.h"
#include "kustomize/patch.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <unordered_map>

namespace meridian::kustomize {

std::optional<std::string> MemoryTree::read(std::string_view path) const {
  const auto found = files_.find(path);
  if (found == files_.end())
    return std::nullopt;
  return found->second;
}

bool MemoryTree::is_directory(std::string_view path) const {
  if (path.empty())
    return true;
  const std::string prefix = std::string(path) + "/";
  const auto next = files_.lower_bound(prefix);
  return next != files_.end() && next->first.compare(0, prefix.size(), prefix) == 0;
}

bool is_kustomization_name(std::string_view name) {
  return std::find(std::begin(kustomization_names), std::end(kustomization_names), name) != std::end(kustomization_names);
}

std::string join_path(std::string_view directory, std::string_view name) {
  if (directory.empty())
    return std::string(name);
  return std::string(directory) + "/" + std::string(name);
}

std::optional<std::string> find_kustomization(const FileTree& tree, std::string_view directory) {
  std::optional<std::string> found;
  for (const std::string_view name : kustomization_names) {
    const std::string path = join_path(directory, name);
    if (!tree.read(path))
      continue;
    if (found)
      throw UserError(fmt::format("{}: found several kustomization files ({} and {}): keep one", directory.empty() ? "." : directory,
                                  *found, path));
    found = path;
  }
  return found;
}

std::optional<std::string> normalize_path(std::string_view directory, std::string_view relative) {
  std::vector<std::string> parts;
  const auto push = [&](std::string_view path) -> bool {
    size_t start = 0;
    while (start <= path.size()) {
      const size_t slash = path.find('/', start);
      const std::string_view part = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
      if (part == "..") {
        if (parts.empty())
          return false;
        parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.emplace_back(part);
      }
      if (slash == std::string_view::npos)
        break;
      start = slash + 1;
    }
    return true;
  };
  if (relative.substr(0, 1) == "/")
    return std::nullopt;
  if (!push(directory) || !push(relative))
    return std::nullopt;
  std::string out;
  for (const std::string& part : parts)
    out += (out.empty() ? "" : "/") + part;
  return out;
}

bool is_within(std::string_view path, std::string_view directory) {
  if (directory.empty())
    return true;
  return path.size() > directory.size() && path.substr(0, directory.size()) == directory && path[directory.size()] == '/';
}

std::string_view directory_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
}

bool is_remote(std::string_view entry) {
  static constexpr std::string_view hosts[] = {"github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::", "ssh://", "oci://"};
  if (entry.find("://") != std::string_view::npos || entry.find("?ref=") != std::string_view::npos)
    return true;
  return std::any_of(std::begin(hosts), std::end(hosts), [&](std::string_view host) { return entry.substr(0, host.size()) == host; });
}

// ---- Kustomization files ---------------------------------------------------------------------

std::string Kustomization::where(std::string_view pointer) const {
  const int line = pointer.empty() ? 0 : locate_line(text, 0, pointer);
  return line > 0 ? fmt::format("{}:{}", file, line) : file;
}

UserError Kustomization::error(std::string_view pointer, std::string_view message) const {
  const std::string field = pointer_to_field(pointer);
  return UserError(fmt::format("{}: {}{}", where(pointer), field.empty() ? "" : field + ": ", message));
}

const Json* Kustomization::field(std::string_view name) const {
  const Json* value = find_member(*root, name);
  return value == nullptr || value->IsNull() ? nullptr : value;
}

std::string scalar_text(const Json& value) {
  if (value.IsString())
    return std::string(value.GetString(), value.GetStringLength());
  if (value.IsBool())
    return value.GetBool() ? "true" : "false";
  if (value.IsInt64())
    return std::to_string(value.GetInt64());
  if (value.IsUint64())
    return std::to_string(value.GetUint64());
  if (value.IsDouble())
    return fmt::format("{}", value.GetDouble());
  return {};
}

std::string Kustomization::string(const Json& parent, std::string_view name, std::string_view pointer) const {
  const Json* value = find_member(parent, name);
  if (value == nullptr || value->IsNull())
    return {};
  const std::string at = std::string(pointer) + "/" + escape_pointer_token(name);
  if (!value->IsString() && !value->IsNumber() && !value->IsBool())
    throw error(at, fmt::format("expected a string, got {}", json_type_name(*value)));
  return scalar_text(*value);
}

std::vector<std::string> Kustomization::strings(std::string_view name) const {
  std::vector<std::string> out;
  const Json* value = field(name);
  if (value == nullptr)
    return out;
  const std::string at = "/" + escape_pointer_token(name);
  if (!value->IsArray())
    throw error(at, fmt::format("expected a list of strings, got {}", json_type_name(*value)));
  for (rapidjson::SizeType index = 0; index < value->Size(); ++index) {
    const Json& item = (*value)[index];
    if (!item.IsString())
      throw error(fmt::format("{}/{}", at, index), fmt::format("expected a string, got {}", json_type_name(item)));
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Kustomization::string_map(const Json* value, std::string_view pointer) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (value == nullptr || value->IsNull())
    return out;
  if (!value->IsObject())
    throw error(pointer, fmt::format("expected a mapping of strings, got {}", json_type_name(*value)));
  for (auto member = value->MemberBegin(); member != value->MemberEnd(); ++member) {
    const std::string key(member->name.GetString(), member->name.GetStringLength());
    if (member->value.IsObject() || member->value.IsArray())
      throw error(std::string(pointer) + "/" + escape_pointer_token(key), fmt::format("expected a string, got {}", json_type_name(member->value)));
    out.emplace_back(key, scalar_text(member->value));
  }
  return out;
}

std::vector<const Json*> Kustomization::objects(std::string_view name) const {
  std::vector<const Json*> out;
  const Json* value = field(name);
  if (value == nullptr)
    return out;
  const std::string at = "/" + escape_pointer_token(name);
  if (!value->IsArray())
    throw error(at, fmt::format("expected a list, got {}", json_type_name(*value)));
  for (rapidjson::SizeType index = 0; index < value->Size(); ++index) {
    if (!(*value)[index].IsObject())
      throw error(fmt::format("{}/{}", at, index), fmt::format("expected a mapping, got {}", json_type_name((*value)[index])));
    out.push_back(&(*value)[index]);
  }
  return out;
}

// ---- Resources -------------------------------------------------------------------------------

std::string_view sv(const Json& string) { return {string.GetString(), string.GetStringLength()}; }

std::string Resource::kind() const { return std::string(string_member(value, "kind")); }
std::string Resource::api_version() const { return std::string(string_member(value, "apiVersion")); }
std::string Resource::group() const {
  const std::string version = api_version();
  const size_t slash = version.find('/');
  return slash == std::string::npos ? std::string() : version.substr(0, slash);
}
std::string Resource::version() const {
  const std::string version = api_version();
  const size_t slash = version.find('/');
  return slash == std::string::npos ? version : version.substr(slash + 1);
}
std::string Resource::name() const {
  const Json* metadata = find_member(value, "metadata");
  return metadata == nullptr ? std::string() : std::string(string_member(*metadata, "name"));
}
std::string Resource::namespace_() const {
  const Json* metadata = find_member(value, "metadata");
  return metadata == nullptr ? std::string() : std::string(string_member(*metadata, "namespace"));
}
bool Resource::has_name(std::string_view candidate) const {
  return name() == candidate || std::find(old_names.begin(), old_names.end(), candidate) != old_names.end();
}
std::string Resource::id() const {
  const std::string ns = namespace_();
  return fmt::format("{}.{}/{}.{}", kind(), api_version(), name(), ns.empty() ? "[noNs]" : ns);
}
std::string Resource::display() const {
  const std::string ns = namespace_();
  return ns.empty() ? fmt::format("{}/{}", kind(), name()) : fmt::format("{}/{}/{}", kind(), ns, name());
}

Json& metadata_of(Json& object, JsonAllocator& allocator) {
  auto metadata = object.FindMember("metadata");
  if (metadata == object.MemberEnd() || !metadata->value.IsObject()) {
    if (metadata != object.MemberEnd())
      object.EraseMember(metadata);
    object.AddMember("metadata", Json(rapidjson::kObjectType), allocator);
    metadata = object.FindMember("metadata");
  }
  return metadata->value;
}

void set_string(Json& object, std::string_view key, std::string_view text, JsonAllocator& allocator) {
  Json value(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
  auto member = object.FindMember(Json(rapidjson::StringRef(key.data(), key.size())));
  if (member != object.MemberEnd()) {
    member->value = value;
    return;
  }
  object.AddMember(Json(key.data(), static_cast<rapidjson::SizeType>(key.size()), allocator), value, allocator);
}

void Resource::set_name(std::string_view new_name, JsonAllocator& allocator) {
  const std::string current = name();
  if (current == new_name)
    return;
  old_names.push_back(current);
  set_string(metadata_of(value, allocator), "name", new_name, allocator);
}

bool is_cluster_scoped(std::string_view group, std::string_view kind) {
  static constexpr std::string_view kinds[] = {
      "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
      "PriorityClass", "IngressClass", "RuntimeClass", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
      "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "CSIDriver", "CSINode", "VolumeAttachment", "PodSecurityPolicy",
      "CertificateSigningRequest", "ComponentStatus", "FlowSchema", "PriorityLevelConfiguration", "ClusterIssuer"};
  if (group == "meridian.io")
    return true; // Meridian's own kinds (Fleet, Cluster, NodePool) live outside namespaces
  return std::find(std::begin(kinds), std::end(kinds), kind) != std::end(kinds);
}

bool is_builtin_group(std::string_view group) {
  static constexpr std::string_view groups[] = {"", "apps", "batch", "extensions", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
                                                "autoscaling", "storage.k8s.io", "scheduling.k8s.io", "node.k8s.io", "coordination.k8s.io",
                                                "discovery.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io"};
  return std::find(std::begin(groups), std::end(groups), group) != std::end(groups);
}

// ---- The builder -----------------------------------------------------------------------------

Builder::Builder(const FileTree& tree, const BuildOptions& options) : tree_(tree), options_(options) {}

std::string Builder::read_input(const std::string& path) {
  auto text = tree_.read(path);
  if (!text)
    throw UserError(fmt::format("{}: no such file", path));
  inputs_.insert(path);
  return std::move(*text);
}

std::unique_ptr<Kustomization> Builder::load_kustomization(const std::string& directory) {
  const std::optional<std::string> file = find_kustomization(tree_, directory);
  if (!file)
    return nullptr;
  auto kustomization = std::make_unique<Kustomization>();
  kustomization->directory = directory;
  kustomization->file = *file;
  kustomization->text = read_input(*file);
  kustomization->yaml = parse_yaml(kustomization->text);
  if (kustomization->yaml->error)
    throw UserError(fmt::format("{}:{}: {}", *file, kustomization->yaml->error->line, kustomization->yaml->error->message));
  static const Json empty(rapidjson::kObjectType);
  if (kustomization->yaml->documents.empty()) {
    kustomization->root = &empty;
  } else {
    if (kustomization->yaml->documents.size() > 1)
      throw UserError(fmt::format("{}:{}: expected one document, got {}", *file, kustomization->yaml->documents[1].line,
                                  kustomization->yaml->documents.size()));
    kustomization->root = &kustomization->yaml->documents.front().value;
    if (!kustomization->root->IsObject())
      throw UserError(fmt::format("{}:{}: expected a mapping, got {}", *file, kustomization->yaml->documents.front().line,
                                  json_type_name(*kustomization->root)));
  }
  check_fields(*kustomization);
  return kustomization;
}

void Builder::check_fields(const Kustomization& kustomization) {
  static constexpr std::string_view supported[] = {
      "apiVersion", "kind", "metadata", "resources", "bases", "components", "namespace", "namePrefix", "nameSuffix", "commonLabels",
      "labels", "commonAnnotations", "images", "replicas", "patches", "patchesStrategicMerge", "patchesJson6902", "configMapGenerator",
      "secretGenerator", "generatorOptions", "replacements", "sortOptions", "buildMetadata"};
  static constexpr std::string_view unsupported[] = {"vars", "helmCharts", "helmGlobals", "helmChartInflationGenerator", "configurations",
                                                     "crds", "generators", "transformers", "validators", "openapi", "inventory",
                                                     "imageTags"};
  for (auto member = kustomization.root->MemberBegin(); member != kustomization.root->MemberEnd(); ++member) {
    const std::string_view name = sv(member->name);
    const std::string pointer = "/" + escape_pointer_token(name);
    if (std::find(std::begin(supported), std::end(supported), name) != std::end(supported))
      continue;
    if (std::find(std::begin(unsupported), std::end(unsupported), name) != std::end(unsupported))
      throw kustomization.error(pointer, "not supported by Meridian's kustomize build (see README, Kustomize)");
    throw kustomization.error(pointer, "unknown field of a kustomization");
  }
  const std::string kind = kustomization.string(*kustomization.root, "kind", "");
  if (!kind.empty() && kind != "Kustomization" && kind != "Component")
    throw kustomization.error("/kind", fmt::format("expected Kustomization or Component, got \"{}\"", kind));
  const std::string api_version = kustomization.string(*kustomization.root, "apiVersion", "");
  if (kind == "Component" && !api_version.empty() && api_version != "kustomize.config.k8s.io/v1alpha1")
    throw kustomization.error("/apiVersion", fmt::format("apiVersion for Component should be kustomize.config.k8s.io/v1alpha1, got \"{}\"", api_version));
  if (kind != "Component" && !api_version.empty() && api_version != "kustomize.config.k8s.io/v1beta1")
    throw kustomization.error("/apiVersion", fmt::format("apiVersion for Kustomization should be kustomize.config.k8s.io/v1beta1, got \"{}\"", api_version));
  if (const Json* sort = kustomization.field("sortOptions")) {
    const Json* order = find_member(*sort, "order");
    if (order != nullptr && order->IsString() && sv(*order) != "fifo" && sv(*order) != "legacy")
      throw kustomization.error("/sortOptions/order", fmt::format("expected fifo or legacy, got \"{}\"", sv(*order)));
    if (order == nullptr || order->IsNull())
      throw kustomization.error("/sortOptions", "order: required (fifo or legacy)");
    if (find_member(*sort, "legacySortOptions") != nullptr && sv(*order) == "fifo")
      throw kustomization.error("/sortOptions/legacySortOptions", "set, but the sort order is fifo, not legacy");
  }
}

std::vector<Resource> Builder::parse_resources(const std::string& path, const std::string& text) {
  const std::unique_ptr<YamlFile> yaml = parse_yaml(text);
  if (yaml->error)
    throw UserError(fmt::format("{}:{}: {}", path, yaml->error->line, yaml->error->message));
  std::vector<Resource> out;
  for (const YamlDocument& document : yaml->documents) {
    if (!document.value.IsObject())
      throw UserError(fmt::format("{}:{}: expected a Kubernetes object (a mapping), got {}", path, document.line, json_type_name(document.value)));
    const std::string_view kind = string_member(document.value, "kind");
    const Json* items = find_member(document.value, "items");
    if (kind.size() > 4 && kind.substr(kind.size() - 4) == "List" && items != nullptr && items->IsArray()) {
      for (const Json& item : items->GetArray()) {
        Resource resource;
        resource.value.CopyFrom(item, allocator_);
        resource.file = path;
        resource.line = document.line;
        out.push_back(std::move(resource));
      }
      continue;
    }
    Resource resource;
    resource.value.CopyFrom(document.value, allocator_);
    resource.file = path;
    resource.line = document.line;
    out.push_back(std::move(resource));
  }
  for (Resource& resource : out) {
    if (resource.kind().empty())
      throw UserError(fmt::format("{}:{}: kind: required field is missing", path, resource.line));
    if (resource.name().empty() && find_path(resource.value, "metadata.generateName") == nullptr)
      throw UserError(fmt::format("{}:{}: {}: metadata.name: required field is missing", path, resource.line, resource.kind()));
    resource.original_namespace = resource.namespace_();
  }
  return out;
}

void Builder::append(std::vector<Resource>& accumulated, std::unordered_map<std::string, size_t>& ids, Resource resource,
                     const Kustomization& kustomization, std::string_view pointer) {
  const auto [existing, added] = ids.emplace(resource.id(), accumulated.size());
  if (!added) {
    const Resource& first = accumulated[existing->second];
    throw kustomization.error(pointer, fmt::format("may not add resource with an already registered id: {} (from {}:{}, already from {}:{})",
                                                   resource.display(), resource.file, resource.line, first.file, first.line));
  }
  accumulated.push_back(std::move(resource));
}

std::vector<Resource> Builder::build_directory(const std::string& directory, const Kustomization* parent, std::string_view pointer) {
  if (std::find(stack_.begin(), stack_.end(), directory) != stack_.end())
    throw parent->error(pointer, fmt::format("cycle: \"{}\" includes itself", directory.empty() ? "." : directory));
  std::unique_ptr<Kustomization> kustomization = load_kustomization(directory);
  if (!kustomization) {
    if (parent == nullptr)
      throw UserError(fmt::format("{}: no kustomization.yaml, kustomization.yml or Kustomization in this directory", directory.empty() ? "." : directory));
    throw parent->error(pointer, fmt::format("directory \"{}\" holds no kustomization.yaml, kustomization.yml or Kustomization", directory));
  }
  // A Component built on its own builds as a kustomization (as kustomize does); listed in
  // resources, it is a mistake.
  if (parent != nullptr && kustomization->string(*kustomization->root, "kind", "") == "Component")
    throw parent->error(pointer, fmt::format("\"{}\" is a Component: list it under components, not resources", directory));
  if (parent == nullptr) {
    // sortOptions counts in the top kustomization only, as in kustomize.
    legacy_order_ = options_.legacy_order;
    root_ = directory;
    if (kustomization->field("buildMetadata") != nullptr) {
      const std::vector<std::string> options = kustomization->strings("buildMetadata");
      for (size_t index = 0; index < options.size(); ++index) {
        const std::string pointer = fmt::format("/buildMetadata/{}", index);
        if (options[index] == "originAnnotations")
          origin_annotations_ = true;
        else if (options[index] == "transformerAnnotations" || options[index] == "managedByLabel")
          throw kustomization->error(pointer, fmt::format("\"{}\" is not supported by Meridian's kustomize build (originAnnotations is)", options[index]));
        else
          throw kustomization->error(pointer, fmt::format("expected originAnnotations, transformerAnnotations or managedByLabel, got \"{}\"", options[index]));
      }
    }
    if (const Json* sort = kustomization->field("sortOptions")) {
      legacy_order_ = string_member(*sort, "order", options_.legacy_order ? "legacy" : "fifo") == "legacy";
      if (const Json* legacy = find_member(*sort, "legacySortOptions")) {
        // kustomize replaces its default kind lists with these (either may be empty).
        legacy_kinds_.emplace();
        for (const char* list : {"orderFirst", "orderLast"}) {
          const std::string pointer = fmt::format("/sortOptions/legacySortOptions/{}", list);
          const Json* kinds = legacy->IsObject() ? find_member(*legacy, list) : nullptr;
          if (kinds == nullptr || kinds->IsNull())
            continue;
          if (!kinds->IsArray())
            throw kustomization->error(pointer, fmt::format("expected a list of kinds, got {}", json_type_name(*kinds)));
          for (rapidjson::SizeType i = 0; i < kinds->Size(); ++i) {
            if (!(*kinds)[i].IsString())
              throw kustomization->error(fmt::format("{}/{}", pointer, i), fmt::format("expected a kind, got {}", json_type_name((*kinds)[i])));
            (list[5] == 'F' ? legacy_kinds_->first : legacy_kinds_->last).emplace_back(sv((*kinds)[i]));
          }
        }
      }
    }
  }
  stack_.push_back(directory);
  std::vector<Resource> accumulated;
  accumulate(*kustomization, accumulated);
  stack_.pop_back();
  for (Resource& resource : accumulated)
    resource.chain.push_back(directory);
  return accumulated;
}

void Builder::accumulate(const Kustomization& kustomization, std::vector<Resource>& accumulated) {
  // Identities of what is accumulated (resources are renamed only by the transformers, at the end).
  std::unordered_map<std::string, size_t> ids;
  for (size_t index = 0; index < accumulated.size(); ++index)
    ids.emplace(accumulated[index].id(), index);
  std::vector<std::string> entries = kustomization.strings("resources");
  const std::vector<std::string> bases = kustomization.strings("bases");
  for (size_t index = 0; index < entries.size() + bases.size(); ++index) {
    const bool is_base = index >= entries.size();
    const std::string& entry = is_base ? bases[index - entries.size()] : entries[index];
    const std::string pointer = is_base ? fmt::format("/bases/{}", index - entries.size()) : fmt::format("/resources/{}", index);
    if (entry.empty() || entry == ".")
      throw kustomization.error(pointer, "expected a file or a directory, got \"" + entry + "\"");
    if (is_remote(entry))
      throw kustomization.error(pointer, fmt::format("\"{}\": remote bases are not supported: Meridian builds only from the repository it "
                                                     "reads (vendor the base into the repository)", entry));
    const std::optional<std::string> path = normalize_path(kustomization.directory, entry);
    if (!path)
      throw kustomization.error(pointer, fmt::format("\"{}\": points outside the repository", entry));
    if (tree_.is_directory(*path)) {
      for (Resource& resource : build_directory(*path, &kustomization, pointer))
        append(accumulated, ids, std::move(resource), kustomization, pointer);
      continue;
    }
    if (!tree_.read(*path))
      throw kustomization.error(pointer, fmt::format("\"{}\": no such file or directory", entry));
    if (!is_within(*path, kustomization.directory))
      throw kustomization.error(pointer, fmt::format("\"{}\": security: file '{}' is not in or below '{}' (kustomize's load restrictions; a "
                                                     "base directory with its own kustomization may be outside)",
                                                     entry, *path, kustomization.directory.empty() ? "." : kustomization.directory));
    const std::string text = read_input(*path);
    for (Resource& resource : parse_resources(*path, text))
      append(accumulated, ids, std::move(resource), kustomization, pointer);
  }
  generate(kustomization, accumulated);
  const std::vector<std::string> components = kustomization.strings("components");
  for (size_t index = 0; index < components.size(); ++index) {
    const std::string pointer = fmt::format("/components/{}", index);
    const std::string& entry = components[index];
    if (is_remote(entry))
      throw kustomization.error(pointer, fmt::format("\"{}\": remote components are not supported", entry));
    const std::optional<std::string> path = normalize_path(kustomization.directory, entry);
    if (!path)
      throw kustomization.error(pointer, fmt::format("\"{}\": points outside the repository", entry));
    if (!tree_.is_directory(*path))
      throw kustomization.error(pointer, fmt::format("\"{}\": no such directory", entry));
    if (std::find(stack_.begin(), stack_.end(), *path) != stack_.end())
      throw kustomization.error(pointer, fmt::format("cycle: \"{}\" includes itself", *path));
    std::unique_ptr<Kustomization> component = load_kustomization(*path);
    if (!component)
      throw kustomization.error(pointer, fmt::format("directory \"{}\" holds no kustomization.yaml, kustomization.yml or Kustomization", entry));
    if (component->string(*component->root, "kind", "") != "Component")
      throw kustomization.error(pointer, fmt::format("\"{}\": expected kind Component in {}", entry, component->file));
    stack_.push_back(*path);
    accumulate(*component, accumulated);
    stack_.pop_back();
  }
  transform(kustomization, accumulated);
}

std::string Builder::read_relative(const Kustomization& kustomization, std::string_view pointer, std::string_view entry) {
  if (is_remote(entry))
    throw kustomization.error(pointer, fmt::format("\"{}\": remote files are not supported", entry));
  const std::optional<std::string> path = normalize_path(kustomization.directory, entry);
  if (!path)
    throw kustomization.error(pointer, fmt::format("\"{}\": points outside the repository", entry));
  if (!is_within(*path, kustomization.directory))
    throw kustomization.error(pointer, fmt::format("\"{}\": security: file '{}' is not in or below '{}' (kustomize's load restrictions)", entry,
                                                   *path, kustomization.directory.empty() ? "." : kustomization.directory));
  if (!tree_.read(*path))
    throw kustomization.error(pointer, fmt::format("\"{}\": no such file", entry));
  return read_input(*path);
}

bool Builder::file_exists(const Kustomization& kustomization, std::string_view entry) const {
  const std::optional<std::string> path = normalize_path(kustomization.directory, entry);
  return path && tree_.read(*path).has_value();
}

// `path` (a file of the tree) as seen from the top kustomization's directory: kustomize's origin paths.
static std::string relative_to(std::string_view directory, std::string_view path) {
  std::vector<std::string_view> from, to;
  const auto split = [](std::string_view text, std::vector<std::string_view>& out) {
    while (!text.empty()) {
      const size_t slash = text.find('/');
      out.push_back(text.substr(0, slash));
      text = slash == std::string_view::npos ? std::string_view() : text.substr(slash + 1);
    }
  };
  split(directory, from);
  split(path, to);
  size_t common = 0;
  while (common < from.size() && common + 1 < to.size() && from[common] == to[common])
    ++common;
  std::string out;
  for (size_t i = common; i < from.size(); ++i)
    out += "../";
  for (size_t i = common; i < to.size(); ++i)
    out += std::string(to[i]) + (i + 1 < to.size() ? "/" : "");
  return out;
}

// buildMetadata: [originAnnotations]: config.kubernetes.io/origin as kustomize writes it (YAML of
// its Origin: the path a resource was read from, or the kustomization whose generator made it).
void Builder::add_origin_annotation(Resource& resource) {
  std::string origin;
  if (!resource.generator.empty())
    origin = fmt::format("configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {}\n", relative_to(root_, resource.configured_in),
                         resource.generator);
  else
    origin = fmt::format("path: {}\n", relative_to(root_, resource.file));
  Json& metadata = metadata_of(resource.value, allocator_);
  auto annotations = metadata.FindMember("annotations");
  if (annotations == metadata.MemberEnd() || !annotations->value.IsObject()) {
    if (annotations != metadata.MemberEnd())
      metadata.EraseMember(annotations);
    metadata.AddMember("annotations", Json(rapidjson::kObjectType), allocator_);
    annotations = metadata.FindMember("annotations");
  }
  set_string(annotations->value, "config.kubernetes.io/origin", origin, allocator_);
}

Build Builder::finish(std::vector<Resource> accumulated) {
  add_hashes(accumulated);
  fix_references(accumulated);
  if (legacy_order_)
    sort_legacy(accumulated);
  if (origin_annotations_)
    for (Resource& resource : accumulated)
      add_origin_annotation(resource);
  Build build;
  build.documents = std::make_unique<YamlFile>(JsonAllocator::kChunkBytes);
  size_t index = 0;
  for (Resource& resource : accumulated) {
    const Json* local = find_path(resource.value, "metadata.annotations");
    if (local != nullptr && string_member(*local, "config.kubernetes.io/local-config") == "true")
      continue;
    YamlDocument document;
    document.value.CopyFrom(resource.value, build.documents->allocator);
    document.line = resource.line;
    document.index = index++;
    build.documents->documents.push_back(std::move(document));
    build.files.push_back(resource.file);
  }
  build.inputs.assign(inputs_.begin(), inputs_.end());
  return build;
}

Build build(const FileTree& tree, std::string_view directory, const BuildOptions& options) {
  Builder builder(tree, options);
  std::string root(directory);
  while (!root.empty() && root.back() == '/')
    root.pop_back();
  if (const auto normal = normalize_path("", root))
    root = *normal;
  return builder.finish(builder.build_directory(root, nullptr, ""));
}

} // namespace meridian::kustomize

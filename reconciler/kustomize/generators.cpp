// configMapGenerator and secretGenerator, and the content-hash name suffix kustomize gives what
// they generate (api/hasher: sha256 of a Go json.Marshal of {kind, name, data[, type]}, then the
// first ten hex digits with 0, 1, 3, a, e replaced by g, h, k, m, t). The hash is taken once, at
// the top of a build, on the final content (overlays' merges included).
#include "kustomize/internal.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <algorithm>
#include <map>

namespace meridian::kustomize {
namespace {

struct GeneratorOptions {
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> annotations;
  std::optional<bool> disable_hash;
  std::optional<bool> immutable;
};

GeneratorOptions read_options(const Kustomization& kustomization, const Json* options, const std::string& pointer) {
  GeneratorOptions out;
  if (options == nullptr || options->IsNull())
    return out;
  if (!options->IsObject())
    throw kustomization.error(pointer, fmt::format("expected a mapping, got {}", json_type_name(*options)));
  out.labels = kustomization.string_map(find_member(*options, "labels"), pointer + "/labels");
  out.annotations = kustomization.string_map(find_member(*options, "annotations"), pointer + "/annotations");
  for (const std::string_view flag : {"disableNameSuffixHash", "immutable"}) {
    const Json* value = find_member(*options, flag);
    if (value == nullptr || value->IsNull())
      continue;
    if (!value->IsBool())
      throw kustomization.error(pointer + "/" + std::string(flag), fmt::format("expected true or false, got {}", describe_value(*value)));
    (flag == "immutable" ? out.immutable : out.disable_hash) = value->GetBool();
  }
  for (auto member = options->MemberBegin(); member != options->MemberEnd(); ++member) {
    const std::string_view name = sv(member->name);
    if (name != "labels" && name != "annotations" && name != "disableNameSuffixHash" && name != "immutable")
      throw kustomization.error(pointer + "/" + escape_pointer_token(name), "unknown generator option");
  }
  return out;
}

// kustomize's MergeGlobalOptionsIntoLocal: the generator's own options win.
GeneratorOptions merge_options(GeneratorOptions local, const GeneratorOptions& global) {
  for (const auto& [key, value] : global.labels)
    if (std::none_of(local.labels.begin(), local.labels.end(), [&](const auto& label) { return label.first == key; }))
      local.labels.emplace_back(key, value);
  for (const auto& [key, value] : global.annotations)
    if (std::none_of(local.annotations.begin(), local.annotations.end(), [&](const auto& annotation) { return annotation.first == key; }))
      local.annotations.emplace_back(key, value);
  if (!local.disable_hash)
    local.disable_hash = global.disable_hash;
  if (!local.immutable)
    local.immutable = global.immutable;
  return local;
}

bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size())
      return false;
    for (size_t k = 1; k < length; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80)
        return false;
    i += length;
  }
  return true;
}

std::string base64(std::string_view data) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned n = static_cast<unsigned char>(data[i]) << 16 | static_cast<unsigned char>(data[i + 1]) << 8 | static_cast<unsigned char>(data[i + 2]);
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == data.size()) {
    const unsigned n = static_cast<unsigned char>(data[i]) << 16;
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    const unsigned n = static_cast<unsigned char>(data[i]) << 16 | static_cast<unsigned char>(data[i + 1]) << 8;
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    out += '=';
  }
  return out;
}

// A literal's value: quotes around the whole value are dropped, as kustomize does.
std::string unquote(std::string_view value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
    return std::string(value.substr(1, value.size() - 2));
  return std::string(value);
}

bool valid_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

using DataPairs = std::vector<std::pair<std::string, std::string>>;

void add_pair(DataPairs& data, const Kustomization& kustomization, const std::string& pointer, std::string key, std::string value) {
  if (!valid_key(key))
    throw kustomization.error(pointer, fmt::format("\"{}\": not a valid key (letters, digits, '-', '_' or '.')", key));
  if (std::any_of(data.begin(), data.end(), [&](const auto& pair) { return pair.first == key; }))
    throw kustomization.error(pointer, fmt::format("key \"{}\" is given twice", key));
  data.emplace_back(std::move(key), std::move(value));
}

// KEY=VALUE lines; blank lines and # comments skipped.
void parse_env_file(DataPairs& data, const Kustomization& kustomization, const std::string& pointer, std::string_view entry, std::string_view text) {
  size_t start = 0;
  int line_number = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
      line.remove_prefix(1);
    if (line.empty() || line.front() == '#')
      continue;
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos)
      throw kustomization.error(pointer, fmt::format("\"{}\" line {}: expected KEY=VALUE, got \"{}\" (Meridian never reads its own environment)",
                                                     entry, line_number, line));
    add_pair(data, kustomization, pointer, std::string(line.substr(0, equals)), std::string(line.substr(equals + 1)));
  }
}

std::string hex_sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string out;
  for (const unsigned char byte : digest)
    out += fmt::format("{:02x}", byte);
  return out;
}

// A string as Go's encoding/json writes it (HTML-safe escapes included).
void go_json_string(std::string_view text, std::string& out) {
  out += '"';
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '<': out += "\\u003c"; break;
    case '>': out += "\\u003e"; break;
    case '&': out += "\\u0026"; break;
    default:
      if (c < 0x20) {
        out += fmt::format("\\u{:04x}", c);
      } else if (c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
                 (static_cast<unsigned char>(text[i + 2]) == 0xA8 || static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
        out += static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
        i += 2;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
}

// Go's json.Marshal of a value read back into interface{} (maps with sorted keys).
void go_json(const Json& value, std::string& out) {
  if (value.IsObject()) {
    std::vector<std::string_view> keys;
    for (auto member = value.MemberBegin(); member != value.MemberEnd(); ++member)
      keys.push_back(sv(member->name));
    std::sort(keys.begin(), keys.end());
    out += '{';
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i > 0)
        out += ',';
      go_json_string(keys[i], out);
      out += ':';
      go_json(*find_member(value, keys[i]), out);
    }
    out += '}';
  } else if (value.IsArray()) {
    out += '[';
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
      if (i > 0)
        out += ',';
      go_json(value[i], out);
    }
    out += ']';
  } else if (value.IsString()) {
    go_json_string(sv(value), out);
  } else if (value.IsNull()) {
    out += "null";
  } else {
    out += scalar_text(value);
  }
}

std::string encode_hash(const std::string& hex) {
  std::string out = hex.substr(0, 10);
  for (char& c : out) {
    switch (c) {
    case '0': c = 'g'; break;
    case '1': c = 'h'; break;
    case '3': c = 'k'; break;
    case 'a': c = 'm'; break;
    case 'e': c = 't'; break;
    default: break;
    }
  }
  return out;
}

// Fields of the hash: a missing field counts as "", a mapping as itself (api/hasher getNodeValues).
void hash_field(std::string& out, std::string_view key, const Json* value) {
  go_json_string(key, out);
  out += ':';
  if (value == nullptr || value->IsNull())
    out += "\"\"";
  else if (value->IsObject() || value->IsArray())
    go_json(*value, out);
  else
    go_json_string(scalar_text(*value), out);
}

} // namespace

//! kustomize's content hash of a ConfigMap or Secret. kustomize v5 looks the name up as one field
//! named "metadata/name" (api/hasher getNodeValues), which no object has: the name hashes as "",
//! as its own tests expect ({"data":"","kind":"ConfigMap","name":""} → 6ct58987ht). So do we.
std::string content_hash(const Json& object) {
  const std::string_view kind = string_member(object, "kind");
  const Json* name = nullptr;
  std::string encoded = "{";
  if (kind == "ConfigMap") {
    const Json* binary = find_member(object, "binaryData");
    if (binary != nullptr && binary->IsObject()) {
      hash_field(encoded, "binaryData", binary);
      encoded += ',';
    }
    hash_field(encoded, "data", find_member(object, "data"));
    encoded += ",\"kind\":\"ConfigMap\",";
    hash_field(encoded, "name", name);
  } else {
    hash_field(encoded, "data", find_member(object, "data"));
    encoded += ",\"kind\":\"Secret\",";
    hash_field(encoded, "name", name);
    const Json* string_data = find_member(object, "stringData");
    if (string_data != nullptr && string_data->IsObject()) {
      encoded += ',';
      hash_field(encoded, "stringData", string_data);
    }
    encoded += ',';
    hash_field(encoded, "type", find_member(object, "type"));
  }
  encoded += "}";
  return encode_hash(hex_sha256(encoded));
}

void Builder::generate(const Kustomization& kustomization, std::vector<Resource>& accumulated) {
  const GeneratorOptions global = read_options(kustomization, kustomization.field("generatorOptions"), "/generatorOptions");
  for (const std::string_view section : {"configMapGenerator", "secretGenerator"}) {
    const bool secret = section == "secretGenerator";
    const std::vector<const Json*> generators = kustomization.objects(section);
    for (size_t index = 0; index < generators.size(); ++index) {
      const Json& generator = *generators[index];
      const std::string pointer = fmt::format("/{}/{}", section, index);
      const std::string name = kustomization.string(generator, "name", pointer);
      if (name.empty())
        throw kustomization.error(pointer, "name: required field is missing");
      const std::string namespace_ = kustomization.string(generator, "namespace", pointer);
      std::string behavior = kustomization.string(generator, "behavior", pointer);
      if (behavior.empty())
        behavior = "create";
      if (behavior != "create" && behavior != "merge" && behavior != "replace")
        throw kustomization.error(pointer + "/behavior", fmt::format("expected create, merge or replace, got \"{}\"", behavior));
      const GeneratorOptions options = merge_options(read_options(kustomization, find_member(generator, "options"), pointer + "/options"), global);

      DataPairs data;
      DataPairs binary;
      const auto list = [&](std::string_view field) {
        std::vector<std::pair<std::string, std::string>> out; // (entry, pointer)
        const Json* value = find_member(generator, field);
        const std::string at = pointer + "/" + std::string(field);
        if (value == nullptr || value->IsNull())
          return out;
        if (value->IsString() && field == "env") {
          out.emplace_back(std::string(sv(*value)), at);
          return out;
        }
        if (!value->IsArray())
          throw kustomization.error(at, fmt::format("expected a list of strings, got {}", json_type_name(*value)));
        for (rapidjson::SizeType i = 0; i < value->Size(); ++i) {
          if (!(*value)[i].IsString())
            throw kustomization.error(fmt::format("{}/{}", at, i), fmt::format("expected a string, got {}", json_type_name((*value)[i])));
          out.emplace_back(std::string(sv((*value)[i])), fmt::format("{}/{}", at, i));
        }
        return out;
      };
      for (const std::string_view field : {"env", "envs"})
        for (const auto& [entry, at] : list(field))
          parse_env_file(data, kustomization, at, entry, read_relative(kustomization, at, entry));
      for (const auto& [entry, at] : list("literals")) {
        const size_t equals = entry.find('=');
        if (equals == std::string::npos || equals == 0)
          throw kustomization.error(at, fmt::format("\"{}\": expected KEY=VALUE", entry));
        add_pair(data, kustomization, at, entry.substr(0, equals), unquote(std::string_view(entry).substr(equals + 1)));
      }
      for (const auto& [entry, at] : list("files")) {
        const size_t equals = entry.find('=');
        const std::string path = equals == std::string::npos ? entry : entry.substr(equals + 1);
        std::string key = equals == std::string::npos ? std::string(path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1)) : entry.substr(0, equals);
        if (equals == 0)
          throw kustomization.error(at, fmt::format("\"{}\": empty key before '='", entry));
        std::string content = read_relative(kustomization, at, path);
        if (!secret && !valid_utf8(content)) {
          add_pair(binary, kustomization, at, std::move(key), base64(content));
          continue;
        }
        // A text file's Windows line ends read as "\n", as kustomize reads them (propfile_test.go).
        if (valid_utf8(content) && content.find("\r\n") != std::string::npos) {
          std::string unix_text;
          unix_text.reserve(content.size());
          for (size_t i = 0; i < content.size(); ++i)
            if (!(content[i] == '\r' && i + 1 < content.size() && content[i + 1] == '\n'))
              unix_text += content[i];
          content = std::move(unix_text);
        }
        add_pair(data, kustomization, at, std::move(key), std::move(content));
      }
      for (const auto& [key, ignored] : binary)
        if (std::any_of(data.begin(), data.end(), [&](const auto& pair) { return pair.first == key; }))
          throw kustomization.error(pointer, fmt::format("key \"{}\" is given twice", key));

      Resource resource;
      resource.file = kustomization.file;
      resource.line = locate_line(kustomization.text, 0, pointer);
      Json& object = resource.value;
      object.SetObject();
      object.AddMember("apiVersion", "v1", allocator_);
      object.AddMember("kind", Json(secret ? "Secret" : "ConfigMap", allocator_), allocator_);
      Json metadata(rapidjson::kObjectType);
      set_string(metadata, "name", name, allocator_);
      if (!namespace_.empty())
        set_string(metadata, "namespace", namespace_, allocator_);
      if (!options.labels.empty()) {
        Json labels(rapidjson::kObjectType);
        for (const auto& [key, value] : options.labels)
          set_string(labels, key, value, allocator_);
        metadata.AddMember("labels", labels, allocator_);
      }
      if (!options.annotations.empty()) {
        Json annotations(rapidjson::kObjectType);
        for (const auto& [key, value] : options.annotations)
          set_string(annotations, key, value, allocator_);
        metadata.AddMember("annotations", annotations, allocator_);
      }
      object.AddMember("metadata", metadata, allocator_);
      if (secret) {
        std::string type = kustomization.string(generator, "type", pointer);
        set_string(object, "type", type.empty() ? "Opaque" : type, allocator_);
      }
      if (!data.empty()) {
        Json map(rapidjson::kObjectType);
        for (const auto& [key, value] : data)
          set_string(map, key, secret ? base64(value) : value, allocator_);
        object.AddMember("data", map, allocator_);
      }
      if (!binary.empty()) {
        Json map(rapidjson::kObjectType);
        for (const auto& [key, value] : binary)
          set_string(map, key, value, allocator_);
        object.AddMember("binaryData", map, allocator_);
      }
      if (options.immutable.value_or(false))
        object.AddMember("immutable", true, allocator_);
      resource.needs_hash = !options.disable_hash.value_or(false);
      resource.generator = resource.kind() + "Generator";
      resource.configured_in = kustomization.file;
      resource.original_namespace = namespace_;

      // The resource this one merges into or replaces, by kind, name (any it had) and namespace.
      Resource* existing = nullptr;
      const auto effective = [](std::string_view ns) { return ns.empty() ? std::string("default") : std::string(ns); };
      for (Resource& candidate : accumulated)
        if (candidate.kind() == resource.kind() && candidate.has_name(name) &&
            (effective(candidate.namespace_()) == effective(namespace_) || effective(candidate.original_namespace) == effective(namespace_))) {
          existing = &candidate;
          break;
        }
      if (behavior == "create") {
        if (existing != nullptr)
          throw kustomization.error(pointer, fmt::format("{} \"{}\" already exists (from {}:{}): use behavior merge or replace", resource.kind(),
                                                         name, existing->file, existing->line));
        accumulated.push_back(std::move(resource));
        continue;
      }
      if (existing == nullptr)
        throw kustomization.error(pointer + "/behavior", fmt::format("{}: no {} \"{}\" to {} in the resources", behavior, resource.kind(), name, behavior));
      Json& target = existing->value;
      if (behavior == "replace") {
        // kustomize's origin of a replaced resource is the replacing generator; a merged one keeps its own.
        existing->generator = resource.generator;
        existing->configured_in = resource.configured_in;
        for (const std::string_view field : {"data", "binaryData", "type", "immutable"}) {
          auto old = target.FindMember(Json(rapidjson::StringRef(field.data(), field.size())));
          if (old != target.MemberEnd())
            target.EraseMember(old);
          if (const Json* value = find_member(object, field))
            target.AddMember(Json(field.data(), static_cast<rapidjson::SizeType>(field.size()), allocator_), Json(*value, allocator_), allocator_);
        }
      } else {
        for (const std::string_view field : {"data", "binaryData"}) {
          const Json* value = find_member(object, field);
          if (value == nullptr)
            continue;
          auto old = target.FindMember(Json(rapidjson::StringRef(field.data(), field.size())));
          if (old == target.MemberEnd() || !old->value.IsObject()) {
            target.AddMember(Json(field.data(), static_cast<rapidjson::SizeType>(field.size()), allocator_), Json(*value, allocator_), allocator_);
            continue;
          }
          for (auto member = value->MemberBegin(); member != value->MemberEnd(); ++member)
            set_string(old->value, sv(member->name), sv(member->value), allocator_);
        }
        if (options.immutable) {
          if (auto immutable = target.FindMember("immutable"); immutable != target.MemberEnd())
            immutable->value.SetBool(*options.immutable);
          else
            target.AddMember("immutable", Json(*options.immutable), allocator_);
        }
      }
      // The merged resource hashes as the newer generator says. kustomize leaves labels on it, an
      // empty map included, and annotations when it keeps its internal needs-hash annotation
      // (removed at the end, leaving an empty map): both show in its output, so they do in ours.
      existing->needs_hash = resource.needs_hash;
      Json& target_metadata = metadata_of(target, allocator_);
      for (const std::string_view field : {"annotations", "labels"}) {
        const auto& pairs = field == "labels" ? options.labels : options.annotations;
        if (field == "annotations" && pairs.empty() && !existing->needs_hash)
          continue;
        auto map = target_metadata.FindMember(Json(rapidjson::StringRef(field.data(), field.size())));
        if (map == target_metadata.MemberEnd() || !map->value.IsObject()) {
          target_metadata.AddMember(Json(field.data(), static_cast<rapidjson::SizeType>(field.size()), allocator_), Json(rapidjson::kObjectType), allocator_);
          map = target_metadata.FindMember(Json(rapidjson::StringRef(field.data(), field.size())));
        }
        for (const auto& [key, value] : pairs)
          set_string(map->value, key, value, allocator_);
      }
    }
  }
}

void Builder::add_hashes(std::vector<Resource>& accumulated) {
  for (Resource& resource : accumulated) {
    if (!resource.needs_hash)
      continue;
    const std::string kind = resource.kind();
    if (kind != "ConfigMap" && kind != "Secret")
      continue;
    resource.set_name(resource.name() + "-" + content_hash(resource.value), allocator_);
  }
}

} // namespace meridian::kustomize

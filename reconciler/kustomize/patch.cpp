#include "kustomize/patch.h"

#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

namespace meridian::kustomize {
namespace {

std::string_view view(const Json& string) { return {string.GetString(), string.GetStringLength()}; }

Json key_of(std::string_view text, JsonAllocator& allocator) {
  return Json(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
}

// The patch merge key of the list at `path` (field names from the document root), as Kubernetes'
// types declare it; empty when the list is replaced as a whole.
std::string_view merge_key(const std::vector<std::string_view>& path) {
  if (path.empty())
    return {};
  const std::string_view field = path.back();
  if (field == "containers" || field == "initContainers" || field == "ephemeralContainers" || field == "volumes" || field == "env" ||
      field == "imagePullSecrets" || field == "secrets" || field == "resourceClaims" || field == "schedulingGates")
    return "name";
  if (field == "volumeMounts")
    return "mountPath";
  if (field == "volumeDevices")
    return "devicePath";
  if (field == "hostAliases")
    return "ip";
  if (field == "readinessGates")
    return "conditionType";
  if (field == "topologySpreadConstraints")
    return "topologyKey";
  if (field == "ownerReferences")
    return "uid";
  if (field == "conditions")
    return "type";
  if (field == "ports") {
    const bool in_container = std::any_of(path.begin(), path.end(), [](std::string_view step) {
      return step == "containers" || step == "initContainers" || step == "ephemeralContainers";
    });
    return in_container ? "containerPort" : "port";
  }
  return {};
}

bool primitive_merge_list(const std::vector<std::string_view>& path) { return !path.empty() && path.back() == "finalizers"; }

std::string_view directive(const Json& object) {
  const Json* patch = find_member(object, "$patch");
  return patch != nullptr && patch->IsString() ? view(*patch) : std::string_view{};
}

// A copy of `patch` without directives (for values added as they are).
Json clean_copy(const Json& patch, JsonAllocator& allocator) {
  if (patch.IsObject()) {
    Json out(rapidjson::kObjectType);
    for (auto member = patch.MemberBegin(); member != patch.MemberEnd(); ++member) {
      const std::string_view name = view(member->name);
      if (name.substr(0, 1) == "$")
        continue;
      if (member->value.IsNull())
        continue; // a null in a patch deletes; there is nothing to delete in a new value
      out.AddMember(key_of(name, allocator), clean_copy(member->value, allocator), allocator);
    }
    return out;
  }
  if (patch.IsArray()) {
    Json out(rapidjson::kArrayType);
    for (const Json& item : patch.GetArray()) {
      if (item.IsObject() && !directive(item).empty() && item.MemberCount() == 1)
        continue;
      out.PushBack(clean_copy(item, allocator), allocator);
    }
    return out;
  }
  return Json(patch, allocator);
}

void merge_object(Json& target, const Json& patch, JsonAllocator& allocator, std::vector<std::string_view>& path, bool builtin);

void merge_list(Json& target, const Json& patch, JsonAllocator& allocator, std::vector<std::string_view>& path, bool builtin) {
  // `- $patch: replace` anywhere in the list: the list becomes the patch's other items.
  for (const Json& item : patch.GetArray())
    if (item.IsObject() && directive(item) == "replace") {
      target = clean_copy(patch, allocator);
      return;
    }
  const std::string_view key = builtin ? merge_key(path) : std::string_view{};
  if (builtin && primitive_merge_list(path)) {
    for (const Json& item : patch.GetArray())
      if (std::none_of(target.Begin(), target.End(), [&](const Json& existing) { return existing == item; }))
        target.PushBack(Json(item, allocator), allocator);
    return;
  }
  if (key.empty() || !target.IsArray()) {
    target = clean_copy(patch, allocator);
    return;
  }
  // As kustomize orders a merged list: the patch's items first, in the patch's order (merged with
  // the target's item of the same key, or new), then the target's items the patch does not name.
  Json merged(rapidjson::kArrayType);
  std::vector<bool> named(target.Size(), false);
  for (const Json& item : patch.GetArray()) {
    const Json* item_key = item.IsObject() ? find_member(item, key) : nullptr;
    std::optional<size_t> match;
    if (item_key != nullptr)
      for (size_t index = 0; index < target.Size(); ++index) {
        const Json* existing_key = find_member(target[static_cast<rapidjson::SizeType>(index)], key);
        if (!named[index] && existing_key != nullptr && *existing_key == *item_key) {
          match = index;
          break;
        }
      }
    if (match)
      named[*match] = true;
    if (item.IsObject() && directive(item) == "delete")
      continue;
    if (!match) {
      merged.PushBack(clean_copy(item, allocator), allocator);
      continue;
    }
    Json& existing = target[static_cast<rapidjson::SizeType>(*match)];
    if (item.IsObject() && existing.IsObject())
      merge_object(existing, item, allocator, path, builtin);
    else
      existing = clean_copy(item, allocator);
    merged.PushBack(existing, allocator); // moves it out of `target`
  }
  for (size_t index = 0; index < target.Size(); ++index)
    if (!named[index])
      merged.PushBack(target[static_cast<rapidjson::SizeType>(index)], allocator);
  target = std::move(merged);
}

void merge_object(Json& target, const Json& patch, JsonAllocator& allocator, std::vector<std::string_view>& path, bool builtin) {
  if (directive(patch) == "replace") {
    target = clean_copy(patch, allocator);
    return;
  }
  if (!target.IsObject())
    target.SetObject();
  // $retainKeys: only these keys (and the patch's) remain.
  if (const Json* retain = find_member(patch, "$retainKeys"); retain != nullptr && retain->IsArray()) {
    for (auto member = target.MemberBegin(); member != target.MemberEnd();) {
      const bool kept = std::any_of(retain->Begin(), retain->End(), [&](const Json& name) { return name.IsString() && view(name) == view(member->name); });
      member = kept ? member + 1 : target.EraseMember(member);
    }
  }
  for (auto member = patch.MemberBegin(); member != patch.MemberEnd(); ++member) {
    const std::string_view name = view(member->name);
    if (name == "$patch" || name == "$retainKeys" || name.substr(0, 17) == "$setElementOrder/")
      continue;
    if (name.substr(0, 25) == "$deleteFromPrimitiveList/") {
      const std::string_view field = name.substr(25);
      auto existing = target.FindMember(key_of(field, allocator));
      if (existing != target.MemberEnd() && existing->value.IsArray() && member->value.IsArray())
        for (const Json& doomed : member->value.GetArray())
          for (auto item = existing->value.Begin(); item != existing->value.End();)
            item = *item == doomed ? existing->value.Erase(item) : item + 1;
      continue;
    }
    if (name.substr(0, 1) == "$")
      throw UserError(fmt::format("unknown patch directive \"{}\"", name));
    auto existing = target.FindMember(key_of(name, allocator));
    const Json& value = member->value;
    if (value.IsNull()) {
      if (existing != target.MemberEnd())
        target.EraseMember(existing);
      continue;
    }
    if (value.IsObject() && directive(value) == "delete") {
      if (existing != target.MemberEnd())
        target.EraseMember(existing);
      continue;
    }
    if (existing == target.MemberEnd()) {
      target.AddMember(key_of(name, allocator), clean_copy(value, allocator), allocator);
      continue;
    }
    path.push_back(name);
    if (value.IsObject() && existing->value.IsObject())
      merge_object(existing->value, value, allocator, path, builtin);
    else if (value.IsArray() && existing->value.IsArray())
      merge_list(existing->value, value, allocator, path, builtin);
    else
      existing->value = clean_copy(value, allocator);
    path.pop_back();
  }
}

// RFC 6901 tokens of a pointer; throws on a malformed one.
std::vector<std::string> pointer_tokens(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty())
    return tokens;
  if (pointer.front() != '/')
    throw UserError(fmt::format("path \"{}\": must start with '/'", pointer));
  size_t start = 1;
  while (true) {
    const size_t slash = pointer.find('/', start);
    const std::string_view raw = pointer.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        token += raw[i];
      }
    }
    tokens.push_back(std::move(token));
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  return tokens;
}

std::optional<size_t> array_index(const std::string& token, size_t size, bool allow_end) {
  if (token == "-" && allow_end)
    return size;
  size_t index = 0;
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
  if (ec != std::errc{} || end != token.data() + token.size() || (token.size() > 1 && token[0] == '0'))
    return std::nullopt;
  if (index > size || (index == size && !allow_end))
    return std::nullopt;
  return index;
}

// The parent container of the pointer's last token; throws when a step does not resolve.
Json& parent_of(Json& root, const std::vector<std::string>& tokens, std::string_view pointer) {
  Json* current = &root;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    if (current->IsObject()) {
      auto member = current->FindMember(Json(rapidjson::StringRef(tokens[i].data(), tokens[i].size())));
      if (member == current->MemberEnd())
        throw UserError(fmt::format("path \"{}\": no field \"{}\"", pointer, tokens[i]));
      current = &member->value;
    } else if (current->IsArray()) {
      const auto index = array_index(tokens[i], current->Size(), false);
      if (!index)
        throw UserError(fmt::format("path \"{}\": no item \"{}\"", pointer, tokens[i]));
      current = &(*current)[static_cast<rapidjson::SizeType>(*index)];
    } else {
      throw UserError(fmt::format("path \"{}\": \"{}\" is not an object or a list", pointer, tokens[i]));
    }
  }
  return *current;
}

Json& resolve(Json& root, std::string_view pointer) {
  const std::vector<std::string> tokens = pointer_tokens(pointer);
  if (tokens.empty())
    return root;
  Json& parent = parent_of(root, tokens, pointer);
  const std::string& last = tokens.back();
  if (parent.IsObject()) {
    auto member = parent.FindMember(Json(rapidjson::StringRef(last.data(), last.size())));
    if (member == parent.MemberEnd())
      throw UserError(fmt::format("path \"{}\": no field \"{}\"", pointer, last));
    return member->value;
  }
  if (parent.IsArray()) {
    const auto index = array_index(last, parent.Size(), false);
    if (!index)
      throw UserError(fmt::format("path \"{}\": no item \"{}\"", pointer, last));
    return parent[static_cast<rapidjson::SizeType>(*index)];
  }
  throw UserError(fmt::format("path \"{}\": parent is not an object or a list", pointer));
}

Json take(Json& root, std::string_view pointer) {
  const std::vector<std::string> tokens = pointer_tokens(pointer);
  if (tokens.empty())
    throw UserError("cannot remove the whole document");
  Json& parent = parent_of(root, tokens, pointer);
  const std::string& last = tokens.back();
  if (parent.IsObject()) {
    auto member = parent.FindMember(Json(rapidjson::StringRef(last.data(), last.size())));
    if (member == parent.MemberEnd())
      throw UserError(fmt::format("path \"{}\": no field \"{}\"", pointer, last));
    Json value;
    value.Swap(member->value);
    parent.EraseMember(member);
    return value;
  }
  if (parent.IsArray()) {
    const auto index = array_index(last, parent.Size(), false);
    if (!index)
      throw UserError(fmt::format("path \"{}\": no item \"{}\"", pointer, last));
    Json value;
    value.Swap(parent[static_cast<rapidjson::SizeType>(*index)]);
    parent.Erase(parent.Begin() + *index);
    return value;
  }
  throw UserError(fmt::format("path \"{}\": parent is not an object or a list", pointer));
}

void put(Json& root, std::string_view pointer, Json value, JsonAllocator& allocator, bool replace) {
  const std::vector<std::string> tokens = pointer_tokens(pointer);
  if (tokens.empty()) {
    root = std::move(value);
    return;
  }
  Json& parent = parent_of(root, tokens, pointer);
  const std::string& last = tokens.back();
  if (parent.IsObject()) {
    auto member = parent.FindMember(Json(rapidjson::StringRef(last.data(), last.size())));
    if (member != parent.MemberEnd()) {
      member->value = std::move(value);
      return;
    }
    if (replace)
      throw UserError(fmt::format("path \"{}\": no field \"{}\" to replace", pointer, last));
    parent.AddMember(key_of(last, allocator), value, allocator);
    return;
  }
  if (parent.IsArray()) {
    const auto index = array_index(last, parent.Size(), !replace);
    if (!index)
      throw UserError(fmt::format("path \"{}\": no item \"{}\"", pointer, last));
    if (replace) {
      parent[static_cast<rapidjson::SizeType>(*index)] = std::move(value);
      return;
    }
    parent.PushBack(value, allocator);
    for (size_t i = parent.Size() - 1; i > *index; --i)
      parent[static_cast<rapidjson::SizeType>(i)].Swap(parent[static_cast<rapidjson::SizeType>(i - 1)]);
    return;
  }
  throw UserError(fmt::format("path \"{}\": parent is not an object or a list", pointer));
}

std::string_view required_string(const Json& operation, std::string_view field, size_t index) {
  const Json* value = find_member(operation, field);
  if (value == nullptr || !value->IsString())
    throw UserError(fmt::format("operation [{}]: {}: required string is missing", index, field));
  return view(*value);
}

} // namespace

bool strategic_merge(Json& target, const Json& patch, JsonAllocator& allocator, bool builtin_kind) {
  if (directive(patch) == "delete")
    return false;
  std::vector<std::string_view> path;
  merge_object(target, patch, allocator, path, builtin_kind);
  return true;
}

void json6902(Json& target, const Json& operations, JsonAllocator& allocator) {
  if (!operations.IsArray())
    throw UserError("a JSON 6902 patch must be a list of operations");
  for (size_t index = 0; index < operations.Size(); ++index) {
    const Json& operation = operations[static_cast<rapidjson::SizeType>(index)];
    if (!operation.IsObject())
      throw UserError(fmt::format("operation [{}]: expected a mapping with op and path", index));
    const std::string_view op = required_string(operation, "op", index);
    const std::string_view path = required_string(operation, "path", index);
    const Json* value = find_member(operation, "value");
    try {
      if (op == "add" || op == "replace" || op == "test") {
        if (value == nullptr)
          throw UserError("value: required field is missing");
        if (op == "test") {
          if (!json_equal(resolve(target, path), *value))
            throw UserError(fmt::format("path \"{}\": test failed", path));
          continue;
        }
        put(target, path, Json(*value, allocator), allocator, op == "replace");
      } else if (op == "remove") {
        take(target, path);
      } else if (op == "move" || op == "copy") {
        const std::string_view from = required_string(operation, "from", index);
        Json moved = op == "move" ? take(target, from) : Json(resolve(target, from), allocator);
        put(target, path, std::move(moved), allocator, false);
      } else {
        throw UserError(fmt::format("unknown op \"{}\" (expected add, remove, replace, move, copy or test)", op));
      }
    } catch (const Error& error) {
      throw UserError(fmt::format("operation [{}] ({} {}): {}", index, op, path, error.what()));
    }
  }
}

} // namespace meridian::kustomize

#include "diff/diff.h"

#include "kube_rules/quantity.h"
#include "kube_rules/server_fields.h"

#include <algorithm>

namespace meridian {
namespace {

std::string_view view(const Json& value) { return {value.GetString(), value.GetStringLength()}; }

bool in_resource_list(std::string_view pointer) {
  return pointer.find("/resources/") != std::string_view::npos || pointer.find("/capacity/") != std::string_view::npos ||
         pointer.find("/maxResources/") != std::string_view::npos;
}

bool scalars_equal(const Json& desired, const Json& live, std::string_view pointer) {
  if (json_equal(desired, live))
    return true;
  if (!in_resource_list(pointer))
    return false;
  // The server writes a quantity back in its canonical form ("1000m" → "1", "1e3" → "1k").
  const auto a = rules::quantity_of(desired);
  const auto b = rules::quantity_of(live);
  return a && b && *a == *b;
}

// Elements of a list merged by `name` under server-side apply (containers, env, ports, volumes...).
bool is_named_list(const Json& list) {
  if (!list.IsArray() || list.Empty())
    return false;
  return std::all_of(list.Begin(), list.End(), [](const Json& element) {
    const Json* name = find_member(element, "name");
    return name != nullptr && name->IsString();
  });
}

const Json* find_named(const Json& list, std::string_view name) {
  for (const auto& element : list.GetArray())
    if (string_member(element, "name") == name)
      return &element;
  return nullptr;
}

class Differ {
public:
  Differ(const DiffOptions& options, std::vector<FieldChange>& out) : options_(options), out_(out) {}

  bool ignored(std::string_view pointer) const {
    if (rules::is_server_owned(pointer))
      return true;
    return std::any_of(options_.ignore_pointers.begin(), options_.ignore_pointers.end(),
                       [&](const std::string& prefix) { return pointer_within(pointer, prefix); });
  }

  void compare(const Json& desired, const Json& live, std::string& pointer) {
    if (ignored(pointer))
      return;
    if (desired.IsObject() && live.IsObject()) {
      const size_t length = pointer.size();
      for (const auto& member : desired.GetObject()) {
        pointer += "/" + escape_pointer_token(view(member.name));
        const Json* other = find_member(live, view(member.name));
        if (other == nullptr) {
          if (!ignored(pointer) && !member.value.IsNull())
            out_.push_back({pointer, std::nullopt, write_canonical(member.value)});
        } else {
          compare(member.value, *other, pointer);
        }
        pointer.resize(length);
      }
      return;
    }
    if (desired.IsArray() && live.IsArray()) {
      const size_t length = pointer.size();
      if (is_named_list(desired) && is_named_list(live)) {
        for (rapidjson::SizeType index = 0; index < desired.Size(); ++index) {
          const Json* other = find_named(live, string_member(desired[index], "name"));
          pointer += "/" + std::to_string(index);
          if (other == nullptr)
            out_.push_back({pointer, std::nullopt, write_canonical(desired[index])});
          else
            compare(desired[index], *other, pointer);
          pointer.resize(length);
        }
        // Named elements only live has belong to someone else, or were applied by Meridian before:
        // `removed` reports the latter from the last applied configuration.
        return;
      }
      if (desired.Size() == live.Size()) {
        for (rapidjson::SizeType index = 0; index < desired.Size(); ++index) {
          pointer += "/" + std::to_string(index);
          compare(desired[index], live[index], pointer);
          pointer.resize(length);
        }
        return;
      }
      out_.push_back({pointer, write_canonical(live), write_canonical(desired)});
      return;
    }
    if (!scalars_equal(desired, live, pointer))
      out_.push_back({pointer, write_canonical(live), write_canonical(desired)});
  }

  // Fields in the last applied configuration that Git no longer sets and live still has.
  void removed(const Json& applied, const Json& desired, const Json& live, std::string& pointer) {
    if (ignored(pointer))
      return;
    if (is_named_list(applied) && desired.IsArray() && is_named_list(live)) {
      removed_from_named_list(applied, desired, live, pointer);
      return;
    }
    if (!applied.IsObject() || !desired.IsObject() || !live.IsObject())
      return;
    const size_t length = pointer.size();
    for (const auto& member : applied.GetObject()) {
      const std::string_view key = view(member.name);
      pointer += "/" + escape_pointer_token(key);
      const Json* wanted = find_member(desired, key);
      const Json* current = find_member(live, key);
      if (current != nullptr && !ignored(pointer)) {
        if (wanted == nullptr)
          out_.push_back({pointer, write_canonical(*current), std::nullopt});
        else
          removed(member.value, *wanted, *current, pointer);
      }
      pointer.resize(length);
    }
  }

private:
  // Named items (containers, env vars) applied before and gone from Git; pointers index live.
  void removed_from_named_list(const Json& applied, const Json& desired, const Json& live, std::string& pointer) {
    const size_t length = pointer.size();
    for (const auto& item : applied.GetArray()) {
      const std::string_view name = string_member(item, "name");
      const Json* current = nullptr;
      rapidjson::SizeType live_index = 0;
      for (rapidjson::SizeType index = 0; index < live.Size(); ++index)
        if (string_member(live[index], "name") == name) {
          current = &live[index];
          live_index = index;
        }
      if (current == nullptr)
        continue;
      pointer += "/" + std::to_string(live_index);
      const Json* wanted = desired.Empty() ? nullptr : find_named(desired, name);
      if (wanted == nullptr)
        out_.push_back({pointer, write_canonical(*current), std::nullopt});
      else
        removed(item, *wanted, *current, pointer);
      pointer.resize(length);
    }
  }

  const DiffOptions& options_;
  std::vector<FieldChange>& out_;
};

void collect_leaves(const Json& value, std::string& pointer, std::vector<FieldChange>& out) {
  if (value.IsObject() && !value.ObjectEmpty()) {
    const size_t length = pointer.size();
    for (const auto& member : value.GetObject()) {
      pointer += "/" + escape_pointer_token(view(member.name));
      collect_leaves(member.value, pointer, out);
      pointer.resize(length);
    }
    return;
  }
  out.push_back({pointer, std::nullopt, write_canonical(value)});
}

} // namespace

bool pointer_within(std::string_view pointer, std::string_view prefix) {
  return pointer.substr(0, prefix.size()) == prefix && (pointer.size() == prefix.size() || pointer[prefix.size()] == '/');
}

std::vector<FieldChange> diff_object(const Json& desired, const Json& live, const DiffOptions& options) {
  std::vector<FieldChange> changes;
  Differ differ(options, changes);
  std::string pointer;
  differ.compare(desired, live, pointer);
  if (options.last_applied != nullptr) {
    pointer.clear();
    differ.removed(*options.last_applied, desired, live, pointer);
  }
  std::sort(changes.begin(), changes.end(), [](const FieldChange& a, const FieldChange& b) { return a.pointer < b.pointer; });
  return changes;
}

std::vector<FieldChange> creation_fields(const Json& desired) {
  std::vector<FieldChange> changes;
  std::string pointer;
  collect_leaves(desired, pointer, changes);
  return changes;
}

} // namespace meridian

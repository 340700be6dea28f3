#include "base/sensitive.h"

#include <fmt/format.h>

namespace meridian {
namespace {

constexpr std::string_view sensitive_fields[] = {"/data", "/stringData"};

bool within(std::string_view pointer, std::string_view prefix) {
  return pointer.substr(0, prefix.size()) == prefix && (pointer.size() == prefix.size() || pointer[prefix.size()] == '/');
}

// What is sensitive in one object: a Secret's values, and any of `fields` (at or below).
struct Sensitive {
  bool secret = true;
  const std::vector<std::string>* fields = nullptr;
  bool at(std::string_view pointer) const {
    if (secret && is_sensitive_pointer(pointer))
      return true;
    if (fields != nullptr)
      for (const std::string& field : *fields)
        if (within(pointer, field))
          return true;
    return false;
  }
  // A value at `pointer` may hold sensitive values below it.
  bool below(std::string_view pointer) const {
    if (pointer.empty())
      return true;
    if (secret)
      for (const std::string_view field : sensitive_fields)
        if (within(pointer, field))
          return true;
    if (fields != nullptr)
      for (const std::string& field : *fields)
        if (within(field, pointer))
          return true;
    return false;
  }
};

// Replaces every sensitive value at or below `pointer` in `value` with its marker.
void redact_value(Json& value, std::string& pointer, JsonAllocator& allocator, const Digest& digest, const Sensitive& sensitive) {
  if (sensitive.at(pointer)) {
    const std::string marker = sensitive_marker(write_canonical(value), digest);
    JsonDocument parsed;
    parse_json(marker, parsed);
    value.CopyFrom(parsed, allocator);
    return;
  }
  const size_t length = pointer.size();
  if (value.IsObject()) {
    for (auto& member : value.GetObject()) {
      pointer += "/" + escape_pointer_token({member.name.GetString(), member.name.GetStringLength()});
      redact_value(member.value, pointer, allocator, digest, sensitive);
      pointer.resize(length);
    }
  } else if (value.IsArray()) {
    for (rapidjson::SizeType index = 0; index < value.Size(); ++index) {
      pointer += "/" + std::to_string(index);
      redact_value(value[index], pointer, allocator, digest, sensitive);
      pointer.resize(length);
    }
  }
}

} // namespace

bool is_sensitive_kind(std::string_view group, std::string_view kind) { return group.empty() && kind == "Secret"; }

bool is_sensitive_body(const Json& body) {
  return string_member(body, "apiVersion") == "v1" && string_member(body, "kind") == "Secret";
}

bool is_sensitive_pointer(std::string_view pointer) {
  for (const std::string_view field : sensitive_fields)
    if (within(pointer, field) && pointer.size() > field.size())
      return true;
  return false;
}

std::string sensitive_marker(std::string_view value_text, const Digest& digest) {
  return fmt::format("\"(sensitive, hmac {})\"", digest(value_text));
}

std::string redact_json(std::string_view pointer, const std::string& json_text, const Digest& digest, bool secret,
                        const std::vector<std::string>& fields) {
  const Sensitive sensitive{secret, &fields};
  if (sensitive.at(pointer))
    return sensitive_marker(json_text, digest);
  if (!sensitive.below(pointer))
    return json_text;
  JsonDocument document;
  if (parse_json(json_text, document))
    return sensitive_marker(json_text, digest); // not JSON: never shown
  std::string at(pointer);
  redact_value(document, at, document.GetAllocator(), digest, sensitive);
  return write_canonical(document);
}

std::string redacted_canonical(const Json& body, const Digest& digest) {
  if (!is_sensitive_body(body))
    return write_canonical(body);
  JsonDocument copy;
  copy.CopyFrom(body, copy.GetAllocator());
  std::string pointer;
  redact_value(copy, pointer, copy.GetAllocator(), digest, Sensitive{});
  return write_canonical(copy);
}

} // namespace meridian

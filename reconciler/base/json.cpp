#include "base/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

namespace meridian {

JsonArena::JsonArena(size_t chunk_bytes) : pool_(std::make_shared<Pool>(chunk_bytes)) {}

std::shared_ptr<JsonDocument> JsonArena::make_document() {
  JsonDocument& document = pool_->documents.emplace_back(&pool_->allocator);
  return std::shared_ptr<JsonDocument>(pool_, &document);
}

std::shared_ptr<JsonDocument> JsonArena::copy(const Json& value) {
  auto document = make_document();
  document->CopyFrom(value, pool_->allocator);
  return document;
}

const Json* find_member(const Json& value, std::string_view key) {
  if (!value.IsObject())
    return nullptr;
  const auto member = value.FindMember(Json(rapidjson::StringRef(key.data(), key.size())));
  return member == value.MemberEnd() ? nullptr : &member->value;
}

std::string_view string_member(const Json& value, std::string_view key, std::string_view fallback) {
  const Json* member = find_member(value, key);
  if (member == nullptr || !member->IsString())
    return fallback;
  return {member->GetString(), member->GetStringLength()};
}

const Json* find_path(const Json& value, std::string_view dotted_path) {
  const Json* current = &value;
  while (current != nullptr && !dotted_path.empty()) {
    const size_t dot = dotted_path.find('.');
    current = find_member(*current, dotted_path.substr(0, dot));
    dotted_path = dot == std::string_view::npos ? std::string_view{} : dotted_path.substr(dot + 1);
  }
  return current;
}

static std::string unescape_pointer_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size()) {
      out += token[i + 1] == '1' ? '/' : '~';
      ++i;
      continue;
    }
    out += token[i];
  }
  return out;
}

const Json* find_pointer(const Json& value, std::string_view pointer) {
  const Json* current = &value;
  if (pointer.empty())
    return current;
  if (pointer.front() != '/')
    return nullptr;
  pointer.remove_prefix(1);
  while (current != nullptr) {
    const size_t slash = pointer.find('/');
    const std::string token = unescape_pointer_token(pointer.substr(0, slash));
    if (current->IsArray()) {
      size_t index = 0;
      const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
      if (ec != std::errc{} || end != token.data() + token.size() || index >= current->Size())
        return nullptr;
      current = &(*current)[static_cast<rapidjson::SizeType>(index)];
    } else {
      current = find_member(*current, token);
    }
    if (slash == std::string_view::npos)
      break;
    pointer.remove_prefix(slash + 1);
  }
  return current;
}

template <typename Writer> static void write_sorted(const Json& value, Writer& writer) {
  if (value.IsObject()) {
    std::vector<const Json::Member*> members;
    members.reserve(value.MemberCount());
    for (const auto& member : value.GetObject())
      members.push_back(&member);
    std::sort(members.begin(), members.end(), [](const Json::Member* a, const Json::Member* b) {
      return std::string_view(a->name.GetString(), a->name.GetStringLength()) <
             std::string_view(b->name.GetString(), b->name.GetStringLength());
    });
    writer.StartObject();
    for (const Json::Member* member : members) {
      writer.Key(member->name.GetString(), member->name.GetStringLength());
      write_sorted(member->value, writer);
    }
    writer.EndObject();
    return;
  }
  if (value.IsArray()) {
    writer.StartArray();
    for (const auto& element : value.GetArray())
      write_sorted(element, writer);
    writer.EndArray();
    return;
  }
  value.Accept(writer);
}

std::string write_canonical(const Json& value, bool pretty) {
  rapidjson::StringBuffer buffer;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
    writer.SetIndent(' ', 2);
    write_sorted(value, writer);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    write_sorted(value, writer);
  }
  return {buffer.GetString(), buffer.GetSize()};
}

std::string write_compact(const Json& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

std::string describe_value(const Json& value) {
  if (value.IsObject() || value.IsArray()) {
    std::string text = write_canonical(value);
    if (text.size() > 80)
      text = text.substr(0, 77) + "...";
    return text;
  }
  return write_compact(value);
}

std::string_view json_type_name(const Json& value) {
  switch (value.GetType()) {
  case rapidjson::kNullType:
    return "null";
  case rapidjson::kFalseType:
  case rapidjson::kTrueType:
    return "boolean";
  case rapidjson::kObjectType:
    return "object";
  case rapidjson::kArrayType:
    return "array";
  case rapidjson::kStringType:
    return "string";
  case rapidjson::kNumberType:
    return value.IsDouble() ? "number" : "integer";
  }
  return "unknown";
}

std::string escape_pointer_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (const char c : token) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string pointer_to_field(std::string_view pointer) {
  std::string out;
  if (!pointer.empty() && pointer.front() == '/')
    pointer.remove_prefix(1);
  while (!pointer.empty() || !out.empty()) {
    const size_t slash = pointer.find('/');
    const std::string token = unescape_pointer_token(pointer.substr(0, slash));
    const bool index = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (index)
      out += "[" + token + "]";
    else
      out += (out.empty() ? "" : ".") + token;
    if (slash == std::string_view::npos)
      break;
    pointer.remove_prefix(slash + 1);
  }
  return out;
}

std::optional<std::string> parse_json(std::string_view text, JsonDocument& document) {
  document.Parse(text.data(), text.size());
  if (!document.HasParseError())
    return std::nullopt;
  return std::string(rapidjson::GetParseError_En(document.GetParseError())) + " at offset " +
         std::to_string(document.GetErrorOffset());
}

namespace {

// Arrays are alike when their elements are, in order, by `same`.
template <typename Same>
bool arrays_alike(const Json& a, const Json& b, Same same) {
  if (a.Size() != b.Size())
    return false;
  for (rapidjson::SizeType i = 0; i < a.Size(); ++i)
    if (!same(a[i], b[i]))
      return false;
  return true;
}

} // namespace

bool json_equal(const Json& a, const Json& b) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsInt64() && b.IsInt64())
      return a.GetInt64() == b.GetInt64();
    if (a.IsUint64() && b.IsUint64())
      return a.GetUint64() == b.GetUint64();
    return a.GetDouble() == b.GetDouble();
  }
  if (a.GetType() != b.GetType())
    return false;
  if (a.IsObject()) {
    if (a.MemberCount() != b.MemberCount())
      return false;
    for (const auto& member : a.GetObject()) {
      const auto other = b.FindMember(member.name);
      if (other == b.MemberEnd() || !json_equal(member.value, other->value))
        return false;
    }
    return true;
  }
  if (a.IsArray())
    return arrays_alike(a, b, json_equal);
  return a == b;
}

bool json_identical(const Json& a, const Json& b) {
  if (a.GetType() != b.GetType())
    return false;
  if (a.IsObject()) {
    if (a.MemberCount() != b.MemberCount())
      return false;
    for (auto x = a.MemberBegin(), y = b.MemberBegin(); x != a.MemberEnd(); ++x, ++y)
      if (!json_identical(x->name, y->name) || !json_identical(x->value, y->value))
        return false;
    return true;
  }
  if (a.IsArray())
    return arrays_alike(a, b, json_identical);
  if (a.IsString())
    return std::string_view(a.GetString(), a.GetStringLength()) == std::string_view(b.GetString(), b.GetStringLength());
  if (a.IsNumber()) {
    if (a.IsDouble() != b.IsDouble() || a.IsInt64() != b.IsInt64() || a.IsUint64() != b.IsUint64())
      return false;
    if (a.IsDouble()) {
      const double x = a.GetDouble();
      const double y = b.GetDouble();
      return std::memcmp(&x, &y, sizeof x) == 0;
    }
    return a.IsInt64() ? a.GetInt64() == b.GetInt64() : a.GetUint64() == b.GetUint64();
  }
  return true; // null, true, false: the type says it all
}

} // namespace meridian

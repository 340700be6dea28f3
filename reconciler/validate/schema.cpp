#include "validate/validate.h"

#include "base/duration.h"
#include "base/error.h"
#include "kube_rules/int_or_percent.h"
#include "kube_rules/quantity.h"

#include <fmt/format.h>

#include <algorithm>

namespace meridian {

// Generated at build time from schemas/*.json (see schemas/meson.build).
const std::vector<std::pair<std::string, std::string>>& embedded_schemas();

namespace {

std::string_view view(const Json& value) { return {value.GetString(), value.GetStringLength()}; }

bool type_matches(std::string_view type, const Json& value) {
  if (type == "integer")
    return value.IsInt64() || value.IsUint64() || (value.IsDouble() && value.GetDouble() == static_cast<double>(static_cast<long long>(value.GetDouble())));
  if (type == "number")
    return value.IsNumber();
  return json_type_name(value) == type;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t saved = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = saved;
    }
  }
  return row[b.size()];
}

std::string quote(std::string_view text) { return fmt::format("\"{}\"", text); }

// A string like `alibabacloud.com/nodepool-id=np7b30xxx` where a map was expected: a copy-paste from
// the kubectl form of a selector.
std::string map_hint(const Json& value) {
  if (!value.IsString())
    return {};
  const std::string_view text = view(value);
  const size_t equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0 || text.find(' ') != std::string_view::npos)
    return {};
  std::string suggestion;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string_view pair = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos)
      return {};
    suggestion += fmt::format("{}{}: {}", suggestion.empty() ? "" : ", ", pair.substr(0, eq), pair.substr(eq + 1));
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  return fmt::format("expected a map of label to value; did you mean `{}`?", suggestion);
}

std::string expected_types(const Json& type) {
  if (type.IsString())
    return std::string(view(type));
  std::string out;
  for (const auto& entry : type.GetArray())
    out += (out.empty() ? "" : " or ") + std::string(view(entry));
  return out;
}

bool check_format(std::string_view format, std::string_view text, std::string& expectation) {
  if (format == "dns1123-label") {
    expectation = "a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, "
                  "at most 63 characters)";
    return is_dns1123_label(text);
  }
  if (format == "dns1123-subdomain") {
    expectation = "a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253 characters)";
    return is_dns1123_subdomain(text);
  }
  if (format == "duration") {
    expectation = "a duration such as 30s, 10m or 1h30m";
    return parse_duration(text).has_value();
  }
  if (format == "quantity") {
    expectation = "a resource quantity such as 500m, 2Gi or 4";
    return rules::parse_quantity(text).has_value();
  }
  if (format == "int-or-percent") {
    expectation = "an integer or a percentage such as \"25%\"";
    return rules::is_percent(text);
  }
  return true;
}

} // namespace

bool is_dns1123_label(std::string_view text) {
  if (text.empty() || text.size() > 63)
    return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(text.front()) || !alnum(text.back()))
    return false;
  return std::all_of(text.begin(), text.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool is_dns1123_subdomain(std::string_view text) {
  if (text.empty() || text.size() > 253)
    return false;
  size_t start = 0;
  while (true) {
    const size_t dot = text.find('.', start);
    if (!is_dns1123_label(text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)))
      return false;
    if (dot == std::string_view::npos)
      return true;
    start = dot + 1;
  }
}

const SchemaSet& SchemaSet::builtin() {
  static const SchemaSet schemas(embedded_schemas());
  return schemas;
}

SchemaSet::SchemaSet(const std::vector<std::pair<std::string, std::string>>& sources) {
  for (const auto& [name, text] : sources) {
    auto document = std::make_unique<JsonDocument>();
    if (auto error = parse_json(text, *document))
      throw UserError(fmt::format("schemas/{}: not valid JSON: {}", name, *error));
    schemas_.emplace(name, std::move(document));
  }
}

std::string SchemaSet::schema_name(std::string_view api_version, std::string_view kind) const {
  std::string name(api_version);
  std::replace(name.begin(), name.end(), '/', '_');
  name += "_" + std::string(kind) + ".json";
  return has_schema(name) ? name : "generic.json";
}

const std::regex& SchemaSet::regex_for(const std::string& pattern) const {
  const std::lock_guard lock(regex_mutex_); // the map's nodes stay put: the reference outlives the lock
  auto found = regexes_.find(pattern);
  if (found == regexes_.end())
    found = regexes_.emplace(pattern, std::regex(pattern, std::regex::ECMAScript | std::regex::optimize)).first;
  return found->second;
}

const Json* SchemaSet::resolve_ref(const std::string& file, std::string_view ref, std::string& ref_file) const {
  const size_t hash = ref.find('#');
  ref_file = hash == 0 ? file : std::string(ref.substr(0, hash));
  const auto schema = schemas_.find(ref_file);
  if (schema == schemas_.end())
    return nullptr;
  return find_pointer(*schema->second, hash == std::string_view::npos ? "" : ref.substr(hash + 1));
}

void SchemaSet::validate(std::string_view name, const Json& value, std::vector<Violation>& out) const {
  const auto schema = schemas_.find(std::string(name));
  if (schema == schemas_.end())
    return;
  std::string pointer;
  check(schema->first, *schema->second, value, pointer, out);
}

//! Where a check is in the value (a JSON pointer) and where its violations go.
struct SchemaSet::Place {
  std::string& pointer;
  std::vector<Violation>& out;
  void report(std::string message) const { out.push_back({pointer, pointer_to_field(pointer), std::move(message)}); }
};

namespace {

//! `type`: false (reported) when the value is none of the types, with a hint for the usual YAML slips.
bool type_holds(const Json& schema, const Json& value, const auto& place) {
  const Json* type = find_member(schema, "type");
  if (type == nullptr)
    return true;
  bool matches = false;
  if (type->IsString())
    matches = type_matches(view(*type), value);
  else
    for (const auto& entry : type->GetArray())
      matches = matches || type_matches(view(entry), value);
  if (matches)
    return true;
  const std::string expected = expected_types(*type);
  if (std::string hint = map_hint(value); !hint.empty() && expected == "object")
    place.report(std::move(hint));
  else if (expected == "string" && (value.IsBool() || value.IsNumber()))
    place.report(fmt::format("expected a string, got {} {}; quote it (\"{}\") to keep it a string", json_type_name(value),
                             describe_value(value), describe_value(value)));
  else
    place.report(fmt::format("expected {}, got {} {}", expected, json_type_name(value), describe_value(value)));
  return false;
}

//! `enum` and `const`: false (reported) when the value is not one they allow.
bool value_allowed(const Json& schema, const Json& value, const auto& place) {
  if (const Json* allowed = find_member(schema, "enum")) {
    const auto& entries = allowed->GetArray();
    if (std::none_of(entries.begin(), entries.end(), [&](const Json& entry) { return json_equal(entry, value); })) {
      std::string choices;
      for (const auto& entry : entries)
        choices += (choices.empty() ? "" : ", ") + (entry.IsString() ? std::string(view(entry)) : describe_value(entry));
      place.report(fmt::format("must be one of {}; got {}", choices, describe_value(value)));
      return false;
    }
  }
  if (const Json* constant = find_member(schema, "const"); constant != nullptr && !json_equal(*constant, value)) {
    place.report(fmt::format("must be {}, got {}", describe_value(*constant), describe_value(value)));
    return false;
  }
  return true;
}

//! `minimum`, `maximum`.
void check_number(const Json& schema, const Json& value, const auto& place) {
  if (const Json* minimum = find_member(schema, "minimum"); minimum != nullptr && value.GetDouble() < minimum->GetDouble())
    place.report(fmt::format("must be >= {}, got {}", describe_value(*minimum), describe_value(value)));
  if (const Json* maximum = find_member(schema, "maximum"); maximum != nullptr && value.GetDouble() > maximum->GetDouble())
    place.report(fmt::format("must be <= {}, got {}", describe_value(*maximum), describe_value(value)));
}

//! The closest of an object schema's properties to an unknown `key`, or the list of them.
std::string unknown_field_message(const Json* properties, std::string_view key) {
  std::string closest;
  size_t best = 3;
  std::string known;
  if (properties != nullptr && properties->IsObject())
    for (const auto& candidate : properties->GetObject()) {
      const size_t distance = edit_distance(key, view(candidate.name));
      if (distance < best) {
        best = distance;
        closest = std::string(view(candidate.name));
      }
      known += (known.empty() ? "" : ", ") + std::string(view(candidate.name));
    }
  return !closest.empty() ? fmt::format("unknown field, did you mean \"{}\"?", closest)
         : known.empty()  ? std::string("unknown field, this object takes no fields")
                          : fmt::format("unknown field, expected one of: {}", known);
}

} // namespace

void SchemaSet::check(const std::string& file, const Json& schema, const Json& value, std::string& pointer,
                      std::vector<Violation>& out) const {
  if (const Json* ref = find_member(schema, "$ref"); ref != nullptr && ref->IsString()) {
    std::string ref_file;
    const Json* target = resolve_ref(file, view(*ref), ref_file);
    if (target == nullptr)
      throw UserError(fmt::format("schemas/{}: $ref {} does not resolve", file, view(*ref)));
    check(ref_file, *target, value, pointer, out);
    return;
  }
  const Place place{pointer, out};
  if (!type_holds(schema, value, place) || !value_allowed(schema, value, place))
    return;
  if (value.IsNumber())
    check_number(schema, value, place);
  if (value.IsString())
    check_string(schema, view(value), place);
  if (value.IsArray())
    check_items(file, schema, value, place);
  if (value.IsObject())
    check_members(file, schema, value, place);
  if (const Json* any_of = find_member(schema, "anyOf"))
    check_any_of(file, *any_of, value, place);
}

void SchemaSet::check_string(const Json& schema, std::string_view text, const Place& place) const {
  if (const Json* min_length = find_member(schema, "minLength"); min_length != nullptr && text.size() < min_length->GetUint64())
    place.report(min_length->GetUint64() == 1 ? std::string("must not be empty")
                                              : fmt::format("must be at least {} characters, got {}", min_length->GetUint64(), text.size()));
  if (const Json* max_length = find_member(schema, "maxLength"); max_length != nullptr && text.size() > max_length->GetUint64())
    place.report(fmt::format("must be at most {} characters, got {}", max_length->GetUint64(), text.size()));
  if (const Json* pattern = find_member(schema, "pattern")) {
    const std::string expression(view(*pattern));
    if (!std::regex_search(text.begin(), text.end(), regex_for(expression)))
      place.report(fmt::format("must match {}, got {}", expression, quote(text)));
  }
  if (const Json* format = find_member(schema, "format")) {
    std::string expectation;
    if (!check_format(view(*format), text, expectation))
      place.report(fmt::format("must be {}, got {}", expectation, quote(text)));
  }
}

void SchemaSet::check_items(const std::string& file, const Json& schema, const Json& value, const Place& place) const {
  const size_t size = value.Size();
  if (const Json* min_items = find_member(schema, "minItems"); min_items != nullptr && size < min_items->GetUint64())
    place.report(fmt::format("must have at least {} item{}, got {}", min_items->GetUint64(), min_items->GetUint64() == 1 ? "" : "s", size));
  if (const Json* max_items = find_member(schema, "maxItems"); max_items != nullptr && size > max_items->GetUint64())
    place.report(fmt::format("must have at most {} items, got {}", max_items->GetUint64(), size));
  const Json* items = find_member(schema, "items");
  if (items == nullptr)
    return;
  const size_t length = place.pointer.size();
  for (rapidjson::SizeType index = 0; index < value.Size(); ++index) {
    place.pointer += "/" + std::to_string(index);
    check(file, *items, value[index], place.pointer, place.out);
    place.pointer.resize(length);
  }
}

void SchemaSet::check_members(const std::string& file, const Json& schema, const Json& value, const Place& place) const {
  const Json* properties = find_member(schema, "properties");
  const Json* additional = find_member(schema, "additionalProperties");
  if (const Json* required = find_member(schema, "required"))
    for (const auto& name : required->GetArray())
      if (find_member(value, view(name)) == nullptr)
        place.out.push_back({place.pointer, pointer_to_field(place.pointer + "/" + escape_pointer_token(view(name))), "required field is missing"});
  const size_t length = place.pointer.size();
  for (const auto& member : value.GetObject()) {
    const std::string_view key = view(member.name);
    place.pointer += "/" + escape_pointer_token(key);
    if (const Json* property = properties != nullptr ? find_member(*properties, key) : nullptr)
      check(file, *property, member.value, place.pointer, place.out);
    else if (additional != nullptr && additional->IsObject())
      check(file, *additional, member.value, place.pointer, place.out);
    else if (additional != nullptr && additional->IsFalse())
      place.report(unknown_field_message(properties, key));
    place.pointer.resize(length);
  }
}

void SchemaSet::check_any_of(const std::string& file, const Json& branches, const Json& value, const Place& place) const {
  std::vector<Violation> first_branch;
  for (const auto& branch : branches.GetArray()) {
    std::vector<Violation> attempt;
    check(file, branch, value, place.pointer, attempt);
    if (attempt.empty())
      return;
    if (first_branch.empty())
      first_branch = std::move(attempt);
  }
  place.out.insert(place.out.end(), first_branch.begin(), first_branch.end());
}

} // namespace meridian

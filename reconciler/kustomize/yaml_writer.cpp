// YAML output as `kustomize build` prints it: keys sorted at every level, two-space indentation,
// sequences at their key's indentation, strings quoted only when a plain scalar would read back as
// something else (double quotes) or could not be written plainly (single quotes), multi-line strings
// as literal blocks.
#include "kustomize/kustomize.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace meridian::kustomize {
namespace {

bool is_empty_container(const Json& value) {
  return (value.IsObject() && value.MemberCount() == 0) || (value.IsArray() && value.Empty());
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Would a plain scalar with this text resolve to a number (YAML 1.1 and 1.2 forms, loosely)?
bool looks_numeric(std::string_view text) {
  size_t pos = 0;
  if (pos < text.size() && (text[pos] == '-' || text[pos] == '+'))
    ++pos;
  if (pos == text.size())
    return false;
  const std::string_view rest = text.substr(pos);
  if (rest == ".inf" || rest == ".Inf" || rest == ".INF" || text == ".nan" || text == ".NaN" || text == ".NAN")
    return true;
  if (rest.size() > 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'o' || rest[1] == 'b'))
    return true;
  bool digits = false;
  bool dot = false;
  for (; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (is_digit(c) || (c == '_' && digits)) {
      digits = true;
      continue;
    }
    if (c == '.' && !dot) {
      dot = true;
      continue;
    }
    if ((c == 'e' || c == 'E') && digits) {
      ++pos;
      if (pos < text.size() && (text[pos] == '-' || text[pos] == '+'))
        ++pos;
      if (pos == text.size())
        return false;
      for (; pos < text.size(); ++pos)
        if (!is_digit(text[pos]))
          return false;
      return true;
    }
    if (c == ':' && digits) // base 60 (YAML 1.1): 1:20
      continue;
    return false;
  }
  return digits;
}

// YAML's timestamps (2001-12-14, 2001-12-14t21:59:43.10-05:00): yaml.v3 resolves them, so quotes them.
bool looks_like_timestamp(std::string_view text) {
  if (text.size() < 8 || !is_digit(text[0]) || !is_digit(text[1]) || !is_digit(text[2]) || !is_digit(text[3]) || text[4] != '-')
    return false;
  size_t pos = 5;
  const auto digits = [&](size_t min, size_t max) {
    size_t count = 0;
    while (pos < text.size() && is_digit(text[pos]) && count < max) {
      ++pos;
      ++count;
    }
    return count >= min;
  };
  if (!digits(1, 2) || pos >= text.size() || text[pos++] != '-' || !digits(1, 2))
    return false;
  return pos == text.size() || text[pos] == 'T' || text[pos] == 't' || text[pos] == ' ';
}

bool resolves_to_non_string(std::string_view text) {
  static constexpr std::string_view words[] = {"", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                                               "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"};
  if (std::find(std::begin(words), std::end(words), text) != std::end(words))
    return true;
  return looks_numeric(text) || looks_like_timestamp(text);
}

bool is_printable(unsigned char c) { return c >= 0x20 && c != 0x7f; }

// libyaml's analysis of a plain scalar in block context, simplified.
bool plain_allowed(std::string_view text) {
  if (text.empty() || text.front() == ' ' || text.back() == ' ')
    return false;
  static constexpr std::string_view indicators = "#,[]{}&*!|>'\"%@`";
  if (indicators.find(text.front()) != std::string_view::npos)
    return false;
  if ((text.front() == '-' || text.front() == '?' || text.front() == ':') && (text.size() == 1 || text[1] == ' '))
    return false;
  if (text.substr(0, 3) == "---" || text.substr(0, 3) == "...")
    return false;
  if (text.back() == ':')
    return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!is_printable(c) && c < 0x80)
      return false;
    if (c == ':' && i + 1 < text.size() && text[i + 1] == ' ')
      return false;
    if (c == '#' && i > 0 && text[i - 1] == ' ')
      return false;
  }
  return true;
}

bool single_quote_allowed(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return is_printable(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80; });
}

std::string double_quoted(std::string_view text) {
  std::string out = "\"";
  for (const char raw : text) {
    const auto c = static_cast<unsigned char>(raw);
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\t': out += "\\t"; break;
    case '\r': out += "\\r"; break;
    case '\0': out += "\\0"; break;
    default:
      if (c < 0x20 || c == 0x7f)
        out += fmt::format("\\x{:02X}", c);
      else
        out += raw;
    }
  }
  return out + "\"";
}

std::string quoted_string(std::string_view text) {
  if (resolves_to_non_string(text))
    return double_quoted(text);
  if (plain_allowed(text))
    return std::string(text);
  if (single_quote_allowed(text)) {
    std::string out = "'";
    for (const char c : text)
      out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  return double_quoted(text);
}

std::string pad(int indent) { return std::string(static_cast<size_t>(indent), ' '); }

// A multi-line string as a literal block whose lines sit at `indent`; nullopt when it cannot be one.
std::optional<std::string> literal_block(std::string_view text, int indent) {
  // A space before a line break (or at the very end) would not survive a block: libyaml quotes then.
  if (text.find('\n') == std::string_view::npos || text.find(" \n") != std::string_view::npos || text.back() == ' ' || text.find('\t') != std::string_view::npos)
    return std::nullopt;
  for (const char c : text)
    if (c != '\n' && !is_printable(static_cast<unsigned char>(c)) && static_cast<unsigned char>(c) < 0x80)
      return std::nullopt;
  size_t trailing = 0;
  while (trailing < text.size() && text[text.size() - 1 - trailing] == '\n')
    ++trailing;
  // Content that starts with a space or a line break needs its indentation given (always 2 here).
  std::string out = text.front() == ' ' || text.front() == '\n' ? "|2" : "|";
  out += trailing == 0 ? "-" : trailing == 1 ? "" : "+";
  out += "\n";
  std::string_view body = text.substr(0, text.size() - trailing);
  size_t start = 0;
  while (start <= body.size()) {
    const size_t end = body.find('\n', start);
    const std::string_view line = body.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!line.empty())
      out += pad(indent);
    out += line;
    out += "\n";
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  for (size_t i = 1; i < trailing; ++i)
    out += "\n";
  return out;
}

std::string number_text(const Json& value) {
  if (value.IsInt64())
    return std::to_string(value.GetInt64());
  if (value.IsUint64())
    return std::to_string(value.GetUint64());
  // A float stays a float when printed: 1.0 is "1.0", not "1" (which would read back as an integer).
  std::string text = fmt::format("{}", value.GetDouble());
  if (text.find_first_of(".eEn") == std::string::npos)
    text += ".0";
  return text;
}

// A scalar after `key:` or `-` (the caller wrote the space); ends the line.
void emit_scalar(const Json& value, int block_indent, std::string& out) {
  if (value.IsNull()) {
    out += "null\n";
  } else if (value.IsBool()) {
    out += value.GetBool() ? "true\n" : "false\n";
  } else if (value.IsNumber()) {
    out += number_text(value) + "\n";
  } else if (value.IsString()) {
    const std::string_view text(value.GetString(), value.GetStringLength());
    if (auto block = literal_block(text, block_indent))
      out += *block;
    else
      out += quoted_string(text) + "\n";
  } else {
    out += value.IsObject() ? "{}\n" : "[]\n";
  }
}

std::vector<const Json::Member*> sorted_members(const Json& object) {
  std::vector<const Json::Member*> members;
  for (auto member = object.MemberBegin(); member != object.MemberEnd(); ++member)
    members.push_back(&*member);
  std::sort(members.begin(), members.end(), [](const Json::Member* a, const Json::Member* b) {
    return std::string_view(a->name.GetString(), a->name.GetStringLength()) < std::string_view(b->name.GetString(), b->name.GetStringLength());
  });
  return members;
}

void emit_sequence(const Json& array, int indent, bool inline_first, std::string& out);

// A mapping at `indent`; with `inline_first`, the first key continues the current line.
void emit_mapping(const Json& object, int indent, bool inline_first, std::string& out) {
  bool first = true;
  for (const Json::Member* member : sorted_members(object)) {
    if (!(first && inline_first))
      out += pad(indent);
    first = false;
    out += quoted_string(std::string_view(member->name.GetString(), member->name.GetStringLength()));
    out += ":";
    const Json& value = member->value;
    if (value.IsObject() && !is_empty_container(value)) {
      out += "\n";
      emit_mapping(value, indent + 2, false, out);
    } else if (value.IsArray() && !is_empty_container(value)) {
      out += "\n";
      emit_sequence(value, indent, false, out);
    } else {
      out += " ";
      emit_scalar(value, indent + 2, out);
    }
  }
}

void emit_sequence(const Json& array, int indent, bool inline_first, std::string& out) {
  bool first = true;
  for (const Json& item : array.GetArray()) {
    if (!(first && inline_first))
      out += pad(indent);
    first = false;
    out += "- ";
    if (item.IsObject() && !is_empty_container(item))
      emit_mapping(item, indent + 2, true, out);
    else if (item.IsArray() && !is_empty_container(item))
      emit_sequence(item, indent + 2, true, out);
    else
      emit_scalar(item, indent + 2, out);
  }
}

} // namespace

std::string to_yaml(const Json& value) {
  std::string out;
  if (value.IsObject() && !is_empty_container(value))
    emit_mapping(value, 0, false, out);
  else if (value.IsArray() && !is_empty_container(value))
    emit_sequence(value, 0, false, out);
  else
    emit_scalar(value, 0, out);
  return out;
}

std::string to_yaml_stream(const std::vector<const Json*>& documents) {
  std::string out;
  for (size_t i = 0; i < documents.size(); ++i) {
    if (i > 0)
      out += "---\n";
    out += to_yaml(*documents[i]);
  }
  return out;
}

} // namespace meridian::kustomize

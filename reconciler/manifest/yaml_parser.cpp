#include "manifest/yaml_parser.h"

#include <yaml.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <unordered_map>

namespace meridian {
namespace {

// RAII over libyaml's parser and event structs.
class EventParser {
public:
  explicit EventParser(std::string_view text) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  }
  ~EventParser() {
    if (has_event_)
      yaml_event_delete(&event_);
    yaml_parser_delete(&parser_);
  }
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  //! The next event, or nullptr on a syntax error (see error()).
  const yaml_event_t* next() {
    if (has_event_)
      yaml_event_delete(&event_);
    has_event_ = yaml_parser_parse(&parser_, &event_) == 1;
    return has_event_ ? &event_ : nullptr;
  }

  YamlError error(std::string_view text) const {
    const int line = static_cast<int>(parser_.problem_mark.line) + 1;
    std::string problem = parser_.problem != nullptr ? parser_.problem : "syntax error";
    const size_t offset = parser_.problem_mark.index;
    if (problem.find("cannot start any token") != std::string::npos && offset < text.size() && text[offset] == '\t')
      return {line, "invalid YAML: tab character used for indentation, expected spaces"};
    if (parser_.context != nullptr && std::strstr(parser_.context, "quoted scalar") != nullptr)
      return {static_cast<int>(parser_.context_mark.line) + 1,
              "invalid YAML: unclosed quoted string (" + problem + ")"};
    if (parser_.context != nullptr)
      return {line, fmt::format("invalid YAML: {} {} (started at line {})", parser_.context, problem,
                                parser_.context_mark.line + 1)};
    return {line, "invalid YAML: " + problem};
  }

private:
  yaml_parser_t parser_{};
  yaml_event_t event_{};
  bool has_event_ = false;
};

std::string_view scalar_text(const yaml_event_t& event) {
  return {reinterpret_cast<const char*>(event.data.scalar.value), event.data.scalar.length};
}

std::string_view tag_of(const unsigned char* tag) {
  if (tag == nullptr)
    return {};
  std::string_view text(reinterpret_cast<const char*>(tag));
  constexpr std::string_view core = "tag:yaml.org,2002:";
  if (text.substr(0, core.size()) == core)
    return text.substr(core.size());
  return text;
}

bool is_null_word(std::string_view text) { return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL"; }

std::optional<bool> bool_word(std::string_view text) {
  static constexpr std::string_view yes[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
  static constexpr std::string_view no[] = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
  if (std::find(std::begin(yes), std::end(yes), text) != std::end(yes))
    return true;
  if (std::find(std::begin(no), std::end(no), text) != std::end(no))
    return false;
  return std::nullopt;
}

bool all_of_digits(std::string_view text, int base) {
  if (text.empty())
    return false;
  return std::all_of(text.begin(), text.end(), [base](char c) {
    if (c == '_')
      return true;
    if (base == 2)
      return c == '0' || c == '1';
    if (base == 8)
      return c >= '0' && c <= '7';
    if (base == 10)
      return c >= '0' && c <= '9';
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

// Sets `out` to the integer `text` denotes in YAML 1.1 (as go-yaml v2 reads it); false if it is not one.
bool resolve_int(std::string_view text, Json& out) {
  bool negative = false;
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  } else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B')) {
    base = 2;
    digits.remove_prefix(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    digits.remove_prefix(1);
  }
  if (!all_of_digits(digits, base) || digits.front() == '_')
    return false;
  std::string clean;
  clean.reserve(digits.size());
  for (const char c : digits)
    if (c != '_')
      clean += c;
  unsigned long long magnitude = 0;
  const auto [end, ec] = std::from_chars(clean.data(), clean.data() + clean.size(), magnitude, base);
  if (ec != std::errc{} || end != clean.data() + clean.size())
    return false; // out of range: go-yaml then tries a float
  if (!negative) {
    if (magnitude <= static_cast<unsigned long long>(INT64_MAX))
      out.SetInt64(static_cast<int64_t>(magnitude));
    else
      out.SetUint64(magnitude);
    return true;
  }
  if (magnitude > static_cast<unsigned long long>(INT64_MAX) + 1)
    return false;
  out.SetInt64(magnitude == static_cast<unsigned long long>(INT64_MAX) + 1 ? INT64_MIN : -static_cast<int64_t>(magnitude));
  return true;
}

bool resolve_float(std::string_view text, Json& out) {
  // [-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?
  size_t pos = 0;
  if (pos < text.size() && (text[pos] == '-' || text[pos] == '+'))
    ++pos;
  const size_t mantissa = pos;
  bool digits = false;
  while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || (digits && text[pos] == '_'))) {
    digits = true;
    ++pos;
  }
  bool dot = false;
  if (pos < text.size() && text[pos] == '.') {
    dot = true;
    ++pos;
    while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '_')) {
      digits = true;
      ++pos;
    }
  }
  if (!digits || pos == mantissa)
    return false;
  bool exponent = false;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    if (pos < text.size() && (text[pos] == '-' || text[pos] == '+'))
      ++pos;
    const size_t exponent_start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
      ++pos;
    if (pos == exponent_start)
      return false;
    exponent = true;
  }
  if (pos != text.size() || (!dot && !exponent))
    return false;
  std::string clean;
  for (const char c : text)
    if (c != '_')
      clean += c;
  out.SetDouble(std::strtod(clean.c_str(), nullptr));
  return std::isfinite(out.GetDouble());
}

// Resolves a plain (unquoted, untagged) scalar; strings are left to the caller.
bool resolve_plain(std::string_view text, Json& out) {
  if (is_null_word(text)) {
    out.SetNull();
    return true;
  }
  if (const auto flag = bool_word(text)) {
    out.SetBool(*flag);
    return true;
  }
  if (text.empty())
    return false;
  const char first = text.front();
  if (!(first == '-' || first == '+' || first == '.' || (first >= '0' && first <= '9')))
    return false;
  return resolve_int(text, out) || resolve_float(text, out);
}

std::optional<std::string> find_invalid_utf8(std::string_view text) {
  size_t line = 1;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n')
      ++line;
    if (c == 0)
      return fmt::format("line {}: binary content (a NUL byte at offset {}), expected YAML text", line, i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    if ((c & 0xE0) == 0xC0 && c >= 0xC2)
      length = 2;
    else if ((c & 0xF0) == 0xE0)
      length = 3;
    else if ((c & 0xF8) == 0xF0 && c <= 0xF4)
      length = 4;
    bool valid = length != 0 && i + length <= text.size();
    for (size_t k = 1; valid && k < length; ++k)
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (!valid)
      return fmt::format("line {}: not valid UTF-8 (byte 0x{:02x} at offset {}), expected UTF-8 YAML text", line, c, i);
    i += length;
  }
  return std::nullopt;
}

struct Anchor {
  Json value;
  size_t nodes = 0;
};

// One open mapping or sequence.
struct Frame {
  Json value;
  bool is_map = false;
  bool has_key = false;
  bool merge_pending = false; // the current key is `<<`
  std::string key;
  int key_line = 0;
  int line = 0;
  size_t nodes = 1;
  std::string anchor;
  std::vector<int> key_lines;                      // line of each member's key, in member order
  std::unordered_map<std::string, size_t> index;   // member name → position, once the map is large
  std::vector<std::string> merged;                 // keys that came from `<<` and may be overridden
};

class Builder {
public:
  Builder(YamlFile& file, const YamlLimits& limits) : file_(file), limits_(limits), allocator_(scratch_) {}

  std::optional<YamlError> run(std::string_view text) {
    EventParser parser(text);
    while (true) {
      const yaml_event_t* event = parser.next();
      if (event == nullptr)
        return parser.error(text);
      const int line = static_cast<int>(event->start_mark.line) + 1;
      switch (event->type) {
      case YAML_STREAM_END_EVENT:
        return std::nullopt;
      case YAML_DOCUMENT_START_EVENT:
        root_.SetNull();
        root_line_ = line;
        anchors_.clear();
        break;
      case YAML_DOCUMENT_END_EVENT:
        if (!root_.IsNull()) {
          // Built in the scratch pool, where maps and lists grow by doubling (RapidJSON starts a
          // map at 16 members) and a pool never frees what growth leaves behind; the copy into
          // the file's pool takes exactly what each value holds, a third of the memory.
          YamlDocument document;
          document.value.CopyFrom(root_, file_.allocator);
          root_.SetNull();
          anchors_.clear();
          scratch_.Clear();
          document.line = root_line_;
          document.index = file_.documents.size();
          file_.documents.push_back(std::move(document));
        }
        break;
      case YAML_SCALAR_EVENT:
        if (auto error = on_scalar(*event, line))
          return error;
        break;
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (!stack_.empty() && stack_.back().is_map && !stack_.back().has_key)
          return YamlError{line, "invalid YAML: a mapping key must be a scalar, got a mapping or sequence"};
        if (stack_.size() >= limits_.max_depth)
          return YamlError{line, fmt::format("nesting deeper than {} levels, refusing to parse further", limits_.max_depth)};
        Frame frame;
        frame.is_map = event->type == YAML_MAPPING_START_EVENT;
        if (frame.is_map)
          frame.value.SetObject();
        else
          frame.value.SetArray();
        frame.line = line;
        const unsigned char* anchor = frame.is_map ? event->data.mapping_start.anchor : event->data.sequence_start.anchor;
        if (anchor != nullptr)
          frame.anchor = reinterpret_cast<const char*>(anchor);
        stack_.push_back(std::move(frame));
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Frame frame = std::move(stack_.back());
        stack_.pop_back();
        if (!frame.anchor.empty())
          remember_anchor(frame.anchor, frame.value, frame.nodes);
        if (auto error = emit(frame.value, frame.line, frame.nodes))
          return error;
        break;
      }
      case YAML_ALIAS_EVENT: {
        const std::string name = reinterpret_cast<const char*>(event->data.alias.anchor);
        const auto anchor = anchors_.find(name);
        if (anchor == anchors_.end())
          return YamlError{line, fmt::format("invalid YAML: alias *{} names no anchor defined before it", name)};
        alias_nodes_ += anchor->second.nodes;
        if (alias_nodes_ > limits_.max_alias_nodes)
          return YamlError{line, fmt::format("aliases expand to more than {} nodes (an alias bomb?), refusing to expand",
                                             limits_.max_alias_nodes)};
        Json copy(anchor->second.value, allocator_);
        if (auto error = emit(copy, line, anchor->second.nodes))
          return error;
        break;
      }
      default:
        break;
      }
    }
  }

private:
  std::optional<YamlError> on_scalar(const yaml_event_t& event, int line) {
    const std::string_view text = scalar_text(event);
    if (!stack_.empty() && stack_.back().is_map && !stack_.back().has_key) {
      Frame& frame = stack_.back();
      frame.key.assign(text);
      frame.key_line = line;
      frame.has_key = true;
      frame.merge_pending = text == "<<" && event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
      return std::nullopt;
    }
    Json value;
    const std::string_view tag = tag_of(event.data.scalar.tag);
    const bool plain = event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (tag == "str" || tag == "binary" || (tag.empty() && !plain)) {
      value.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator_);
    } else if (tag == "int" || tag == "float" || tag == "bool" || tag == "null") {
      if (!resolve_plain(text, value) || (tag == "int" && !value.IsInt64() && !value.IsUint64()) ||
          (tag == "bool" && !value.IsBool()) || (tag == "null" && !value.IsNull()))
        return YamlError{line, fmt::format("invalid YAML: \"{}\" is not a valid !!{}", text, tag)};
      if (tag == "float" && value.IsNumber())
        value.SetDouble(value.GetDouble());
    } else if (!resolve_plain(text, value)) {
      if (text == ".inf" || text == "-.inf" || text == "+.inf" || text == ".nan" || text == ".NaN" || text == ".Inf")
        return YamlError{line, fmt::format("\"{}\" is not a number JSON can hold, quote it to keep it a string", text)};
      value.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator_);
    }
    if (event.data.scalar.anchor != nullptr)
      remember_anchor(reinterpret_cast<const char*>(event.data.scalar.anchor), value, 1);
    return emit(value, line, 1);
  }

  void remember_anchor(const std::string& name, const Json& value, size_t nodes) {
    Anchor anchor;
    anchor.value.CopyFrom(value, allocator_);
    anchor.nodes = nodes;
    anchors_[name] = std::move(anchor);
  }

  std::optional<YamlError> emit(Json& value, int line, size_t nodes) {
    if (stack_.empty()) {
      root_.Swap(value);
      root_line_ = line;
      return std::nullopt;
    }
    Frame& parent = stack_.back();
    parent.nodes += nodes;
    if (!parent.is_map) {
      parent.value.PushBack(value, allocator_);
      return std::nullopt;
    }
    if (!parent.has_key) { // an alias used as a key
      if (!value.IsString())
        return YamlError{line, "invalid YAML: a mapping key must be a string"};
      parent.key.assign(value.GetString(), value.GetStringLength());
      parent.key_line = line;
      parent.has_key = true;
      parent.merge_pending = false;
      return std::nullopt;
    }
    parent.has_key = false;
    if (parent.merge_pending)
      return merge_into(parent, value, line);
    return add_member(parent, parent.key, value, parent.key_line, false);
  }

  std::optional<YamlError> add_member(Frame& frame, const std::string& key, Json& value, int line, bool from_merge) {
    const std::optional<size_t> existing = member_position(frame, key);
    if (existing) {
      const auto merged = std::find(frame.merged.begin(), frame.merged.end(), key);
      if (from_merge)
        return std::nullopt; // explicit keys and earlier merges win over later merges
      if (merged == frame.merged.end())
        return YamlError{line, fmt::format("duplicate key \"{}\" (first defined at line {})", key, frame.key_lines[*existing])};
      frame.merged.erase(merged); // an explicit key overrides a merged one
      frame.value.MemberBegin()[*existing].value.Swap(value);
      frame.key_lines[*existing] = line;
      return std::nullopt;
    }
    Json name(key.data(), static_cast<rapidjson::SizeType>(key.size()), allocator_);
    frame.value.AddMember(name, value, allocator_);
    frame.key_lines.push_back(line);
    if (!frame.index.empty() || frame.key_lines.size() > 16) {
      if (frame.index.empty())
        for (size_t i = 0; i < frame.key_lines.size(); ++i) {
          const Json& member_name = frame.value.MemberBegin()[i].name;
          frame.index.emplace(std::string(member_name.GetString(), member_name.GetStringLength()), i);
        }
      else
        frame.index.emplace(key, frame.key_lines.size() - 1);
    }
    if (from_merge)
      frame.merged.push_back(key);
    return std::nullopt;
  }

  std::optional<size_t> member_position(const Frame& frame, const std::string& key) const {
    if (!frame.index.empty()) {
      const auto found = frame.index.find(key);
      return found == frame.index.end() ? std::nullopt : std::optional<size_t>(found->second);
    }
    for (size_t i = 0; i < frame.key_lines.size(); ++i) {
      const Json& name = frame.value.MemberBegin()[i].name;
      if (std::string_view(name.GetString(), name.GetStringLength()) == key)
        return i;
    }
    return std::nullopt;
  }

  std::optional<YamlError> merge_into(Frame& frame, Json& source, int line) {
    frame.merge_pending = false;
    auto merge_one = [&](Json& mapping) -> std::optional<YamlError> {
      if (!mapping.IsObject())
        return YamlError{line, "invalid YAML: a merge key << needs a mapping or a list of mappings"};
      for (auto& member : mapping.GetObject()) {
        const std::string key(member.name.GetString(), member.name.GetStringLength());
        if (auto error = add_member(frame, key, member.value, line, true))
          return error;
      }
      return std::nullopt;
    };
    if (source.IsArray()) {
      for (auto& element : source.GetArray())
        if (auto error = merge_one(element))
          return error;
      return std::nullopt;
    }
    return merge_one(source);
  }

  YamlFile& file_;
  const YamlLimits& limits_;
  JsonAllocator scratch_{64 * 1024}; // one document at a time (see YAML_DOCUMENT_END_EVENT)
  JsonAllocator& allocator_;
  std::vector<Frame> stack_;
  std::map<std::string, Anchor> anchors_;
  size_t alias_nodes_ = 0;
  Json root_;
  int root_line_ = 1;
};

} // namespace

std::unique_ptr<YamlFile> parse_yaml(std::string_view text, const YamlLimits& limits) {
  const size_t chunk = std::clamp<size_t>(text.size() * 2, 1024, 64 * 1024);
  auto file = std::make_unique<YamlFile>(chunk);
  if (text.size() > limits.max_file_bytes) {
    file->error = YamlError{1, fmt::format("file is {} bytes, larger than the {} byte limit for a manifest file",
                                           text.size(), limits.max_file_bytes)};
    return file;
  }
  if (auto problem = find_invalid_utf8(text)) {
    const int line = std::atoi(problem->c_str() + 5);
    file->error = YamlError{line, problem->substr(problem->find(": ") + 2)};
    return file;
  }
  Builder builder(*file, limits);
  if (auto error = builder.run(text)) {
    file->documents.clear();
    file->error = std::move(error);
  }
  return file;
}

int locate_line(std::string_view text, size_t document_index, std::string_view pointer) {
  struct Level {
    bool is_map = false;
    bool has_key = false;
    std::string key;
    int key_line = 0;
    size_t next_index = 0;
  };
  EventParser parser(text);
  std::vector<Level> levels;
  std::string path;                 // pointer of the node about to start
  size_t document = 0;
  bool document_empty = true;
  int best_line = 0;
  size_t best_length = 0;
  bool exact = false;
  // Pointer of a child node of `levels.back()`, and the line to report for it.
  auto child = [&](int node_line) -> std::pair<std::string, int> {
    std::string child_path;
    for (const Level& level : levels)
      child_path += "/" + (level.is_map ? escape_pointer_token(level.key) : std::to_string(level.next_index));
    const int line = !levels.empty() && levels.back().is_map ? levels.back().key_line : node_line;
    return {child_path, line};
  };
  auto consider = [&](const std::string& node_path, int line) {
    if (document != document_index || exact)
      return;
    if (node_path == pointer) {
      best_line = line;
      exact = true;
      return;
    }
    const bool prefix = pointer.substr(0, node_path.size()) == node_path &&
                        (pointer.size() == node_path.size() || pointer[node_path.size()] == '/');
    if (prefix && (node_path.size() >= best_length || best_line == 0)) {
      best_line = line;
      best_length = node_path.size();
    }
  };
  auto finish_child = [&]() {
    if (levels.empty())
      return;
    if (levels.back().is_map)
      levels.back().has_key = false;
    else
      ++levels.back().next_index;
  };
  while (const yaml_event_t* event = parser.next()) {
    const int line = static_cast<int>(event->start_mark.line) + 1;
    switch (event->type) {
    case YAML_STREAM_END_EVENT:
      return best_line;
    case YAML_DOCUMENT_START_EVENT:
      document_empty = true;
      break;
    case YAML_DOCUMENT_END_EVENT:
      if (document == document_index && (exact || best_line != 0))
        return best_line;
      if (!document_empty)
        ++document;
      break;
    case YAML_SCALAR_EVENT: {
      if (!levels.empty() && levels.back().is_map && !levels.back().has_key) {
        levels.back().key.assign(scalar_text(*event));
        levels.back().key_line = line;
        levels.back().has_key = true;
        break;
      }
      if (levels.empty()) {
        Json probe;
        document_empty = resolve_plain(scalar_text(*event), probe) && probe.IsNull() &&
                         event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
      }
      const auto [node_path, node_line] = child(line);
      consider(node_path, node_line);
      finish_child();
      break;
    }
    case YAML_ALIAS_EVENT: {
      document_empty = levels.empty() ? false : document_empty;
      const auto [node_path, node_line] = child(line);
      consider(node_path, node_line);
      finish_child();
      break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      if (levels.empty())
        document_empty = false;
      const auto [node_path, node_line] = child(line);
      consider(node_path, node_line);
      Level level;
      level.is_map = event->type == YAML_MAPPING_START_EVENT;
      levels.push_back(level);
      if (levels.size() > 256)
        return best_line;
      break;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      levels.pop_back();
      finish_child();
      break;
    default:
      break;
    }
  }
  return best_line;
}

} // namespace meridian

#include "base/label_selector.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace meridian {
namespace {

bool is_alphanumeric(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 characters: a key's name part or a value.
bool is_qualified_name_part(std::string_view text) {
  if (text.empty() || text.size() > 63 || !is_alphanumeric(text.front()) || !is_alphanumeric(text.back()))
    return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return is_alphanumeric(c) || c == '-' || c == '_' || c == '.'; });
}

std::optional<int64_t> parse_int64(std::string_view text) {
  int64_t value = 0;
  const char* begin = text.data();
  if (!text.empty() && text.front() == '+')
    ++begin; // strconv.ParseInt accepts a sign
  const auto [end, error] = std::from_chars(begin, text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || begin == text.data() + text.size())
    return std::nullopt;
  return value;
}

// The lexer of apimachinery's selector parser: whitespace separates, the special symbols
// = ! ( ) , > < form the longest operator they spell, anything else up to them is an identifier
// (`in` and `notin` are keywords, but values where a value is expected).
enum class Token { error, end, close_paren, comma, not_, double_equals, equals, greater, identifier, in, less, not_equals, not_in, open_paren };

struct Scanned {
  Token token;
  std::string literal;
};

bool is_whitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_special(char c) { return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<'; }

std::optional<Token> operator_token(std::string_view text) {
  static const std::map<std::string_view, Token> tokens = {
      {")", Token::close_paren}, {",", Token::comma},   {"!", Token::not_},         {"==", Token::double_equals},
      {"=", Token::equals},      {">", Token::greater}, {"<", Token::less},         {"!=", Token::not_equals},
      {"(", Token::open_paren},  {"in", Token::in},     {"notin", Token::not_in}};
  const auto found = tokens.find(text);
  return found == tokens.end() ? std::nullopt : std::optional<Token>(found->second);
}

std::vector<Scanned> scan(std::string_view text) {
  std::vector<Scanned> items;
  size_t at = 0;
  while (true) {
    while (at < text.size() && is_whitespace(text[at]))
      ++at;
    if (at == text.size()) {
      items.push_back({Token::end, ""});
      return items;
    }
    if (is_special(text[at])) {
      std::string buffer;
      std::optional<Scanned> last;
      while (at < text.size() && is_special(text[at])) {
        buffer += text[at];
        if (const auto token = operator_token(buffer)) {
          last = Scanned{*token, buffer};
        } else if (last) {
          break;
        }
        ++at;
      }
      items.push_back(last ? *last : Scanned{Token::error, buffer});
      if (!last)
        return items;
      continue;
    }
    const size_t start = at;
    while (at < text.size() && !is_special(text[at]) && !is_whitespace(text[at]))
      ++at;
    std::string literal(text.substr(start, at - start));
    const auto keyword = operator_token(literal);
    items.push_back({keyword ? *keyword : Token::identifier, std::move(literal)});
  }
}

struct ParseError {
  std::string message;
};

class Parser {
public:
  explicit Parser(std::string_view text) : items_(scan(text)) {}

  LabelSelector parse() {
    LabelSelector selector;
    while (true) {
      const Scanned& next = lookahead(true);
      if (next.token == Token::end)
        break;
      if (next.token != Token::identifier && next.token != Token::not_)
        throw ParseError{fmt::format("found {}, expected: !, identifier, or end of string", shown(next))};
      selector.requirements.push_back(requirement());
      const Scanned after = consume(true);
      if (after.token == Token::end)
        break;
      if (after.token != Token::comma)
        throw ParseError{fmt::format("found {}, expected: ',' or end of string", shown(after))};
      const Scanned& following = lookahead(true);
      if (following.token != Token::identifier && following.token != Token::not_)
        throw ParseError{fmt::format("found {}, expected: identifier after ','", shown(following))};
    }
    std::stable_sort(selector.requirements.begin(), selector.requirements.end(),
                     [](const LabelRequirement& a, const LabelRequirement& b) { return a.key < b.key; });
    return selector;
  }

private:
  static std::string shown(const Scanned& item) {
    if (item.token == Token::end)
      return "end of string";
    if (item.token == Token::error)
      return fmt::format("'{}' (not an operator)", item.literal);
    return fmt::format("'{}'", item.literal);
  }

  // Where a value is expected, `in` and `notin` are identifiers.
  Scanned as_context(Scanned item, bool values) const {
    if (values && (item.token == Token::in || item.token == Token::not_in))
      item.token = Token::identifier;
    return item;
  }
  Scanned lookahead(bool values) const { return as_context(items_[position_], values); }
  Scanned consume(bool values) {
    const Scanned item = as_context(items_[position_], values);
    if (item.token != Token::end && item.token != Token::error)
      ++position_;
    return item;
  }

  LabelRequirement requirement() {
    LabelRequirement requirement;
    Scanned key = consume(true);
    bool negated = false;
    if (key.token == Token::not_) {
      negated = true;
      key = consume(true);
    }
    if (key.token != Token::identifier)
      throw ParseError{fmt::format("found {}, expected: identifier", shown(key))};
    if (std::string error = label_key_error(key.literal); !error.empty())
      throw ParseError{std::move(error)};
    requirement.key = key.literal;
    const Token next = lookahead(true).token;
    if (next == Token::end || next == Token::comma) {
      requirement.op = negated ? SelectorOperator::does_not_exist : SelectorOperator::exists;
      return requirement;
    }
    if (negated) // `!key` takes no operator
      throw ParseError{fmt::format("found {}, expected: ',' or end of string after !{}", shown(lookahead(true)), key.literal)};
    const Scanned op = consume(false);
    switch (op.token) {
    case Token::in: requirement.op = SelectorOperator::in; break;
    case Token::not_in: requirement.op = SelectorOperator::not_in; break;
    case Token::equals: requirement.op = SelectorOperator::equals; break;
    case Token::double_equals: requirement.op = SelectorOperator::double_equals; break;
    case Token::not_equals: requirement.op = SelectorOperator::not_equals; break;
    case Token::greater: requirement.op = SelectorOperator::greater_than; break;
    case Token::less: requirement.op = SelectorOperator::less_than; break;
    default: throw ParseError{fmt::format("found {}, expected: in, notin, =, ==, !=, > or <", shown(op))};
    }
    if (requirement.op == SelectorOperator::in || requirement.op == SelectorOperator::not_in)
      requirement.values = value_set();
    else
      requirement.values = {exact_value()};
    for (const std::string& value : requirement.values)
      if (std::string error = label_value_error(value); !error.empty())
        throw ParseError{fmt::format("{}: {}", key.literal, error)};
    if ((requirement.op == SelectorOperator::greater_than || requirement.op == SelectorOperator::less_than) &&
        !parse_int64(requirement.values.front()))
      throw ParseError{fmt::format("{}: for '>' and '<' the value must be an integer, got \"{}\"", key.literal, requirement.values.front())};
    std::sort(requirement.values.begin(), requirement.values.end());
    requirement.values.erase(std::unique(requirement.values.begin(), requirement.values.end()), requirement.values.end());
    return requirement;
  }

  // `(a,b)`: values may be empty (`(a,,b)`, `()`), as apimachinery reads them.
  std::vector<std::string> value_set() {
    const Scanned open = consume(true);
    if (open.token != Token::open_paren)
      throw ParseError{fmt::format("found {}, expected: '('", shown(open))};
    std::vector<std::string> values;
    const Scanned& first = lookahead(true);
    if (first.token == Token::close_paren) {
      consume(true);
      return {""};
    }
    if (first.token != Token::identifier && first.token != Token::comma)
      throw ParseError{fmt::format("found {}, expected: ',', ')' or identifier", shown(first))};
    while (true) {
      const Scanned item = consume(true);
      if (item.token == Token::identifier) {
        values.push_back(item.literal);
        const Scanned& after = lookahead(true);
        if (after.token == Token::comma)
          continue;
        if (after.token == Token::close_paren)
          break;
        throw ParseError{fmt::format("found {}, expected: ',' or ')'", shown(after))};
      }
      if (item.token != Token::comma)
        throw ParseError{fmt::format("found {}, expected: ',' or identifier", shown(item))};
      if (values.empty())
        values.emplace_back(); // `(,`
      const Token after = lookahead(true).token;
      if (after == Token::close_paren) {
        values.emplace_back(); // `,)`
        break;
      }
      if (after == Token::comma)
        values.emplace_back(); // `,,`
    }
    const Scanned close = consume(true);
    if (close.token != Token::close_paren)
      throw ParseError{fmt::format("found {}, expected: ')'", shown(close))};
    return values;
  }

  // The value of `=`, `==`, `!=`, `>`, `<`: empty when the requirement ends there.
  std::string exact_value() {
    const Token next = lookahead(true).token;
    if (next == Token::end || next == Token::comma)
      return "";
    const Scanned value = consume(true);
    if (value.token != Token::identifier)
      throw ParseError{fmt::format("found {}, expected: identifier", shown(value))};
    return value.literal;
  }

  std::vector<Scanned> items_;
  size_t position_ = 0;
};

} // namespace

bool is_dns_label(std::string_view text) {
  if (text.empty() || text.size() > 63 || text.front() == '-' || text.back() == '-')
    return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool is_dns_subdomain(std::string_view text) {
  if (text.empty() || text.size() > 253)
    return false;
  while (true) {
    const size_t dot = text.find('.');
    if (!is_dns_label(text.substr(0, dot)))
      return false;
    if (dot == std::string_view::npos)
      return true;
    text.remove_prefix(dot + 1);
  }
}

std::string label_key_error(std::string_view key) {
  const size_t slash = key.find('/');
  std::string_view name = key;
  if (slash != std::string_view::npos) {
    const std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (prefix.empty())
      return fmt::format("invalid label key \"{}\": the prefix before '/' must not be empty", key);
    if (!is_dns_subdomain(prefix))
      return fmt::format("invalid label key \"{}\": the prefix \"{}\" must be a DNS subdomain (lower-case alphanumerics, '-' and '.', "
                         "at most 253 characters)",
                         key, prefix);
    if (name.find('/') != std::string_view::npos)
      return fmt::format("invalid label key \"{}\": expected at most one '/' (prefix/name)", key);
  }
  if (!is_qualified_name_part(name))
    return fmt::format("invalid label key \"{}\": the name must be 1-63 characters of alphanumerics, '-', '_' or '.', starting and "
                       "ending with an alphanumeric",
                       key);
  return {};
}

std::string label_value_error(std::string_view value) {
  if (value.empty() || is_qualified_name_part(value))
    return {};
  return fmt::format("invalid label value \"{}\": expected at most 63 characters of alphanumerics, '-', '_' or '.', starting and "
                     "ending with an alphanumeric (or empty)",
                     value);
}

bool LabelRequirement::matches(const std::optional<std::string>& value) const {
  const auto listed = [&] { return std::find(values.begin(), values.end(), *value) != values.end(); };
  switch (op) {
  case SelectorOperator::equals:
  case SelectorOperator::double_equals:
  case SelectorOperator::in: return value && listed();
  case SelectorOperator::not_equals:
  case SelectorOperator::not_in: return !value || !listed();
  case SelectorOperator::exists: return value.has_value();
  case SelectorOperator::does_not_exist: return !value;
  case SelectorOperator::greater_than:
  case SelectorOperator::less_than: {
    if (!value || values.size() != 1)
      return false;
    const auto have = parse_int64(*value);
    const auto bound = parse_int64(values.front());
    if (!have || !bound)
      return false;
    return op == SelectorOperator::greater_than ? *have > *bound : *have < *bound;
  }
  }
  return false;
}

bool LabelSelector::matches(const std::function<std::optional<std::string>(std::string_view)>& label) const {
  return std::all_of(requirements.begin(), requirements.end(),
                     [&](const LabelRequirement& requirement) { return requirement.matches(label(requirement.key)); });
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  return matches([&](std::string_view key) -> std::optional<std::string> {
    const auto found = labels.find(std::string(key));
    if (found == labels.end())
      return std::nullopt;
    return found->second;
  });
}

std::string LabelSelector::to_string() const {
  std::string out;
  for (const LabelRequirement& requirement : requirements) {
    if (!out.empty())
      out += ',';
    if (requirement.op == SelectorOperator::does_not_exist)
      out += '!';
    out += requirement.key;
    const std::string values = fmt::format("{}", fmt::join(requirement.values, ","));
    switch (requirement.op) {
    case SelectorOperator::equals: out += "=" + values; break;
    case SelectorOperator::double_equals: out += "==" + values; break;
    case SelectorOperator::not_equals: out += "!=" + values; break;
    case SelectorOperator::in: out += " in (" + values + ")"; break;
    case SelectorOperator::not_in: out += " notin (" + values + ")"; break;
    case SelectorOperator::greater_than: out += ">" + values; break;
    case SelectorOperator::less_than: out += "<" + values; break;
    case SelectorOperator::exists:
    case SelectorOperator::does_not_exist: break;
    }
  }
  return out;
}

LabelSelectorParse parse_label_selector(std::string_view text) {
  try {
    return {Parser(text).parse(), {}};
  } catch (const ParseError& error) {
    return {std::nullopt, error.message};
  }
}

} // namespace meridian

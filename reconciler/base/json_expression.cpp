// Conditions over JSON documents: a small expression parser (recursive descent) and its evaluation.
#include "base/json_expression.h"

#include "base/error.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdio>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace meridian {

//! One step of a path: a field, an index, or a selection of the element whose `key` is `value`.
struct PathStep {
  enum class Type { field, index, select } type = Type::field;
  std::string name;  //!< field name, or the selection's key
  std::string value; //!< the selection's value
  size_t index = 0;
};

struct Literal {
  enum class Type { null, boolean, number, text } type = Type::null;
  bool boolean = false;
  double number = 0;
  std::string text;
};

struct JsonExpression {
  enum class Type { path, literal, negate, both, either, compare } type = Type::literal;
  std::vector<PathStep> path;
  Literal literal;
  std::string op; //!< ==, !=, <, <=, >, >=
  std::shared_ptr<const JsonExpression> left, right;
};

namespace {

using Node = std::shared_ptr<const JsonExpression>;

class Parser {
public:
  explicit Parser(std::string_view text) : text_(text) {}

  Node expression() {
    Node node = either();
    skip_space();
    if (at_ < text_.size())
      error(fmt::format("unexpected \"{}\"", text_.substr(at_, 8)));
    return node;
  }

  std::vector<PathStep> path_only() {
    skip_space();
    std::vector<PathStep> steps = path();
    skip_space();
    if (at_ < text_.size())
      error(fmt::format("unexpected \"{}\" after the path", text_.substr(at_, 8)));
    return steps;
  }

private:
  [[noreturn]] void error(const std::string& what) const { throw UserError(fmt::format("column {}: {}", at_ + 1, what)); }

  void skip_space() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_])))
      ++at_;
  }

  bool take(std::string_view token) {
    skip_space();
    if (text_.substr(at_, token.size()) != token)
      return false;
    at_ += token.size();
    return true;
  }

  Node binary(JsonExpression::Type type, Node left, Node right) {
    auto node = std::make_shared<JsonExpression>();
    node->type = type;
    node->left = std::move(left);
    node->right = std::move(right);
    return node;
  }

  Node either() {
    Node node = both();
    while (take("||"))
      node = binary(JsonExpression::Type::either, node, both());
    return node;
  }

  Node both() {
    Node node = unary();
    while (take("&&"))
      node = binary(JsonExpression::Type::both, node, unary());
    return node;
  }

  Node unary() {
    skip_space();
    if (at_ < text_.size() && text_[at_] == '!' && text_.substr(at_, 2) != "!=") {
      ++at_;
      auto node = std::make_shared<JsonExpression>();
      node->type = JsonExpression::Type::negate;
      node->left = unary();
      return node;
    }
    if (take("(")) {
      Node inner = either();
      if (!take(")"))
        error("expected \")\"");
      return inner;
    }
    Node left = operand();
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (take(op)) {
        auto node = std::make_shared<JsonExpression>();
        node->type = JsonExpression::Type::compare;
        node->op = op;
        node->left = left;
        node->right = operand();
        return node;
      }
    }
    return left;
  }

  Node operand() {
    skip_space();
    auto node = std::make_shared<JsonExpression>();
    if (at_ >= text_.size())
      error("expected a path or a value");
    const char c = text_[at_];
    if (c == '"' || c == '\'') {
      node->literal.type = Literal::Type::text;
      node->literal.text = quoted();
      return node;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') {
      const size_t start = at_;
      ++at_;
      while (at_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[at_])) || text_[at_] == '.'))
        ++at_;
      node->literal.type = Literal::Type::number;
      try {
        node->literal.number = std::stod(std::string(text_.substr(start, at_ - start)));
      } catch (const std::exception&) {
        at_ = start;
        error("expected a number");
      }
      return node;
    }
    for (const auto& [word, literal] : {std::pair{"true", Literal{Literal::Type::boolean, true, 0, {}}},
                                        std::pair{"false", Literal{Literal::Type::boolean, false, 0, {}}},
                                        std::pair{"null", Literal{Literal::Type::null, false, 0, {}}}}) {
      const std::string_view token(word);
      if (text_.substr(at_, token.size()) == token &&
          (at_ + token.size() == text_.size() || !name_char(text_[at_ + token.size()]))) {
        at_ += token.size();
        node->literal = literal;
        return node;
      }
    }
    node->type = JsonExpression::Type::path;
    node->path = path();
    return node;
  }

  static bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '$'; }

  std::string quoted() {
    const size_t start = at_;
    const char quote = text_[at_++];
    std::string out;
    while (at_ < text_.size() && text_[at_] != quote) {
      if (text_[at_] == '\\' && at_ + 1 < text_.size())
        ++at_;
      out += text_[at_++];
    }
    if (at_ >= text_.size()) {
      at_ = start;
      error(fmt::format("unterminated {}", quote == '"' ? "\"text\"" : "'text'"));
    }
    ++at_;
    return out;
  }

  std::string name() {
    const size_t start = at_;
    while (at_ < text_.size() && name_char(text_[at_]))
      ++at_;
    if (at_ == start)
      error("expected a field name");
    return std::string(text_.substr(start, at_ - start));
  }

  std::vector<PathStep> path() {
    std::vector<PathStep> steps;
    steps.push_back({PathStep::Type::field, name(), {}, 0});
    while (at_ < text_.size()) {
      if (text_[at_] == '.') {
        ++at_;
        steps.push_back({PathStep::Type::field, name(), {}, 0});
      } else if (text_[at_] == '[') {
        ++at_;
        skip_space();
        PathStep step;
        if (at_ < text_.size() && (text_[at_] == '"' || text_[at_] == '\'')) {
          step.name = quoted();
        } else if (at_ < text_.size() && text_[at_] == '?') {
          ++at_;
          skip_space();
          step.type = PathStep::Type::select;
          step.name = name();
          if (!take("=") && !take("=="))
            error("expected \"=\" in [?key=value]");
          skip_space();
          if (at_ < text_.size() && (text_[at_] == '"' || text_[at_] == '\''))
            step.value = quoted();
          else
            step.value = name();
        } else if (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) {
          step.type = PathStep::Type::index;
          while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_])))
            step.index = step.index * 10 + static_cast<size_t>(text_[at_++] - '0');
        } else {
          error("expected an index, [?key=value] or a quoted name inside [ ]");
        }
        if (!take("]"))
          error("expected \"]\"");
        steps.push_back(std::move(step));
      } else {
        break;
      }
    }
    return steps;
  }

  std::string_view text_;
  size_t at_ = 0;
};

const Json* resolve(const Json& object, const std::vector<PathStep>& steps) {
  const Json* at = &object;
  for (const PathStep& step : steps) {
    switch (step.type) {
    case PathStep::Type::field:
      at = at->IsObject() ? find_member(*at, step.name) : nullptr;
      break;
    case PathStep::Type::index:
      at = at->IsArray() && step.index < at->Size() ? &(*at)[static_cast<rapidjson::SizeType>(step.index)] : nullptr;
      break;
    case PathStep::Type::select: {
      const Json* found = nullptr;
      if (at->IsArray())
        for (const auto& element : at->GetArray())
          if (element.IsObject() && string_member(element, step.name) == step.value) {
            found = &element;
            break;
          }
      at = found;
      break;
    }
    }
    if (at == nullptr)
      return nullptr;
  }
  return at;
}

//! A value reduced for comparison: null, a number, or text (booleans as "true"/"false").
using Value = std::variant<std::monostate, double, std::string>;

Value value_of(const JsonExpression& node, const Json& object) {
  if (node.type == JsonExpression::Type::literal) {
    switch (node.literal.type) {
    case Literal::Type::null: return std::monostate{};
    case Literal::Type::boolean: return std::string(node.literal.boolean ? "true" : "false");
    case Literal::Type::number: return node.literal.number;
    case Literal::Type::text: return node.literal.text;
    }
  }
  const Json* found = node.type == JsonExpression::Type::path ? resolve(object, node.path) : nullptr;
  if (found == nullptr || found->IsNull())
    return std::monostate{};
  if (found->IsNumber())
    return found->GetDouble();
  if (found->IsBool())
    return std::string(found->GetBool() ? "true" : "false");
  if (found->IsString())
    return std::string(found->GetString(), found->GetStringLength());
  return write_compact(*found);
}

bool truthy(const Value& value) {
  if (std::holds_alternative<std::monostate>(value))
    return false;
  if (const double* number = std::get_if<double>(&value))
    return *number != 0;
  const std::string& text = std::get<std::string>(value);
  return !text.empty() && text != "false";
}

bool compare(const Value& left, const std::string& op, const Value& right) {
  int order = 0;
  bool comparable = true;
  if (left.index() != right.index()) {
    // A number and its text ("3" and 3) are the same value; anything else differs (and has no order).
    const double* number = std::get_if<double>(&left) ? std::get_if<double>(&left) : std::get_if<double>(&right);
    const std::string* text = std::get_if<std::string>(&left) ? std::get_if<std::string>(&left) : std::get_if<std::string>(&right);
    double parsed = 0;
    if (number != nullptr && text != nullptr && !text->empty() && std::sscanf(text->c_str(), "%lf", &parsed) == 1) {
      const double a = std::get_if<double>(&left) ? *number : parsed;
      const double b = std::get_if<double>(&left) ? parsed : *number;
      order = a < b ? -1 : (a > b ? 1 : 0);
    } else {
      comparable = false;
    }
  } else if (const double* a = std::get_if<double>(&left)) {
    const double b = std::get<double>(right);
    order = *a < b ? -1 : (*a > b ? 1 : 0);
  } else if (const std::string* a = std::get_if<std::string>(&left)) {
    order = a->compare(std::get<std::string>(right));
    order = order < 0 ? -1 : (order > 0 ? 1 : 0);
  }
  if (op == "==")
    return comparable && order == 0;
  if (op == "!=")
    return !comparable || order != 0;
  if (!comparable)
    return false;
  if (op == "<")
    return order < 0;
  if (op == "<=")
    return order <= 0;
  if (op == ">")
    return order > 0;
  return order >= 0;
}

} // namespace

std::shared_ptr<const JsonExpression> parse_json_expression(std::string_view text) { return Parser(text).expression(); }

bool evaluate(const JsonExpression& expression, const Json& object) {
  switch (expression.type) {
  case JsonExpression::Type::negate:
    return !evaluate(*expression.left, object);
  case JsonExpression::Type::both:
    return evaluate(*expression.left, object) && evaluate(*expression.right, object);
  case JsonExpression::Type::either:
    return evaluate(*expression.left, object) || evaluate(*expression.right, object);
  case JsonExpression::Type::compare:
    return compare(value_of(*expression.left, object), expression.op, value_of(*expression.right, object));
  case JsonExpression::Type::path:
  case JsonExpression::Type::literal:
    return truthy(value_of(expression, object));
  }
  return false;
}

const Json* json_value_at(const Json& object, std::string_view path) { return resolve(object, Parser(path).path_only()); }

} // namespace meridian

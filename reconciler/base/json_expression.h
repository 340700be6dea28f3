// Conditions over a JSON document, for rules users write in manifests (Fleet.spec.healthChecks):
// `||`, `&&`, `!`, parentheses, and comparisons (== != < <= > >=) between paths and literals
// ("text", 'text', numbers, true, false, null). A path is dot-separated field names, with `[N]` for
// an array element, `[?key=value]` for the first element whose `key` is `value` (a condition by
// type), and `["a.b/c"]` for a name with dots or slashes. A missing field is null; a path alone is
// true when it exists and is not false, null, "" or 0. A number and its text are equal; other
// values of different types are not, and have no order.
#pragma once

#include "base/json.h"

#include <memory>
#include <string_view>

namespace meridian {

struct JsonExpression; // parsed; defined in json_expression.cpp

//! Parses one expression; throws UserError "column N: <what was expected>".
std::shared_ptr<const JsonExpression> parse_json_expression(std::string_view text);

//! Whether `expression` holds for `object`.
bool evaluate(const JsonExpression& expression, const Json& object);

//! The value at `path` (the expressions' path syntax), or nullptr. Throws UserError when the path
//! does not parse.
const Json* json_value_at(const Json& object, std::string_view path);

} // namespace meridian

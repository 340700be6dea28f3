// Health rules a fleet adds for a kind (Fleet.spec.healthChecks), as Argo CD's custom health checks
// and Flux's healthCheckExprs do: for objects of that group and kind, expressions over the live
// object say whether it is degraded, healthy or still progressing, in place of the backend's rule.
//
//   healthChecks:
//     - group: cert-manager.io            # "" (or absent) for the core group
//       kind: Certificate
//       degraded: 'status.conditions[?type=Ready].reason == "Failed"'
//       healthy: 'status.conditions[?type=Ready].status == "True" && status.observedGeneration >= metadata.generation'
//       message: status.conditions[?type=Ready].message   # optional: a path whose value is shown
//
// Expressions (base/json_expression.h): `||`, `&&`, `!`, parentheses, and comparisons (== != < <= > >=) between paths and
// literals ("text", 'text', numbers, true, false, null). A path is dot-separated field names, with
// `[N]` for an array element, `[?key=value]` for the first element whose `key` is `value` (a
// condition by type), and `["a.b/c"]` for a name with dots or slashes. A missing field is null; a
// path alone is true when it exists and is not false, null, "" or 0. Numbers compare as numbers,
// anything else as its text. Degraded is tested first, then healthy; neither is progressing.
#pragma once

#include "backend/backend.h"
#include "base/json_expression.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

struct HealthRule {
  std::string group;
  std::string kind;
  std::string healthy_text;
  std::string degraded_text;
  std::string message_path;
  std::shared_ptr<const JsonExpression> healthy;  //!< null: healthy once present (unless degraded)
  std::shared_ptr<const JsonExpression> degraded; //!< null: never degraded
};

//! The rule for `ref`'s group and kind, or nullptr.
const HealthRule* find_health_rule(const std::vector<HealthRule>& rules, const ObjectRef& ref);

//! The health `rule` gives the live object `live`.
Health rule_health(const HealthRule& rule, const Json& live);

//! Health of `ref`: by the fleet's rule for its kind when there is one (the live object read in
//! `api_version`, Git's, when given), else the backend's.
Health object_health(Backend& backend, const std::vector<HealthRule>& rules, const ObjectRef& ref, std::string_view api_version = {});

} // namespace meridian

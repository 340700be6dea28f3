// Fleet health rules: which rule an object has, and the health it gives.
#include "model/health_rule.h"

#include "base/error.h"

#include <fmt/format.h>


namespace meridian {

const HealthRule* find_health_rule(const std::vector<HealthRule>& rules, const ObjectRef& ref) {
  for (const HealthRule& rule : rules)
    if (rule.kind == ref.kind && rule.group == ref.group)
      return &rule;
  return nullptr;
}

Health rule_health(const HealthRule& rule, const Json& live) {
  std::string message;
  if (!rule.message_path.empty())
    if (const Json* value = json_value_at(live, rule.message_path); value != nullptr && !value->IsNull())
      message = value->IsString() ? std::string(value->GetString(), value->GetStringLength()) : write_compact(*value);
  if (rule.degraded && evaluate(*rule.degraded, live))
    return {HealthStatus::degraded, message.empty() ? fmt::format("the fleet's health check says degraded: {}", rule.degraded_text) : message};
  if (!rule.healthy || evaluate(*rule.healthy, live))
    return {HealthStatus::healthy, message};
  return {HealthStatus::progressing,
          message.empty() ? fmt::format("waiting for the fleet's health check: {}", rule.healthy_text) : message};
}

Health object_health(Backend& backend, const std::vector<HealthRule>& rules, const ObjectRef& ref, std::string_view api_version) {
  const HealthRule* rule = ref.is_fleet_level() ? nullptr : find_health_rule(rules, ref);
  if (rule == nullptr)
    return backend.health(ref);
  return health_or_unreadable([&]() -> Health {
    const auto live = api_version.empty() ? backend.get(ref) : backend.get_as(ref, api_version);
    if (live == nullptr)
      return {HealthStatus::missing, fmt::format("{} does not exist", ref.display())};
    return rule_health(*rule, *live);
  });
}

} // namespace meridian

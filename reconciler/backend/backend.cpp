#include "backend/backend.h"

#include <fmt/format.h>

namespace meridian {

std::string ObjectRef::key() const { return fmt::format("{}/{}/{}/{}/{}", cluster, group, kind, namespace_, name); }

std::string ObjectRef::display() const {
  if (namespace_.empty())
    return fmt::format("{}/{}", kind, name);
  return fmt::format("{}/{}/{}", kind, namespace_, name);
}

std::string_view to_string(HealthStatus status) {
  switch (status) {
  case HealthStatus::healthy:
    return "Healthy";
  case HealthStatus::progressing:
    return "Progressing";
  case HealthStatus::degraded:
    return "Degraded";
  case HealthStatus::missing:
    return "Missing";
  case HealthStatus::suspended:
    return "Suspended";
  }
  return "Unknown";
}

} // namespace meridian

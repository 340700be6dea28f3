#include "backend/backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <set>
#include <thread>

namespace meridian {

std::string ObjectRef::key() const { return fmt::format("{}/{}/{}/{}/{}", cluster, group, kind, namespace_, name); }

std::string ObjectRef::display() const {
  if (namespace_.empty())
    return fmt::format("{}/{}", kind, name);
  return fmt::format("{}/{}/{}", kind, namespace_, name);
}

std::string owner_label_value(std::string_view owner) {
  const auto legal = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.'; };
  const bool is_label = !owner.empty() && owner.size() <= 63 && std::all_of(owner.begin(), owner.end(), legal) &&
                        std::isalnum(static_cast<unsigned char>(owner.front())) != 0 &&
                        std::isalnum(static_cast<unsigned char>(owner.back())) != 0;
  if (is_label)
    return std::string(owner);
  uint64_t hash = 1469598103934665603ull; // FNV-1a: stable across builds and machines
  for (const char c : owner)
    hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  std::string kept;
  for (const char c : owner)
    kept += legal(c) ? c : '-';
  while (!kept.empty() && std::isalnum(static_cast<unsigned char>(kept.front())) == 0)
    kept.erase(kept.begin());
  if (kept.size() > 46)
    kept = kept.substr(kept.size() - 46);
  while (!kept.empty() && std::isalnum(static_cast<unsigned char>(kept.front())) == 0)
    kept.erase(kept.begin());
  return fmt::format("{}{}{:016x}", kept, kept.empty() ? "" : "-", hash);
}

std::string tracking_id(const ObjectRef& ref) {
  return fmt::format("{}:{}/{}:{}/{}", ref.cluster, ref.group, ref.kind, ref.namespace_, ref.name);
}

bool owned_by(const Json& object, const ObjectRef& ref, std::string_view owner) {
  const Json* annotations = find_path(object, "metadata.annotations");
  if (annotations == nullptr || string_member(*annotations, kManagedByAnnotation) != owner)
    return false;
  return ref.is_fleet_level() || string_member(*annotations, kTrackingAnnotation) == tracking_id(ref);
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

void sleep_for(std::chrono::milliseconds duration) {
  if (duration.count() > 0)
    std::this_thread::sleep_for(duration);
}

long long steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string forecast_message(const std::vector<PodPlacement>& placements) {
  size_t pending = 0;
  std::string reason;
  std::set<std::string> regions;
  for (const PodPlacement& placement : placements) {
    if (placement.node.empty()) {
      if (pending++ == 0)
        reason = placement.message;
      continue;
    }
    if (!placement.region.empty())
      regions.insert(placement.region);
  }
  if (pending > 0)
    return fmt::format("{} pod{} will stay Pending{}{}", pending, pending == 1 ? "" : "s", reason.empty() ? "" : ": ", reason);
  std::string joined;
  for (const std::string& region : regions)
    joined += (joined.empty() ? "" : ", ") + region;
  return fmt::format("{} pod{} will run{}{}", placements.size(), placements.size() == 1 ? "" : "s", joined.empty() ? "" : " in ", joined);
}

} // namespace meridian

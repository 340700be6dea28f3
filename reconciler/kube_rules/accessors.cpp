#include "kube_rules/accessors.h"

namespace meridian::rules {

std::string text_at(const Json& value, std::string_view path, std::string_view fallback) {
  const Json* found = find_path(value, path);
  if (found == nullptr || !found->IsString())
    return std::string(fallback);
  return {found->GetString(), found->GetStringLength()};
}

} // namespace meridian::rules

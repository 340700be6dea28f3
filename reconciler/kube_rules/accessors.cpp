#include "kube_rules/accessors.h"

#include <charconv>

namespace meridian::rules {

std::string text_at(const Json& value, std::string_view path, std::string_view fallback) {
  const Json* found = find_path(value, path);
  if (found == nullptr || !found->IsString())
    return std::string(fallback);
  return {found->GetString(), found->GetStringLength()};
}

long long int_at(const Json& value, std::string_view path, long long fallback) {
  const Json* found = find_path(value, path);
  if (found == nullptr)
    return fallback;
  if (found->IsInt64())
    return found->GetInt64();
  if (found->IsNumber())
    return static_cast<long long>(found->GetDouble());
  if (!found->IsString())
    return fallback;
  const char* begin = found->GetString();
  const char* end = begin + found->GetStringLength();
  long long parsed = 0;
  const auto [stop, error] = std::from_chars(begin, end, parsed);
  return error == std::errc() && stop == end && begin != end ? parsed : fallback;
}

} // namespace meridian::rules

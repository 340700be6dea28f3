// The labelSelector query of a workload's pods; the health rules are kube_rules/health.cpp's.
#include "backend/kube/health.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace meridian::kube {

std::string selector_query(const Json& selector) {
  std::vector<std::string> terms;
  const Json* match_labels = find_member(selector, "matchLabels");
  if (match_labels != nullptr && match_labels->IsObject()) {
    for (const auto& member : match_labels->GetObject())
      if (member.value.IsString())
        terms.push_back(fmt::format("{}={}", member.name.GetString(), member.value.GetString()));
  }
  if (const Json* expressions = find_member(selector, "matchExpressions"); expressions != nullptr && expressions->IsArray()) {
    for (const auto& expression : expressions->GetArray()) {
      const std::string key(string_member(expression, "key"));
      const std::string_view op = string_member(expression, "operator");
      std::vector<std::string> values;
      if (const Json* list = find_member(expression, "values"); list != nullptr && list->IsArray())
        for (const auto& value : list->GetArray())
          if (value.IsString())
            values.emplace_back(value.GetString());
      if (op == "In")
        terms.push_back(fmt::format("{} in ({})", key, fmt::join(values, ",")));
      else if (op == "NotIn")
        terms.push_back(fmt::format("{} notin ({})", key, fmt::join(values, ",")));
      else if (op == "Exists")
        terms.push_back(key);
      else if (op == "DoesNotExist")
        terms.push_back("!" + key);
    }
  }
  std::sort(terms.begin(), terms.end());
  return fmt::format("{}", fmt::join(terms, ","));
}

} // namespace meridian::kube

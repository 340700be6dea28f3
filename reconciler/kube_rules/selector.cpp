#include "kube_rules/selector.h"

#include <algorithm>

namespace meridian::rules {
namespace {

std::string text(const Json& value) { return {value.GetString(), value.GetStringLength()}; }

std::optional<std::string> label_value(const Json* labels, std::string_view key) {
  const Json* value = labels == nullptr ? nullptr : find_member(*labels, key);
  if (value == nullptr || !value->IsString())
    return std::nullopt;
  return text(*value);
}

} // namespace

std::optional<LabelSelector> label_selector_of(const Json& selector) {
  if (!selector.IsObject())
    return std::nullopt;
  LabelSelector result;
  if (const Json* match_labels = find_member(selector, "matchLabels"); match_labels != nullptr && !match_labels->IsNull()) {
    if (!match_labels->IsObject())
      return std::nullopt;
    for (const auto& member : match_labels->GetObject()) {
      if (!member.value.IsString())
        return std::nullopt;
      result.requirements.push_back({text(member.name), SelectorOperator::equals, {text(member.value)}});
    }
  }
  if (const Json* expressions = find_member(selector, "matchExpressions"); expressions != nullptr && !expressions->IsNull()) {
    if (!expressions->IsArray())
      return std::nullopt;
    for (const auto& expression : expressions->GetArray()) {
      const Json* key = find_member(expression, "key");
      if (key == nullptr || !key->IsString())
        return std::nullopt;
      LabelRequirement requirement{text(*key), SelectorOperator::exists, {}};
      if (const Json* values = find_member(expression, "values"); values != nullptr && !values->IsNull()) {
        if (!values->IsArray())
          return std::nullopt;
        for (const auto& value : values->GetArray()) {
          if (!value.IsString())
            return std::nullopt;
          requirement.values.push_back(text(value));
        }
      }
      const std::string_view op = string_member(expression, "operator");
      if (op == "In" || op == "NotIn") {
        requirement.op = op == "In" ? SelectorOperator::in : SelectorOperator::not_in;
        if (requirement.values.empty())
          return std::nullopt;
      } else if (op == "Exists" || op == "DoesNotExist") {
        requirement.op = op == "Exists" ? SelectorOperator::exists : SelectorOperator::does_not_exist;
        if (!requirement.values.empty())
          return std::nullopt;
      } else {
        return std::nullopt;
      }
      std::sort(requirement.values.begin(), requirement.values.end());
      requirement.values.erase(std::unique(requirement.values.begin(), requirement.values.end()), requirement.values.end());
      result.requirements.push_back(std::move(requirement));
    }
  }
  return result;
}

bool selector_matches(const Json& selector, const Json* labels) {
  const auto parsed = label_selector_of(selector);
  if (!parsed)
    return false;
  return std::all_of(parsed->requirements.begin(), parsed->requirements.end(),
                     [&](const LabelRequirement& requirement) { return requirement.matches(label_value(labels, requirement.key)); });
}

bool map_selector_matches(const Json& selector, const Json* labels) {
  if (!selector.IsObject())
    return false;
  return std::all_of(selector.MemberBegin(), selector.MemberEnd(), [&](const auto& member) {
    if (!member.value.IsString())
      return false;
    const auto value = label_value(labels, {member.name.GetString(), member.name.GetStringLength()});
    return value && *value == text(member.value);
  });
}

bool selector_or_map_matches(const Json& selector, const Json* labels) {
  if (selector.IsObject() && find_member(selector, "matchLabels") == nullptr && find_member(selector, "matchExpressions") == nullptr)
    return map_selector_matches(selector, labels);
  return selector_matches(selector, labels);
}

} // namespace meridian::rules

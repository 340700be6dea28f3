#include "state/outcome.h"

#include <array>
#include <utility>

namespace meridian {
namespace {

constexpr std::array<std::pair<ApplyResult, std::string_view>, 5> apply_results{{
    {ApplyResult::running, "running"},
    {ApplyResult::succeeded, "succeeded"},
    {ApplyResult::failed, "failed"},
    {ApplyResult::halted, "halted"},
    {ApplyResult::interrupted, "interrupted"},
}};

constexpr std::array<std::pair<ObjectOutcome, std::string_view>, 4> object_outcomes{{
    {ObjectOutcome::applied, "applied"},
    {ObjectOutcome::failed, "failed"},
    {ObjectOutcome::skipped, "skipped"},
    {ObjectOutcome::not_started, "not-started"},
}};

template <typename Enum, size_t N> std::string_view name_of(const std::array<std::pair<Enum, std::string_view>, N>& names, Enum value) {
  for (const auto& [candidate, name] : names)
    if (candidate == value)
      return name;
  return "unknown";
}

template <typename Enum, size_t N>
std::optional<Enum> value_of(const std::array<std::pair<Enum, std::string_view>, N>& names, std::string_view name) {
  for (const auto& [value, candidate] : names)
    if (candidate == name)
      return value;
  return std::nullopt;
}

} // namespace

std::string_view to_string(ApplyResult result) { return name_of(apply_results, result); }
std::string_view to_string(ObjectOutcome outcome) { return name_of(object_outcomes, outcome); }
std::optional<ApplyResult> parse_apply_result(std::string_view name) { return value_of(apply_results, name); }
std::optional<ObjectOutcome> parse_object_outcome(std::string_view name) { return value_of(object_outcomes, name); }

} // namespace meridian

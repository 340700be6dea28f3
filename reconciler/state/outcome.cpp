#include "state/outcome.h"

#include "base/enum_names.h"

namespace meridian {
namespace {

constexpr EnumNames<ApplyResult, 5> apply_results{{
    {ApplyResult::running, "running"},
    {ApplyResult::succeeded, "succeeded"},
    {ApplyResult::failed, "failed"},
    {ApplyResult::halted, "halted"},
    {ApplyResult::interrupted, "interrupted"},
}};

constexpr EnumNames<ObjectOutcome, 4> object_outcomes{{
    {ObjectOutcome::applied, "applied"},
    {ObjectOutcome::failed, "failed"},
    {ObjectOutcome::skipped, "skipped"},
    {ObjectOutcome::not_started, "not-started"},
}};

} // namespace

std::string_view to_string(ApplyResult result) { return enum_name(apply_results, result); }
std::string_view to_string(ObjectOutcome outcome) { return enum_name(object_outcomes, outcome); }
std::optional<ApplyResult> parse_apply_result(std::string_view name) { return enum_value(apply_results, name); }
std::optional<ObjectOutcome> parse_object_outcome(std::string_view name) { return enum_value(object_outcomes, name); }

} // namespace meridian

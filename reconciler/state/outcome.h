// How an apply and each object of it ended, as history records them.
//
// The names (`to_string`) are what the command line prints, the API's JSON carries and SQLite's
// history stores; `parse_*` reads them back and is the inverse of `to_string` (nullopt for a name
// that is none of them).
#pragma once

#include <optional>
#include <string_view>

namespace meridian {

//! An apply's outcome. `running` is history's only: an apply under way, or one whose process died
//! (found so by the next StateStore, which records it as `interrupted`).
enum class ApplyResult { running, succeeded, failed, halted, interrupted };

//! One changed object's outcome in an apply. `not_started` ("not-started"): the apply stopped before
//! it (interrupted, or halted by an earlier region's failure).
enum class ObjectOutcome { applied, failed, skipped, not_started };

std::string_view to_string(ApplyResult result);
std::string_view to_string(ObjectOutcome outcome);
std::optional<ApplyResult> parse_apply_result(std::string_view name);
std::optional<ObjectOutcome> parse_object_outcome(std::string_view name);

} // namespace meridian

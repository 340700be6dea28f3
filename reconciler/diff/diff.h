// Diff: what differs between the desired body of an object and its live counterpart.
//
// Only what Git says is compared: fields the manifest sets are compared with live; fields the
// server or a controller fills (status, uid, resourceVersion, defaults...) are not drift. Fields
// Meridian applied before and Git no longer has are changes too (they will be removed). Lists of
// objects with a `name` (containers, env, ports...) are matched by name, as server-side apply
// merges them. Quantities compare by value (`1000m` equals `1`).
#pragma once

#include "base/json.h"

#include <optional>
#include <string>
#include <vector>

namespace meridian {

struct FieldChange {
  std::string pointer;                      //!< RFC 6901 pointer of the field
  std::optional<std::string> before;        //!< compact JSON of the live value; nullopt when absent
  std::optional<std::string> after;         //!< compact JSON of the desired value; nullopt when removed
};

struct DiffOptions {
  std::vector<std::string> ignore_pointers; //!< prefixes never compared
  const Json* last_applied = nullptr;       //!< what Meridian applied last time, for removed fields
};

//! Field changes that applying `desired` would make to `live`, sorted by pointer.
std::vector<FieldChange> diff_object(const Json& desired, const Json& live, const DiffOptions& options = {});

//! Every leaf of `desired` as a creation (live absent).
std::vector<FieldChange> creation_fields(const Json& desired);

//! True when `pointer` equals `prefix` or lies below it.
bool pointer_within(std::string_view pointer, std::string_view prefix);

} // namespace meridian

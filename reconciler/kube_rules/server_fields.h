#pragma once
// The fields of an object the API server owns: nobody writes them in Git, every server fills them in.

#include "base/json.h"

#include <span>
#include <string_view>

namespace meridian::rules {

//! As JSON pointers: /status and metadata's uid, resourceVersion, creationTimestamp,
//! managedFields, generation, selfLink and deletionTimestamp.
std::span<const std::string_view> server_owned_fields();

//! True when `pointer` is one of those fields or inside one.
bool is_server_owned(std::string_view pointer);

//! Removes those fields from an object (what a server-side apply body must not carry).
void remove_server_owned(Json& object);

} // namespace meridian::rules

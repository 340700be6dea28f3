// Internal to kustomize/: strategic merge patches and JSON 6902 patches over the document model.
#pragma once

#include "base/json.h"

#include <string>
#include <string_view>

namespace meridian::kustomize {

//! Applies a strategic merge patch to `target` in place, following the Kubernetes patch strategy
//! of well-known fields (containers, volumes, env... merge by their key; other lists are replaced)
//! for built-in kinds, and the directives `$patch: delete|replace|merge`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` (ignored). A null in the patch
//! deletes the field. Returns false when the patch deletes the whole object (`$patch: delete` at
//! the top). Throws UserError (no place) on a malformed directive.
bool strategic_merge(Json& target, const Json& patch, JsonAllocator& allocator, bool builtin_kind);

//! Applies the operations of a JSON 6902 patch (an array of {op, path, value, from}) in place.
//! Throws UserError naming the operation's index and why it failed.
void json6902(Json& target, const Json& operations, JsonAllocator& allocator);

} // namespace meridian::kustomize

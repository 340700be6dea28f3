// Sensitive values: what Meridian never prints, serves or stores in clear.
//
// A core Secret's `data` and `stringData` values are sensitive. Wherever one would be shown (a
// plan's diff, its JSON and Markdown, the API) or kept (the state store's last-applied bodies), a
// marker takes its place: a JSON string naming a short keyed hash of the value, so that two plans
// can be compared and a change is visible, without the value. The key is the caller's (the state
// store keeps one per state directory); without the key a hash cannot be checked against guesses.
#pragma once

#include "base/json.h"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

//! A keyed hash of a value's text, as hex (the state store's `digest`).
using Digest = std::function<std::string(std::string_view)>;

//! True for the kinds whose values are sensitive (core Secret).
bool is_sensitive_kind(std::string_view group, std::string_view kind);

//! True for a body that is a core Secret (apiVersion v1, kind Secret).
bool is_sensitive_body(const Json& body);

//! True when `pointer` names a sensitive value or lies inside one (/data/<key>, /stringData/<key>).
bool is_sensitive_pointer(std::string_view pointer);

//! The marker shown instead of a value whose JSON text is `value_text`: a JSON string.
std::string sensitive_marker(std::string_view value_text, const Digest& digest);

//! `json_text`, the value found at `pointer` of an object, with every sensitive value in it replaced
//! by its marker (the text itself when it holds none). A Secret's values are sensitive when
//! `secret` is set; so is whatever lies at or below one of `fields` (Fleet.spec.sensitiveFields).
std::string redact_json(std::string_view pointer, const std::string& json_text, const Digest& digest, bool secret,
                        const std::vector<std::string>& fields = {});

//! The canonical text of `body` with its sensitive values replaced by their markers; plain canonical
//! text for a body that is not sensitive.
std::string redacted_canonical(const Json& body, const Digest& digest);

} // namespace meridian

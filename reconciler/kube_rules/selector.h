#pragma once
// metav1.LabelSelector objects ({matchLabels, matchExpressions}) matched against an object's labels.

#include "base/json.h"
#include "base/label_selector.h"

#include <optional>

namespace meridian::rules {

//! The selector a LabelSelector object means, as metav1.LabelSelectorAsSelector builds it:
//! matchLabels as `key=value`, matchExpressions with In, NotIn (values required), Exists and
//! DoesNotExist (no values). nullopt when upstream refuses it (another operator, such as the node
//! selector's Gt; values missing or misplaced; a value not a string): such a selector selects nothing.
//! `{}` selects everything.
std::optional<LabelSelector> label_selector_of(const Json& selector);

//! True when `labels` (an object's metadata.labels; nullptr: none) satisfy the LabelSelector object
//! `selector`. A selector that is not an object selects nothing (a nil selector, as upstream).
bool selector_matches(const Json& selector, const Json* labels);

//! A plain map of label to value (a Service's spec.selector, a ResourcePolicy's selector): every
//! pair present in `labels`. A map with a non-string value selects nothing.
bool map_selector_matches(const Json& selector, const Json* labels);

//! A LabelSelector object, or a plain map of label to value when it has neither matchLabels nor
//! matchExpressions (as ResourcePolicy and OpenKruise write some selectors).
bool selector_or_map_matches(const Json& selector, const Json* labels);

} // namespace meridian::rules

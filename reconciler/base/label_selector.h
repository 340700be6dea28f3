// Kubernetes label selectors in their string syntax (`tier=edge,region in (a,b),!legacy`), parsed
// and matched by the rules of k8s.io/apimachinery/pkg/labels (labels.Parse, Requirement.Matches):
// one place for the rule, used by kustomize's `target.labelSelector` and by
// `meridian.io/cluster-selector`.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

//! A DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, 63 at most.
bool is_dns_label(std::string_view text);
//! A DNS-1123 subdomain: DNS labels joined by dots, 253 characters at most.
bool is_dns_subdomain(std::string_view text);

enum class SelectorOperator { equals, double_equals, not_equals, in, not_in, exists, does_not_exist, greater_than, less_than };

struct LabelRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::exists;
  std::vector<std::string> values; //!< sorted, without duplicates (a set, as apimachinery keeps it)

  //! True when a label set whose value for `key` is `value` (nullopt: no such label) satisfies it.
  bool matches(const std::optional<std::string>& value) const;
};

//! A parsed selector: every requirement must hold. No requirement selects everything.
struct LabelSelector {
  std::vector<LabelRequirement> requirements; //!< sorted by key (stable), as labels.Parse sorts them

  //! `label(key)`: the value of the label `key`, or nullopt when there is none.
  bool matches(const std::function<std::optional<std::string>(std::string_view)>& label) const;
  bool matches(const std::map<std::string, std::string>& labels) const;
  bool empty() const { return requirements.empty(); }
  //! The canonical text, as apimachinery's Selector.String() prints it (`a in (x,y),b=c,!d`).
  std::string to_string() const;
};

//! The selector `text` spells, or an error message saying what was found and what was expected
//! (`found ')', expected: identifier`; `invalid label key "Tier!": ...`).
struct LabelSelectorParse {
  std::optional<LabelSelector> selector;
  std::string error;
};
LabelSelectorParse parse_label_selector(std::string_view text);

//! A label key: `[prefix/]name`, the prefix a DNS-1123 subdomain, the name at most 63 characters of
//! alphanumerics, '-', '_' and '.', starting and ending with an alphanumeric. Empty when valid,
//! otherwise why not.
std::string label_key_error(std::string_view key);
//! A label value: empty, or at most 63 characters as a key's name part. Empty when valid.
std::string label_value_error(std::string_view value);

} // namespace meridian

// Validation: every problem of a ManifestSet at once, each pinned to file, line and field.
//
// Two passes: each document against the JSON Schema of its kind (schemas/, embedded at build
// time), then the checks that need the whole repository (duplicates, references between objects,
// target clusters and cluster selectors, at most one Fleet). Findings come back sorted, so output is deterministic.
#pragma once

#include "base/finding.h"
#include "base/json.h"
#include "manifest/manifest.h"

#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

namespace meridian {

//! One schema violation inside a document.
struct Violation {
  std::string pointer; //!< JSON pointer of the offending value (or of the object missing a field)
  std::string field;   //!< dotted field path for messages
  std::string message;
};

//! The JSON Schemas of every kind Meridian understands, with the validator for the subset of
//! draft-07 they use (type, properties, required, additionalProperties, items, min/maxItems, enum,
//! const, minimum/maximum, min/maxLength, pattern, format, anyOf, $ref). Immutable once built.
class SchemaSet {
public:
  //! The schemas compiled into the binary.
  static const SchemaSet& builtin();

  //! Loads `name → JSON text` pairs; throws UserError on a malformed schema.
  explicit SchemaSet(const std::vector<std::pair<std::string, std::string>>& sources);

  //! The schema file for apiVersion/kind ("apps_v1_DaemonSet.json"), or "generic.json".
  std::string schema_name(std::string_view api_version, std::string_view kind) const;
  bool has_schema(std::string_view name) const { return schemas_.count(std::string(name)) != 0; }

  //! Appends every violation of `value` against schema `name`.
  void validate(std::string_view name, const Json& value, std::vector<Violation>& out) const;

private:
  struct Place;
  //! Every violation of `value` against `schema` (of schema file `file`, for its $refs), at `pointer`.
  void check(const std::string& file, const Json& schema, const Json& value, std::string& pointer,
             std::vector<Violation>& out) const;
  //! The keywords of each JSON type: minLength, maxLength, pattern and format; minItems, maxItems and
  //! items; required, properties and additionalProperties; and anyOf (the first branch's
  //! violations when none holds).
  void check_string(const Json& schema, std::string_view text, const Place& place) const;
  void check_items(const std::string& file, const Json& schema, const Json& value, const Place& place) const;
  void check_members(const std::string& file, const Json& schema, const Json& value, const Place& place) const;
  void check_any_of(const std::string& file, const Json& branches, const Json& value, const Place& place) const;
  const Json* resolve_ref(const std::string& file, std::string_view ref, std::string& ref_file) const;
  const std::regex& regex_for(const std::string& pattern) const;

  std::map<std::string, std::unique_ptr<JsonDocument>> schemas_;
  mutable std::mutex regex_mutex_; //!< documents are checked on several threads
  mutable std::map<std::string, std::regex> regexes_;
};

//! Schema findings of documents validated before, for a process that validates commit after
//! commit (`meridian run`): a document that is the very parse seen last time (the ManifestCache
//! hands out the same parse for the same blob) at the same path is not checked again. Holds the
//! documents of the last set only.
struct ValidationMemo {
  struct Entry {
    std::shared_ptr<const ParsedBlob> keep; //!< keeps the key's document (and its address) alive
    std::vector<Finding> findings;
  };
  std::map<std::pair<const Json*, std::string>, Entry> entries; //!< by document and file
};

//! Validates every manifest; the result holds the loader's findings too, sorted.
std::vector<Finding> validate_manifests(const ManifestSet& set, const SchemaSet& schemas = SchemaSet::builtin(),
                                        ValidationMemo* memo = nullptr);

//! The findings an edit (find_edit, not applied yet) brings to `set`, which validated without
//! errors: each edited document against its schema, and the checks of its own fields (a workload's
//! selector against its template's labels). The checks across documents read identities and
//! Meridian's own kinds, which an edit does not change, so they find what they found before. With
//! a memo, the edited documents' entries replace the older ones. Sorted.
std::vector<Finding> validate_edit(const ManifestSet& set, const ManifestEdit& edit, const SchemaSet& schemas = SchemaSet::builtin(),
                                   ValidationMemo* memo = nullptr);

//! True when no finding is an error.
bool is_valid(const std::vector<Finding>& findings);

//! DNS-1123 label (RFC 1123): [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool is_dns1123_label(std::string_view text);
//! DNS-1123 subdomain: dot-separated labels, at most 253 characters.
bool is_dns1123_subdomain(std::string_view text);

} // namespace meridian

// YAML → the engine's JSON document model, as Kubernetes reads YAML.
//
// Built on libyaml's event parser rather than yaml-cpp: it does not recurse (so depth is ours to
// cap), reports a line for every event, and parses about 13x faster (see ../../tools/bench), which
// is the floor under every plan. Scalars resolve the way sigs.k8s.io/yaml (go-yaml v2) resolves
// them: `"1.30"` stays a string, `3` is an integer, `true`/`yes`/`on` are booleans, `~` is null.
#pragma once

#include "base/json.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

//! Caps that keep hostile input from exhausting the process.
struct YamlLimits {
  size_t max_file_bytes = 64u << 20;  //!< larger files are rejected before parsing
  size_t max_depth = 200;             //!< nesting of mappings and sequences
  size_t max_alias_nodes = 100'000;   //!< nodes copied by alias expansion, per file
};

//! One YAML document of a file.
struct YamlDocument {
  Json value;       //!< allocated from the owning YamlFile's allocator
  int line = 0;     //!< 1-based line where the document's root node starts
  size_t index = 0; //!< position among the file's non-empty documents
};

//! Where and why parsing stopped.
struct YamlError {
  int line = 0;
  std::string message;
};

//! Every non-empty document of one file; immutable once parsed, safe to share between threads.
struct YamlFile {
  JsonAllocator allocator; // must outlive `documents`
  std::vector<YamlDocument> documents;
  std::optional<YamlError> error; //!< set when the file could not be parsed; documents is then empty

  explicit YamlFile(size_t chunk_size) : allocator(chunk_size) {}
};

//! Parses a multi-document YAML (or JSON) text. Empty documents are skipped.
std::unique_ptr<YamlFile> parse_yaml(std::string_view text, const YamlLimits& limits = {});

//! The 1-based line of the node at `pointer` in document `document_index` (for a mapping member,
//! the line of its key); the closest enclosing node's line when the pointer does not resolve.
int locate_line(std::string_view text, size_t document_index, std::string_view pointer);

} // namespace meridian

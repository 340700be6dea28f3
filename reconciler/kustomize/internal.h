// Internal to kustomize/: the builder's types, shared by kustomize.cpp (accumulation),
// generators.cpp (configMapGenerator/secretGenerator, hashes) and transformers.cpp.
#pragma once

#include "base/error.h"
#include "kustomize/kustomize.h"

#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <string>
#include <vector>

namespace meridian::kustomize {

//! One kustomization file, parsed, with the helpers that read its fields and name their lines.
struct Kustomization {
  std::string directory; //!< "" for the tree's root
  std::string file;
  std::string text;
  std::unique_ptr<YamlFile> yaml;
  const Json* root = nullptr; //!< a mapping

  //! `file:line` of the node at `pointer` (just `file` when it has no line).
  std::string where(std::string_view pointer) const;
  //! `file:line: field: message`.
  UserError error(std::string_view pointer, std::string_view message) const;
  //! A top-level field, nullptr when absent or null.
  const Json* field(std::string_view name) const;
  //! The scalar member `name` of `parent` (at `pointer`) as text; "" when absent.
  std::string string(const Json& parent, std::string_view name, std::string_view pointer) const;
  std::vector<std::string> strings(std::string_view name) const;
  std::vector<std::pair<std::string, std::string>> string_map(const Json* value, std::string_view pointer) const;
  std::vector<const Json*> objects(std::string_view name) const;
};

//! A resource being built, with what kustomize remembers about it.
struct Resource {
  Json value; //!< allocated from the Builder's allocator
  std::string file;
  int line = 0;
  std::vector<std::string> old_names; //!< every earlier name, oldest first
  std::string original_namespace;
  std::string original_kind;           //!< the kind before a patch changed it ("" when unchanged)
  std::vector<std::string> chain;     //!< kustomization directories it came through, innermost first
  bool needs_hash = false;            //!< generated, and the hash suffix is not disabled
  std::string generator;              //!< "ConfigMapGenerator" or "SecretGenerator" when generated
  std::string configured_in;          //!< the kustomization file of the generator it last came from

  std::string kind() const;
  std::string api_version() const;
  std::string group() const;
  std::string version() const;
  std::string name() const;
  std::string namespace_() const;
  bool has_name(std::string_view candidate) const; //!< current or earlier name
  std::string id() const;                           //!< kind.apiVersion/name.namespace, for uniqueness
  std::string display() const;                      //!< Kind/name or Kind/namespace/name
  void set_name(std::string_view new_name, JsonAllocator& allocator);
};

class Builder {
public:
  Builder(const FileTree& tree, const BuildOptions& options);

  //! The resources of the kustomization in `directory`, transformed by it (not yet hashed).
  std::vector<Resource> build_directory(const std::string& directory, const Kustomization* parent, std::string_view pointer);
  //! Hash suffixes, name references, local-config resources dropped: the documents of a build.
  Build finish(std::vector<Resource> accumulated);

private:
  std::string read_input(const std::string& path);
  std::unique_ptr<Kustomization> load_kustomization(const std::string& directory);
  void check_fields(const Kustomization& kustomization);
  std::vector<Resource> parse_resources(const std::string& path, const std::string& text);
  void append(std::vector<Resource>& accumulated, std::unordered_map<std::string, size_t>& ids, Resource resource,
              const Kustomization& kustomization, std::string_view pointer);
  void accumulate(const Kustomization& kustomization, std::vector<Resource>& accumulated);
  //! A file a kustomization names (patch, generator input): in or below its directory.
  std::string read_relative(const Kustomization& kustomization, std::string_view pointer, std::string_view entry);
  bool file_exists(const Kustomization& kustomization, std::string_view entry) const;

  // generators.cpp
  void generate(const Kustomization& kustomization, std::vector<Resource>& accumulated);
  void add_hashes(std::vector<Resource>& accumulated);

  // transformers.cpp
  void transform(const Kustomization& kustomization, std::vector<Resource>& accumulated);
  void fix_references(std::vector<Resource>& accumulated);
  void apply_patches(const Kustomization& kustomization, std::vector<Resource>& accumulated);
  void apply_strategic_merge_patches(const Kustomization& kustomization, std::vector<Resource>& accumulated);
  void apply_json6902_patches(const Kustomization& kustomization, std::vector<Resource>& accumulated);
  void apply_replacements(const Kustomization& kustomization, std::vector<Resource>& accumulated);
  void sort_legacy(std::vector<Resource>& accumulated) const;
  void add_origin_annotation(Resource& resource);

  const FileTree& tree_;
  JsonAllocator allocator_;
  std::set<std::string> inputs_;
  std::vector<std::string> stack_; //!< directories being built, to refuse cycles
  BuildOptions options_;
  bool legacy_order_ = false;
  bool origin_annotations_ = false; //!< buildMetadata: [originAnnotations] in the top kustomization
  std::string root_;                //!< the top kustomization's directory
  struct LegacyKinds {
    std::vector<std::string> first, last;
  };
  std::optional<LegacyKinds> legacy_kinds_; //!< sortOptions.legacySortOptions of the top kustomization
};

// Helpers shared by the builder's files.
std::string_view sv(const Json& string);
std::string scalar_text(const Json& value);
std::string join_path(std::string_view directory, std::string_view name);
std::optional<std::string> normalize_path(std::string_view directory, std::string_view relative);
bool is_within(std::string_view path, std::string_view directory);
std::string_view directory_of(std::string_view path);
bool is_remote(std::string_view entry);
Json& metadata_of(Json& object, JsonAllocator& allocator);
void set_string(Json& object, std::string_view key, std::string_view text, JsonAllocator& allocator);
bool is_cluster_scoped(std::string_view group, std::string_view kind);
bool is_builtin_group(std::string_view group);

} // namespace meridian::kustomize

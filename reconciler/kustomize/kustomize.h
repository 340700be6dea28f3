// Kustomize, natively: builds a kustomization the way `kustomize build` (v5) builds it, over the
// engine's document model, from a tree of files (a commit's blobs, or memory): Meridian never reads
// a working tree and runs no external binary.
//
// Supported: resources (files, directories holding a kustomization, `../` bases), components,
// namespace, namePrefix/nameSuffix with name references updated, commonLabels and labels
// (includeSelectors/includeTemplates), commonAnnotations, images, replicas, patches (strategic
// merge and JSON 6902, `target` selectors), patchesStrategicMerge, patchesJson6902,
// configMapGenerator/secretGenerator (with kustomize's content-hash name suffix), generatorOptions,
// replacements. Load restrictions are kustomize's default (LoadRestrictionsRootOnly): a
// kustomization reads files only in or below its own directory, except bases and components named
// in `resources`/`components`. Remote bases are refused.
//
// Every failure is a UserError whose one line names the kustomization file (with the line of the
// entry when there is one), the entry and why.
#pragma once

#include "base/json.h"
#include "manifest/yaml_parser.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::kustomize {

//! The files a build may read, by '/'-separated path from the tree's root ("" is the root).
class FileTree {
public:
  virtual ~FileTree() = default;
  //! Contents of a regular file; nullopt when there is none at `path`.
  virtual std::optional<std::string> read(std::string_view path) const = 0;
  //! True when `path` is a directory ("" is the root).
  virtual bool is_directory(std::string_view path) const = 0;
};

//! A FileTree held in memory (tests, tools): directories are implied by the files' paths.
class MemoryTree : public FileTree {
public:
  MemoryTree() = default;
  explicit MemoryTree(const std::map<std::string, std::string>& files) : files_(files.begin(), files.end()) {}
  void add(std::string path, std::string text) { files_[std::move(path)] = std::move(text); }
  std::optional<std::string> read(std::string_view path) const override;
  bool is_directory(std::string_view path) const override;

private:
  std::map<std::string, std::string, std::less<>> files_;
};

//! The file names kustomize recognises as a kustomization, in the order it looks for them.
inline constexpr std::string_view kustomization_names[] = {"kustomization.yaml", "kustomization.yml", "Kustomization"};

//! True when `name` (a file name, no directory) is one of kustomization_names.
bool is_kustomization_name(std::string_view name);

//! The kustomization file of `directory` in `tree`, or nullopt when it has none. Several is an error.
std::optional<std::string> find_kustomization(const FileTree& tree, std::string_view directory);

//! What a build produced: the documents `kustomize build` prints, in its order.
struct Build {
  std::unique_ptr<YamlFile> documents; //!< values owned by documents->allocator; line: see below
  std::vector<std::string> files;      //!< per document: the file it came from (a resource, or the
                                       //!< kustomization whose generator made it); its line is the
                                       //!< YamlDocument's `line`
  std::vector<std::string> inputs;     //!< every path the build read (sorted, unique), directories
                                       //!< of bases included as their kustomization files
};

struct BuildOptions {
  //! Order of the output when the top kustomization has no sortOptions. false (the default, as
  //! kustomize's API and its own tests build): resources keep the order they were listed in
  //! ("fifo"). true: sorted by kind as `kustomize build`'s deprecated --reorder=legacy sorts
  //! (Namespace, ..., ConfigMap, Secret, Service, ..., Deployment, ..., webhooks last).
  //! `sortOptions: {order: legacy|fifo}` in the top kustomization wins either way.
  bool legacy_order = false;
};

//! Builds the kustomization of `directory`. Throws UserError.
Build build(const FileTree& tree, std::string_view directory, const BuildOptions& options = {});

//! YAML text of one document as kustomize prints it (keys sorted, sequences not indented).
std::string to_yaml(const Json& value);

//! The documents as a multi-document YAML stream (`---` between documents), as kustomize prints.
std::string to_yaml_stream(const std::vector<const Json*>& documents);

} // namespace meridian::kustomize

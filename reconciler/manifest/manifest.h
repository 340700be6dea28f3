// Manifest loading: every document committed at one commit, parsed once per Git blob.
//
// A ManifestSet is the first stage of every reconcile (validate, plan, apply and run all start
// here). Parsed blobs are cached by blob id in a ManifestCache, so a long-running process parses
// only the files a new commit changed.
#pragma once

#include "base/finding.h"
#include "base/json.h"
#include "manifest/yaml_parser.h"
#include "source/git.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace meridian {

//! One parsed file, shared by every ManifestSet that includes the same blob.
struct ParsedBlob {
  std::string blob_id;
  std::string text;                 //!< kept to find the line of any field when reporting
  std::unique_ptr<YamlFile> yaml;
};

//! One document of the repository, with where it came from.
struct Manifest {
  std::string file;        //!< path from the repository root
  std::string blob_id;
  int line = 0;            //!< line of the document's first node
  size_t document_index = 0;
  const Json* object = nullptr; //!< the document; owned by `blob`
  std::shared_ptr<const ParsedBlob> blob;

  // Identity, read from the document (empty when the document lacks it; validation reports that).
  std::string api_version;
  std::string group;       //!< "" for the core group
  std::string kind;
  std::string name;
  std::string namespace_;
  std::string cluster;     //!< target cluster of a Kubernetes object; "" for Meridian's own kinds
  bool cluster_from_path = false;
  //! `meridian.io/cluster-selector` of a Kubernetes object, as written: it targets every Cluster
  //! whose labels match (manifest/placement.h). nullopt without the annotation.
  std::optional<std::string> cluster_selector;
  //! The kustomization file whose build produced this document ("" for a plain file's document).
  //! `file` and `line` are then those of the resource it was built from (or of the generator).
  std::string kustomization;

  //! Kind/name or Kind/namespace/name, as messages name objects.
  std::string display_name() const;
  //! Line of the field at `pointer` in this document (the document's line when it is absent).
  int line_of(std::string_view pointer) const;
  bool is_meridian_kind() const { return group == "meridian.io"; }
};

struct KustomizeBuildRecord;

struct ManifestSet {
  std::string repository;
  CommitInfo commit;
  std::string path;                  //!< --path, empty for the whole tree
  std::vector<Manifest> manifests;   //!< in tree order, then document order
  std::vector<Finding> findings;     //!< files that could not be parsed, kustomizations that could not be built
  //! The kustomizations built (their files), and every file those builds read, sorted: a commit
  //! that touches one of them is loaded in full (find_edit declines it), which rebuilds them.
  std::vector<std::string> kustomizations;
  std::vector<std::string> kustomize_inputs;
  //! Every kustomization built by this load (or reused from the previous one), with what it read:
  //! a later load with this set as `previous` reuses a build whose reads are all unchanged, so a
  //! commit that touches a base rebuilds the kustomizations that read it, and only those.
  std::vector<std::shared_ptr<const KustomizeBuildRecord>> kustomize_builds;
  size_t files = 0;
  size_t parsed_files = 0;           //!< files parsed by this load (the rest came from the cache)

  //! Lets go of the parsed documents and texts once nothing needs them (a command that has built
  //! its desired state, which holds copies): manifests keep file, line and identity, `object`
  //! becomes null and line_of() gives the document's line. Memory is freed when no cache holds them.
  void release_documents();
};

//! One kustomization built by a load, and what the build read.
struct KustomizeBuildRecord {
  std::string file;                          //!< the kustomization file
  std::map<std::string, std::string> reads;  //!< "f:<path>" → blob id ("" when absent), "d:<path>" → "1"/"0"
  std::shared_ptr<const ParsedBlob> output;  //!< the documents; null when the build failed
  std::vector<std::string> sources;          //!< per document: the file it came from
  std::vector<std::string> inputs;           //!< the files the build read (kustomize::Build::inputs)
  std::string error;                         //!< the build's error when it failed
};

//! Parsed blobs by blob id. Not thread-safe.
class ManifestCache {
public:
  explicit ManifestCache(YamlLimits limits = {}) : limits_(limits) {}

  std::shared_ptr<const ParsedBlob> get(const GitRepository& repository, const TreeFile& file, bool& parsed_now);
  //! Reads the blobs of `files` not cached yet (one thread: libgit2) and parses them on up to one
  //! thread per core; returns how many it parsed. get() then finds them all.
  size_t prefetch(const GitRepository& repository, const std::vector<TreeFile>& files);
  //! Drops blobs that no longer appear in `keep` (the latest commit), bounding memory.
  void retain(const std::vector<Manifest>& keep, const std::vector<TreeFile>& files);
  //! Drops one blob (a file's older version); whoever holds it keeps it.
  void forget(const std::string& blob_id);
  size_t size() const { return blobs_.size(); }
  void clear() { blobs_.clear(); }

private:
  YamlLimits limits_;
  std::unordered_map<std::string, std::shared_ptr<const ParsedBlob>> blobs_;
};

//! Loads every manifest of `commit` under `path`. A directory holding a kustomization
//! (kustomization.yaml, kustomization.yml or Kustomization) is built as `kustomize build` builds it
//! (kustomize/kustomize.h) and its documents take the place of its files: every file below it, and
//! every file any build reads, is not read as a plain manifest; a kustomization another one reads
//! (a base, a component) is not built on its own. With `previous` (a set of the same repository and
//! path, still alive, documents not released), a file whose blob is the one it had there takes its
//! manifests from it: neither parsed nor read again, so loading a commit costs its changed files.
ManifestSet load_manifests(const GitRepository& repository, const CommitInfo& commit, std::string_view path,
                           ManifestCache& cache, const ManifestSet* previous = nullptr);

//! True when `a` and `b` hold identical documents (json_identical) under the same paths, in the
//! same order, and no parse errors: everything validation and the desired state read is the same,
//! so a commit that changed only comments, blank lines, or files outside the manifests needs
//! neither again. Lines may differ. Cheap when the cache handed both sets the same parses.
bool same_documents(const ManifestSet& a, const ManifestSet& b);

//! What a commit changes in a set's documents when it only edits them in place (find_edit).
struct ManifestEdit {
  CommitInfo commit;
  std::vector<TreeChange> changes; //!< the manifest files that differ from the set's commit
  size_t files = 0;                //!< ManifestSet::files of the commit
  size_t parsed_files = 0;
  struct Document {
    size_t index = 0;  //!< position in the set's manifests
    Manifest manifest; //!< the commit's document there: same file, identity and position
    bool same = false; //!< json_identical to the set's (comments, blank lines, layout changed)
  };
  std::vector<Document> documents; //!< every document of the changed files, by index
  //! How many documents' content changed (not `same`).
  size_t changed() const;
};

//! What `commit` changes in `set` (loaded from the same repository and path, documents not
//! released, no findings), when every changed file keeps its documents in number, order and
//! identity (apiVersion, kind, name, namespace, cluster, cluster selector), files without documents come and go, and
//! Meridian's own kinds (Fleet, Cluster, NodePool) change only in comments and layout: their content
//! shapes other objects. nullopt otherwise: load_manifests then. Compares the two commits' trees
//! (unchanged folders are skipped) and parses only the changed files, so it costs what changed, not
//! the repository. `set` is left as it is.
std::optional<ManifestEdit> find_edit(const ManifestSet& set, const GitRepository& repository, const CommitInfo& commit, ManifestCache& cache);

//! Makes `set` the edit's commit in place: the edited documents take their positions (every other
//! manifest, and every pointer to one, stays where it is).
void apply_edit(ManifestSet& set, ManifestEdit edit, ManifestCache& cache);

//! find_edit and apply_edit when the commit changes no document's content (same_documents after a
//! load would hold): comments, blank lines, files without documents. Returns false and leaves `set`
//! as it was otherwise.
bool update_same_documents(ManifestSet& set, const GitRepository& repository, const CommitInfo& commit, ManifestCache& cache);

//! Loads manifests from in-memory files (path, text): for tests and tools that have no repository.
ManifestSet manifests_from_texts(const std::vector<std::pair<std::string, std::string>>& files, const YamlLimits& limits = {});

//! "apps/v1" → ("apps", "v1"); "v1" → ("", "v1").
std::pair<std::string, std::string> split_api_version(std::string_view api_version);

inline constexpr std::string_view cluster_annotation = "meridian.io/cluster";
//! Targets the Clusters whose labels match, instead of one by name (manifest/placement.h).
inline constexpr std::string_view cluster_selector_annotation = "meridian.io/cluster-selector";

} // namespace meridian

// Shared by the manifest tests on real repositories (test_manifest.cpp, test_edit.cpp): a fleet
// repository committed with the git CLI, and the field-by-field comparison of two ManifestSets.
#pragma once

#include "manifest/manifest.h"

#include "../source/git_fixture.h"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

namespace manifest_test {

using namespace meridian;
using namespace meridian::testing;

//! Two NodePools in one file (hz-pool of cluster hz, sh-pool of cluster sh).
inline const std::string pools = R"(apiVersion: meridian.io/v1alpha1
kind: NodePool
metadata:
  name: hz-pool
spec:
  cluster: hz
  region: cn-hangzhou
  desiredSize: 2
---
apiVersion: meridian.io/v1alpha1
kind: NodePool
metadata:
  name: sh-pool
spec:
  cluster: sh
  region: cn-shanghai
  desiredSize: 1
)";

//! A ConfigMap `settings` in namespace default.
inline const std::string config = R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
data:
  ratio: "1"
  key: value
)";

// A working copy of a fleet repository with a Git repository opened on it.
struct FleetRepo {
  TempDir dir{"meridian-manifest"};
  fs::path work = dir / "repo";

  FleetRepo() { git_init(work); }

  std::string commit(const std::map<std::string, std::string>& files, const std::string& message) {
    for (const auto& [path, text] : files)
      write_file(work / path, text);
    return commit_all(work, message);
  }
  //! Removes `paths` from the working copy and commits.
  std::string remove(const std::vector<std::string>& paths, const std::string& message) {
    for (const std::string& path : paths)
      REQUIRE(fs::remove(work / path));
    return commit_all(work, message);
  }
  //! `path` (replaced if it exists) becomes a symbolic link to `target`.
  void symlink(const std::string& path, const std::string& target) {
    fs::remove(work / path);
    fs::create_directories((work / path).parent_path());
    fs::create_symlink(target, work / path);
  }
  std::string blob(const std::string& commit, const std::string& path) const { return git(work, {"rev-parse", commit + ":" + path}); }
  GitRepository open() const {
    GitOptions options;
    options.cache_dir = (dir / "cache").string();
    options.netrc_file = (dir / "no-netrc").string();
    return GitRepository::open(work.string(), options);
  }
};

inline std::vector<std::string> formatted(const std::vector<Finding>& findings) {
  std::vector<std::string> out;
  for (const Finding& finding : findings)
    out.push_back(finding.format());
  return out;
}

//! `loaded` holds what `fresh` holds, field by field (parsed_files aside).
inline void check_same_load(const ManifestSet& loaded, const ManifestSet& fresh) {
  CHECK(loaded.repository == fresh.repository);
  CHECK(loaded.commit.id == fresh.commit.id);
  CHECK(loaded.commit.summary == fresh.commit.summary);
  CHECK(loaded.path == fresh.path);
  CHECK(loaded.files == fresh.files);
  CHECK(formatted(loaded.findings) == formatted(fresh.findings));
  REQUIRE(loaded.manifests.size() == fresh.manifests.size());
  for (size_t i = 0; i < fresh.manifests.size(); ++i) {
    const Manifest& a = loaded.manifests[i];
    const Manifest& b = fresh.manifests[i];
    INFO("manifest " << i << ": " << b.file << " " << b.display_name());
    CHECK(a.file == b.file);
    CHECK(a.blob_id == b.blob_id);
    CHECK(a.line == b.line);
    CHECK(a.document_index == b.document_index);
    CHECK(a.api_version == b.api_version);
    CHECK(a.group == b.group);
    CHECK(a.kind == b.kind);
    CHECK(a.name == b.name);
    CHECK(a.namespace_ == b.namespace_);
    CHECK(a.cluster == b.cluster);
    CHECK(a.cluster_from_path == b.cluster_from_path);
    REQUIRE(a.object != nullptr);
    REQUIRE(a.blob != nullptr);
    CHECK(json_identical(*a.object, *b.object));
    CHECK(a.blob->blob_id == a.blob_id);
    CHECK(a.blob->text == b.blob->text);
    // The document belongs to the blob the manifest keeps alive.
    REQUIRE(a.document_index < a.blob->yaml->documents.size());
    CHECK(a.object == &a.blob->yaml->documents[a.document_index].value);
    CHECK(a.line_of("/metadata/name") == b.line_of("/metadata/name"));
  }
  if (fresh.findings.empty())
    CHECK(same_documents(loaded, fresh));
}

} // namespace manifest_test

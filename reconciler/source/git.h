// The Git source: where desired state comes from.
//
// A GitRepository is a local working copy or bare repository opened in place, or a remote (file://,
// git://, http(s)://, ssh:// or scp-style user@host:path) mirrored into a cache directory: cloned
// once, fetched on later opens. Manifests are read from a commit's tree (blobs), never from a
// working tree. Every failure is a UserError whose one line names the repository and the ref.
//
// Not thread-safe: one GitRepository per thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

struct GitOptions {
  std::string cache_dir;    //!< where remote repositories are mirrored (one folder per URL)
  std::string ssh_key_file; //!< private key for ssh:// (else the SSH agent); public key is <file>.pub
  std::string netrc_file;   //!< netrc-style credentials for http(s) (default ~/.netrc)
  //! Longest a clone or fetch may take, connect included (it runs in a child process that is
  //! killed then: libgit2 1.5 has no timeouts of its own); 0: unbounded, in process.
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
};

//! A manifest candidate in a commit's tree.
struct TreeFile {
  std::string path;    //!< from the repository root, '/'-separated
  std::string blob_id; //!< 40 hex digits
};

//! A manifest candidate that differs between two commits' trees.
struct TreeChange {
  std::string path;        //!< from the repository root
  std::string old_blob_id; //!< empty: the older commit has no such file
  std::string new_blob_id; //!< empty: the newer commit has no such file
};

struct CommitInfo {
  std::string id;       //!< 40 hex digits
  std::string summary;  //!< first line of the message
  std::string author;
  long long time = 0;   //!< seconds since the epoch
};

class GitRepository {
public:
  //! Opens `location`; a remote is cloned into the cache, or fetched when already there.
  static GitRepository open(std::string_view location, const GitOptions& options);

  GitRepository(GitRepository&&) noexcept;
  GitRepository& operator=(GitRepository&&) noexcept;
  ~GitRepository();

  //! Fetches a remote again (a no-op for a local repository).
  void fetch();

  //! The commit a branch, tag (annotated or not), full or short commit id names; empty `ref`
  //! means the remote's default branch (HEAD).
  CommitInfo resolve(std::string_view ref) const;

  //! The signature of `commit` (gpgsig header: an OpenPGP or SSH armoured signature) and the data
  //! it signs, or nullopt when the commit is not signed.
  std::optional<std::pair<std::string, std::string>> commit_signature(std::string_view commit) const;

  //! Files of `commit`'s tree under `subdir` (empty: the whole tree) whose names `wanted` accepts,
  //! in tree order (deterministic). A missing subdir is an error.
  std::vector<TreeFile> list_files(std::string_view commit, std::string_view subdir,
                                   const std::function<bool(std::string_view)>& wanted) const;

  //! The files list_files would list differently for `to_commit` than for `from_commit` (added,
  //! deleted or with another blob), by path. Compares the two trees, skipping every subtree whose
  //! id is the same: it costs what changed, not the size of the tree.
  std::vector<TreeChange> changed_files(std::string_view from_commit, std::string_view to_commit, std::string_view subdir,
                                        const std::function<bool(std::string_view)>& wanted) const;
  //! Contents of a blob.
  std::string read_blob(std::string_view blob_id) const;

  //! What the user passed as --repo, for messages.
  const std::string& location() const;
  bool is_remote() const;

private:
  struct State;
  explicit GitRepository(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

//! True for names Meridian reads as manifests: *.yaml, *.yml, *.json.
bool is_manifest_name(std::string_view name);

} // namespace meridian

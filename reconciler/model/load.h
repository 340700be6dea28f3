// One loader of a fleet commit, for every command and for the loop: the commit's manifests read,
// validated and built into the desired state, with one wording for a commit that is invalid.
//
// A loader that loads commit after commit (`meridian run`) keeps the parse of unchanged blobs and
// the schema findings of unchanged documents, and edits the last valid load in place when a commit
// only edits documents (the usual commit: a value here and there); anything more is loaded in full.
#pragma once

#include "model/desired.h"
#include "validate/validate.h"

#include <memory>
#include <string>
#include <vector>

namespace meridian {

//! A valid commit, loaded: the manifests and the desired state that points into them.
struct LoadedFleet {
  ManifestSet set;
  DesiredState desired;
};

//! How a load went.
struct FleetLoad {
  enum class Path {
    unchanged, //!< no manifest's content changed since the last load: it is the commit's now
    edited,    //!< documents were edited in place in the last load
    full,      //!< loaded from scratch
  };
  //! The commit's fleet; nullptr when it is invalid (the last load, if any, is left as it was).
  std::unique_ptr<LoadedFleet> fleet;
  std::vector<Finding> findings; //!< when invalid, every finding (errors and warnings), sorted
  Path path = Path::full;
  size_t edited_documents = 0; //!< for Path::edited
  size_t edited_files = 0;
};

class FleetLoader {
public:
  //! Loads the manifests under `path` of each commit, owned by `owner` (`meridian.io/managed-by`).
  FleetLoader(std::string path, std::string owner) : path_(std::move(path)), owner_(std::move(owner)) {}

  //! Loads `commit`. `last` is this loader's last valid load or nullptr: when the commit only
  //! edits its documents, it is edited in place and handed back as the result's fleet (and is
  //! then nullptr); otherwise it is left as it was.
  FleetLoad load(const GitRepository& repository, const CommitInfo& commit, std::unique_ptr<LoadedFleet>& last);

  //! The parse cache: a one-shot command drops it once the desired state holds its own copies.
  ManifestCache& cache() { return cache_; }

private:
  std::string path_;
  std::string owner_;
  ManifestCache cache_;         //!< unchanged blobs parse once
  ValidationMemo memo_;         //!< unchanged documents are not schema-checked again
};

//! Why a commit is not used, in one wording: `<where>: the manifests are invalid, nothing was
//! <not_done> (N errors):` and then each error, each on its own indented line (`multiline`, for a
//! terminal) or joined by "; " on one line (for a log line and the status).
std::string invalid_manifests_message(std::string_view where, std::string_view not_done, const std::vector<Finding>& findings,
                                      bool multiline);

} // namespace meridian

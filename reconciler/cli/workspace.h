// What plan, apply and status share: the fleet repository loaded and validated, the desired
// state built, the state store and the backend opened.
#pragma once

#include "backend/backend.h"
#include "cli/commands.h"
#include "model/load.h"
#include "state/lock.h"
#include "state/store.h"

#include <memory>

namespace meridian {

struct Workspace {
  std::unique_ptr<LoadedFleet> fleet; //!< the manifests (documents released) and the desired state
  DesiredState& desired() { return fleet->desired; }
  std::unique_ptr<StateStore> store;
  std::unique_ptr<Backend> backend;
};

//! Options of every command that reads the repository and the live fleet.
std::vector<OptionSpec> workspace_options();

//! Loads, validates (throwing a UserError that lists every finding when invalid) and opens.
std::unique_ptr<Workspace> open_workspace(const Options& options);

//! The backend named by --backend (default sim) with its state under the state directory.
//! `watch`: the backend lives long (`meridian run`): the kube backend keeps a watch cache.
std::unique_ptr<Backend> open_backend(const Options& options, bool watch = false);

//! The fleet's identity (`meridian.io/managed-by`, the `meridian.io/owner` label): `--owner NAME`
//! when given, else the repository's name (the last segment of its path or URL, without `.git`)
//! and the --path inside it, so that the same repository cloned elsewhere (by CI, by a colleague)
//! is the same owner. `apply` and `run` must agree on it.
std::string fleet_owner(const Options& options, const std::string& repository, std::string path);

//! The --lock-timeout option of the commands that apply (apply, run).
OptionSpec lock_timeout_option();

//! Takes the state directory's lock for `command` ("meridian apply"), waiting --lock-timeout.
std::unique_ptr<StateLock> lock_state_dir(const Options& options, const std::string& command);

//! True when output should be coloured: a terminal, no --no-color, no $NO_COLOR.
bool use_color(const Options& options, int fd);

} // namespace meridian

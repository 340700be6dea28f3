// The `meridian` subcommands. Each returns the process exit code; user errors are thrown as
// UserError and printed by main as one line.
#pragma once

#include "cli/options.h"
#include "manifest/manifest.h"
#include "source/verify.h"

#include <chrono>
#include <string>
#include <vector>

namespace meridian {

//! Options shared by every command that reads the fleet repository.
std::vector<OptionSpec> repository_options();

//! What --repo/--ref/--path/--state-dir select, opened and loaded.
struct LoadedRepository {
  GitRepository repository;
  ManifestSet manifests;
};

//! --repo opened (cloned or fetched into the state directory's cache) and --ref resolved to a
//! commit whose signature --verify-* accept.
struct OpenedRepository {
  GitRepository repository;
  CommitInfo commit;
};
OpenedRepository open_repository(const Options& options);

//! The manifests of --path in open_repository's commit (render and validate: no desired state).
LoadedRepository load_repository(const Options& options, ManifestCache& cache);

//! The state directory: --state-dir, else $MERIDIAN_STATE_DIR, else ./.meridian; with --fleet NAME,
//! that fleet's directory under it (<dir>/fleets/NAME, as `run --config` keeps it).
std::string state_dir(const Options& options);
//! The state directory without --fleet: where the simulator's sim.db lives, shared by every fleet.
std::string shared_state_dir(const Options& options);
//! --git-timeout (GitOptions::timeout).
std::chrono::milliseconds git_timeout(const Options& options);
//! --verify-ssh-signers, --verify-gpg-keyring (checked readable).
SignaturePolicy signature_policy(const Options& options);

//! Each command's options, for --help, `meridian help` and the shell completions.
CommandSpec validate_command_spec();
CommandSpec render_command_spec();
CommandSpec plan_command_spec();
CommandSpec apply_command_spec();
CommandSpec status_command_spec();
CommandSpec history_command_spec();
CommandSpec run_command_spec();
CommandSpec suspend_command_spec();
CommandSpec resume_command_spec();
CommandSpec sim_command_spec();
std::vector<CommandSpec> sim_subcommand_specs();

int run_validate(const std::vector<std::string>& args);
int run_render(const std::vector<std::string>& args);
int run_plan(const std::vector<std::string>& args);
int run_apply(const std::vector<std::string>& args);
int run_status(const std::vector<std::string>& args);
int run_history(const std::vector<std::string>& args);
int run_run(const std::vector<std::string>& args);
int run_suspend(const std::vector<std::string>& args);
int run_resume(const std::vector<std::string>& args);
int run_sim(const std::vector<std::string>& args);

} // namespace meridian

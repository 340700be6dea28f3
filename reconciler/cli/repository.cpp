#include "cli/commands.h"

#include "base/duration.h"
#include "base/error.h"
#include "source/verify.h"

#include <fmt/format.h>

#include <filesystem>

#include <cstdlib>
#include <fstream>

namespace meridian {

std::vector<OptionSpec> repository_options() {
  return {
      {"repo", "URL|PATH", "fleet repository: a working copy, a bare repository, or a file://, git://, https://, ssh:// or user@host:path URL"},
      {"ref", "REF", "branch, tag or commit id (default: the remote's default branch)"},
      {"path", "DIR", "read manifests only under this directory of the repository"},
      {"state-dir", "DIR", "state directory (default $MERIDIAN_STATE_DIR or ./.meridian)"},
      {"ssh-key", "FILE", "private key for ssh:// repositories (default: the SSH agent)"},
      {"netrc", "FILE", "netrc-style credentials for https:// (default ~/.netrc; $MERIDIAN_GIT_TOKEN wins)"},
      {"git-timeout", "DURATION", "longest a clone or fetch may take, connect included (default 2m; 0: no limit)"},
      {"verify-ssh-signers", "FILE", "apply only commits signed by an SSH key of this allowed-signers file (as git's gpg.ssh.allowedSignersFile)"},
      {"verify-gpg-keyring", "FILE", "apply only commits signed by an OpenPGP key of this keyring (gpg --export)"},
  };
}

SignaturePolicy signature_policy(const Options& options) {
  SignaturePolicy policy{options.get_or("verify-ssh-signers", ""), options.get_or("verify-gpg-keyring", "")};
  for (const auto& [option, file] : {std::pair{"--verify-ssh-signers", policy.allowed_signers}, std::pair{"--verify-gpg-keyring", policy.gpg_keyring}})
    if (!file.empty() && !std::ifstream(file))
      throw UserError(fmt::format("{} {}: cannot read the file", option, file));
  return policy;
}

std::chrono::milliseconds git_timeout(const Options& options) {
  const auto text = options.get("git-timeout");
  if (!text)
    return GitOptions{}.timeout;
  if (*text == "0")
    return std::chrono::milliseconds(0);
  const auto parsed = parse_duration(*text);
  if (!parsed || parsed->count() <= 0)
    throw UserError(fmt::format("--git-timeout: expected a duration such as 30s or 2m (0: no limit), got \"{}\"", *text));
  return *parsed;
}

std::string shared_state_dir(const Options& options) {
  if (auto dir = options.get("state-dir"))
    return *dir;
  if (const char* env = std::getenv("MERIDIAN_STATE_DIR"); env != nullptr && *env != '\0')
    return env;
  return ".meridian";
}

std::string state_dir(const Options& options) {
  std::string directory = shared_state_dir(options);
  // `--fleet NAME` (suspend, resume, history): the fleet's own directory under `run --config`.
  if (const auto fleet = options.get("fleet")) {
    if (fleet->empty() || fleet->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
      throw UserError(fmt::format("--fleet: expected a fleet name of the --config file, got \"{}\"", *fleet));
    directory += "/fleets/" + *fleet;
    if (!std::filesystem::is_directory(directory))
      throw UserError(fmt::format("--fleet {}: {} does not exist (has `meridian run --config` run this fleet here?)", *fleet, directory));
  }
  return directory;
}

OpenedRepository open_repository(const Options& options) {
  const auto repo = options.get("repo");
  if (!repo || repo->empty())
    throw UserError("--repo is required: the fleet repository to read (a path or a URL)");
  GitOptions git;
  git.cache_dir = state_dir(options) + "/repos";
  git.ssh_key_file = options.get_or("ssh-key", "");
  git.netrc_file = options.get_or("netrc", "");
  git.timeout = git_timeout(options);
  const std::string ref = options.get_or("ref", "");
  // open() fails before any ref is read; name the ref anyway, as resolve() does (`<repo>@<ref>: ...`).
  auto open = [&] {
    try {
      return GitRepository::open(*repo, git);
    } catch (const Error& error) {
      std::string message = error.what();
      if (message.rfind(*repo + ": ", 0) == 0)
        message.insert(repo->size(), "@" + (ref.empty() ? std::string("HEAD") : ref));
      if (error.transient())
        throw TransientError(message);
      throw UserError(message);
    }
  };
  GitRepository repository = open();
  const CommitInfo commit = repository.resolve(ref);
  verify_commit(repository, commit.id, signature_policy(options));
  return {std::move(repository), commit};
}

LoadedRepository load_repository(const Options& options, ManifestCache& cache) {
  OpenedRepository opened = open_repository(options);
  ManifestSet manifests = load_manifests(opened.repository, opened.commit, options.get_or("path", ""), cache);
  return {std::move(opened.repository), std::move(manifests)};
}

} // namespace meridian

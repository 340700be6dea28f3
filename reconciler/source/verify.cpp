#include "source/verify.h"

#include "base/error.h"
#include "base/printable.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace meridian {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int status = -1;
  std::string output; //!< stdout and stderr
};

// Runs `argv` with `input_file` on stdin (or /dev/null); what it printed, and its exit status.
Outcome run(const std::vector<std::string>& argv, const std::string& input_file) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw UserError(fmt::format("commit signature: cannot run {}: {}", argv.front(), std::strerror(errno)));
  const pid_t child = ::fork();
  if (child == 0) {
    const int in = ::open(input_file.empty() ? "/dev/null" : input_file.c_str(), O_RDONLY);
    ::dup2(in, STDIN_FILENO);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& arg : argv)
      args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execvp(args.front(), args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  Outcome outcome;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    outcome.output.append(buffer, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

// A private scratch directory, removed with it.
struct Scratch {
  fs::path path;
  Scratch() {
    std::string pattern = (fs::temp_directory_path() / "meridian-verify-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw UserError(fmt::format("commit signature: cannot create a temporary directory: {}", std::strerror(errno)));
    path = pattern;
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path file = path / name;
    std::ofstream(file, std::ios::binary) << text;
    return file.string();
  }
};

std::string first_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  const size_t newline = text.find('\n');
  return printable(newline == std::string::npos ? text : text.substr(0, newline) + " ...");
}

} // namespace

void verify_commit(const GitRepository& repository, const std::string& commit, const SignaturePolicy& policy) {
  if (!policy.enabled())
    return;
  const std::string where = fmt::format("{}@{}: commit signature", repository.location(), commit.substr(0, 12));
  const auto signature = repository.commit_signature(commit);
  if (!signature)
    throw UserError(fmt::format("{}: the commit is not signed; it is not applied", where));
  const auto& [armoured, data] = *signature;
  Scratch scratch;
  const std::string signature_file = scratch.write("signature", armoured);
  const std::string data_file = scratch.write("data", data);
  if (armoured.rfind("-----BEGIN SSH SIGNATURE-----", 0) == 0) {
    if (policy.allowed_signers.empty())
      throw UserError(fmt::format("{}: signed with SSH, but no allowed-signers file is configured (--verify-ssh-signers)", where));
    const Outcome found = run({"ssh-keygen", "-Y", "find-principals", "-s", signature_file, "-f", policy.allowed_signers}, "");
    if (found.status != 0)
      throw UserError(fmt::format("{}: signed by a key not in {}", where, policy.allowed_signers));
    const std::string principal = found.output.substr(0, found.output.find('\n'));
    const Outcome verified = run({"ssh-keygen", "-Y", "verify", "-f", policy.allowed_signers, "-I", principal, "-n", "git", "-s",
                                  signature_file},
                                 data_file);
    if (verified.status != 0)
      throw UserError(fmt::format("{}: bad signature by {}: {}", where, printable(principal), first_line(verified.output)));
    return;
  }
  if (armoured.rfind("-----BEGIN PGP SIGNATURE-----", 0) == 0) {
    if (policy.gpg_keyring.empty())
      throw UserError(fmt::format("{}: signed with OpenPGP, but no keyring is configured (--verify-gpg-keyring)", where));
    const std::string keyring = fs::absolute(policy.gpg_keyring).string();
    const Outcome verified = run({"gpgv", "--homedir", scratch.path.string(), "--keyring", keyring, signature_file, data_file}, "");
    if (verified.status != 0)
      throw UserError(fmt::format("{}: no good signature by a key in {}: {}", where, policy.gpg_keyring, first_line(verified.output)));
    return;
  }
  throw UserError(fmt::format("{}: unknown signature format", where));
}

} // namespace meridian

// Test fixtures on real parts: temporary directories, child processes (the `git` CLI, `git daemon`,
// a tiny HTTP server, the meridian binary) and free ports on 127.0.0.1. Everything is released by
// RAII guards, so a failing REQUIRE (which throws) still removes the directories and kills the
// daemons. Header-only; shared by tests/source, tests/validate and tests/cli.
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace meridian::testing {

namespace fs = std::filesystem;

//! A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
public:
  explicit TempDir(std::string_view prefix = "meridian-test") {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + std::string(prefix) + "-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    path_ = fs::canonical(pattern);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path operator/(std::string_view child) const { return path_ / child; }
  std::string str() const { return path_.string(); }

private:
  fs::path path_;
};

//! Sets (value) or unsets (nullopt) an environment variable for the lifetime of the guard.
class EnvGuard {
public:
  EnvGuard(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str()))
      old_ = old;
    if (value)
      setenv(name_.c_str(), value->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  ~EnvGuard() {
    if (old_)
      setenv(name_.c_str(), old_->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

private:
  std::string name_;
  std::optional<std::string> old_;
};

struct ProcessResult {
  int status = -1; //!< exit code; 128+signal when killed
  std::string out;
  std::string err;
};

namespace detail {

// The child's environment: ours, with "NAME=value" entries set and bare "NAME" entries removed.
inline std::vector<std::string> child_environment(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry)
    env.emplace_back(*entry);
  for (const std::string& change : overrides) {
    const std::string name = change.substr(0, change.find('='));
    std::erase_if(env, [&](const std::string& e) { return e.compare(0, name.size() + 1, name + "=") == 0; });
    if (change.find('=') != std::string::npos)
      env.push_back(change);
  }
  return env;
}

inline std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

} // namespace detail

//! Runs `argv` to completion (killed after `timeout`), capturing stdout and stderr.
//! `env` entries "NAME=value" set a variable in the child, "NAME" unsets it.
inline ProcessResult run_process(std::vector<std::string> argv, const fs::path& cwd = {},
                                 const std::vector<std::string>& env = {},
                                 std::chrono::seconds timeout = std::chrono::seconds(30)) {
  std::vector<std::string> environment = detail::child_environment(env);
  std::vector<char*> c_argv = detail::c_strings(argv);
  std::vector<char*> c_env = detail::c_strings(environment);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  const std::string directory = cwd.string();
  const pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (!directory.empty() && chdir(directory.c_str()) != 0)
      _exit(126);
    execvpe(c_argv[0], c_argv.data(), c_env.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  ProcessResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR)
      break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
        continue;
      char buffer[8192];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const pollfd& fd : fds)
    if (fd.fd >= 0)
      close(fd.fd);
  int status = 0;
  waitpid(pid, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (timed_out)
    result.err += "\n[test fixture: killed after timeout]";
  return result;
}

//! A long-running child (a daemon) in its own process group; the whole group is killed on
//! destruction, and the kernel kills it too if the test process dies (PR_SET_PDEATHSIG).
class BackgroundProcess {
public:
  BackgroundProcess(std::vector<std::string> argv, const fs::path& log_file) {
    std::vector<std::string> environment = detail::child_environment({});
    std::vector<char*> c_argv = detail::c_strings(argv);
    std::vector<char*> c_env = detail::c_strings(environment);
    const std::string log = log_file.string();
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent)
        _exit(1);
      const int null = open("/dev/null", O_RDONLY);
      const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(null, 0);
      dup2(out, 1);
      dup2(out, 2);
      execvpe(c_argv[0], c_argv.data(), c_env.data());
      _exit(127);
    }
    setpgid(pid_, pid_); // also from the parent, so the group exists before we may kill it
  }
  ~BackgroundProcess() { stop(); }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  void stop() {
    if (pid_ <= 0)
      return;
    kill(-pid_, SIGTERM);
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        kill(-pid_, SIGKILL); // per-connection children, if any are left
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

private:
  pid_t pid_ = -1;
};

//! A TCP port on 127.0.0.1 that nothing listens on at the moment of the call.
inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

inline bool port_accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return ok;
}

//! Waits until something accepts connections on 127.0.0.1:`port`.
inline void wait_for_port(int port, const BackgroundProcess& process, const fs::path& log) {
  for (int i = 0; i < 250; ++i) {
    if (port_accepts(port))
      return;
    if (!process.running())
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  FAIL("nothing listens on 127.0.0.1:" << port << "; log:\n" << text.str());
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_file(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

inline std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

//! Runs `git -C dir args...` with a neutral configuration and fixed identity; REQUIREs success and
//! returns stdout without the trailing newline.
inline std::string git(const fs::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git", "-C", dir.string(), "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                                   "-c", "tag.gpgsign=false", "-c", "core.autocrlf=false"};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProcessResult result =
      run_process(argv, {}, {"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=Meridian Test",
                             "GIT_AUTHOR_EMAIL=test@meridian.invalid", "GIT_COMMITTER_NAME=Meridian Test",
                             "GIT_COMMITTER_EMAIL=test@meridian.invalid", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"});
  INFO("git " << dir.string() << " " << [&] {
    std::string joined;
    for (const std::string& a : args)
      joined += a + " ";
    return joined;
  }() << "\nstderr: " << result.err);
  REQUIRE(result.status == 0);
  return trim(result.out);
}

//! `git init` (bare or not) with main as the default branch.
inline void git_init(const fs::path& dir, bool bare = false) {
  fs::create_directories(dir);
  if (bare)
    git(dir, {"init", "-q", "--bare", "-b", "main"});
  else
    git(dir, {"init", "-q", "-b", "main"});
}

//! Stages everything and commits; returns the new commit id.
inline std::string commit_all(const fs::path& dir, const std::string& message) {
  git(dir, {"add", "-A"});
  git(dir, {"commit", "-q", "--allow-empty", "-m", message});
  return git(dir, {"rev-parse", "HEAD"});
}

//! Copies a folder's contents into `to` (created if missing), overwriting files of the same name.
inline void copy_folder(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

//! A working copy holding `folder`'s files in one commit; returns the commit id.
inline std::string commit_folder(const fs::path& folder, const fs::path& repo, const std::string& message = "import") {
  git_init(repo);
  copy_folder(folder, repo);
  return commit_all(repo, message);
}

//! The folder of a source-tree path (examples/..., schemas/...).
inline fs::path source_path(std::string_view relative) { return fs::path(MERIDIAN_SOURCE_ROOT) / relative; }

inline bool one_line(const std::string& text) {
  const std::string trimmed = trim(text);
  return !trimmed.empty() && trimmed.find('\n') == std::string::npos;
}

inline bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

//! `git daemon` serving every repository under `base` on 127.0.0.1 at a free port.
class GitDaemon {
public:
  explicit GitDaemon(const fs::path& base, const fs::path& log)
      : port_(free_port()),
        process_({"git", "daemon", "--export-all", "--base-path=" + base.string(), "--reuseaddr", "--listen=127.0.0.1",
                  "--port=" + std::to_string(port_)},
                 log) {
    wait_for_port(port_, process_, log);
  }
  int port() const { return port_; }
  std::string url(std::string_view repository) const {
    return "git://127.0.0.1:" + std::to_string(port_) + "/" + std::string(repository);
  }
  void stop() { process_.stop(); }

private:
  int port_;
  BackgroundProcess process_;
};

//! An HTTP server on 127.0.0.1 that answers every request with 401 and `WWW-Authenticate: Basic`.
class UnauthorizedHttpServer {
public:
  explicit UnauthorizedHttpServer(const TempDir& dir)
      : script_(write_script(dir)), port_(free_port()),
        process_({"python3", script_.string(), std::to_string(port_)}, dir / "http.log") {
    wait_for_port(port_, process_, dir / "http.log");
  }
  std::string url(std::string_view repository) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + std::string(repository);
  }

private:
  static fs::path write_script(const TempDir& dir) {
    const fs::path script = dir / "unauthorized.py";
    write_file(script, R"(import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def answer(self):
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="meridian-test"')
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = answer
    do_POST = answer
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
)");
    return script;
  }
  fs::path script_;
  int port_;
  BackgroundProcess process_;
};

} // namespace meridian::testing

#include "source/git.h"

#include "base/error.h"

#include <git2.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace meridian {
namespace {

namespace fs = std::filesystem;

struct Libgit2 {
  Libgit2() { git_libgit2_init(); }
  ~Libgit2() { git_libgit2_shutdown(); }
};

void ensure_libgit2() { static Libgit2 instance; }

template <typename T, void (*Free)(T*)> struct Deleter {
  void operator()(T* handle) const { Free(handle); }
};
template <typename T, void (*Free)(T*)> using Handle = std::unique_ptr<T, Deleter<T, Free>>;

using RepositoryHandle = Handle<git_repository, git_repository_free>;
using RemoteHandle = Handle<git_remote, git_remote_free>;
using ObjectHandle = Handle<git_object, git_object_free>;
using CommitHandle = Handle<git_commit, git_commit_free>;
using TreeHandle = Handle<git_tree, git_tree_free>;
using TreeEntryHandle = Handle<git_tree_entry, git_tree_entry_free>;
using BlobHandle = Handle<git_blob, git_blob_free>;
using ReferenceHandle = Handle<git_reference, git_reference_free>;

std::string last_git_message() {
  const git_error* error = git_error_last();
  std::string message = error != nullptr && error->message != nullptr ? error->message : "unknown libgit2 error";
  while (!message.empty() && (message.back() == '\n' || message.back() == '.'))
    message.pop_back();
  for (char& c : message)
    if (c == '\n')
      c = ' ';
  return message;
}

bool contains(const std::string& text, std::string_view needle) {
  return text.find(needle) != std::string::npos;
}

// Sorts a failed network operation into the four failures users act on differently.
[[noreturn]] void throw_remote_error(const std::string& location, int code, bool auth_tried) {
  const std::string message = last_git_message();
  const git_error* error = git_error_last();
  const int klass = error != nullptr ? error->klass : 0;
  std::string category = "cannot read repository";
  if (code == GIT_EAUTH || auth_tried || contains(message, "authentication") || contains(message, "401") ||
      contains(message, "403"))
    category = "authentication failed";
  else if (contains(message, "not found") || contains(message, "404") || contains(message, "not exported") ||
           contains(message, "does not appear to be a git repository") || contains(message, "could not find repository") ||
           contains(message, "No such file"))
    category = "repository not found";
  else if (klass == GIT_ERROR_NET || klass == GIT_ERROR_OS || klass == GIT_ERROR_SSH || klass == GIT_ERROR_HTTP ||
           contains(message, "connect") || contains(message, "resolve"))
    category = "network unreachable";
  if (category == "network unreachable")
    throw TransientError(fmt::format("{}: {}: {}", location, category, message));
  throw UserError(fmt::format("{}: {}: {}", location, category, message));
}

bool is_remote_url(std::string_view location) {
  for (const std::string_view scheme : {"file://", "git://", "http://", "https://", "ssh://", "git+ssh://"})
    if (location.substr(0, scheme.size()) == scheme)
      return true;
  // scp-style user@host:path (a local path never has ':' before its first '/')
  const size_t colon = location.find(':');
  const size_t slash = location.find('/');
  return colon != std::string_view::npos && location.find('@') < colon && (slash == std::string_view::npos || colon < slash);
}

std::string cache_key(std::string_view url) {
  uint64_t hash = 14695981039346656037ull; // FNV-1a: stable across builds and platforms
  for (const char c : url) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  std::string readable;
  for (const char c : url.substr(url.size() > 40 ? url.size() - 40 : 0))
    readable += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return fmt::format("{}-{:016x}", readable, hash);
}

struct Credentials {
  const GitOptions* options = nullptr;
  int attempts = 0;
};

std::string netrc_lookup(const std::string& file, const std::string& host, std::string& login) {
  std::ifstream in(file);
  if (!in)
    return {};
  std::string token, machine, user, password;
  bool match = false;
  while (in >> token) {
    if (token == "machine" || token == "default") {
      if (match && !password.empty())
        break;
      if (token == "machine")
        in >> machine;
      match = token == "default" || machine == host;
      user.clear();
      password.clear();
    } else if (token == "login") {
      in >> user;
    } else if (token == "password") {
      in >> password;
    }
  }
  if (!match)
    return {};
  login = user;
  return password;
}

std::string url_host(const std::string& url) {
  const size_t start = url.find("://");
  if (start == std::string::npos)
    return {};
  std::string rest = url.substr(start + 3);
  rest = rest.substr(0, rest.find('/'));
  if (const size_t at = rest.rfind('@'); at != std::string::npos)
    rest = rest.substr(at + 1);
  return rest.substr(0, rest.find(':'));
}

int acquire_credentials(git_credential** out, const char* url, const char* username_from_url, unsigned int allowed,
                        void* payload) {
  auto& credentials = *static_cast<Credentials*>(payload);
  // libgit2 asks again after each rejection; a second ask means the first answer was refused.
  if (++credentials.attempts > 1) {
    git_error_set_str(GIT_ERROR_NET, "credentials were rejected");
    return GIT_EAUTH;
  }
  const std::string user = username_from_url != nullptr ? username_from_url : "";
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0) {
    const std::string ssh_user = user.empty() ? "git" : user;
    const std::string& key = credentials.options->ssh_key_file;
    if (key.empty())
      return git_credential_ssh_key_from_agent(out, ssh_user.c_str());
    const std::string public_key = key + ".pub";
    const char* passphrase = std::getenv("MERIDIAN_SSH_PASSPHRASE");
    return git_credential_ssh_key_new(out, ssh_user.c_str(), fs::exists(public_key) ? public_key.c_str() : nullptr,
                                      key.c_str(), passphrase);
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0) {
    if (const char* token = std::getenv("MERIDIAN_GIT_TOKEN"); token != nullptr && *token != '\0')
      return git_credential_userpass_plaintext_new(out, user.empty() ? "x-access-token" : user.c_str(), token);
    std::string netrc = credentials.options->netrc_file;
    if (netrc.empty() && std::getenv("HOME") != nullptr)
      netrc = std::string(std::getenv("HOME")) + "/.netrc";
    std::string login;
    const std::string password = netrc_lookup(netrc, url_host(url), login);
    if (!password.empty())
      return git_credential_userpass_plaintext_new(out, login.empty() ? user.c_str() : login.c_str(), password.c_str());
  }
  git_error_set_str(GIT_ERROR_NET, "authentication required and no credentials configured "
                                   "(set MERIDIAN_GIT_TOKEN, a netrc file, or an SSH key)");
  return GIT_EAUTH;
}

} // namespace

struct GitRepository::State {
  std::string location;
  std::string url; // empty for a local repository
  std::string directory;
  GitOptions options;
  RepositoryHandle repository;
};

GitRepository::GitRepository(std::unique_ptr<State> state) : state_(std::move(state)) {}
GitRepository::GitRepository(GitRepository&&) noexcept = default;
GitRepository& GitRepository::operator=(GitRepository&&) noexcept = default;
GitRepository::~GitRepository() = default;

const std::string& GitRepository::location() const { return state_->location; }
bool GitRepository::is_remote() const { return !state_->url.empty(); }

bool is_manifest_name(std::string_view name) {
  auto ends_with = [name](std::string_view suffix) {
    return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  return ends_with(".yaml") || ends_with(".yml") || ends_with(".json");
}

namespace {

// Downloads heads and tags from origin into the bare mirror and points HEAD at the remote's default branch.
void mirror_fetch(git_repository* repository, const std::string& location, const GitOptions& options) {
  git_remote* raw_remote = nullptr;
  if (git_remote_lookup(&raw_remote, repository, "origin") != 0)
    throw UserError(fmt::format("{}: cache is damaged: {}", location, last_git_message()));
  RemoteHandle remote(raw_remote);
  Credentials credentials{&options, 0};
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  callbacks.credentials = acquire_credentials;
  callbacks.payload = &credentials;
  if (const int code = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr); code != 0)
    throw_remote_error(location, code, credentials.attempts > 1);
  git_buf default_branch = GIT_BUF_INIT;
  const bool has_default = git_remote_default_branch(&default_branch, remote.get()) == 0;
  std::string head = has_default ? std::string(default_branch.ptr, default_branch.size) : "";
  git_buf_dispose(&default_branch);
  git_fetch_options fetch_options = GIT_FETCH_OPTIONS_INIT;
  fetch_options.callbacks = callbacks;
  fetch_options.prune = GIT_FETCH_PRUNE;
  fetch_options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
  if (const int code = git_remote_download(remote.get(), nullptr, &fetch_options); code != 0)
    throw_remote_error(location, code, credentials.attempts > 1);
  if (git_remote_update_tips(remote.get(), &callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_ALL, nullptr) != 0)
    throw_remote_error(location, -1, false);
  if (git_remote_prune(remote.get(), &callbacks) != 0)
    throw_remote_error(location, -1, false);
  git_remote_disconnect(remote.get());
  if (!head.empty() && git_repository_set_head(repository, head.c_str()) != 0)
    throw UserError(fmt::format("{}: cannot record the remote's default branch {}: {}", location, head, last_git_message()));
}

RepositoryHandle clone_mirror(const std::string& url, const std::string& location, const std::string& directory,
                              const GitOptions& options) {
  // Clone beside the final folder and rename it into place: a crash leaves no half-made cache.
  const std::string staging = fmt::format("{}.partial-{}", directory, getpid());
  std::error_code ignored;
  fs::remove_all(staging, ignored);
  fs::create_directories(fs::path(staging).parent_path(), ignored);
  git_repository* raw = nullptr;
  if (git_repository_init(&raw, staging.c_str(), 1) != 0)
    throw UserError(fmt::format("{}: cannot create cache {}: {}", location, staging, last_git_message()));
  RepositoryHandle repository(raw);
  git_remote* raw_remote = nullptr;
  if (git_remote_create_with_fetchspec(&raw_remote, repository.get(), "origin", url.c_str(), "+refs/heads/*:refs/heads/*") != 0)
    throw UserError(fmt::format("{}: {}", location, last_git_message()));
  git_remote_free(raw_remote);
  git_remote_add_fetch(repository.get(), "origin", "+refs/tags/*:refs/tags/*");
  try {
    mirror_fetch(repository.get(), location, options);
  } catch (...) {
    repository.reset();
    fs::remove_all(staging, ignored);
    throw;
  }
  repository.reset();
  fs::remove_all(directory, ignored);
  fs::rename(staging, directory);
  std::ofstream(directory + "/meridian-mirror-complete") << url << "\n";
  git_repository* reopened = nullptr;
  if (git_repository_open_bare(&reopened, directory.c_str()) != 0)
    throw UserError(fmt::format("{}: cannot open cache {}: {}", location, directory, last_git_message()));
  return RepositoryHandle(reopened);
}

// Runs `transfer` (a clone or fetch into the cache on disk) in a child process that is killed when
// it has not finished within `timeout`. libgit2 1.5 has no connect or read timeout, and a thread
// blocked in recv cannot be cancelled: a server that accepts and never answers would hang plan and
// `run` (in phase fetching) for good. What the child wrote to disk is what the parent reads next.
// Errors come back as the child's message (a T or U first byte: TransientError or UserError).
void run_bounded(const std::string& location, std::chrono::milliseconds timeout, const std::function<void()>& transfer) {
  if (timeout.count() <= 0) {
    transfer();
    return;
  }
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0)
    throw UserError(fmt::format("{}: cannot start the transfer: {}", location, std::strerror(errno)));
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw UserError(fmt::format("{}: cannot start the transfer: {}", location, std::strerror(errno)));
  }
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string failure;
    try {
      transfer();
    } catch (const TransientError& error) {
      failure = std::string("T") + error.what();
    } catch (const std::exception& error) {
      failure = std::string("U") + error.what();
    }
    size_t sent = 0;
    while (sent < failure.size()) {
      const ssize_t n = ::write(pipe_fds[1], failure.data() + sent, failure.size() - sent);
      if (n <= 0)
        break;
      sent += static_cast<size_t>(n);
    }
    ::_exit(failure.empty() ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string failure;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd waiting{pipe_fds[0], POLLIN, 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0 && errno != EINTR)
      break;
    if (ready <= 0)
      continue;
    char buffer[4096];
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n <= 0)
      break; // the child is done (its end closed)
    failure.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  if (timed_out)
    ::kill(child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    throw TransientError(fmt::format("{}: network unreachable: no answer within {}s (--git-timeout)", location,
                                     std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
  if (!failure.empty() && failure.front() == 'T')
    throw TransientError(failure.substr(1));
  if (!failure.empty())
    throw UserError(failure.substr(1));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw UserError(fmt::format("{}: the transfer stopped unexpectedly", location));
}

RepositoryHandle open_cache(const std::string& location, const std::string& directory) {
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, directory.c_str()) != 0)
    throw UserError(fmt::format("{}: cannot open cache {}: {}", location, directory, last_git_message()));
  return RepositoryHandle(raw);
}

} // namespace

GitRepository GitRepository::open(std::string_view location, const GitOptions& options) {
  ensure_libgit2();
  auto state = std::make_unique<State>();
  state->location = std::string(location);
  state->options = options;
  if (!is_remote_url(location)) {
    const std::string path(location);
    if (!fs::exists(path))
      throw UserError(fmt::format("{}: repository not found: no such directory", path));
    git_repository* raw = nullptr;
    if (git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
      throw UserError(fmt::format("{}: repository not found: {}", path, last_git_message()));
    state->repository.reset(raw);
    state->directory = path;
    return GitRepository(std::move(state));
  }
  state->url = std::string(location);
  const std::string cache = options.cache_dir.empty() ? ".meridian/repos" : options.cache_dir;
  state->directory = (fs::path(cache) / cache_key(location)).string();
  git_repository* raw = nullptr;
  const bool complete = fs::exists(state->directory + "/meridian-mirror-complete");
  if (complete && git_repository_open_bare(&raw, state->directory.c_str()) == 0) {
    state->repository.reset(raw);
    git_object* head = nullptr;
    // A cache whose HEAD no longer resolves is damaged: clone it again rather than trust it.
    if (git_revparse_single(&head, raw, "HEAD") == 0) {
      git_object_free(head);
      GitRepository repository(std::move(state));
      repository.fetch();
      return repository;
    }
    state->repository.reset();
  }
  run_bounded(state->location, options.timeout, [&] { clone_mirror(state->url, state->location, state->directory, options); });
  state->repository = open_cache(state->location, state->directory);
  return GitRepository(std::move(state));
}

void GitRepository::fetch() {
  if (!is_remote())
    return;
  if (state_->options.timeout.count() <= 0) {
    mirror_fetch(state_->repository.get(), state_->location, state_->options);
    return;
  }
  // The child fetches through a handle of its own; this one reads the refs and packs it wrote.
  run_bounded(state_->location, state_->options.timeout, [&] {
    const RepositoryHandle own = open_cache(state_->location, state_->directory);
    mirror_fetch(own.get(), state_->location, state_->options);
  });
  state_->repository = open_cache(state_->location, state_->directory);
}

std::optional<std::pair<std::string, std::string>> GitRepository::commit_signature(std::string_view commit) const {
  git_oid oid;
  if (git_oid_fromstrn(&oid, commit.data(), commit.size()) != 0)
    throw UserError(fmt::format("{}: not a commit id: {}", state_->location, commit));
  git_buf signature = GIT_BUF_INIT;
  git_buf signed_data = GIT_BUF_INIT;
  const int code = git_commit_extract_signature(&signature, &signed_data, state_->repository.get(), &oid, nullptr);
  if (code == GIT_ENOTFOUND) {
    git_buf_dispose(&signature);
    git_buf_dispose(&signed_data);
    return std::nullopt;
  }
  if (code != 0)
    throw UserError(fmt::format("{}@{}: cannot read the commit's signature: {}", state_->location, commit.substr(0, 12), last_git_message()));
  std::pair<std::string, std::string> result{std::string(signature.ptr, signature.size), std::string(signed_data.ptr, signed_data.size)};
  git_buf_dispose(&signature);
  git_buf_dispose(&signed_data);
  return result;
}

CommitInfo GitRepository::resolve(std::string_view ref) const {
  git_repository* repository = state_->repository.get();
  const std::string name = ref.empty() ? "HEAD" : std::string(ref);
  git_object* raw = nullptr;
  int code = -1;
  // A branch or tag name wins over a same-looking commit prefix, as git rev-parse decides.
  for (const std::string& candidate : {"refs/heads/" + name, "refs/tags/" + name, "refs/remotes/origin/" + name, name}) {
    code = git_revparse_single(&raw, repository, candidate.c_str());
    if (code == 0)
      break;
  }
  const std::string shown = ref.empty() ? "HEAD" : std::string(ref);
  if (code == GIT_EAMBIGUOUS)
    throw UserError(fmt::format("{}@{}: ref is ambiguous: more than one commit starts with it, give more digits",
                                state_->location, shown));
  if (code != 0) {
    if (ref.empty())
      throw UserError(fmt::format("{}@HEAD: ref not found: the repository has no commits or no default branch", state_->location));
    throw UserError(fmt::format("{}@{}: ref not found: expected a branch, a tag or a commit id", state_->location, shown));
  }
  ObjectHandle object(raw);
  git_object* peeled = nullptr;
  if (git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT) != 0)
    throw UserError(fmt::format("{}@{}: ref does not name a commit: {}", state_->location, shown, last_git_message()));
  CommitHandle commit(reinterpret_cast<git_commit*>(peeled));
  CommitInfo info;
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof hex, git_commit_id(commit.get()));
  info.id = hex;
  info.summary = git_commit_summary(commit.get()) != nullptr ? git_commit_summary(commit.get()) : "";
  const git_signature* author = git_commit_author(commit.get());
  info.author = author != nullptr && author->name != nullptr ? author->name : "";
  info.time = static_cast<long long>(git_commit_time(commit.get()));
  return info;
}

namespace {

struct WalkContext {
  const std::function<bool(std::string_view)>* wanted;
  std::string prefix;
  std::vector<TreeFile>* files;
};

int collect_entry(const char* root, const git_tree_entry* entry, void* payload) {
  auto& context = *static_cast<WalkContext*>(payload);
  if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
    return 0;
  const git_filemode_t mode = git_tree_entry_filemode(entry);
  if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
    return 0; // symlinks point outside the commit's content
  const char* name = git_tree_entry_name(entry);
  if (!(*context.wanted)(name))
    return 0;
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof hex, git_tree_entry_id(entry));
  context.files->push_back({context.prefix + root + name, hex});
  return 0;
}

} // namespace

namespace {

// "./fleet/" → "fleet", "." → "": the tree path of --path.
std::string tree_path(std::string_view subdir) {
  std::string path(subdir);
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  while (path.substr(0, 2) == "./")
    path = path.substr(2);
  if (path == ".")
    path.clear();
  return path;
}

using DiffHandle = Handle<git_diff, git_diff_free>;

// The tree of `commit_id` at `path` (the root when empty); a missing path is an error.
TreeHandle tree_at(git_repository* repository, const std::string& location, std::string_view commit_id, const std::string& path) {
  git_oid oid;
  const std::string id(commit_id);
  if (git_oid_fromstr(&oid, id.c_str()) != 0)
    throw UserError(fmt::format("{}@{}: not a commit id", location, id));
  git_commit* raw_commit = nullptr;
  if (git_commit_lookup(&raw_commit, repository, &oid) != 0)
    throw UserError(fmt::format("{}@{}: {}", location, id, last_git_message()));
  CommitHandle commit(raw_commit);
  git_tree* raw_tree = nullptr;
  if (git_commit_tree(&raw_tree, commit.get()) != 0)
    throw UserError(fmt::format("{}@{}: {}", location, id, last_git_message()));
  TreeHandle tree(raw_tree);
  if (path.empty())
    return tree;
  git_tree_entry* raw_entry = nullptr;
  if (git_tree_entry_bypath(&raw_entry, tree.get(), path.c_str()) != 0)
    throw UserError(fmt::format("{}@{}: --path {}: no such directory in the commit", location, id.substr(0, 12), path));
  TreeEntryHandle entry(raw_entry);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE)
    throw UserError(fmt::format("{}@{}: --path {}: is a file, expected a directory", location, id.substr(0, 12), path));
  git_object* sub = nullptr;
  if (git_tree_entry_to_object(&sub, repository, entry.get()) != 0)
    throw UserError(fmt::format("{}@{}: {}", location, id, last_git_message()));
  return TreeHandle(reinterpret_cast<git_tree*>(sub));
}

} // namespace

std::vector<TreeFile> GitRepository::list_files(std::string_view commit_id, std::string_view subdir,
                                                const std::function<bool(std::string_view)>& wanted) const {
  const std::string path = tree_path(subdir);
  TreeHandle tree = tree_at(state_->repository.get(), state_->location, commit_id, path);
  std::vector<TreeFile> files;
  WalkContext context{&wanted, path.empty() ? "" : path + "/", &files};
  if (git_tree_walk(tree.get(), GIT_TREEWALK_PRE, collect_entry, &context) != 0)
    throw UserError(fmt::format("{}@{}: cannot read the tree: {}", state_->location, commit_id, last_git_message()));
  return files;
}

std::vector<TreeChange> GitRepository::changed_files(std::string_view from_commit, std::string_view to_commit, std::string_view subdir,
                                                     const std::function<bool(std::string_view)>& wanted) const {
  const std::string path = tree_path(subdir);
  git_repository* repository = state_->repository.get();
  TreeHandle from = tree_at(repository, state_->location, from_commit, path);
  TreeHandle to = tree_at(repository, state_->location, to_commit, path);
  git_diff_options options = GIT_DIFF_OPTIONS_INIT;
  git_diff* raw_diff = nullptr;
  if (git_diff_tree_to_tree(&raw_diff, repository, from.get(), to.get(), &options) != 0)
    throw UserError(fmt::format("{}@{}: cannot compare with commit {}: {}", state_->location, std::string(to_commit).substr(0, 12),
                                std::string(from_commit).substr(0, 12), last_git_message()));
  DiffHandle diff(raw_diff);
  const std::string prefix = path.empty() ? "" : path + "/";
  // One side of a delta as list_files would see it: a regular file with a wanted name, or nothing.
  const auto side = [&](const git_diff_file& file, bool exists) -> std::string {
    // A regular file, whatever its permission bits: libgit2 normalises a tree entry's legacy
    // 100664 to 100644 for list_files, but a diff reports the mode as stored.
    if (!exists || (file.mode & 0170000) != 0100000)
      return {};
    const std::string_view name = file.path;
    const size_t slash = name.rfind('/');
    if (!wanted(slash == std::string_view::npos ? name : name.substr(slash + 1)))
      return {};
    char hex[GIT_OID_HEXSZ + 1] = {};
    git_oid_tostr(hex, sizeof hex, &file.id);
    return hex;
  };
  std::vector<TreeChange> changes;
  for (size_t index = 0; index < git_diff_num_deltas(diff.get()); ++index) {
    const git_diff_delta* delta = git_diff_get_delta(diff.get(), index);
    TreeChange change;
    change.old_blob_id = side(delta->old_file, delta->status != GIT_DELTA_ADDED);
    change.new_blob_id = side(delta->new_file, delta->status != GIT_DELTA_DELETED);
    if (change.old_blob_id == change.new_blob_id)
      continue; // a mode change, or a file list_files never sees
    change.path = prefix + (delta->status == GIT_DELTA_DELETED ? delta->old_file.path : delta->new_file.path);
    changes.push_back(std::move(change));
  }
  std::sort(changes.begin(), changes.end(), [](const TreeChange& a, const TreeChange& b) { return a.path < b.path; });
  return changes;
}

std::string GitRepository::read_blob(std::string_view blob_id) const {
  git_oid oid;
  const std::string id(blob_id);
  git_blob* raw = nullptr;
  if (git_oid_fromstr(&oid, id.c_str()) != 0 || git_blob_lookup(&raw, state_->repository.get(), &oid) != 0)
    throw UserError(fmt::format("{}: cannot read blob {}: {}", state_->location, id, last_git_message()));
  BlobHandle blob(raw);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<size_t>(git_blob_rawsize(blob.get())));
}

} // namespace meridian

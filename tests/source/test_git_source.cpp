// The Git source on real repositories: working copies, bare repositories, file:// and git:// remotes
// (a real `git daemon` on 127.0.0.1), a cache that is fetched rather than re-cloned, and the
// one-line errors users see.
#include "source/git.h"
#include "source/verify.h"

#include "git_fixture.h"
#include "base/error.h"
#include "manifest/manifest.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using namespace meridian;
using namespace meridian::testing;

namespace {

std::string pool_yaml(const std::string& name, int size) {
  return "apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: " + name +
         "\nspec:\n  cluster: c1\n  region: cn-hangzhou\n  desiredSize: " + std::to_string(size) + "\n";
}

// The message of the UserError `action` throws (FAILs when it throws none).
template <typename Action> std::string error_of(Action&& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  FAIL("expected a UserError");
  return {};
}

std::vector<std::string> paths(const std::vector<TreeFile>& files) {
  std::vector<std::string> out;
  for (const TreeFile& file : files)
    out.push_back(file.path);
  return out;
}

std::vector<std::string> all_files(const GitRepository& repository, const std::string& commit, const std::string& subdir = "") {
  return paths(repository.list_files(commit, subdir, is_manifest_name));
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  if (fs::exists(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

bool has_partial(const fs::path& dir) {
  if (!fs::exists(dir))
    return false;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (contains(entry.path().filename().string(), ".partial-"))
      return true;
  return false;
}

// The one folder a remote's mirror occupies in the cache.
fs::path mirror_of(const fs::path& cache) {
  const std::vector<std::string> names = entries(cache);
  REQUIRE(names.size() == 1);
  return cache / names.front();
}

// A working copy `work` that pushes to a bare repository `remote.git` (HEAD → main).
struct Upstream {
  TempDir dir{"meridian-upstream"};
  fs::path work = dir / "work";
  fs::path bare = dir / "srv" / "remote.git";

  Upstream() {
    git_init(work);
    git_init(bare, true);
    git(work, {"remote", "add", "origin", bare.string()});
  }
  std::string commit(const std::string& file, const std::string& text, const std::string& message) {
    write_file(work / file, text);
    return commit_all(work, message);
  }
  void push() { git(work, {"push", "-q", "--prune", "--tags", "origin", "+refs/heads/*:refs/heads/*"}); }
  std::string file_url() const { return "file://" + bare.string(); }
};

GitOptions options_for(const TempDir& dir) {
  GitOptions options;
  options.cache_dir = (dir / "cache").string();
  options.netrc_file = (dir / "no-netrc").string(); // never the user's ~/.netrc
  return options;
}

} // namespace

TEST_CASE("manifest names: *.yaml, *.yml and *.json only", "[git]") {
  CHECK(is_manifest_name("a.yaml"));
  CHECK(is_manifest_name("a.yml"));
  CHECK(is_manifest_name("a.json"));
  CHECK_FALSE(is_manifest_name("README.md"));
  CHECK_FALSE(is_manifest_name(".yaml"));
  CHECK_FALSE(is_manifest_name("a.yaml.orig"));
  CHECK_FALSE(is_manifest_name("yaml"));
}

TEST_CASE("a working copy resolves branches, tags and commit ids", "[git]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  git_init(repo);
  write_file(repo / "fleet/pools.yaml", pool_yaml("p1", 1));
  const std::string first = commit_all(repo, "first commit\n\nwith a body");
  git(repo, {"tag", "v1"});
  git(repo, {"tag", "-a", "v1-annotated", "-m", "annotated"});
  git(repo, {"branch", "release/1.0"});
  write_file(repo / "fleet/pools.yaml", pool_yaml("p1", 2));
  const std::string second = commit_all(repo, "second commit");
  REQUIRE(first != second);

  GitRepository repository = GitRepository::open(repo.string(), options_for(dir));
  CHECK_FALSE(repository.is_remote());
  CHECK(repository.location() == repo.string());

  CHECK(repository.resolve("main").id == second);
  CHECK(repository.resolve("").id == second); // HEAD
  CHECK(repository.resolve("HEAD").id == second);
  CHECK(repository.resolve("release/1.0").id == first);
  CHECK(repository.resolve("v1").id == first);
  // An annotated tag peels to its commit, not the tag object.
  const std::string tag_object = git(repo, {"rev-parse", "v1-annotated"});
  CHECK(tag_object != first);
  CHECK(repository.resolve("v1-annotated").id == first);
  CHECK(repository.resolve(first).id == first);
  CHECK(repository.resolve(first.substr(0, 7)).id == first);
  CHECK(repository.resolve(second.substr(0, 12)).id == second);

  const CommitInfo info = repository.resolve(first);
  CHECK(info.summary == "first commit");
  CHECK(info.author == "Meridian Test");
  CHECK(info.time > 0);

  // Every ref names a tree whose blobs we can read.
  const auto files = repository.list_files(first, "", is_manifest_name);
  REQUIRE(files.size() == 1);
  CHECK(files[0].blob_id == git(repo, {"rev-parse", first + ":fleet/pools.yaml"}));
  CHECK(repository.read_blob(files[0].blob_id) == pool_yaml("p1", 1));
}

TEST_CASE("a moved branch resolves to its new commit", "[git]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  git_init(repo);
  write_file(repo / "pools.yaml", pool_yaml("p1", 1));
  const std::string first = commit_all(repo, "one");
  GitRepository repository = GitRepository::open(repo.string(), options_for(dir));
  CHECK(repository.resolve("main").id == first);

  write_file(repo / "pools.yaml", pool_yaml("p1", 3));
  const std::string second = commit_all(repo, "two");
  // The same open repository sees the branch move: refs are read at each resolve.
  CHECK(repository.resolve("main").id == second);
  CHECK(repository.resolve("").id == second);
  // and so does a fresh open
  CHECK(GitRepository::open(repo.string(), options_for(dir)).resolve("main").id == second);

  // A branch moved backwards (reset) too.
  git(repo, {"reset", "-q", "--hard", first});
  CHECK(repository.resolve("main").id == first);
}

TEST_CASE("--path restricts the files to a subdirectory", "[git]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  git_init(repo);
  write_file(repo / "top.yaml", pool_yaml("top", 1));
  write_file(repo / "README.md", "not a manifest\n");
  write_file(repo / "fleet/a.yaml", pool_yaml("a", 1));
  write_file(repo / "fleet/notes.txt", "ignored\n");
  write_file(repo / "fleet/clusters/east/b.yml", pool_yaml("b", 1));
  write_file(repo / "fleet/c.json", "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"c\"}}\n");
  write_file(repo / "fleetwood/d.yaml", pool_yaml("d", 1));
  const std::string commit = commit_all(repo, "layout");
  GitRepository repository = GitRepository::open(repo.string(), options_for(dir));

  const std::vector<std::string> whole = all_files(repository, commit);
  CHECK(std::set<std::string>(whole.begin(), whole.end()) ==
        std::set<std::string>{"top.yaml", "fleet/a.yaml", "fleet/clusters/east/b.yml", "fleet/c.json", "fleetwood/d.yaml"});

  const std::set<std::string> expected = {"fleet/a.yaml", "fleet/clusters/east/b.yml", "fleet/c.json"};
  for (const char* subdir : {"fleet", "fleet/", "./fleet", "fleet//"}) {
    INFO("--path " << subdir);
    const std::vector<std::string> under = all_files(repository, commit, subdir);
    CHECK(std::set<std::string>(under.begin(), under.end()) == expected);
  }
  CHECK(all_files(repository, commit, "fleet/clusters") == std::vector<std::string>{"fleet/clusters/east/b.yml"});
  CHECK(all_files(repository, commit, ".").size() == whole.size());
  // Deterministic: the same commit lists the same files in the same order.
  CHECK(all_files(repository, commit) == whole);

  // The loader takes the same path, and paths stay relative to the repository root.
  ManifestCache cache;
  const ManifestSet set = load_manifests(repository, repository.resolve("main"), "fleet", cache);
  CHECK(set.files == 3);
  CHECK(set.manifests.size() == 3);
  for (const Manifest& manifest : set.manifests)
    CHECK(manifest.file.rfind("fleet/", 0) == 0);
  // clusters/<name>/ counts from the --path root.
  const auto east = std::find_if(set.manifests.begin(), set.manifests.end(), [](const Manifest& m) { return m.name == "b"; });
  REQUIRE(east != set.manifests.end());
  CHECK(east->cluster.empty()); // a NodePool is Meridian's own kind: no target cluster

  SECTION("a missing path is an error naming the repository and the path") {
    const std::string message = error_of([&] { repository.list_files(commit, "nowhere", is_manifest_name); });
    CHECK(one_line(message));
    CHECK(contains(message, repo.string()));
    CHECK(contains(message, "nowhere"));
    CHECK(contains(message, "no such directory"));
    CHECK(contains(message, commit.substr(0, 12)));
  }
  SECTION("a file is not a directory") {
    const std::string message = error_of([&] { repository.list_files(commit, "fleet/a.yaml", is_manifest_name); });
    CHECK(one_line(message));
    CHECK(contains(message, "fleet/a.yaml"));
    CHECK(contains(message, "is a file"));
  }
}

TEST_CASE("manifests come from the commit, never the working tree", "[git]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  git_init(repo);
  write_file(repo / "pools.yaml", pool_yaml("p1", 2));
  write_file(repo / "gone.yaml", pool_yaml("gone", 1));
  commit_all(repo, "committed");

  // Edits that are not committed: a modified file, a staged change, a new untracked file, a deletion.
  write_file(repo / "pools.yaml", pool_yaml("p1", 5));
  write_file(repo / "staged.yaml", pool_yaml("staged", 1));
  git(repo, {"add", "staged.yaml"});
  write_file(repo / "untracked.yaml", pool_yaml("untracked", 1));
  fs::remove(repo / "gone.yaml");

  GitRepository repository = GitRepository::open(repo.string(), options_for(dir));
  ManifestCache cache;
  const ManifestSet set = load_manifests(repository, repository.resolve(""), "", cache);
  std::set<std::string> names;
  for (const Manifest& manifest : set.manifests)
    names.insert(manifest.name);
  CHECK(names == std::set<std::string>{"p1", "gone"});
  const auto pool = std::find_if(set.manifests.begin(), set.manifests.end(), [](const Manifest& m) { return m.name == "p1"; });
  REQUIRE(pool != set.manifests.end());
  const Json* size = find_path(*pool->object, "spec.desiredSize");
  REQUIRE(size != nullptr);
  CHECK(size->GetInt64() == 2);
}

TEST_CASE("the manifest cache parses a blob once", "[git]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  git_init(repo);
  write_file(repo / "a.yaml", pool_yaml("a", 1));
  write_file(repo / "b.yaml", pool_yaml("b", 1));
  const std::string first = commit_all(repo, "one");
  write_file(repo / "b.yaml", pool_yaml("b", 2));
  const std::string second = commit_all(repo, "two");
  GitRepository repository = GitRepository::open(repo.string(), options_for(dir));
  ManifestCache cache;
  CHECK(load_manifests(repository, repository.resolve(first), "", cache).parsed_files == 2);
  CHECK(load_manifests(repository, repository.resolve(first), "", cache).parsed_files == 0);
  const ManifestSet later = load_manifests(repository, repository.resolve(second), "", cache);
  CHECK(later.parsed_files == 1); // only b.yaml changed
  CHECK(later.manifests.size() == 2);
}

TEST_CASE("a bare repository is opened in place", "[git]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  git_init(repo);
  write_file(repo / "fleet/pools.yaml", pool_yaml("p1", 1));
  const std::string commit = commit_all(repo, "one");
  git(repo, {"tag", "v1"});
  const fs::path bare = dir / "bare.git";
  git(dir.path(), {"clone", "-q", "--bare", repo.string(), bare.string()});

  const GitOptions options = options_for(dir);
  GitRepository repository = GitRepository::open(bare.string(), options);
  CHECK_FALSE(repository.is_remote());
  CHECK(repository.resolve("").id == commit);
  CHECK(repository.resolve("main").id == commit);
  CHECK(repository.resolve("v1").id == commit);
  CHECK(all_files(repository, commit) == std::vector<std::string>{"fleet/pools.yaml"});
  CHECK_FALSE(fs::exists(options.cache_dir)); // nothing copied
}

TEST_CASE("a file:// remote is cloned into the cache once, then fetched", "[git][remote]") {
  Upstream upstream;
  const std::string first = upstream.commit("fleet/pools.yaml", pool_yaml("p1", 1), "one");
  git(upstream.work, {"tag", "-a", "v1", "-m", "release 1"});
  git(upstream.work, {"branch", "old"});
  upstream.push();

  TempDir dir;
  const GitOptions options = options_for(dir);
  const fs::path cache = options.cache_dir;
  fs::path mirror;
  {
    GitRepository repository = GitRepository::open(upstream.file_url(), options);
    CHECK(repository.is_remote());
    CHECK(repository.location() == upstream.file_url());
    CHECK(repository.resolve("").id == first);
    CHECK(repository.resolve("main").id == first);
    CHECK(repository.resolve("v1").id == first);
    CHECK(repository.resolve("old").id == first);
    CHECK(all_files(repository, first) == std::vector<std::string>{"fleet/pools.yaml"});
    mirror = mirror_of(cache);
    CHECK_FALSE(has_partial(cache));
  }
  // A marker dropped into the mirror survives later opens: the folder is fetched, not re-cloned.
  write_file(mirror / "test-marker", "kept\n");

  const std::string second = upstream.commit("fleet/pools.yaml", pool_yaml("p1", 2), "two");
  git(upstream.work, {"tag", "v2"});
  git(upstream.work, {"branch", "-D", "old"});
  upstream.push();

  GitRepository repository = GitRepository::open(upstream.file_url(), options);
  CHECK(mirror_of(cache) == mirror);
  CHECK(fs::exists(mirror / "test-marker"));
  CHECK(repository.resolve("main").id == second);
  CHECK(repository.resolve("").id == second);
  CHECK(repository.resolve("v2").id == second);
  CHECK(repository.resolve("v1").id == first);
  // A branch deleted upstream is pruned from the mirror.
  CHECK(contains(error_of([&] { repository.resolve("old"); }), "ref not found"));

  // fetch() on an open repository picks up a newer commit too.
  const std::string third = upstream.commit("fleet/more.yaml", pool_yaml("p2", 1), "three");
  upstream.push();
  CHECK(repository.resolve("main").id == second);
  repository.fetch();
  CHECK(repository.resolve("main").id == third);
  CHECK(all_files(repository, third).size() == 2);
  CHECK(fs::exists(mirror / "test-marker"));
  CHECK(entries(cache).size() == 1);
}

TEST_CASE("the remote's default branch is what an empty ref means", "[git][remote]") {
  Upstream upstream;
  const std::string on_main = upstream.commit("a.yaml", pool_yaml("a", 1), "main");
  git(upstream.work, {"checkout", "-q", "-b", "stable"});
  const std::string on_stable = upstream.commit("a.yaml", pool_yaml("a", 2), "stable");
  upstream.push();
  git(upstream.bare, {"symbolic-ref", "HEAD", "refs/heads/stable"});

  TempDir dir;
  GitRepository repository = GitRepository::open(upstream.file_url(), options_for(dir));
  CHECK(repository.resolve("").id == on_stable);
  CHECK(repository.resolve("main").id == on_main);

  // The remote switches its default branch: the next fetch follows.
  git(upstream.bare, {"symbolic-ref", "HEAD", "refs/heads/main"});
  repository.fetch();
  CHECK(repository.resolve("").id == on_main);
}

TEST_CASE("a git:// remote served by git daemon is cloned, then fetched after a new commit", "[git][daemon]") {
  Upstream upstream;
  const std::string first = upstream.commit("fleet/pools.yaml", pool_yaml("p1", 1), "one");
  git(upstream.work, {"tag", "v1"});
  upstream.push();
  TempDir dir;
  GitDaemon daemon(upstream.dir / "srv", dir / "daemon.log");
  const std::string url = daemon.url("remote.git");
  const GitOptions options = options_for(dir);
  const fs::path cache = options.cache_dir;

  fs::path mirror;
  {
    GitRepository repository = GitRepository::open(url, options);
    CHECK(repository.is_remote());
    CHECK(repository.resolve("").id == first);
    CHECK(repository.resolve("v1").id == first);
    ManifestCache manifests;
    const ManifestSet set = load_manifests(repository, repository.resolve("main"), "fleet", manifests);
    REQUIRE(set.manifests.size() == 1);
    CHECK(set.manifests[0].name == "p1");
    mirror = mirror_of(cache);
  }
  write_file(mirror / "test-marker", "kept\n");

  const std::string second = upstream.commit("fleet/pools.yaml", pool_yaml("p1", 2), "two");
  upstream.push();
  GitRepository repository = GitRepository::open(url, options);
  CHECK(mirror_of(cache) == mirror);
  CHECK(fs::exists(mirror / "test-marker"));
  CHECK(repository.resolve("main").id == second);

  SECTION("a repository the daemon does not serve is not found") {
    const std::string missing = daemon.url("missing.git");
    const std::string message = error_of([&] { GitRepository::open(missing, options); });
    INFO(message);
    CHECK(one_line(message));
    CHECK(contains(message, missing));
    CHECK(contains(message, "repository not found"));
    CHECK_FALSE(has_partial(cache));
    CHECK(entries(cache).size() == 1);
  }
  SECTION("the daemon going away makes the next fetch fail but leaves the cache usable") {
    daemon.stop();
    const std::string message = error_of([&] { GitRepository::open(url, options); });
    INFO(message);
    CHECK(one_line(message));
    CHECK(contains(message, url));
    CHECK(contains(message, "network unreachable"));
    CHECK(fs::exists(mirror / "test-marker"));
    CHECK_FALSE(has_partial(cache));
  }
}

TEST_CASE("a damaged cache is detected and cloned again", "[git][remote]") {
  Upstream upstream;
  const std::string commit = upstream.commit("pools.yaml", pool_yaml("p1", 1), "one");
  upstream.push();
  TempDir dir;
  const GitOptions options = options_for(dir);
  const fs::path cache = options.cache_dir;
  GitRepository::open(upstream.file_url(), options);
  const fs::path mirror = mirror_of(cache);
  write_file(mirror / "test-marker", "from the first clone\n");

  SECTION("HEAD deleted") { fs::remove(mirror / "HEAD"); }
  SECTION("objects deleted") { fs::remove_all(mirror / "objects"); }
  SECTION("objects emptied") {
    for (const auto& entry : fs::directory_iterator(mirror / "objects"))
      fs::remove_all(entry.path());
  }
  SECTION("refs deleted") {
    fs::remove_all(mirror / "refs");
    fs::remove(mirror / "packed-refs");
  }
  SECTION("a clone that never completed") { fs::remove(mirror / "meridian-mirror-complete"); }
  SECTION("HEAD garbled") { write_file(mirror / "HEAD", "garbage\n"); }

  GitRepository repository = GitRepository::open(upstream.file_url(), options);
  CHECK(repository.resolve("").id == commit);
  CHECK(repository.read_blob(repository.list_files(commit, "", is_manifest_name).at(0).blob_id) == pool_yaml("p1", 1));
  CHECK(mirror_of(cache) == mirror);
  CHECK_FALSE(fs::exists(mirror / "test-marker")); // cloned afresh
  CHECK_FALSE(has_partial(cache));
}

TEST_CASE("repository errors are one line naming the repository and the ref", "[git][errors]") {
  TempDir dir;
  const GitOptions options = options_for(dir);
  const fs::path cache = options.cache_dir;

  SECTION("a local path that does not exist") {
    const std::string path = (dir / "no-such-repo").string();
    const std::string message = error_of([&] { GitRepository::open(path, options); });
    CHECK(one_line(message));
    CHECK(contains(message, path));
    CHECK(contains(message, "repository not found"));
  }
  SECTION("a local directory that is not a repository") {
    fs::create_directories(dir / "plain");
    const std::string path = (dir / "plain").string();
    const std::string message = error_of([&] { GitRepository::open(path, options); });
    CHECK(one_line(message));
    CHECK(contains(message, path));
    CHECK(contains(message, "repository not found"));
  }
  SECTION("a file:// URL that does not exist") {
    const std::string url = "file://" + (dir / "missing.git").string();
    const std::string message = error_of([&] { GitRepository::open(url, options); });
    INFO(message);
    CHECK(one_line(message));
    CHECK(contains(message, url));
    CHECK(contains(message, "repository not found"));
    CHECK_FALSE(has_partial(cache));
    CHECK(entries(cache).empty());
  }
  SECTION("git:// to a closed port is network unreachable") {
    const std::string url = "git://127.0.0.1:" + std::to_string(free_port()) + "/repo.git";
    const std::string message = error_of([&] { GitRepository::open(url, options); });
    INFO(message);
    CHECK(one_line(message));
    CHECK(contains(message, url));
    CHECK(contains(message, "network unreachable"));
    CHECK_FALSE(has_partial(cache));
    CHECK(entries(cache).empty());
  }
  SECTION("git:// to a daemon that does not serve the repository") {
    fs::create_directories(dir / "srv");
    GitDaemon daemon(dir / "srv", dir / "daemon.log");
    const std::string url = daemon.url("missing.git");
    const std::string message = error_of([&] { GitRepository::open(url, options); });
    INFO(message);
    CHECK(one_line(message));
    CHECK(contains(message, url));
    CHECK(contains(message, "repository not found"));
    CHECK_FALSE(has_partial(cache));
    CHECK(entries(cache).empty());
  }
  SECTION("a ref that does not exist, local and remote") {
    Upstream upstream;
    upstream.commit("a.yaml", pool_yaml("a", 1), "one");
    upstream.push();
    for (const std::string& location : {upstream.work.string(), upstream.file_url()}) {
      GitRepository repository = GitRepository::open(location, options);
      for (const char* ref : {"no-such-branch", "v9.9", "0123456789abcdef0123456789abcdef01234567", "deadbeef"}) {
        const std::string message = error_of([&] { repository.resolve(ref); });
        INFO(message);
        CHECK(one_line(message));
        CHECK(contains(message, location));
        CHECK(contains(message, ref));
        CHECK(contains(message, "ref not found"));
      }
    }
  }
  SECTION("a repository without commits has no HEAD to resolve") {
    git_init(dir / "empty");
    GitRepository repository = GitRepository::open((dir / "empty").string(), options);
    const std::string message = error_of([&] { repository.resolve(""); });
    CHECK(one_line(message));
    CHECK(contains(message, "HEAD"));
    CHECK(contains(message, "ref not found"));
  }
}

TEST_CASE("a rejected or missing credential is \"authentication failed\"", "[git][http]") {
  TempDir dir;
  UnauthorizedHttpServer server(dir);
  const std::string url = server.url("repo.git");
  const GitOptions options = options_for(dir);
  const fs::path cache = options.cache_dir;

  SECTION("no token") {
    EnvGuard token("MERIDIAN_GIT_TOKEN", std::nullopt);
    const std::string message = error_of([&] { GitRepository::open(url, options); });
    INFO(message);
    CHECK(one_line(message));
    CHECK(contains(message, url));
    CHECK(contains(message, "authentication failed"));
  }
  SECTION("a token the server rejects") {
    EnvGuard token("MERIDIAN_GIT_TOKEN", std::string("not-a-valid-token"));
    const std::string message = error_of([&] { GitRepository::open(url, options); });
    INFO(message);
    CHECK(one_line(message));
    CHECK(contains(message, url));
    CHECK(contains(message, "authentication failed"));
    CHECK_FALSE(contains(message, "not-a-valid-token")); // secrets stay out of messages
  }
  SECTION("netrc credentials the server rejects") {
    EnvGuard token("MERIDIAN_GIT_TOKEN", std::nullopt);
    GitOptions with_netrc = options;
    with_netrc.netrc_file = (dir / "netrc").string();
    write_file(with_netrc.netrc_file, "machine 127.0.0.1 login someone password netrc-secret\n");
    const std::string message = error_of([&] { GitRepository::open(url, with_netrc); });
    INFO(message);
    CHECK(one_line(message));
    CHECK(contains(message, "authentication failed"));
    CHECK_FALSE(contains(message, "netrc-secret"));
  }
  CHECK_FALSE(has_partial(cache));
  CHECK(entries(cache).empty());
}

namespace {

//! A server on 127.0.0.1 that accepts connections and never answers (nor closes them).
class SilentServer {
public:
  SilentServer() : port_(free_port()) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    const int yes = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port_));
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(fd_, 16) == 0); // the kernel completes handshakes; nobody ever reads
  }
  ~SilentServer() { close(fd_); }
  int port() const { return port_; }

private:
  int port_;
  int fd_ = -1;
};

} // namespace

TEST_CASE("a server that accepts and never answers is given up on after --git-timeout", "[source][timeout]") {
  SilentServer server;
  TempDir dir;
  GitOptions options;
  options.cache_dir = (dir / "cache").string();
  options.timeout = std::chrono::milliseconds(1500);
  for (const std::string scheme : {"git", "http"}) {
    const std::string url = scheme + "://127.0.0.1:" + std::to_string(server.port()) + "/fleet.git";
    const auto start = std::chrono::steady_clock::now();
    try {
      GitRepository::open(url, options);
      FAIL("opened a repository nobody served");
    } catch (const TransientError& error) {
      CHECK(std::string(error.what()) == url + ": network unreachable: no answer within 1s (--git-timeout)");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO(scheme << ": " << seconds << " s");
    CHECK(seconds < 5);
  }
}

namespace {

void run_ok(const std::vector<std::string>& argv) {
  const ProcessResult result = run_process(argv);
  INFO(argv.front() << ": " << result.err << result.out);
  REQUIRE(result.status == 0);
}

//! An ed25519 SSH key `name` in `dir`; returns the public key line.
std::string ssh_key(const fs::path& dir, const std::string& name) {
  run_ok({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", (dir / name).string()});
  return trim(read_text(dir / (name + ".pub")));
}

} // namespace

TEST_CASE("commit signatures: only commits signed by a trusted SSH or OpenPGP key pass", "[source][verify]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  git_init(repo);
  write_file(repo / "a.yaml", "kind: ConfigMap\n");
  const std::string unsigned_commit = commit_all(repo, "unsigned");

  const std::string trusted = ssh_key(dir.path(), "trusted");
  const std::string stranger = ssh_key(dir.path(), "stranger");
  write_file(dir / "allowed_signers", "ops@meridian.invalid " + trusted + "\n");
  const auto ssh_commit = [&](const std::string& key, const std::string& message) {
    write_file(repo / "a.yaml", "kind: ConfigMap\n# " + message + "\n");
    git(repo, {"add", "-A"});
    git(repo, {"-c", "gpg.format=ssh", "-c", "user.signingkey=" + (dir / key).string(), "commit", "-q", "-S", "-m", message});
    return git(repo, {"rev-parse", "HEAD"});
  };
  const std::string good = ssh_commit("trusted", "signed by ops");
  const std::string other = ssh_commit("stranger", "signed by a stranger");

  GitOptions options;
  options.cache_dir = (dir / "cache").string();
  const GitRepository repository = GitRepository::open(repo.string(), options);
  SignaturePolicy policy;
  policy.allowed_signers = (dir / "allowed_signers").string();
  CHECK_NOTHROW(verify_commit(repository, good, policy));
  CHECK_THROWS_WITH(verify_commit(repository, unsigned_commit, policy),
                    repo.string() + "@" + unsigned_commit.substr(0, 12) + ": commit signature: the commit is not signed; it is not applied");
  CHECK_THROWS_WITH(verify_commit(repository, other, policy), repo.string() + "@" + other.substr(0, 12) +
                                                                  ": commit signature: signed by a key not in " + policy.allowed_signers);
  CHECK_NOTHROW(verify_commit(repository, unsigned_commit, SignaturePolicy{})); // no policy: nothing checked

  SECTION("OpenPGP, against a keyring of trusted keys") {
    const fs::path home = dir / "gnupg";
    fs::create_directories(home);
    fs::permissions(home, fs::perms::owner_all, fs::perm_options::replace);
    run_ok({"gpg", "--homedir", home.string(), "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
            "Signer <signer@meridian.invalid>", "ed25519", "sign", "never"});
    const fs::path wrapper = dir / "gpg-wrapper";
    write_file(wrapper, "#!/bin/sh\nexec gpg --homedir '" + home.string() + "' \"$@\"\n");
    fs::permissions(wrapper, fs::perms::owner_all);
    write_file(repo / "a.yaml", "kind: ConfigMap\n# gpg\n");
    git(repo, {"add", "-A"});
    git(repo, {"-c", "gpg.program=" + wrapper.string(), "-c", "user.signingkey=signer@meridian.invalid", "commit", "-q", "-S", "-m", "gpg"});
    const std::string gpg_commit = git(repo, {"rev-parse", "HEAD"});
    const ProcessResult exported = run_process({"gpg", "--homedir", home.string(), "--export", "signer@meridian.invalid"});
    REQUIRE(exported.status == 0);
    write_file(dir / "trusted.gpg", exported.out);
    const GitRepository reopened = GitRepository::open(repo.string(), options);
    SignaturePolicy gpg;
    gpg.gpg_keyring = (dir / "trusted.gpg").string();
    CHECK_NOTHROW(verify_commit(reopened, gpg_commit, gpg));
    // An SSH-only policy does not accept it, and an empty keyring trusts nobody.
    CHECK_THROWS_WITH(verify_commit(reopened, gpg_commit, policy), Catch::Contains("no keyring is configured"));
    write_file(dir / "empty.gpg", "");
    gpg.gpg_keyring = (dir / "empty.gpg").string();
    CHECK_THROWS_WITH(verify_commit(reopened, gpg_commit, gpg), Catch::Contains("no good signature by a key in"));
    run_process({"gpgconf", "--homedir", home.string(), "--kill", "gpg-agent"}); // the agent key generation started
  }
}

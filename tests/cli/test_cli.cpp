// The real `meridian` binary, run as a user runs it: exit codes, stdout/stderr, --help, one-line
// errors, `validate` in text and JSON on examples committed into temporary git repositories, and
// remote repositories over file://, a real `git daemon` and an HTTP server that refuses everyone.
#include "../source/git_fixture.h"
#include "state/lock.h"
#include "state/store.h"

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <regex>

using namespace meridian::testing;

namespace {

// Runs build/meridian in `cwd` (a temporary directory, so a default ./.meridian lands there).
ProcessResult run_meridian(const std::vector<std::string>& args, const fs::path& cwd, std::vector<std::string> env = {}) {
  std::vector<std::string> argv = {MERIDIAN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  env.push_back("MERIDIAN_STATE_DIR");
  return run_process(argv, cwd, env);
}

std::string show(const ProcessResult& result) {
  return "exit " + std::to_string(result.status) + "\nstdout:\n" + result.out + "\nstderr:\n" + result.err;
}

// Exit 1 with exactly one line on stderr, `meridian: ...`, and nothing on stdout.
void check_one_line_error(const ProcessResult& result) {
  INFO(show(result));
  CHECK(result.status == 1);
  CHECK(one_line(result.err));
  CHECK(result.err.rfind("meridian", 0) == 0);
  CHECK(result.out.empty());
  CHECK_FALSE(contains(result.err, "terminate"));
  CHECK_FALSE(contains(result.err, "internal error"));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

bool has_partial(const fs::path& dir) {
  if (!fs::exists(dir))
    return false;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (contains(entry.path().filename().string(), ".partial-"))
      return true;
  return false;
}

} // namespace

TEST_CASE("meridian --version and --help", "[cli]") {
  TempDir dir;
  const ProcessResult short_version = run_meridian({"--version"}, dir.path());
  INFO(show(short_version));
  CHECK(short_version.status == 0);
  CHECK(one_line(short_version.out));
  CHECK(short_version.out.rfind("meridian ", 0) == 0);
  CHECK(short_version.err.empty());
  // `meridian version`: the version, the commit and the build date, one per line.
  const ProcessResult version = run_meridian({"version"}, dir.path());
  INFO(show(version));
  CHECK(version.status == 0);
  CHECK(version.out.rfind(short_version.out + "commit: ", 0) == 0);
  CHECK(contains(version.out, "\nbuilt: "));
  CHECK(version.err.empty());
  for (const char* flag : {"--help", "-h", "help"}) {
    const ProcessResult help = run_meridian({flag}, dir.path());
    INFO(show(help));
    CHECK(help.status == 0);
    CHECK(help.out.rfind("Usage: meridian [--log-format text|json] [--log-level LEVEL] <command>", 0) == 0);
    CHECK(contains(help.out, "validate"));
    CHECK(help.err.empty());
  }
  // No command at all: the usage, on stderr, and a failure.
  const ProcessResult bare = run_meridian({}, dir.path());
  CHECK(bare.status == 1);
  CHECK(contains(bare.err, "Usage: meridian"));
}

TEST_CASE("meridian validate --help", "[cli]") {
  TempDir dir;
  for (const char* flag : {"--help", "-h"}) {
    // --help wins over everything else on the line, even a missing --repo
    const ProcessResult help = run_meridian({"validate", flag}, dir.path());
    INFO(show(help));
    CHECK(help.status == 0);
    CHECK(help.out.rfind("Usage: meridian validate", 0) == 0);
    for (const char* option : {"--repo", "--ref", "--path", "--format", "--state-dir", "--help"})
      CHECK(contains(help.out, option));
    CHECK(help.err.empty());
  }
}

TEST_CASE("usage errors are one line on stderr and exit 1", "[cli]") {
  TempDir dir;
  SECTION("unknown command") {
    const ProcessResult result = run_meridian({"frobnicate"}, dir.path());
    check_one_line_error(result);
    CHECK(contains(result.err, "unknown command"));
    CHECK(contains(result.err, "frobnicate"));
  }
  SECTION("unknown option") {
    const ProcessResult result = run_meridian({"validate", "--repo", dir.str(), "--frobnicate"}, dir.path());
    check_one_line_error(result);
    CHECK(contains(result.err, "unknown option --frobnicate"));
  }
  SECTION("an option without its value") {
    const ProcessResult result = run_meridian({"validate", "--repo"}, dir.path());
    check_one_line_error(result);
    CHECK(contains(result.err, "--repo"));
  }
  SECTION("missing --repo") {
    const ProcessResult result = run_meridian({"validate"}, dir.path());
    check_one_line_error(result);
    CHECK(contains(result.err, "--repo is required"));
  }
  SECTION("a history count too large for a number") {
    for (const char* count : {"99999999999999999999", "0", "-1", "1e3"}) {
      const ProcessResult result = run_meridian({"history", count, "--state-dir", (dir.path() / "state").string()}, dir.path());
      check_one_line_error(result);
      CHECK(contains(result.err, "history: N must be a number from 1 to 1000000"));
    }
  }
  SECTION("an unknown format") {
    const ProcessResult result = run_meridian({"validate", "--repo", dir.str(), "--format", "xml"}, dir.path());
    check_one_line_error(result);
    CHECK(contains(result.err, "--format"));
    CHECK(contains(result.err, "xml"));
  }
}

TEST_CASE("meridian validate on a valid fleet repository", "[cli]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  const std::string commit = commit_folder(source_path("examples/edge-daemonset"), repo);

  SECTION("text") {
    const ProcessResult result = run_meridian({"validate", "--repo", repo.string()}, dir.path());
    INFO(show(result));
    CHECK(result.status == 0);
    CHECK(result.err.empty());
    const std::vector<std::string> lines = lines_of(result.out);
    REQUIRE(lines.size() >= 2);
    CHECK(lines.front() == "commit " + commit + " (import)");
    CHECK(lines.back().rfind("valid: ", 0) == 0);
  }
  SECTION("every way to name the commit") {
    git(repo, {"tag", "-a", "v1", "-m", "release"});
    for (const std::string& ref : {std::string("main"), std::string("v1"), commit, commit.substr(0, 8)}) {
      const ProcessResult result = run_meridian({"validate", "--repo", repo.string(), "--ref", ref}, dir.path());
      INFO(ref << "\n" << show(result));
      CHECK(result.status == 0);
      CHECK(contains(result.out, commit));
    }
    const ProcessResult equals_form = run_meridian({"validate", "--repo=" + repo.string(), "--ref=v1"}, dir.path());
    CHECK(equals_form.status == 0);
  }
  SECTION("uncommitted edits do not count") {
    write_file(repo / "clusters.yaml", "this: is: not: yaml: [\n");
    write_file(repo / "untracked.yaml", "\tbroken\n");
    const ProcessResult result = run_meridian({"validate", "--repo", repo.string()}, dir.path());
    INFO(show(result));
    CHECK(result.status == 0);
    CHECK(contains(result.out, commit));
  }
  SECTION("--path") {
    const fs::path mono = dir / "mono";
    git_init(mono);
    copy_folder(source_path("examples/edge-daemonset"), mono / "fleet");
    copy_folder(source_path("examples/broken"), mono / "broken");
    commit_all(mono, "monorepo");
    CHECK(run_meridian({"validate", "--repo", mono.string(), "--path", "fleet"}, dir.path()).status == 0);
    CHECK(run_meridian({"validate", "--repo", mono.string(), "--path", "broken"}, dir.path()).status == 1);
    const ProcessResult missing = run_meridian({"validate", "--repo", mono.string(), "--path", "nowhere"}, dir.path());
    check_one_line_error(missing);
    CHECK(contains(missing.err, "nowhere"));
  }
  SECTION("json") {
    const ProcessResult result = run_meridian({"validate", "--repo", repo.string(), "--format", "json"}, dir.path());
    INFO(show(result));
    CHECK(result.status == 0);
    rapidjson::Document document;
    document.Parse(result.out.c_str());
    REQUIRE_FALSE(document.HasParseError());
    REQUIRE(document.IsArray());
    CHECK(document.Empty());
    CHECK(contains(result.err, commit)); // the commit id goes to stderr, keeping stdout pure JSON
  }
}

TEST_CASE("meridian validate on examples/broken", "[cli]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  const std::string commit = commit_folder(source_path("examples/broken"), repo);

  SECTION("text: every finding as file:line: ..., exit 1") {
    const ProcessResult result = run_meridian({"validate", "--repo", repo.string()}, dir.path());
    INFO(show(result));
    CHECK(result.status == 1);
    const std::vector<std::string> lines = lines_of(result.out);
    REQUIRE(lines.size() > 20);
    CHECK(lines.front() == "commit " + commit + " (import)");
    CHECK(lines.back().rfind("invalid: ", 0) == 0);
    CHECK(std::find(lines.begin(), lines.end(),
                    "resourcepolicy-string-nodeselector.yaml:26: ResourcePolicy/default/nginx: spec.units[1].nodeSelector: "
                    "expected a map of label to value; did you mean `alibabacloud.com/nodepool-id: np7b30xxx`?") != lines.end());
    CHECK(std::find(lines.begin(), lines.end(), "nodepool-negative-size.yaml:19: NodePool/broken-negsize-pool: spec.desiredSize: must be >= 0, got -1") !=
          lines.end());
    for (size_t i = 1; i + 1 < lines.size(); ++i) {
      INFO(lines[i]);
      CHECK(std::regex_search(lines[i], std::regex(R"(^[^ :]+\.ya?ml:[0-9]+: )")));
    }
  }
  SECTION("json: an array of findings with file, line, object, field, message, severity") {
    for (const std::vector<std::string>& format : {std::vector<std::string>{"--format", "json"}, std::vector<std::string>{"--format=json"}}) {
      std::vector<std::string> args = {"validate", "--repo", repo.string()};
      args.insert(args.end(), format.begin(), format.end());
      const ProcessResult result = run_meridian(args, dir.path());
      INFO(show(result));
      CHECK(result.status == 1);
      CHECK(one_line(result.err));
      CHECK(contains(result.err, commit));
      rapidjson::Document document;
      document.Parse(result.out.c_str());
      REQUIRE_FALSE(document.HasParseError());
      REQUIRE(document.IsArray());
      REQUIRE(document.Size() > 20);
      bool saw_hint = false;
      for (const auto& finding : document.GetArray()) {
        REQUIRE(finding.IsObject());
        CHECK(finding.MemberCount() == 6);
        for (const char* field : {"file", "object", "field", "message", "severity"}) {
          INFO(field);
          REQUIRE(finding.HasMember(field));
          CHECK(finding[field].IsString());
        }
        REQUIRE(finding.HasMember("line"));
        REQUIRE(finding["line"].IsInt());
        CHECK(finding["line"].GetInt() > 0);
        CHECK(std::string(finding["file"].GetString()).size() > 0);
        const std::string severity = finding["severity"].GetString();
        CHECK((severity == "error" || severity == "warning"));
        if (std::string(finding["file"].GetString()) == "resourcepolicy-string-nodeselector.yaml") {
          saw_hint = true;
          CHECK(finding["line"].GetInt() == 26);
          CHECK(std::string(finding["object"].GetString()) == "ResourcePolicy/default/nginx");
          CHECK(std::string(finding["field"].GetString()) == "spec.units[1].nodeSelector");
          CHECK(std::string(finding["message"].GetString()) ==
                "expected a map of label to value; did you mean `alibabacloud.com/nodepool-id: np7b30xxx`?");
          CHECK(severity == "error");
        }
      }
      CHECK(saw_hint);
    }
  }
  SECTION("the same output on every run") {
    const ProcessResult first = run_meridian({"validate", "--repo", repo.string(), "--format", "json"}, dir.path());
    const ProcessResult second = run_meridian({"validate", "--repo", repo.string(), "--format", "json"}, dir.path());
    CHECK(first.out == second.out);
  }
}

TEST_CASE("meridian validate: repository errors name the repository and the ref", "[cli]") {
  TempDir dir;
  const std::string state = (dir / "state").string();

  SECTION("a path that does not exist") {
    const std::string path = (dir / "no-such-repo").string();
    const ProcessResult result = run_meridian({"validate", "--repo", path, "--ref", "main"}, dir.path());
    check_one_line_error(result);
    CHECK(contains(result.err, path));
    CHECK(contains(result.err, "main"));
    CHECK(contains(result.err, "repository not found"));
  }
  SECTION("a ref that does not exist") {
    commit_folder(source_path("examples/serverless"), dir / "repo");
    const ProcessResult result = run_meridian({"validate", "--repo", (dir / "repo").string(), "--ref", "no-such-ref"}, dir.path());
    check_one_line_error(result);
    CHECK(contains(result.err, (dir / "repo").string()));
    CHECK(contains(result.err, "no-such-ref"));
    CHECK(contains(result.err, "ref not found"));
  }
  SECTION("network unreachable") {
    const std::string url = "git://127.0.0.1:" + std::to_string(free_port()) + "/fleet.git";
    const ProcessResult result = run_meridian({"validate", "--repo", url, "--state-dir", state}, dir.path());
    check_one_line_error(result);
    CHECK(contains(result.err, url));
    CHECK(contains(result.err, "HEAD"));
    CHECK(contains(result.err, "network unreachable"));
  }
  SECTION("repository not found on a git daemon") {
    fs::create_directories(dir / "srv");
    GitDaemon daemon(dir / "srv", dir / "daemon.log");
    const std::string url = daemon.url("missing.git");
    const ProcessResult result = run_meridian({"validate", "--repo", url, "--ref", "v1", "--state-dir", state}, dir.path());
    check_one_line_error(result);
    CHECK(contains(result.err, url));
    CHECK(contains(result.err, "v1"));
    CHECK(contains(result.err, "repository not found"));
  }
  SECTION("authentication failed, with and without a token") {
    UnauthorizedHttpServer server(dir);
    const std::string url = server.url("fleet.git");
    const std::string no_netrc = (dir / "no-netrc").string();
    for (const std::string& token : {std::string("MERIDIAN_GIT_TOKEN"), std::string("MERIDIAN_GIT_TOKEN=secret-token")}) {
      INFO(token);
      const ProcessResult result =
          run_meridian({"validate", "--repo", url, "--state-dir", state, "--netrc", no_netrc}, dir.path(), {token, "HOME=" + dir.str()});
      check_one_line_error(result);
      CHECK(contains(result.err, url));
      CHECK(contains(result.err, "authentication failed"));
      CHECK_FALSE(contains(result.err, "secret-token"));
    }
  }
  CHECK_FALSE(has_partial(state));
}

TEST_CASE("meridian validate on remotes: cloned once, fetched after a new commit", "[cli]") {
  TempDir dir;
  const fs::path work = dir / "work";
  const fs::path bare = dir / "srv" / "fleet.git";
  const std::string first = commit_folder(source_path("examples/edge-daemonset"), work);
  git_init(bare, true);
  git(work, {"push", "-q", bare.string(), "main"});
  GitDaemon daemon(dir / "srv", dir / "daemon.log");
  const std::string state = (dir / "state").string();

  for (const std::string& url : {"file://" + bare.string(), daemon.url("fleet.git")}) {
    INFO(url);
    const ProcessResult before = run_meridian({"validate", "--repo", url, "--state-dir", state}, dir.path());
    INFO(show(before));
    CHECK(before.status == 0);
    CHECK(contains(before.out, first));
  }
  const size_t mirrors = static_cast<size_t>(std::distance(fs::directory_iterator(state + "/repos"), fs::directory_iterator()));
  CHECK(mirrors == 2);

  write_file(work / "clusters/edge-central/extra.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n");
  const std::string second = commit_all(work, "add a namespace");
  git(work, {"push", "-q", bare.string(), "main"});
  for (const std::string& url : {"file://" + bare.string(), daemon.url("fleet.git")}) {
    INFO(url);
    const ProcessResult after = run_meridian({"validate", "--repo", url, "--state-dir", state}, dir.path());
    INFO(show(after));
    CHECK(after.status == 0);
    CHECK(contains(after.out, second));
  }
  CHECK(static_cast<size_t>(std::distance(fs::directory_iterator(state + "/repos"), fs::directory_iterator())) == mirrors);
  CHECK_FALSE(has_partial(state));
}

TEST_CASE("meridian history prints what the state store holds escaped", "[cli][names]") {
  TempDir dir;
  const fs::path state = dir.path() / "state";
  {
    meridian::StateStore store((state / "meridian.db").string());
    const long long id = store.begin_apply("repo", "\033[2Jabc", "cli\nforged line");
    store.finish_apply(id, meridian::ApplyResult::succeeded, "1 applied",
                       {{"c1//ConfigMap/default/x", "ConfigMap/default/\033]0;title\007x", "c1", "r\x9b1", "update",
                         meridian::ObjectOutcome::applied, "bad\x7f"}},
                       {}, {});
  }
  const ProcessResult result = run_meridian({"history", "--state-dir", state.string()}, dir.path());
  INFO(show(result));
  CHECK(result.status == 0);
  CHECK(result.out.find('\033') == std::string::npos);
  CHECK(result.out.find('\x7f') == std::string::npos);
  CHECK(result.out.find('\x9b') == std::string::npos);
  CHECK(contains(result.out, "commit \\x1b[2Jabc  trigger cli\\nforged line"));
  CHECK(contains(result.out, "ConfigMap/default/\\x1b]0;title\\x07x (cluster c1): bad\\x7f"));
  CHECK(lines_of(result.out).size() == 2);
}

TEST_CASE("meridian apply refuses while another process holds the state directory, naming it", "[cli][lock]") {
  TempDir dir;
  const fs::path state = dir.path() / "state";
  auto lock = meridian::make_file_lock(state.string(), "meridian run");
  lock->acquire(std::chrono::milliseconds(0));
  const ProcessResult result = run_meridian({"apply", "--repo", dir.str(), "--auto-approve", "--state-dir", state.string()}, dir.path());
  check_one_line_error(result);
  CHECK(contains(result.err, "the state directory is in use by pid " + std::to_string(getpid())));
  CHECK(contains(result.err, "(meridian run, since "));
  const ProcessResult waited =
      run_meridian({"apply", "--repo", dir.str(), "--auto-approve", "--lock-timeout", "1s", "--state-dir", state.string()}, dir.path());
  check_one_line_error(waited);
  CHECK(contains(waited.err, "waited 1s (--lock-timeout)"));
}

TEST_CASE("plan refuses a commit not signed by a trusted key, saying why", "[cli][verify]") {
  TempDir dir;
  const fs::path repo = dir.path() / "repo";
  git_init(repo);
  write_file(repo / "clusters.yaml", "apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: c1\nspec:\n  type: Managed\n"
                                      "  region: cn-hangzhou\n");
  const std::string commit = commit_all(repo, "unsigned");
  write_file(dir.path() / "allowed_signers", "ops@meridian.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0xZPXjzvUvbiBEyZyxEbDBVGu2vrjbpwsUWB3/OYn3\n");
  const ProcessResult result =
      run_meridian({"plan", "--repo", repo.string(), "--verify-ssh-signers", (dir.path() / "allowed_signers").string()}, dir.path());
  check_one_line_error(result);
  CHECK(contains(result.err, commit.substr(0, 12) + ": commit signature: the commit is not signed; it is not applied"));
  CHECK(run_meridian({"plan", "--repo", repo.string()}, dir.path()).status == 0);
}

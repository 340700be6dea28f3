// `meridian run` end to end: the real binary against a bare repository served by `git daemon` on
// 127.0.0.1, the embedded simulator seeded from examples/fixtures/edge.yaml, webhooks and the status
// API over real HTTP on loopback.
#include "../source/git_fixture.h"
#include "http_client.h"
#include "loop/webhook.h"
#include "prometheus.h"

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <fmt/format.h>

#include <functional>

using namespace meridian;
using namespace meridian::testing;
using namespace std::chrono_literals;

namespace {

const std::string secret = "a shared webhook secret";
const std::string meridian_binary = MERIDIAN_BINARY;

//! `meridian run` in the background; its stderr (the event log) goes to a file.
class RunProcess {
public:
  RunProcess(const std::vector<std::string>& args, const fs::path& log) : log_(log) {
    std::vector<std::string> argv = {meridian_binary, "run"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> environment = detail::child_environment({"MERIDIAN_STATE_DIR"});
    std::vector<char*> c_argv = detail::c_strings(argv);
    std::vector<char*> c_env = detail::c_strings(environment);
    const std::string log_path = log.string();
    const pid_t parent = getpid();
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent)
        _exit(1);
      const int null = open("/dev/null", O_RDONLY);
      const int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(null, 0);
      dup2(out, 1);
      dup2(out, 2);
      execve(c_argv[0], c_argv.data(), c_env.data());
      _exit(127);
    }
  }
  ~RunProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  RunProcess(const RunProcess&) = delete;
  RunProcess& operator=(const RunProcess&) = delete;

  //! Sends `signal` and waits for the exit; returns the exit code (128+signal when killed).
  int stop(int signal = SIGTERM, std::chrono::seconds timeout = 60s) {
    kill(pid_, signal);
    return wait(timeout);
  }
  int wait(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        pid_ = -1;
        FAIL("meridian run did not exit in time; log:\n" << log());
      }
      std::this_thread::sleep_for(20ms);
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  bool running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string log() const { return read_text(log_); }

private:
  pid_t pid_ = -1;
  fs::path log_;
};

//! Polls `condition` every 50 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::seconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

std::string string_at(const rapidjson::Value& value, const char* key) {
  if (!value.IsObject() || !value.HasMember(key) || !value[key].IsString())
    return "";
  return value[key].GetString();
}

//! A fleet repository (bare, served by git daemon), a working copy that pushes to it, a seeded
//! simulator and a state directory.
class Fleet {
public:
  Fleet()
      : bare_(dir_ / "git" / "fleet.git"), work_(dir_ / "work"), state_(dir_ / "state"), secret_file_(dir_ / "secret"), token_file_(dir_ / "api-token") {
    git_init(bare_, true);
    first_commit_ = commit_folder(source_path("examples/edge-daemonset"), work_, "edge fleet with security-agent v1.0.0");
    push();
    write_file(secret_file_, secret + "\n");
    write_file(token_file_, "run-api-token\n");
    const ProcessResult seeded = meridian({"sim", "init", "--fixture", source_path("examples/fixtures/edge.yaml").string()});
    INFO(seeded.err);
    REQUIRE(seeded.status == 0);
    daemon_ = std::make_unique<GitDaemon>(dir_ / "git", dir_ / "daemon.log");
    port_ = free_port();
  }

  ProcessResult meridian(std::vector<std::string> args) const {
    args.insert(args.begin(), meridian_binary);
    args.push_back("--state-dir");
    args.push_back(state_.string());
    return run_process(args, {}, {"MERIDIAN_STATE_DIR"}, 120s);
  }

  std::unique_ptr<RunProcess> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--repo", url(), "--listen", "127.0.0.1:" + std::to_string(port_), "--webhook-secret-file",
                                     secret_file_.string(), "--api-token-file", token_file_.string(), "--state-dir", state_.string(),
                                     "--seed", "7"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto process = std::make_unique<RunProcess>(args, dir_ / ("run-" + std::to_string(++runs_) + ".log"));
    const bool listening = eventually([&] { return port_accepts(port_) || !process->running(); }, 30s);
    INFO(process->log());
    REQUIRE(listening);
    REQUIRE(process->running());
    return process;
  }

  std::string url() const { return daemon_->url("fleet.git"); }

  //! Commits the working copy and pushes it to the served repository.
  std::string commit(const std::string& message) {
    const std::string id = commit_all(work_, message);
    push();
    return id;
  }
  void push() { git(work_, {"push", "-q", "--force", bare_.string(), "HEAD:refs/heads/main"}); }

  //! /api/v1/* with the API token.
  HttpReply get(const std::string& path) const { return http_request(port_, "GET", path, {}, {{"Authorization", "Bearer run-api-token"}}); }
  HttpReply post(const std::string& path, const std::string& body,
                 std::vector<std::pair<std::string, std::string>> headers = {}) const {
    headers.emplace_back("Authorization", "Bearer run-api-token");
    return http_request(port_, "POST", path, body, headers);
  }
  HttpReply github_push(const std::string& body) const {
    return post("/hooks/github", body, {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", "sha256=" + hmac_sha256_hex(secret, body)}});
  }

  //! GET /api/v1/status parsed; an empty object when the server did not answer.
  rapidjson::Document status() const {
    rapidjson::Document document;
    const HttpReply reply = get("/api/v1/status");
    document.Parse(reply.status == 200 ? reply.body.c_str() : "{}");
    if (document.HasParseError())
      document.Parse("{}");
    return document;
  }
  std::string applied_commit() const {
    const rapidjson::Document document = status();
    return document.HasMember("lastAppliedCommit") ? string_at(document["lastAppliedCommit"], "id") : "";
  }
  //! The loop applied `commit` and finished that reconcile (status is written at its end).
  bool settled_on(const std::string& commit) const {
    const rapidjson::Document document = status();
    return document.HasMember("lastAppliedCommit") && string_at(document["lastAppliedCommit"], "id") == commit &&
           (string_at(document, "phase") == "idle" || string_at(document, "phase") == "suspended");
  }
  bool ready() const { return get("/readyz").status == 200; }

  std::string history() const { return meridian({"history", "50"}).out; }

  const fs::path& work() const { return work_; }
  const fs::path& state() const { return state_; }
  const std::string& first_commit() const { return first_commit_; }
  int port() const { return port_; }

private:
  TempDir dir_{"meridian-run"};
  fs::path bare_;
  fs::path work_;
  fs::path state_;
  fs::path secret_file_;
  fs::path token_file_;
  std::string first_commit_;
  std::unique_ptr<GitDaemon> daemon_;
  int port_ = 0;
  int runs_ = 0;
};

void bump_agent(const Fleet& fleet, const std::string& from, const std::string& to) {
  const fs::path manifest = fleet.work() / "clusters/edge-central/security-agent.yaml";
  std::string text = read_text(manifest);
  const size_t at = text.find("security-agent:" + from);
  REQUIRE(at != std::string::npos);
  text.replace(at, ("security-agent:" + from).size(), "security-agent:" + to);
  write_file(manifest, text);
}

} // namespace

TEST_CASE("a push reaches the fleet through a signed webhook; status, history, plan and metrics", "[run]") {
  Fleet fleet;
  auto run = fleet.start({"--interval", "1h"});
  INFO(run->log());
  REQUIRE(eventually([&] { return fleet.settled_on(fleet.first_commit()); }));
  CHECK(fleet.ready());
  CHECK(fleet.get("/healthz").status == 200);

  bump_agent(fleet, "v1.0.0", "v1.1.0");
  const std::string second = fleet.commit("security-agent v1.1.0");
  // The payload names a commit that does not exist: Meridian fetches the ref instead.
  const std::string payload = R"({"ref":"refs/heads/main","after":"1111111111111111111111111111111111111111"})";
  CHECK(fleet.post("/hooks/github", payload).status == 401);
  CHECK(fleet.post("/hooks/github", payload, {{"X-Hub-Signature-256", "sha256=" + hmac_sha256_hex("guess", payload)}}).status == 401);
  CHECK(fleet.applied_commit() == fleet.first_commit());
  CHECK(fleet.github_push(payload).status == 200);
  REQUIRE(eventually([&] { return fleet.settled_on(second); }));
  CHECK(run->log().find("rejected: bad x-hub-signature-256") != std::string::npos);

  const rapidjson::Document status = fleet.status();
  CHECK(string_at(status, "repository") == fleet.url());
  CHECK(string_at(status["lastFetchedCommit"], "id") == second);
  CHECK(string_at(status["lastReconcile"], "trigger") == "webhook");
  CHECK(status["drift"]["count"].GetInt() == 0);
  CHECK(status["lastError"].IsNull());
  CHECK(status["suspended"].GetBool() == false);
  REQUIRE(status["objects"].IsArray());
  CHECK(status["objects"].Size() > 0);
  for (const auto& object : status["objects"].GetArray()) {
    INFO(string_at(object, "object"));
    CHECK(string_at(object, "sync") == "Synced");
    CHECK(string_at(object, "health") == "Healthy");
  }

  // The live DaemonSet runs the new image.
  const ProcessResult live = fleet.meridian({"sim", "get", "daemonsets", "security-agent", "-n", "security", "-o", "yaml"});
  CHECK(live.out.find("security-agent:v1.1.0") != std::string::npos);

  const std::string history = fleet.history();
  CHECK(history.find("commit " + second.substr(0, 12) + "  trigger webhook  succeeded") != std::string::npos);
  CHECK(history.find("running") == std::string::npos);
  const HttpReply history_api = fleet.get("/api/v1/history?limit=5");
  REQUIRE(history_api.status == 200);
  rapidjson::Document records;
  records.Parse(history_api.body.c_str());
  REQUIRE(records.IsArray());
  REQUIRE(records.Size() >= 2);
  CHECK(string_at(records[0], "commit") == second);
  CHECK(string_at(records[0], "trigger") == "webhook");

  const HttpReply plan = fleet.get("/api/v1/plan");
  REQUIRE(plan.status == 200);
  rapidjson::Document plan_json;
  plan_json.Parse(plan.body.c_str());
  REQUIRE_FALSE(plan_json.HasParseError());
  CHECK(string_at(plan_json, "commit") == second);

  // GitLab and generic endpoints, good and missing credentials.
  CHECK(fleet.post("/hooks/gitlab", "{}", {{"X-Gitlab-Token", secret}, {"X-Gitlab-Event", "Push Hook"}}).status == 200);
  CHECK(fleet.post("/hooks/gitlab", "{}", {{"X-Gitlab-Token", "nope"}}).status == 401);
  CHECK(fleet.post("/hooks/generic", "{}", {{"X-Meridian-Signature", "sha256=" + hmac_sha256_hex(secret, "{}")}}).status == 200);
  CHECK(fleet.post("/hooks/generic", "{}").status == 401);

  const HttpReply metrics = fleet.get("/metrics");
  REQUIRE(metrics.status == 200);
  const PromText parsed = parse_prometheus(metrics.body);
  CHECK(parsed.value("meridian_reconcile_total", {{"result", "succeeded"}}) >= 2);
  CHECK(parsed.value("meridian_reconcile_duration_seconds_count", {{"result", "succeeded"}}) >= 2);
  CHECK(parsed.value("meridian_git_fetch_duration_seconds_count") >= 2);
  CHECK(parsed.value("meridian_git_fetch_errors_total") == 0);
  CHECK(parsed.value("meridian_drift_objects") == 0);
  CHECK(parsed.value("meridian_last_applied_commit_timestamp_seconds") > 1e9);
  CHECK(parsed.sum("meridian_objects") == status["objects"].Size());
  CHECK(parsed.sum("meridian_objects", {{"sync", "Synced"}, {"health", "Healthy"}}) == status["objects"].Size());
  CHECK(parsed.value("meridian_webhook_requests_total", {{"endpoint", "github"}, {"result", "accepted"}}) == 1);
  CHECK(parsed.value("meridian_webhook_requests_total", {{"endpoint", "github"}, {"result", "unauthorized"}}) == 2);
  CHECK(parsed.value("meridian_webhook_requests_total", {{"endpoint", "gitlab"}, {"result", "unauthorized"}}) == 1);

  CHECK(run->stop(SIGTERM) == 0);
  CHECK(run->log().find("meridian run: stopped") != std::string::npos);
}

TEST_CASE("an invalid commit is not applied and the last good commit stays in force", "[run]") {
  Fleet fleet;
  auto run = fleet.start({"--interval", "1h"});
  INFO(run->log());
  REQUIRE(eventually([&] { return fleet.settled_on(fleet.first_commit()); }));

  write_file(fleet.work() / "nodepools-extra.yaml", R"(apiVersion: meridian.io/v1alpha1
kind: NodePool
metadata:
  name: edge-broken
spec:
  cluster: edge-central
  region: cn-hangzhou
  type: edge
  instanceTypes: [ecs.g7.large]
  desiredSize: -1
)");
  bump_agent(fleet, "v1.0.0", "v9.9.9");
  const std::string invalid = fleet.commit("an invalid node pool and an image bump");
  CHECK(fleet.github_push("{}").status == 200);
  // invalidCommit is published while the reconcile still re-plans the last good commit; the
  // reconcile's result follows when it ends.
  REQUIRE(eventually([&] {
    const rapidjson::Document current = fleet.status();
    return string_at(current, "invalidCommit") == invalid && string_at(current["lastReconcile"], "result") == "invalid";
  }));
  const rapidjson::Document status = fleet.status();
  CHECK(string_at(status["lastAppliedCommit"], "id") == fleet.first_commit());
  CHECK(string_at(status["lastReconcile"], "result") == "invalid");
  CHECK(string_at(status, "lastError").find("desiredSize") != std::string::npos);
  // Nothing of the invalid commit reached the fleet, not even its valid part.
  const ProcessResult live = fleet.meridian({"sim", "get", "daemonsets", "security-agent", "-n", "security", "-o", "yaml"});
  CHECK(live.out.find("security-agent:v1.0.0") != std::string::npos);
  CHECK(fleet.history().find(invalid.substr(0, 12)) == std::string::npos);
  const PromText metrics = parse_prometheus(fleet.get("/metrics").body);
  CHECK(metrics.value("meridian_reconcile_total", {{"result", "invalid"}}) >= 1);
  CHECK(metrics.value("meridian_invalid_commit") == 1);

  // The fix is applied and clears the error.
  fs::remove(fleet.work() / "nodepools-extra.yaml");
  const std::string fixed = fleet.commit("drop the broken pool");
  CHECK(fleet.post("/hooks/generic", "", {{"X-Meridian-Signature", "sha256=" + hmac_sha256_hex(secret, "")}}).status == 200);
  REQUIRE(eventually([&] { return fleet.settled_on(fixed); }));
  const rapidjson::Document after = fleet.status();
  CHECK(after["invalidCommit"].IsNull());
  CHECK(after["lastError"].IsNull());
  CHECK(fleet.meridian({"sim", "get", "daemonsets", "security-agent", "-n", "security", "-o", "yaml"}).out.find("v9.9.9") !=
        std::string::npos);
  CHECK(run->stop(SIGTERM) == 0);
}

TEST_CASE("drift made behind Meridian's back is reported, then healed with --self-heal", "[run]") {
  Fleet fleet;
  {
    auto run = fleet.start({"--interval", "1s"});
    INFO(run->log());
    REQUIRE(eventually([&] { return fleet.settled_on(fleet.first_commit()); }));
    const ProcessResult deleted = fleet.meridian({"sim", "delete", "daemonsets", "security-agent", "-n", "security"});
    INFO(deleted.err);
    REQUIRE(deleted.status == 0);
    REQUIRE(eventually([&] { return fleet.status()["drift"]["count"].GetInt() >= 1; }, 30s));
    const rapidjson::Document status = fleet.status();
    bool reported = false;
    for (const auto& drift : status["drift"]["objects"].GetArray())
      reported = reported || (string_at(drift, "object") == "DaemonSet/security/security-agent" && string_at(drift, "change") == "missing");
    CHECK(reported);
    CHECK(parse_prometheus(fleet.get("/metrics").body).value("meridian_drift_objects") >= 1);
    CHECK(run->log().find("drift: ") != std::string::npos);
    // Without --self-heal, nothing was corrected.
    CHECK(fleet.history().find("self-heal") == std::string::npos);
    CHECK(run->stop(SIGTERM) == 0);
  }
  auto run = fleet.start({"--interval", "1s", "--self-heal"});
  INFO(run->log());
  REQUIRE(eventually([&] { return fleet.history().find("trigger self-heal  succeeded") != std::string::npos; }));
  REQUIRE(eventually([&] {
    const rapidjson::Document status = fleet.status();
    return status.HasMember("drift") && status["drift"]["count"].GetInt() == 0 && string_at(status["lastReconcile"], "result") == "succeeded";
  }));
  const ProcessResult live = fleet.meridian({"sim", "get", "daemonsets", "security-agent", "-n", "security", "-o", "yaml"});
  CHECK(live.status == 0);
  CHECK(live.out.find("security-agent:v1.0.0") != std::string::npos);
  CHECK(run->stop(SIGTERM) == 0);
}

TEST_CASE("SIGTERM mid-rollout leaves a consistent state and history; a restart finishes the rollout", "[run]") {
  Fleet fleet;
  // Enough objects that the first rollout takes a while on the simulator.
  std::string configmaps;
  for (int index = 0; index < 400; ++index)
    configmaps += fmt::format("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-{:03}\n  namespace: security\n"
                              "data:\n  index: \"{}\"\n", index, index);
  write_file(fleet.work() / "clusters/edge-central/settings.yaml", configmaps);
  fleet.commit("400 config maps");
  auto run = fleet.start({"--interval", "1h"});
  INFO(run->log());
  // Stop as soon as the first rollout has started changing the fleet.
  size_t done = 0, total = 0;
  REQUIRE(eventually([&] {
    const rapidjson::Document status = fleet.status();
    if (!status.HasMember("rollout") || !status["rollout"]["active"].GetBool())
      return false;
    done = status["rollout"]["progress"]["done"].GetUint64();
    total = status["rollout"]["progress"]["total"].GetUint64();
    return done >= 1;
  }, 30s));
  CHECK(run->stop(SIGTERM) == 0);
  CHECK(run->log().find("SIGTERM: stopping after the current object") != std::string::npos);
  const std::string history = fleet.history();
  INFO("stopped at " << done << "/" << total << "\n" << history);
  CHECK(history.find("running") == std::string::npos);
  if (total - done > 100)
    CHECK(history.find("trigger schedule  interrupted") != std::string::npos);
  else
    CHECK((history.find("interrupted") != std::string::npos || history.find("succeeded") != std::string::npos));

  // A restart plans against the live fleet and finishes what is left.
  const ProcessResult once = fleet.meridian({"run", "--repo", fleet.url(), "--once"});
  INFO(once.err);
  CHECK(once.status == 0);
  const std::string after = fleet.history();
  CHECK(after.find("running") == std::string::npos);
  // Either a second apply finished the rest, or the stop came after the last object had been
  // written (only its health wait was cut short) and the restart found the fleet in sync.
  const bool finished = after.find("succeeded") != std::string::npos;
  const bool in_sync = once.err.find("is in sync, nothing to apply") != std::string::npos;
  CHECK((finished || in_sync));
  const ProcessResult plan = fleet.meridian({"plan", "--repo", fleet.url(), "--detailed-exitcode", "--no-color"});
  INFO(plan.out << plan.err);
  CHECK(plan.status == 0); // no changes left
}

TEST_CASE("suspend and resume, through the state directory and the API", "[run]") {
  Fleet fleet;
  auto run = fleet.start({"--interval", "1s"});
  INFO(run->log());
  REQUIRE(eventually([&] { return fleet.settled_on(fleet.first_commit()); }));

  const ProcessResult suspended = fleet.meridian({"suspend", "--reason", "maintenance window"});
  INFO(suspended.err);
  REQUIRE(suspended.status == 0);
  REQUIRE(eventually([&] { return fleet.status()["suspended"].GetBool(); }, 10s));
  CHECK(string_at(fleet.status(), "suspendedReason") == "maintenance window");

  bump_agent(fleet, "v1.0.0", "v1.2.0");
  const std::string second = fleet.commit("security-agent v1.2.0");
  CHECK(fleet.github_push("{}").status == 200);
  std::this_thread::sleep_for(3s);
  CHECK(fleet.applied_commit() == fleet.first_commit());
  CHECK(parse_prometheus(fleet.get("/metrics").body).value("meridian_suspended") == 1);

  const ProcessResult resumed = fleet.meridian({"resume"});
  REQUIRE(resumed.status == 0);
  REQUIRE(eventually([&] { return fleet.settled_on(second); }));
  CHECK_FALSE(fleet.status()["suspended"].GetBool());

  CHECK(http_request(fleet.port(), "POST", "/api/v1/suspend?reason=api", "").status == 401); // no token
  CHECK(fleet.post("/api/v1/suspend?reason=api", "").status == 200);
  REQUIRE(eventually([&] { return fleet.status()["suspended"].GetBool(); }, 10s));
  CHECK(fs::exists(fleet.state() / "suspended"));
  CHECK(fleet.post("/api/v1/resume", "").status == 200);
  REQUIRE(eventually([&] { return !fleet.status()["suspended"].GetBool(); }, 10s));
  CHECK(run->stop(SIGINT) == 0);
}

// The routes of `meridian run` called in-process, then through the real HTTP server on 127.0.0.1.
#include "base/error.h"
#include "loop/api.h"
#include "loop/fleet_router.h"
#include "loop/http.h"
#include "loop/loop.h"

#include "../source/git_fixture.h"
#include "http_client.h"
#include "prometheus.h"

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <fstream>
#include <thread>

using namespace meridian;
using namespace meridian::testing;

namespace {

const std::string secret = "It's a Secret to Everybody";

const std::string api_token = "first-token";

//! An Api on a loopback listener (127.0.0.1) with a webhook secret and an API token file; `call`
//! sends Host 127.0.0.1:8080 and the token unless the headers say otherwise.
struct ApiFixture {
  explicit ApiFixture(ApiOptions options = {}) : suspend(dir.str()) {
    ReconcileLoop::declare_metrics(metrics);
    Api::declare_metrics(metrics);
    if (options.webhook_secret.empty())
      options.webhook_secret = secret;
    options.state_store_path = dir.str() + "/meridian.db";
    if (options.listen_host.empty())
      options.listen_host = "127.0.0.1";
    token_file = dir / "api-token";
    write_file(token_file, api_token + "\n");
    if (options.token_file == "none")
      options.token_file.clear();
    else if (options.token_file.empty())
      options.token_file = token_file.string();
    api = std::make_unique<Api>(options, board, metrics, triggers, suspend);
  }

  HttpResponse call(const std::string& method, const std::string& path, const std::string& body = {},
                    std::map<std::string, std::string> headers = {}) {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    headers.emplace("host", "127.0.0.1:8080");
    headers.emplace("authorization", "Bearer " + api_token);
    request.headers = std::move(headers);
    request.remote = "127.0.0.1:40000";
    return api->handle(request);
  }

  bool woken() { return triggers.wait_until(TriggerQueue::Clock::now()).has_value(); }

  TempDir dir;
  fs::path token_file;
  Metrics metrics;
  StatusBoard board;
  TriggerQueue triggers;
  SuspendFlag suspend;
  std::unique_ptr<Api> api;
};

} // namespace

TEST_CASE("webhooks: a good signature wakes the loop, a bad or missing one is 401", "[api]") {
  ApiFixture fixture;
  const std::string body = R"({"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"})";
  const std::string signature = "sha256=" + hmac_sha256_hex(secret, body);

  CHECK(fixture.call("POST", "/hooks/github", body, {{"x-hub-signature-256", signature}, {"x-github-event", "push"}}).status == 200);
  CHECK(fixture.woken());
  CHECK(fixture.call("POST", "/hooks/generic", body, {{"x-meridian-signature", signature}}).status == 200);
  CHECK(fixture.woken());
  CHECK(fixture.call("POST", "/hooks/gitlab", body, {{"x-gitlab-token", secret}, {"x-gitlab-event", "Push Hook"}}).status == 200);
  CHECK(fixture.woken());

  CHECK(fixture.call("POST", "/hooks/github", body, {{"x-hub-signature-256", "sha256=" + hmac_sha256_hex("wrong", body)}}).status == 401);
  CHECK(fixture.call("POST", "/hooks/github", body + " ", {{"x-hub-signature-256", signature}}).status == 401);
  CHECK(fixture.call("POST", "/hooks/github", body).status == 401);
  CHECK(fixture.call("POST", "/hooks/generic", body, {{"x-hub-signature-256", signature}}).status == 401); // wrong header
  CHECK(fixture.call("POST", "/hooks/gitlab", body, {{"x-gitlab-token", secret + "x"}}).status == 401);
  CHECK(fixture.call("POST", "/hooks/gitlab", body).status == 401);
  CHECK_FALSE(fixture.woken());

  CHECK(fixture.metrics.value("meridian_webhook_requests_total", {"github", "accepted"}) == 1);
  CHECK(fixture.metrics.value("meridian_webhook_requests_total", {"github", "unauthorized"}) == 3);
  CHECK(fixture.metrics.value("meridian_webhook_requests_total", {"gitlab", "unauthorized"}) == 2);
}

TEST_CASE("webhooks: ping is answered without a reconcile; wrong method and unknown hooks", "[api]") {
  ApiFixture fixture;
  const std::string body = R"({"zen":"Design for failure."})";
  const auto ping = fixture.call("POST", "/hooks/github", body,
                                 {{"x-hub-signature-256", "sha256=" + hmac_sha256_hex(secret, body)}, {"x-github-event", "ping"}});
  CHECK(ping.status == 200);
  CHECK_FALSE(fixture.woken());
  CHECK(fixture.call("GET", "/hooks/github").status == 405);
  CHECK(fixture.call("POST", "/hooks/bitbucket").status == 404);
}

TEST_CASE("webhooks: bodies over the cap are 413, bursts are 429", "[api]") {
  ApiOptions options;
  options.webhook_burst = 2;
  options.webhook_per_second = 0.001;
  ApiFixture fixture(options);
  HttpRequest large;
  large.method = "POST";
  large.path = "/hooks/generic";
  large.body_too_large = true;
  CHECK(fixture.api->handle(large).status == 413);
  const std::string body = "{}";
  const std::map<std::string, std::string> headers = {{"x-meridian-signature", "sha256=" + hmac_sha256_hex(secret, body)}};
  CHECK(fixture.call("POST", "/hooks/generic", body, headers).status == 200);
  CHECK(fixture.call("POST", "/hooks/generic", body, headers).status == 200);
  const auto limited = fixture.call("POST", "/hooks/generic", body, headers);
  CHECK(limited.status == 429);
  CHECK(limited.headers.at("Retry-After") == "1");
  CHECK(fixture.metrics.value("meridian_webhook_requests_total", {"generic", "rate_limited"}) == 1);
  CHECK(fixture.metrics.value("meridian_webhook_requests_total", {"generic", "too_large"}) == 1);
}

TEST_CASE("webhooks are refused when no secret is configured", "[api]") {
  TempDir dir;
  Metrics metrics;
  Api::declare_metrics(metrics);
  StatusBoard board;
  TriggerQueue triggers;
  SuspendFlag suspend(dir.str());
  ApiOptions options;
  options.state_store_path = dir.str() + "/meridian.db";
  Api api(options, board, metrics, triggers, suspend);
  HttpRequest request;
  request.method = "POST";
  request.path = "/hooks/generic";
  request.headers["x-meridian-signature"] = "sha256=" + hmac_sha256_hex("", "");
  CHECK(api.handle(request).status == 403);
  CHECK_FALSE(triggers.wait_until(TriggerQueue::Clock::now()));
}

TEST_CASE("status, plan, readiness, suspend and resume", "[api]") {
  ApiFixture fixture;
  CHECK(fixture.call("GET", "/healthz").status == 200);
  CHECK(fixture.call("GET", "/readyz").status == 503);
  CHECK(fixture.call("GET", "/api/v1/plan").status == 404);
  fixture.board.update([](LoopStatus& status) {
    status.repository = "git://127.0.0.1/fleet";
    status.last_reconcile = ReconcileStatus{"schedule", "succeeded", "in sync", 1, 2, 0.5, 0.125};
  });
  fixture.board.set_plan("{\"formatVersion\": 1}\n");
  CHECK(fixture.call("GET", "/readyz").status == 200);
  CHECK(fixture.call("GET", "/api/v1/plan").body == "{\"formatVersion\": 1}\n");

  const auto status = fixture.call("GET", "/api/v1/status");
  REQUIRE(status.status == 200);
  rapidjson::Document document;
  document.Parse(status.body.c_str());
  REQUIRE_FALSE(document.HasParseError());
  CHECK(std::string(document["repository"].GetString()) == "git://127.0.0.1/fleet");
  CHECK(document["suspended"].GetBool() == false);
  CHECK(document["lastAppliedCommit"].IsNull());
  CHECK(document["drift"]["count"].GetInt() == 0);
  CHECK(std::string(document["lastReconcile"]["result"].GetString()) == "succeeded");
  CHECK(document["lastReconcile"]["durationSeconds"].GetDouble() == 0.5);
  CHECK(document["lastReconcile"]["planSeconds"].GetDouble() == 0.125);

  HttpRequest suspend;
  suspend.method = "POST";
  suspend.path = "/api/v1/suspend";
  suspend.query["reason"] = "maintenance window";
  suspend.headers = {{"host", "127.0.0.1:8080"}, {"authorization", "Bearer " + api_token}};
  CHECK(fixture.api->handle(suspend).status == 200);
  REQUIRE(fixture.suspend.read());
  CHECK(fixture.suspend.read()->reason == "maintenance window");
  CHECK(fixture.call("POST", "/api/v1/resume").status == 200);
  CHECK_FALSE(fixture.suspend.read());
  CHECK(fixture.call("GET", "/api/v1/suspend").status == 405);

  const auto history = fixture.call("GET", "/api/v1/history");
  CHECK(history.status == 200);
  CHECK(trim(history.body) == "[]");
  CHECK(fixture.call("GET", "/nowhere").status == 404);
  CHECK(fixture.call("POST", "/metrics").status == 405);
}

TEST_CASE("status with objects=false leaves out the per-object lists and nothing else", "[api]") {
  ApiFixture fixture;
  fixture.board.update([](LoopStatus& status) {
    status.phase = "idle";
    status.objects.push_back({"c/apps/Deployment/ns/web", "Deployment/ns/web", "c", "cn-hangzhou", "Synced", "Healthy", ""});
    status.drift.push_back({"c//ConfigMap/ns/cfg", "ConfigMap/ns/cfg", "c", "cn-hangzhou", "changed", {"/data/key"}});
    status.last_reconcile = ReconcileStatus{"webhook", "succeeded", "in sync", 1, 2, 0.25, std::nullopt}; // a reconcile without a plan
  });
  const auto parse = [](const std::string& body) {
    auto document = std::make_unique<rapidjson::Document>();
    document->Parse(body.c_str());
    REQUIRE_FALSE(document->HasParseError());
    return document;
  };
  const auto full = parse(fixture.call("GET", "/api/v1/status").body);
  REQUIRE((*full)["objects"].Size() == 1);
  REQUIRE((*full)["drift"]["objects"].Size() == 1);

  HttpRequest request;
  request.method = "GET";
  request.path = "/api/v1/status";
  request.query["objects"] = "false";
  request.headers = {{"host", "127.0.0.1:8080"}, {"authorization", "Bearer " + api_token}};
  const HttpResponse response = fixture.api->handle(request);
  REQUIRE(response.status == 200);
  const auto summary = parse(response.body);
  CHECK_FALSE(summary->HasMember("objects"));
  CHECK_FALSE((*summary)["drift"].HasMember("objects"));
  CHECK((*summary)["drift"]["count"].GetInt() == 1);
  // Every other member is the full document's, in the same order.
  (*full).RemoveMember("objects");
  (*full)["drift"].RemoveMember("objects");
  CHECK(*full == *summary);
  CHECK(std::string((*summary)["phase"].GetString()) == "idle");
  CHECK(std::string((*summary)["lastReconcile"]["trigger"].GetString()) == "webhook");
  CHECK((*summary)["lastReconcile"]["planSeconds"].IsNull());

  request.query["objects"] = "true";
  CHECK(fixture.api->handle(request).body == fixture.call("GET", "/api/v1/status").body);
  request.query["objects"] = "no";
  const HttpResponse bad = fixture.api->handle(request);
  CHECK(bad.status == 400);
  CHECK(bad.body.find("objects=no: expected true or false") != std::string::npos);
}

TEST_CASE("control endpoints always need the bearer token; it is read again when its file changes", "[api][auth]") {
  SECTION("without --api-token-file they are refused, even on loopback") {
    ApiOptions options;
    options.token_file = "none";
    ApiFixture fixture(options);
    for (const char* path : {"/api/v1/suspend", "/api/v1/resume", "/api/v1/reconcile"})
      CHECK(fixture.call("POST", path).status == 403);
    CHECK_FALSE(fixture.suspend.read());
    CHECK(fixture.call("GET", "/api/v1/status").status == 200); // reads stay open on loopback without a token
  }
  SECTION("with one: missing, wrong, then right; rotation") {
    ApiFixture fixture;
    CHECK(fixture.call("POST", "/api/v1/suspend", "", {{"authorization", ""}}).status == 401);
    const HttpResponse wrong = fixture.call("POST", "/api/v1/suspend", "", {{"authorization", "Bearer nope"}});
    CHECK(wrong.status == 401);
    CHECK(wrong.headers.at("WWW-Authenticate") == "Bearer");
    // A captured webhook signature is no credential here (it signed a body, not this request).
    CHECK(fixture.call("POST", "/api/v1/suspend", "", {{"authorization", ""}, {"x-meridian-signature", "sha256=" + hmac_sha256_hex(secret, "")}})
              .status == 401);
    CHECK_FALSE(fixture.suspend.read());
    CHECK(fixture.call("GET", "/api/v1/status", "", {{"authorization", ""}}).status == 401); // a token file: every /api/v1/* needs it
    CHECK(fixture.call("POST", "/api/v1/suspend").status == 200);
    CHECK(fixture.suspend.read());
    write_file(fixture.token_file, "second-token\n");
    CHECK(fixture.call("POST", "/api/v1/resume").status == 401);
    CHECK(fixture.call("POST", "/api/v1/resume", "", {{"authorization", "Bearer second-token"}}).status == 200);
    CHECK_FALSE(fixture.suspend.read());
  }
}

TEST_CASE("the API answers only its own Host names, and refuses cross-site requests", "[api][auth]") {
  ApiOptions options;
  options.allowed_hosts = {"meridian.internal"};
  ApiFixture fixture(options);
  for (const char* path : {"/api/v1/status", "/api/v1/plan", "/api/v1/history", "/metrics"})
    CHECK(fixture.call("GET", path, "", {{"host", "attacker.example:8080"}}).status == 421); // DNS rebinding
  CHECK(fixture.call("GET", "/api/v1/status", "", {{"host", ""}}).status == 421);
  for (const char* host : {"127.0.0.1:8080", "localhost:8080", "meridian.internal", "[::1]:8080", "10.1.2.3:8080"})
    CHECK(fixture.call("GET", "/api/v1/status", "", {{"host", host}}).status == 200);
  CHECK(fixture.call("GET", "/healthz", "", {{"host", "attacker.example"}}).status == 200); // probes and webhooks have no Host rule
  // A form posted from another site carries its Origin: refused, token or not.
  CHECK(fixture.call("POST", "/api/v1/suspend", "", {{"origin", "https://attacker.example"}}).status == 403);
  CHECK(fixture.call("POST", "/api/v1/suspend", "", {{"origin", "null"}}).status == 403);
  CHECK_FALSE(fixture.suspend.read());
  CHECK(fixture.call("POST", "/api/v1/suspend", "", {{"origin", "http://127.0.0.1:8080"}}).status == 200);
}

TEST_CASE("off loopback, reads and /metrics need the token too", "[api][auth]") {
  ApiOptions options;
  options.loopback = false;
  options.listen_host = "0.0.0.0";
  ApiFixture fixture(options);
  for (const char* path : {"/api/v1/status", "/api/v1/history", "/metrics"}) {
    CHECK(fixture.call("GET", path, "", {{"authorization", ""}}).status == 401);
    CHECK(fixture.call("GET", path).status == 200);
  }
  CHECK(fixture.call("GET", "/healthz", "", {{"authorization", ""}}).status == 200);
  ApiOptions open;
  open.loopback = false;
  open.token_file = "none";
  ApiFixture without(open);
  CHECK(without.call("GET", "/api/v1/status").status == 403);
}

TEST_CASE("webhooks: signatures before the rate limit, per endpoint; only pushes reconcile", "[api]") {
  ApiOptions options;
  options.webhook_burst = 2;
  options.webhook_per_second = 0.001;
  ApiFixture fixture(options);
  const std::string body = R"({"ref":"refs/heads/main"})";
  const std::string signature = "sha256=" + hmac_sha256_hex(secret, body);
  for (int i = 0; i < 50; ++i) // an unsigned flood
    CHECK(fixture.call("POST", "/hooks/github", body, {{"x-github-event", "push"}}).status == 401);
  CHECK(fixture.call("POST", "/hooks/github", body, {{"x-hub-signature-256", signature}, {"x-github-event", "push"}}).status == 200);
  CHECK(fixture.woken());
  // Another source using up its own rate leaves GitHub's alone.
  for (int i = 0; i < 3; ++i)
    fixture.call("POST", "/hooks/generic", body, {{"x-meridian-signature", signature}});
  CHECK(fixture.call("POST", "/hooks/generic", body, {{"x-meridian-signature", signature}}).status == 429);
  fixture.woken();
  CHECK(fixture.call("POST", "/hooks/github", body, {{"x-hub-signature-256", signature}, {"x-github-event", "push"}}).status == 200);
  CHECK(fixture.woken());

  ApiFixture events;
  for (const char* event : {"issues", "issue_comment", "ping", ""})
    CHECK(events.call("POST", "/hooks/github", body, {{"x-hub-signature-256", signature}, {"x-github-event", event}}).status == 200);
  for (const char* event : {"Issue Hook", "Note Hook", ""})
    CHECK(events.call("POST", "/hooks/gitlab", body, {{"x-gitlab-token", secret}, {"x-gitlab-event", event}}).status == 200);
  CHECK_FALSE(events.woken());
  CHECK(events.metrics.value("meridian_webhook_requests_total", {"github", "ignored"}) == 4);
  CHECK(events.call("POST", "/hooks/gitlab", body, {{"x-gitlab-token", secret}, {"x-gitlab-event", "Tag Push Hook"}}).status == 200);
  CHECK(events.woken());
}

TEST_CASE("listen addresses", "[api]") {
  CHECK(parse_listen_address("127.0.0.1:8080").port == 8080);
  CHECK(parse_listen_address("127.0.0.1:8080").is_loopback());
  CHECK(parse_listen_address("[::1]:9000").host == "::1");
  CHECK(parse_listen_address("[::1]:9000").is_loopback());
  CHECK_FALSE(parse_listen_address("0.0.0.0:8080").is_loopback());
  CHECK_THROWS_AS(parse_listen_address("8080"), UserError);
  CHECK_THROWS_AS(parse_listen_address("127.0.0.1:"), UserError);
  CHECK_THROWS_AS(parse_listen_address("127.0.0.1:99999"), UserError);
  CHECK_THROWS_AS(parse_listen_address("127.0.0.1:80x"), UserError);
}

TEST_CASE("the HTTP server on 127.0.0.1: routes, headers, body cap", "[api][http]") {
  ApiFixture fixture;
  const int port = free_port();
  HttpServer server(ListenAddress{"127.0.0.1", port}, 1 << 20, [&](const HttpRequest& request) { return fixture.api->handle(request); });
  CHECK(server.url() == "http://127.0.0.1:" + std::to_string(port));

  const auto health = http_request(port, "GET", "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body == "ok\n");

  auto metrics = http_request(port, "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.headers["content-type"].find("text/plain; version=0.0.4") == 0);
  const auto parsed = parse_prometheus(metrics.body);
  CHECK(parsed.types.count("meridian_reconcile_total") == 1);

  const std::string body = R"({"ref":"refs/heads/main"})";
  CHECK(http_request(port, "POST", "/hooks/github", body,
                     {{"X-Hub-Signature-256", "sha256=" + hmac_sha256_hex(secret, body)}, {"X-GitHub-Event", "push"}}).status == 200);
  CHECK(fixture.woken());
  CHECK(http_request(port, "POST", "/hooks/github", body, {{"X-Hub-Signature-256", "sha256=00"}}).status == 401);
  CHECK(http_request(port, "POST", "/hooks/github", body).status == 401);
  const std::string huge((1 << 20) + 1, 'x');
  CHECK(http_request(port, "POST", "/hooks/generic", huge, {{"X-Meridian-Signature", "sha256=" + hmac_sha256_hex(secret, huge)}}).status ==
        413);
  CHECK_FALSE(fixture.woken());
  // Query strings reach the routes decoded.
  const std::vector<std::pair<std::string, std::string>> bearer = {{"Authorization", "Bearer " + api_token}};
  CHECK(http_request(port, "GET", "/api/v1/history?limit=0", "", bearer).status == 400);
  CHECK(http_request(port, "GET", "/api/v1/history?limit=5", "", bearer).status == 200);
  CHECK(http_request(port, "GET", "/api/v1/history?limit=5").status == 401);
}

TEST_CASE("a port already in use is a user error", "[api][http]") {
  const int port = free_port();
  HttpServer first(ListenAddress{"127.0.0.1", port}, 1024, [](const HttpRequest&) { return HttpResponse{}; });
  CHECK_THROWS_AS(HttpServer(ListenAddress{"127.0.0.1", port}, 1024, [](const HttpRequest&) { return HttpResponse{}; }), UserError);
}

namespace {

long long rss_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atoll(line.c_str() + 6);
  return 0;
}

//! A connection that sent `head` and then nothing.
int stalled_connection(int port, const std::string& head) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
  return fd;
}

} // namespace

TEST_CASE("slow clients hold sockets, not workers: 200 silent bodies and healthz stays fast", "[api][http]") {
  ApiFixture fixture;
  const int port = free_port();
  HttpServer server(ListenAddress{"127.0.0.1", port}, 1 << 20, [&](const HttpRequest& request) { return fixture.api->handle(request); },
                    std::chrono::milliseconds(1500));
  std::vector<int> stalled;
  for (int i = 0; i < 200; ++i)
    stalled.push_back(stalled_connection(port, "POST /hooks/generic HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n"));
  double slowest = 0;
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto health = http_request(port, "GET", "/healthz");
    slowest = std::max(slowest, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    CHECK(health.status == 200);
  }
  INFO("slowest /healthz: " << slowest << " ms");
  CHECK(slowest < 100);
  // Past the read deadline the silent ones are answered 408 and closed.
  std::this_thread::sleep_for(std::chrono::milliseconds(1800));
  char buffer[256] = {};
  const ssize_t n = recv(stalled.front(), buffer, sizeof buffer - 1, 0);
  CHECK(n > 0);
  CHECK(std::string(buffer).rfind("HTTP/1.1 408", 0) == 0);
  for (const int fd : stalled)
    close(fd);
  CHECK(http_request(port, "GET", "/healthz").status == 200);
}

TEST_CASE("bodies: over the cap refused before they are read; chunked refused; memory stays flat", "[api][http]") {
  ApiFixture fixture;
  const int port = free_port();
  HttpServer server(ListenAddress{"127.0.0.1", port}, 1 << 20, [&](const HttpRequest& request) { return fixture.api->handle(request); });
  const long long before = rss_kib();
  // Declares 500 MB and sends 64 MiB of it: answered 413 at once, none of it kept.
  const int fd = stalled_connection(port, "POST /hooks/generic HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500000000\r\n\r\n");
  const std::string chunk(1 << 20, 'x');
  for (int i = 0; i < 64; ++i)
    if (send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) <= 0)
      break;
  close(fd);
  const int asking = stalled_connection(port, "POST /hooks/generic HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500000000\r\n\r\n");
  char reply[256] = {};
  CHECK(recv(asking, reply, sizeof reply - 1, 0) > 0);
  CHECK(std::string(reply).rfind("HTTP/1.1 413", 0) == 0);
  close(asking);
  const long long growth = rss_kib() - before;
  INFO("RSS growth: " << growth << " KiB");
  CHECK(growth < 16 * 1024);
  const auto chunked = http_request(port, "POST", "/hooks/generic", "", {{"Transfer-Encoding", "chunked"}});
  CHECK(chunked.status == 411);
  CHECK(http_request(port, "GET", "/healthz").status == 200);
}

TEST_CASE("a fetch that runs past its limit makes /readyz fail", "[api]") {
  ApiOptions options;
  options.fetch_stuck_after = 60;
  ApiFixture fixture(options);
  fixture.board.update([](LoopStatus& status) {
    status.last_reconcile = ReconcileStatus{"schedule", "succeeded", "in sync", 1, 2, 0.25, std::nullopt};
    status.phase = "fetching";
    status.fetch_started = static_cast<long long>(std::time(nullptr)) - 10;
  });
  CHECK(fixture.call("GET", "/readyz").status == 200);
  fixture.board.update([](LoopStatus& status) { status.fetch_started = static_cast<long long>(std::time(nullptr)) - 600; });
  const HttpResponse stuck = fixture.call("GET", "/readyz");
  CHECK(stuck.status == 503);
  CHECK(stuck.body.rfind("not ready: a fetch has run for 6", 0) == 0);
  CHECK(fixture.call("GET", "/healthz").status == 200);
}

TEST_CASE("a client that asks to continue gets 100 Continue before it sends its body", "[api][http]") {
  ApiFixture fixture;
  const int port = free_port();
  HttpServer server(ListenAddress{"127.0.0.1", port}, 1 << 20, [&](const HttpRequest& request) { return fixture.api->handle(request); });
  const std::string body(2000, 'x');
  const int fd = stalled_connection(port, "POST /hooks/generic HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000\r\n"
                                          "Expect: 100-continue\r\n\r\n");
  char buffer[256] = {};
  REQUIRE(recv(fd, buffer, sizeof buffer - 1, 0) > 0);
  CHECK(std::string(buffer) == "HTTP/1.1 100 Continue\r\n\r\n");
  REQUIRE(send(fd, body.data(), body.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(body.size()));
  std::string reply;
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;)
    reply.append(buffer, static_cast<size_t>(n));
  close(fd);
  CHECK(reply.rfind("HTTP/1.1 401", 0) == 0); // unsigned: the handler saw the whole request
}

TEST_CASE("leader election: a standby is ready and says who leads, refuses pushes; the leader is ready after its reconcile",
          "[api][leader]") {
  std::atomic<bool> leading{false};
  ApiOptions options;
  options.standby_of = [&]() -> std::optional<std::string> {
    if (leading.load())
      return std::nullopt;
    return std::string("replica-a");
  };
  ApiFixture fixture(options);
  fixture.board.update([](LoopStatus& status) { status.leader_election = LeaderStatus{"default/meridian", "replica-b", "replica-a", false}; });

  const HttpResponse ready = fixture.call("GET", "/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.body == "ok leader=false holder=replica-a\n");
  CHECK(fixture.call("GET", "/healthz").status == 200);
  const HttpResponse status = fixture.call("GET", "/api/v1/status");
  CHECK(status.body.find(R"("leaderElection": {)") != std::string::npos);
  CHECK(status.body.find(R"("holder": "replica-a")") != std::string::npos);
  CHECK(status.body.find(R"("leader": false)") != std::string::npos);

  const std::string body = R"({"ref":"refs/heads/main"})";
  const std::string signature = "sha256=" + hmac_sha256_hex(secret, body);
  const HttpResponse push = fixture.call("POST", "/hooks/generic", body, {{"x-meridian-signature", signature}});
  CHECK(push.status == 503);
  CHECK(push.body.find("this replica is a standby (the leader is replica-a)") != std::string::npos);
  CHECK_FALSE(fixture.woken());
  CHECK(fixture.metrics.value("meridian_webhook_requests_total", {"generic", "standby"}) == 1);
  // An unsigned push is still 401: the signature is checked before leadership.
  CHECK(fixture.call("POST", "/hooks/generic", body).status == 401);

  // This replica leads: pushes wake its loop; ready once its first reconcile finished.
  leading.store(true);
  fixture.board.update([](LoopStatus& status) {
    status.leader_election->holder = "replica-b";
    status.leader_election->leader = true;
  });
  CHECK(fixture.call("POST", "/hooks/generic", body, {{"x-meridian-signature", signature}}).status == 200);
  CHECK(fixture.woken());
  CHECK(fixture.call("GET", "/readyz").status == 503);
  fixture.board.update([](LoopStatus& status) { status.last_reconcile = ReconcileStatus{"schedule", "succeeded", "", 1, 2, 1, {}}; });
  const HttpResponse leader_ready = fixture.call("GET", "/readyz");
  CHECK(leader_ready.status == 200);
  CHECK(leader_ready.body == "ok leader=true\n");
}

TEST_CASE("without leader election, status says so and readiness is unchanged", "[api][leader]") {
  ApiFixture fixture;
  CHECK(fixture.call("GET", "/api/v1/status").body.find(R"("leaderElection": null)") != std::string::npos);
  fixture.board.update([](LoopStatus& status) { status.last_reconcile = ReconcileStatus{"schedule", "succeeded", "", 1, 2, 1, {}}; });
  CHECK(fixture.call("GET", "/readyz").body == "ok\n");
}

TEST_CASE("repository identities: the same repository however a payload spells it", "[api][fleets]") {
  CHECK(repository_identity("git@github.com:Org/fleet.git") == "github.com/Org/fleet");
  CHECK(repository_identity("https://github.com/Org/fleet") == "github.com/Org/fleet");
  CHECK(repository_identity("ssh://git@GitHub.com:22/Org/fleet.git/") == "github.com/Org/fleet");
  CHECK(repository_identity("https://token@github.com/Org/fleet.git") == "github.com/Org/fleet");
  CHECK(repository_identity("file:///srv/fleet") == "/srv/fleet");
  CHECK(repository_identity("/srv/fleet.git") == "/srv/fleet");
  CHECK(repository_identity("/srv/fleet/") == "/srv/fleet");
  CHECK(repository_identity("https://github.com/Org/other") != repository_identity("https://github.com/Org/fleet"));
  CHECK(repository_identity("https://gitlab.com/Org/fleet") != repository_identity("https://github.com/Org/fleet"));
}

// The routes of `meridian run` called in-process, then through the real HTTP server on 127.0.0.1.
#include "base/error.h"
#include "loop/api.h"
#include "loop/http.h"
#include "loop/loop.h"

#include "../source/git_fixture.h"
#include "http_client.h"
#include "prometheus.h"

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

using namespace meridian;
using namespace meridian::testing;

namespace {

const std::string secret = "It's a Secret to Everybody";

struct ApiFixture {
  explicit ApiFixture(ApiOptions options = {}) : suspend(dir.str()) {
    ReconcileLoop::declare_metrics(metrics);
    Api::declare_metrics(metrics);
    if (options.webhook_secret.empty())
      options.webhook_secret = secret;
    options.state_store_path = dir.str() + "/meridian.db";
    api = std::make_unique<Api>(options, board, metrics, triggers, suspend);
  }

  HttpResponse call(const std::string& method, const std::string& path, const std::string& body = {},
                    std::map<std::string, std::string> headers = {}) {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    request.headers = std::move(headers);
    request.remote = "127.0.0.1:40000";
    return api->handle(request);
  }

  bool woken() { return triggers.wait_until(TriggerQueue::Clock::now()).has_value(); }

  TempDir dir;
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

  CHECK(fixture.call("POST", "/hooks/github", body, {{"x-hub-signature-256", signature}}).status == 200);
  CHECK(fixture.woken());
  CHECK(fixture.call("POST", "/hooks/generic", body, {{"x-meridian-signature", signature}}).status == 200);
  CHECK(fixture.woken());
  CHECK(fixture.call("POST", "/hooks/gitlab", body, {{"x-gitlab-token", secret}}).status == 200);
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

TEST_CASE("control endpoints on a non-loopback listener need a signature", "[api]") {
  ApiOptions options;
  options.protect_control = true;
  ApiFixture fixture(options);
  CHECK(fixture.call("POST", "/api/v1/suspend").status == 401);
  CHECK_FALSE(fixture.suspend.read());
  CHECK(fixture.call("POST", "/api/v1/suspend", "", {{"x-meridian-signature", "sha256=" + hmac_sha256_hex(secret, "")}}).status == 200);
  CHECK(fixture.suspend.read());
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
  CHECK(http_request(port, "POST", "/hooks/github", body, {{"X-Hub-Signature-256", "sha256=" + hmac_sha256_hex(secret, body)}}).status ==
        200);
  CHECK(fixture.woken());
  CHECK(http_request(port, "POST", "/hooks/github", body, {{"X-Hub-Signature-256", "sha256=00"}}).status == 401);
  CHECK(http_request(port, "POST", "/hooks/github", body).status == 401);
  const std::string huge((1 << 20) + 1, 'x');
  CHECK(http_request(port, "POST", "/hooks/generic", huge, {{"X-Meridian-Signature", "sha256=" + hmac_sha256_hex(secret, huge)}}).status ==
        413);
  CHECK_FALSE(fixture.woken());
  // Query strings reach the routes decoded.
  CHECK(http_request(port, "GET", "/api/v1/history?limit=0").status == 400);
  CHECK(http_request(port, "GET", "/api/v1/history?limit=5").status == 200);
}

TEST_CASE("a port already in use is a user error", "[api][http]") {
  const int port = free_port();
  HttpServer first(ListenAddress{"127.0.0.1", port}, 1024, [](const HttpRequest&) { return HttpResponse{}; });
  CHECK_THROWS_AS(HttpServer(ListenAddress{"127.0.0.1", port}, 1024, [](const HttpRequest&) { return HttpResponse{}; }), UserError);
}

#include "loop/api.h"

#include "loop/log.h"
#include "state/store.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>

namespace meridian {
namespace {

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void string(Writer& writer, const char* name, const std::string& value) {
  writer.Key(name);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

std::string render_history(const std::vector<ApplyRecord>& records) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartArray();
  for (const ApplyRecord& record : records) {
    writer.StartObject();
    writer.Key("id");
    writer.Int64(record.id);
    string(writer, "repository", record.repository);
    string(writer, "commit", record.commit);
    string(writer, "trigger", record.trigger);
    string(writer, "started", record.started > 0 ? format_utc(record.started) : "");
    string(writer, "finished", record.finished > 0 ? format_utc(record.finished) : "");
    string(writer, "result", record.result);
    string(writer, "summary", record.summary);
    writer.Key("objects");
    writer.StartArray();
    for (const ObjectResult& object : record.objects) {
      writer.StartObject();
      string(writer, "key", object.key);
      string(writer, "object", object.display);
      string(writer, "cluster", object.cluster);
      string(writer, "region", object.region);
      string(writer, "action", object.action);
      string(writer, "result", object.result);
      string(writer, "message", object.message);
      writer.EndObject();
    }
    writer.EndArray();
    writer.EndObject();
  }
  writer.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

HttpResponse json(int status, std::string body) { return {status, "application/json", std::move(body), {}}; }

HttpResponse text(int status, std::string body) { return {status, "text/plain; charset=utf-8", std::move(body), {}}; }

HttpResponse method_not_allowed(const char* allowed) {
  HttpResponse response = json(405, json_error(std::string("method not allowed, use ") + allowed));
  response.headers["Allow"] = allowed;
  return response;
}

std::string peer(const HttpRequest& request) { return request.remote.empty() ? "unknown peer" : request.remote; }

} // namespace

std::string json_error(std::string_view message) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("error");
  writer.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

Api::Api(ApiOptions options, StatusBoard& board, Metrics& metrics, TriggerQueue& triggers, const SuspendFlag& suspend)
    : options_(std::move(options)), board_(board), metrics_(metrics), triggers_(triggers), suspend_(suspend),
      limiter_(options_.webhook_burst, options_.webhook_per_second) {
  // OpenSSL sets its MAC machinery up on first use (tens of milliseconds of allocation): at start,
  // not while the first push is waiting.
  if (!options_.webhook_secret.empty())
    (void)verify_hmac_signature(options_.webhook_secret, "", "sha256=" + std::string(64, '0'));
}

Api::~Api() = default;

void Api::declare_metrics(Metrics& metrics) {
  metrics.declare("meridian_webhook_requests_total",
                  "Webhook requests by endpoint and result (accepted, ignored, unauthorized, too_large, rate_limited, disabled).",
                  MetricType::counter, {"endpoint", "result"});
  for (const char* endpoint : {"generic", "github", "gitlab"})
    for (const char* result : {"accepted", "unauthorized"})
      metrics.touch("meridian_webhook_requests_total", {endpoint, result});
}

HttpResponse Api::handle(const HttpRequest& request) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (path.rfind("/hooks/", 0) == 0) {
    const std::string endpoint = path.substr(7);
    if (endpoint != "github" && endpoint != "gitlab" && endpoint != "generic")
      return json(404, json_error("no such webhook endpoint, expected /hooks/github, /hooks/gitlab or /hooks/generic"));
    if (request.method != "POST")
      return method_not_allowed("POST");
    return webhook(endpoint, request);
  }
  if (path == "/api/v1/suspend" || path == "/api/v1/resume" || path == "/api/v1/reconcile") {
    if (request.method != "POST")
      return method_not_allowed("POST");
    return control(request);
  }
  const bool known = path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/api/v1/status" ||
                     path == "/api/v1/history" || path == "/api/v1/plan";
  if (!known)
    return json(404, json_error("not found"));
  if (!get)
    return method_not_allowed("GET");
  if (path == "/healthz")
    return text(200, "ok\n");
  if (path == "/readyz")
    return ready();
  if (path == "/metrics")
    return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(), {}};
  if (path == "/api/v1/status") {
    const auto objects = request.query.find("objects");
    if (objects != request.query.end() && objects->second != "true" && objects->second != "false")
      return json(400, json_error(fmt::format("objects={}: expected true or false", objects->second)));
    return json(200, objects != request.query.end() && objects->second == "false" ? board_.status_summary_json() : board_.status_json());
  }
  if (path == "/api/v1/history")
    return history(request);
  std::string plan = board_.plan();
  if (plan.empty())
    return json(404, json_error("no plan yet: the first reconcile has not planned"));
  return json(200, std::move(plan));
}

HttpResponse Api::webhook(const std::string& endpoint, const HttpRequest& request) {
  const auto answer = [&](int status, const char* result, std::string body) {
    metrics_.add("meridian_webhook_requests_total", {endpoint, result});
    return json(status, std::move(body));
  };
  if (options_.webhook_secret.empty())
    return answer(403, "disabled", json_error("webhooks are disabled: start meridian run with --webhook-secret-file"));
  if (request.body_too_large)
    return answer(413, "too_large", json_error(fmt::format("body larger than {} bytes", options_.body_limit)));
  if (!limiter_.take()) {
    HttpResponse response = answer(429, "rate_limited", json_error("too many webhook requests, retry later"));
    response.headers["Retry-After"] = "1";
    return response;
  }
  std::string header_name = "x-meridian-signature";
  if (endpoint == "github")
    header_name = "x-hub-signature-256";
  else if (endpoint == "gitlab")
    header_name = "x-gitlab-token";
  const std::string claimed = request.header(header_name);
  const bool valid = endpoint == "gitlab" ? verify_token(options_.webhook_secret, claimed)
                                          : verify_hmac_signature(options_.webhook_secret, request.body, claimed);
  if (!valid) {
    log_event("webhook /hooks/{} from {}: rejected: {} {}", endpoint, peer(request), claimed.empty() ? "missing" : "bad",
              header_name);
    return answer(401, "unauthorized", json_error(fmt::format("{} {}", claimed.empty() ? "missing" : "bad", header_name)));
  }
  // GitHub sends a ping when a hook is created: nothing was pushed.
  if (endpoint == "github" && request.header("x-github-event") == "ping")
    return answer(200, "ignored", "{\"accepted\":true,\"reconcile\":false}\n");
  triggers_.post(TriggerKind::webhook);
  const bool suspended = suspend_.read().has_value();
  log_event("webhook /hooks/{} from {}: accepted{}", endpoint, peer(request), suspended ? " (suspended: no reconcile until resumed)" : "");
  return answer(200, "accepted", fmt::format("{{\"accepted\":true,\"reconcile\":{}}}\n", suspended ? "false" : "true"));
}

HttpResponse Api::control(const HttpRequest& request) {
  if (options_.protect_control) {
    if (options_.webhook_secret.empty())
      return json(403, json_error("control endpoints on a non-loopback listener need --webhook-secret-file"));
    if (!verify_hmac_signature(options_.webhook_secret, request.body, request.header("x-meridian-signature"))) {
      log_event("{} from {}: rejected: bad or missing x-meridian-signature", request.path, peer(request));
      return json(401, json_error("bad or missing x-meridian-signature"));
    }
  }
  if (request.path == "/api/v1/reconcile") {
    triggers_.post(TriggerKind::manual);
    log_event("reconcile requested by {}", peer(request));
    return json(200, "{\"accepted\":true}\n");
  }
  if (request.path == "/api/v1/suspend") {
    const auto reason = request.query.find("reason");
    const std::string why = reason != request.query.end() && !reason->second.empty() ? reason->second : "suspended through the API";
    suspend_.suspend(why);
    log_event("suspended by {}: {}", peer(request), why);
    triggers_.post(TriggerKind::manual);
    return json(200, "{\"suspended\":true}\n");
  }
  const bool was_suspended = suspend_.resume();
  log_event("resumed by {}{}", peer(request), was_suspended ? "" : " (was not suspended)");
  triggers_.post(TriggerKind::resume);
  return json(200, "{\"suspended\":false}\n");
}

HttpResponse Api::history(const HttpRequest& request) {
  size_t limit = 20;
  if (const auto found = request.query.find("limit"); found != request.query.end()) {
    const std::string& value = found->second;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), limit);
    if (error != std::errc() || end != value.data() + value.size() || limit == 0 || limit > 1000)
      return json(400, json_error("limit: expected a number from 1 to 1000"));
  }
  try {
    const std::lock_guard lock(store_mutex_);
    if (!store_)
      store_ = std::make_unique<StateStore>(options_.state_store_path);
    return json(200, render_history(store_->history(limit)));
  } catch (const std::exception& error) {
    store_.reset();
    return json(503, json_error(error.what()));
  }
}

bool Api::store_reachable() {
  try {
    const std::lock_guard lock(store_mutex_);
    if (!store_)
      store_ = std::make_unique<StateStore>(options_.state_store_path);
    store_->history(1);
    return true;
  } catch (const std::exception&) {
    const std::lock_guard lock(store_mutex_);
    store_.reset();
    return false;
  }
}

HttpResponse Api::ready() {
  if (!board_.snapshot().last_reconcile)
    return text(503, "not ready: the first reconcile has not finished\n");
  if (!store_reachable())
    return text(503, "not ready: the state store does not answer\n");
  return text(200, "ok\n");
}

} // namespace meridian

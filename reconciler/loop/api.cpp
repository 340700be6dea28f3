#include "loop/api.h"

#include "base/log.h"
#include "state/store.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace meridian {
namespace {

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void string(Writer& writer, const char* name, const std::string& value) {
  writer.Key(name);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
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
    string(writer, "result", std::string(to_string(record.result)));
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
      string(writer, "result", std::string(to_string(object.result)));
      string(writer, "message", object.message);
      writer.EndObject();
    }
    writer.EndArray();
    writer.EndObject();
  }
  writer.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

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
    : options_(std::move(options)), board_(board), metrics_(metrics), triggers_(triggers), suspend_(suspend) {
  for (const char* endpoint : {"generic", "github", "gitlab"})
    limiters_[endpoint] = std::make_unique<TokenBucket>(options_.webhook_burst, options_.webhook_per_second);
  // OpenSSL sets its MAC machinery up on first use (tens of milliseconds of allocation): at start,
  // not while the first push is waiting.
  if (!options_.webhook_secret.empty())
    (void)verify_hmac_signature(options_.webhook_secret, "", "sha256=" + std::string(64, '0'));
}

Api::~Api() = default;

void Api::declare_metrics(Metrics& metrics) {
  metrics.declare("meridian_webhook_requests_total",
                  "Webhook requests by endpoint and result (accepted, ignored, unauthorized, too_large, rate_limited, disabled, standby).",
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
  const bool control_path = path == "/api/v1/suspend" || path == "/api/v1/resume" || path == "/api/v1/reconcile";
  if (path.rfind("/api/v1/", 0) == 0 || path == "/metrics") {
    const bool token_configured = !options_.token_file.empty();
    const bool needs_token = path == "/metrics" ? !options_.loopback : control_path || token_configured || !options_.loopback;
    if (auto refused = refusal(request, needs_token))
      return std::move(*refused);
  }
  if (control_path) {
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
  if (path == "/metrics") {
    metrics_.collect();
    return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(), {}};
  }
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
  std::string header_name = "x-meridian-signature";
  if (endpoint == "github")
    header_name = "x-hub-signature-256";
  else if (endpoint == "gitlab")
    header_name = "x-gitlab-token";
  const std::string claimed = request.header(header_name);
  const bool valid = endpoint == "gitlab" ? verify_token(options_.webhook_secret, claimed)
                                          : verify_hmac_signature(options_.webhook_secret, request.body, claimed);
  if (!valid) {
    log_warn("webhook /hooks/{} from {}: rejected: {} {}", endpoint, peer(request), claimed.empty() ? "missing" : "bad",
              header_name);
    return answer(401, "unauthorized", json_error(fmt::format("{} {}", claimed.empty() ? "missing" : "bad", header_name)));
  }
  // Only signed requests count against the rate, each endpoint its own: an unsigned flood, or one
  // source's, never makes a valid push wait.
  if (!limiters_.at(endpoint)->take()) {
    HttpResponse response = answer(429, "rate_limited", json_error("too many webhook requests, retry later"));
    response.headers["Retry-After"] = "1";
    return response;
  }
  // Only pushes (and tag pushes) move a ref: issues, comments, pings... are answered and ignored.
  const std::string event = endpoint == "github" ? request.header("x-github-event") : request.header("x-gitlab-event");
  const bool push = endpoint == "generic" || (endpoint == "github" && event == "push") ||
                    (endpoint == "gitlab" && (event == "Push Hook" || event == "Tag Push Hook"));
  if (!push) {
    log_event("webhook /hooks/{} from {}: ignored: event \"{}\" is not a push", endpoint, peer(request), event);
    return answer(200, "ignored", "{\"accepted\":true,\"reconcile\":false}\n");
  }
  if (options_.standby_of) {
    if (const auto leader = options_.standby_of())
      return answer(503, "standby",
                    json_error(fmt::format("this replica is a standby (the leader is {}): the push is not reconciled here; the "
                                           "leader fetches at its next interval",
                                           leader->empty() ? "not known yet" : *leader)));
  }
  triggers_.post(TriggerKind::webhook);
  const bool suspended = suspend_.read().has_value();
  log_event("webhook /hooks/{} from {}: accepted{}", endpoint, peer(request), suspended ? " (suspended: no reconcile until resumed)" : "");
  return answer(200, "accepted", fmt::format("{{\"accepted\":true,\"reconcile\":{}}}\n", suspended ? "false" : "true"));
}

// The host of a Host or Origin value, without its port (and brackets).
static std::string_view host_part(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? std::string_view() : host.substr(1, close - 1);
  }
  const size_t colon = host.find(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

// An address, not a name: DNS rebinding needs a name it controls to point at us.
static bool is_ip_literal(std::string_view host) {
  if (host.find(':') != std::string_view::npos)
    return true; // IPv6
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos;
}

bool Api::host_allowed(std::string_view host) const {
  const std::string_view name = host_part(host);
  if (name.empty())
    return false;
  if (name == "localhost" || name == options_.listen_host || is_ip_literal(name))
    return true;
  return std::find(options_.allowed_hosts.begin(), options_.allowed_hosts.end(), name) != options_.allowed_hosts.end();
}

std::string Api::current_token() {
  struct stat info {};
  if (::stat(options_.token_file.c_str(), &info) != 0)
    return "";
  const std::string stamp = fmt::format("{}:{}:{}.{}", info.st_ino, info.st_size, info.st_mtim.tv_sec, info.st_mtim.tv_nsec);
  const std::lock_guard lock(token_mutex_);
  if (stamp != token_stamp_) {
    std::ifstream file(options_.token_file, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    std::string token = text.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
      token.pop_back();
    token_ = token;
    token_stamp_ = stamp;
  }
  return token_;
}

std::optional<HttpResponse> Api::refusal(const HttpRequest& request, bool needs_token) {
  if (!host_allowed(request.header("host"))) {
    log_warn("{} from {}: refused: Host \"{}\" is not this server", request.path, peer(request), request.header("host"));
    return json(421, json_error("Host is not an address or name of this server (add it with --api-host)"));
  }
  if (const std::string origin = request.header("origin"); !origin.empty()) {
    const size_t scheme = origin.find("://");
    if (origin == "null" || scheme == std::string::npos || !host_allowed(std::string_view(origin).substr(scheme + 3))) {
      log_warn("{} from {}: refused: Origin \"{}\"", request.path, peer(request), origin);
      return json(403, json_error("cross-origin requests are refused"));
    }
  }
  if (!needs_token)
    return std::nullopt;
  if (options_.token_file.empty())
    return json(403, json_error(options_.loopback ? "control endpoints need a token: start meridian run with --api-token-file"
                                                  : "this listener is not loopback: start meridian run with --api-token-file"));
  const std::string token = current_token();
  const std::string header = request.header("authorization");
  const std::string_view claimed = header.rfind("Bearer ", 0) == 0 ? std::string_view(header).substr(7) : std::string_view();
  if (token.empty() || !verify_token(token, claimed)) {
    log_warn("{} from {}: rejected: {} bearer token", request.path, peer(request), claimed.empty() ? "missing" : "bad");
    HttpResponse response = json(401, json_error(fmt::format("{} bearer token", claimed.empty() ? "missing" : "bad")));
    response.headers["WWW-Authenticate"] = "Bearer";
    return response;
  }
  return std::nullopt;
}

HttpResponse Api::control(const HttpRequest& request) {
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
  const LoopStatus status = board_.snapshot();
  const long long now = static_cast<long long>(std::time(nullptr));
  if (status.fetch_started > 0 && now - status.fetch_started > options_.fetch_stuck_after)
    return text(503, fmt::format("not ready: a fetch has run for {}s\n", now - status.fetch_started));
  // A standby is ready (as controller-runtime's replicas are): it serves the API, and a Deployment's
  // rolling update waits for every new replica to become ready, standbys included.
  if (status.leader_election && !status.leader_election->leader) {
    if (!store_reachable())
      return text(503, "not ready: the state store does not answer\n");
    const std::string& holder = status.leader_election->holder;
    return text(200, fmt::format("ok leader=false holder={}\n", holder.empty() ? "none" : holder));
  }
  if (!status.last_reconcile)
    return text(503, "not ready: the first reconcile has not finished\n");
  if (!store_reachable())
    return text(503, "not ready: the state store does not answer\n");
  return text(200, status.leader_election ? "ok leader=true\n" : "ok\n");
}

} // namespace meridian

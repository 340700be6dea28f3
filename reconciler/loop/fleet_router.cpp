#include "loop/fleet_router.h"

#include "base/json.h"
#include "base/log.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace meridian {
namespace {

HttpResponse json_response(int status, std::string body) { return {status, "application/json", std::move(body), {}}; }

// The repository URLs a push payload names (GitHub, GitLab, or a generic {"repository": URL}).
std::vector<std::string> payload_repositories(const std::string& body) {
  std::vector<std::string> urls;
  JsonDocument document;
  if (parse_json(body, document) || !document.IsObject())
    return urls;
  const auto add = [&](const Json* object, std::initializer_list<const char*> keys) {
    if (object == nullptr || !object->IsObject())
      return;
    for (const char* key : keys)
      if (const std::string_view url = string_member(*object, key); !url.empty())
        urls.emplace_back(url);
  };
  add(find_member(document, "repository"), {"clone_url", "ssh_url", "html_url", "git_url", "url", "git_http_url", "git_ssh_url"});
  add(find_member(document, "project"), {"git_http_url", "git_ssh_url", "web_url"});
  if (const std::string_view url = string_member(document, "repository"); !url.empty())
    urls.emplace_back(url);
  return urls;
}

} // namespace

std::string repository_identity(std::string_view url) {
  std::string text(url);
  while (!text.empty() && (text.back() == '/' || std::isspace(static_cast<unsigned char>(text.back()))))
    text.pop_back();
  if (text.size() > 4 && text.ends_with(".git"))
    text.resize(text.size() - 4);
  std::string host;
  std::string path;
  if (const size_t scheme = text.find("://"); scheme != std::string::npos) {
    std::string rest = text.substr(scheme + 3);
    const size_t slash = rest.find('/');
    host = rest.substr(0, slash);
    path = slash == std::string::npos ? "" : rest.substr(slash);
  } else if (const size_t colon = text.find(':'); colon != std::string::npos && text.find('/') > colon && text.front() != '/') {
    host = text.substr(0, colon); // scp-like user@host:path
    path = "/" + text.substr(colon + 1);
  } else {
    path = text;
  }
  if (const size_t at = host.rfind('@'); at != std::string::npos)
    host = host.substr(at + 1);
  if (const size_t port = host.rfind(':'); port != std::string::npos && host.find(']') == std::string::npos)
    host = host.substr(0, port);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  return host + path;
}

FleetRouter::FleetRouter(std::vector<RoutedFleet> fleets, Metrics& process_metrics)
    : fleets_(std::move(fleets)), process_metrics_(process_metrics) {}

HttpResponse FleetRouter::handle(const HttpRequest& request) {
  const std::string& path = request.path;
  if (path == "/healthz")
    return fleets_.front().api->handle(request);
  if (path == "/readyz") {
    std::vector<std::string> waiting;
    for (const RoutedFleet& fleet : fleets_)
      if (fleet.api->handle(request).status != 200)
        waiting.push_back(fleet.name);
    if (waiting.empty())
      return {200, "text/plain; charset=utf-8", "ok\n", {}};
    return {503, "text/plain; charset=utf-8", fmt::format("not ready: {}\n", fmt::join(waiting, ", ")), {}};
  }
  if (path == "/metrics") {
    HttpResponse first = fleets_.front().api->handle(request); // its Host and token checks
    if (first.status != 200)
      return first;
    process_metrics_.collect();
    std::vector<std::pair<std::string, const Metrics*>> registries{{"", &process_metrics_}};
    for (const RoutedFleet& fleet : fleets_)
      registries.emplace_back(fleet.name, fleet.metrics);
    return {200, "text/plain; version=0.0.4; charset=utf-8", Metrics::render_merged(registries, "fleet"), {}};
  }
  if (path == "/api/v1/status") {
    std::string body = "{\"fleets\": {";
    for (size_t index = 0; index < fleets_.size(); ++index) {
      HttpResponse one = fleets_[index].api->handle(request);
      if (one.status != 200)
        return one;
      while (!one.body.empty() && one.body.back() == '\n')
        one.body.pop_back();
      body += fmt::format("{}\n\"{}\": {}", index == 0 ? "" : ",", fleets_[index].name, one.body);
    }
    return json_response(200, body + "\n}}\n");
  }
  const std::string prefix = "/api/v1/fleets/";
  if (path.rfind(prefix, 0) == 0) {
    const std::string rest = path.substr(prefix.size());
    const size_t slash = rest.find('/');
    const std::string name = rest.substr(0, slash);
    const auto fleet = std::find_if(fleets_.begin(), fleets_.end(), [&](const RoutedFleet& f) { return f.name == name; });
    if (fleet == fleets_.end() || slash == std::string::npos)
      return json_response(404, json_error(fmt::format("no fleet \"{}\" (see /api/v1/status)", name)));
    HttpRequest forwarded = request;
    forwarded.path = "/api/v1/" + rest.substr(slash + 1);
    return fleet->api->handle(forwarded);
  }
  if (path.rfind("/hooks/", 0) == 0)
    return webhook(request);
  if (path.rfind("/api/v1/", 0) == 0)
    return json_response(404, json_error("with --config, a fleet's routes are under /api/v1/fleets/<name>/"));
  return fleets_.front().api->handle(request);
}

HttpResponse FleetRouter::webhook(const HttpRequest& request) {
  if (request.method != "POST")
    return fleets_.front().api->handle(request);
  std::set<std::string> identities;
  for (const std::string& url : payload_repositories(request.body))
    identities.insert(repository_identity(url));
  std::vector<const RoutedFleet*> targets;
  for (const RoutedFleet& fleet : fleets_)
    if (identities.count(repository_identity(fleet.repository)) != 0)
      targets.push_back(&fleet);
  if (targets.empty()) {
    log_warn("webhook {} from {}: no fleet serves the repository of the payload ({})", request.path,
             request.remote.empty() ? "unknown peer" : request.remote, identities.empty() ? std::string("none named") : fmt::format("{}", fmt::join(identities, ", ")));
    return json_response(404, json_error("no fleet serves the repository this payload names"));
  }
  std::optional<HttpResponse> accepted;
  std::optional<HttpResponse> refused;
  for (const RoutedFleet* fleet : targets) {
    const LogScope scope(LogContext{fleet->name, "", 0});
    HttpResponse response = fleet->api->handle(request);
    if (response.status < 300 && !accepted)
      accepted = std::move(response);
    else if (response.status >= 300 && !refused)
      refused = std::move(response);
  }
  return accepted ? *accepted : *refused;
}

} // namespace meridian

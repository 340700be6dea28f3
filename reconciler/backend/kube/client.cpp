// Requests with retries, Status errors, discovery and paginated LISTs for one API server.
#include "backend/kube/client.h"

#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>
#include <tuple>

namespace meridian::kube {
namespace {

std::string text_of(const Json& object, std::string_view key) {
  const Json* value = find_member(object, key);
  return value != nullptr && value->IsString() ? std::string(value->GetString(), value->GetStringLength()) : std::string();
}

//! Newlines and tabs become spaces (multi-conflict messages list one path per line).
std::string one_line(std::string text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      if (!out.empty() && out.back() != ' ')
        out += ' ';
      continue;
    }
    out += c;
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

//! A request that changes nothing on the server: safe to send again whatever became of the last one.
bool is_read(const HttpCall& call) { return call.method == "GET" || call.method == "HEAD"; }

bool retryable(int status) { return status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

std::string reason_phrase(int status) {
  switch (status) {
  case 400: return "BadRequest";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "NotFound";
  case 405: return "MethodNotAllowed";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 415: return "UnsupportedMediaType";
  case 422: return "Invalid";
  case 429: return "TooManyRequests";
  case 500: return "InternalError";
  case 503: return "ServiceUnavailable";
  case 504: return "Timeout";
  default: return fmt::format("HTTP {}", status);
  }
}

} // namespace

std::string url_encode(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~')
      out += c;
    else
      out += fmt::format("%{:02X}", byte);
  }
  return out;
}

std::string ResourceType::base_path() const { return group.empty() ? "/api/" + version : fmt::format("/apis/{}/{}", group, version); }

std::string ResourceType::collection_path(const std::string& ns) const {
  if (namespaced && !ns.empty())
    return fmt::format("{}/namespaces/{}/{}", base_path(), url_encode(ns), plural);
  return fmt::format("{}/{}", base_path(), plural);
}

std::string ResourceType::object_path(const std::string& ns, const std::string& name) const {
  return fmt::format("{}/{}", collection_path(ns), url_encode(name));
}

bool ResourceType::supports(std::string_view verb) const { return std::find(verbs.begin(), verbs.end(), verb) != verbs.end(); }

std::string status_reason(int http_status, const std::string& body) {
  JsonDocument status;
  if (!parse_json(body, status) && text_of(status, "kind") == "Status" && !text_of(status, "reason").empty())
    return text_of(status, "reason");
  if (schema_rejection(http_status, body))
    return "Invalid";
  switch (http_status) {
  case 400: return "BadRequest";
  case 403: return "Forbidden";
  case 404: return "NotFound";
  case 405: return "MethodNotAllowed";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 415: return "UnsupportedMediaType";
  case 422: return "Invalid";
  default: return reason_phrase(http_status);
  }
}

bool schema_rejection(int http_status, const std::string& body) {
  // A server-side apply of a field the type's schema does not declare fails with 500 and "failed to
  // create typed patch object (...): .spec.foo: field not declared in schema" (v1.26): the request
  // itself is wrong, and sending it again cannot help.
  return http_status == 500 && (body.find("failed to create typed patch object") != std::string::npos ||
                                body.find("field not declared in schema") != std::string::npos);
}

std::string describe_status(int http_status, const std::string& body) {
  JsonDocument status;
  if (parse_json(body, status) || text_of(status, "kind") != "Status") {
    std::string excerpt = one_line(body.substr(0, 200));
    return excerpt.empty() ? reason_phrase(http_status) : fmt::format("{}: {}", reason_phrase(http_status), excerpt);
  }
  std::string reason = text_of(status, "reason");
  if (reason.empty())
    reason = reason_phrase(http_status);
  std::string message = one_line(text_of(status, "message"));
  std::vector<std::string> causes;
  std::vector<std::string> managers;
  if (const Json* list = find_path(status, "details.causes"); list != nullptr && list->IsArray()) {
    for (const auto& cause : list->GetArray()) {
      const std::string field = text_of(cause, "field");
      const std::string cause_message = one_line(text_of(cause, "message"));
      if (text_of(cause, "reason") == "FieldManagerConflict") {
        // "conflict with \"kubectl\" using apps/v1": the manager is what the user must talk to.
        std::string manager = cause_message;
        if (manager.starts_with("conflict with "))
          manager = manager.substr(14);
        if (const size_t using_at = manager.find(" using "); using_at != std::string::npos)
          manager.resize(using_at);
        managers.push_back(field.empty() ? fmt::format("a field is managed by {}", manager)
                                         : fmt::format("{} is managed by {}", field, manager));
        continue;
      }
      const std::string rendered = field.empty() ? cause_message : fmt::format("{}: {}", field, cause_message);
      if (message.find(rendered) == std::string::npos)
        causes.push_back(rendered);
    }
  }
  if (!managers.empty()) {
    // Server-side apply without force: fields another manager owns. Say whose, and how to proceed.
    std::string line = reason + ": ";
    for (size_t index = 0; index < managers.size(); ++index)
      line += (index == 0 ? "" : "; ") + managers[index];
    return line + " (take over with --force-conflicts or the annotation meridian.io/force-conflicts: \"true\", or stop setting the "
                  "field in Git)";
  }
  std::string line = message.empty() ? reason : fmt::format("{}: {}", reason, message);
  if (!causes.empty()) {
    line += " (";
    for (size_t index = 0; index < causes.size(); ++index)
      line += (index == 0 ? "" : "; ") + causes[index];
    line += ")";
  }
  return line;
}

ApiClient::ApiClient(std::string cluster, Connection connection, std::unique_ptr<Transport> transport, RetryPolicy retry,
                     std::function<void(std::chrono::milliseconds)> sleep)
    : cluster_(std::move(cluster)), connection_(std::move(connection)), transport_(std::move(transport)), retry_(retry),
      sleep_(std::move(sleep)) {
  if (!sleep_)
    sleep_ = [](std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); };
}

ApiResponse ApiClient::request(const HttpCall& call, std::initializer_list<int> accepted) {
  const std::string where = fmt::format("cluster {}: {} {}", cluster_, call.method, call.target.substr(0, call.target.find('?')));
  // One retry layer per request: a read is retried here (plan, health and discovery read with no
  // layer above); a write is sent once and its transient failure thrown at once, with the server's
  // Retry-After: apply retries the object, with its own backoff and bound.
  const int max_attempts = is_read(call) ? retry_.max_attempts : 1;
  std::chrono::milliseconds backoff = retry_.first_backoff;
  bool reauthenticated = false;
  for (int attempt = 1;; ++attempt) {
    HttpResult result;
    try {
      result = transport_->send(call, connection_.credentials->current());
    } catch (const TransientError& error) {
      if (attempt >= max_attempts)
        throw TransientError(attempt == 1 ? fmt::format("cluster {}: {}", cluster_, error.what())
                                          : fmt::format("cluster {}: {} (after {} attempts)", cluster_, error.what(), attempt));
      sleep_(backoff);
      backoff = std::min(backoff * 2, retry_.max_backoff);
      continue;
    } catch (const UserError& error) {
      throw UserError(fmt::format("cluster {}: {}", cluster_, error.what()));
    }
    const bool ok = (result.status >= 200 && result.status < 300) ||
                    std::find(accepted.begin(), accepted.end(), result.status) != accepted.end();
    if (ok) {
      ApiResponse response;
      response.status = result.status;
      response.object = std::make_shared<JsonDocument>();
      if (!result.body.empty() && parse_json(result.body, *response.object))
        throw UserError(fmt::format("{}: the server answered {} with a body that is not JSON", where, result.status));
      return response;
    }
    if (result.status == 401 && !reauthenticated && connection_.credentials->refreshable()) {
      // An exec credential or a rotated token may have expired early: fetch a fresh one once.
      reauthenticated = true;
      connection_.credentials->invalidate();
      continue;
    }
    std::string status_text = describe_status(result.status, result.body);
    if (schema_rejection(result.status, result.body)) {
      JsonDocument status;
      const std::string message = parse_json(result.body, status) ? result.body : text_of(status, "message");
      const size_t fields = message.find("): ");
      status_text = "Invalid: " + one_line(fields == std::string::npos ? message : message.substr(fields + 3));
    }
    if (result.status == 401)
      throw UserError(fmt::format("{}: {} (the credentials of {} were rejected)", where, status_text, connection_.endpoint.origin));
    if (!retryable(result.status) || schema_rejection(result.status, result.body))
      throw RejectedError(status_reason(result.status, result.body), fmt::format("{}: {}", where, status_text));
    const std::chrono::milliseconds retry_after =
        result.retry_after_seconds ? std::chrono::seconds(std::clamp<long>(*result.retry_after_seconds, 0, retry_.max_retry_after.count()))
                                   : std::chrono::milliseconds(0);
    if (attempt >= max_attempts)
      throw TransientError(attempt == 1 ? fmt::format("{}: {}", where, status_text)
                                        : fmt::format("{}: {} (after {} attempts)", where, status_text, attempt),
                           retry_after);
    const std::chrono::milliseconds delay = result.retry_after_seconds ? retry_after : backoff;
    sleep_(delay);
    backoff = std::min(backoff * 2, retry_.max_backoff);
  }
}

//! Sets apiVersion and kind (first, as the server orders them) where an item lacks them.
static void restore_type(JsonDocument& item, const std::string& api_version, const std::string& kind) {
  const bool has_version = item.HasMember("apiVersion"), has_kind = item.HasMember("kind");
  if ((has_version || api_version.empty()) && (has_kind || kind.empty()))
    return;
  JsonAllocator& allocator = item.GetAllocator();
  Json ordered(rapidjson::kObjectType);
  if (!has_version && !api_version.empty())
    ordered.AddMember("apiVersion", Json(api_version.c_str(), allocator), allocator);
  if (!has_kind && !kind.empty())
    ordered.AddMember("kind", Json(kind.c_str(), allocator), allocator);
  for (auto& member : item.GetObject())
    ordered.AddMember(member.name, member.value, allocator);
  static_cast<Json&>(item).Swap(ordered);
}

std::unique_ptr<Stream> ApiClient::stream(const std::string& target) {
  try {
    return transport_->open_stream({"GET", target, {}, {}}, connection_.credentials->current());
  } catch (const TransientError& error) {
    throw TransientError(fmt::format("cluster {}: {}", cluster_, error.what()));
  } catch (const UserError& error) {
    throw UserError(fmt::format("cluster {}: {}", cluster_, error.what()));
  }
}

std::vector<std::shared_ptr<JsonDocument>> ApiClient::list(const std::string& collection_path, int limit, const std::string& query,
                                                           std::string* resource_version) {
  for (int restart = 0;; ++restart) {
    std::vector<std::shared_ptr<JsonDocument>> items;
    std::string token;
    bool expired = false;
    do {
      std::string target = fmt::format("{}?limit={}", collection_path, limit);
      if (!query.empty())
        target += "&" + query;
      if (!token.empty())
        target += "&continue=" + url_encode(token);
      const ApiResponse page = request({"GET", target, {}, {}}, {410});
      if (page.status == 410) {
        expired = true;
        break;
      }
      const Json* list = find_member(*page.object, "items");
      if (list != nullptr && list->IsArray()) {
        // A real API server omits apiVersion and kind on the items of a LIST (they are the list's,
        // with "List" cut off the kind); a GET or an apply response carries them. Put them back so
        // that a listed object reads as the same object got one by one.
        const std::string list_version = text_of(*page.object, "apiVersion");
        std::string item_kind = text_of(*page.object, "kind");
        if (item_kind.size() > 4 && item_kind.ends_with("List"))
          item_kind.resize(item_kind.size() - 4);
        for (const auto& item : list->GetArray()) {
          auto document = std::make_shared<JsonDocument>();
          document->CopyFrom(item, document->GetAllocator());
          if (document->IsObject())
            restore_type(*document, list_version, item_kind);
          items.push_back(std::move(document));
        }
      }
      token.clear();
      if (const Json* metadata = find_member(*page.object, "metadata")) {
        token = text_of(*metadata, "continue");
        if (resource_version != nullptr)
          *resource_version = text_of(*metadata, "resourceVersion");
      }
    } while (!token.empty());
    if (!expired)
      return items;
    // 410 Expired: the continue token outlived etcd's compaction; list again from the start.
    if (restart >= 1)
      throw TransientError(fmt::format("cluster {}: LIST {}: the continue token expired twice", cluster_, collection_path));
  }
}

void ApiClient::load_groups() {
  std::map<std::string, GroupInfo> groups;
  const ApiResponse core = request({"GET", "/api", {}, {}});
  GroupInfo core_info;
  if (const Json* versions = find_member(*core.object, "versions"); versions != nullptr && versions->IsArray()) {
    for (const auto& version : versions->GetArray())
      if (version.IsString())
        core_info.versions.emplace_back(version.GetString());
  }
  core_info.preferred = core_info.versions.empty() ? "v1" : core_info.versions.front();
  groups[""] = core_info;
  const ApiResponse named = request({"GET", "/apis", {}, {}});
  if (const Json* list = find_member(*named.object, "groups"); list != nullptr && list->IsArray()) {
    for (const auto& group : list->GetArray()) {
      GroupInfo info;
      if (const Json* preferred = find_member(group, "preferredVersion"))
        info.preferred = text_of(*preferred, "version");
      if (const Json* versions = find_member(group, "versions"); versions != nullptr && versions->IsArray()) {
        for (const auto& version : versions->GetArray())
          info.versions.push_back(text_of(version, "version"));
      }
      groups[text_of(group, "name")] = std::move(info);
    }
  }
  groups_ = std::move(groups);
}

const std::vector<ResourceType>& ApiClient::resources_of(const std::string& group, const std::string& version) {
  const std::string group_version = group.empty() ? version : group + "/" + version;
  if (const auto cached = resources_.find(group_version); cached != resources_.end())
    return cached->second;
  const std::string path = group.empty() ? "/api/" + version : fmt::format("/apis/{}/{}", group, version);
  const ApiResponse response = request({"GET", path, {}, {}}, {404});
  std::vector<ResourceType> types;
  if (response.status != 404) {
    if (const Json* list = find_member(*response.object, "resources"); list != nullptr && list->IsArray()) {
      for (const auto& resource : list->GetArray()) {
        ResourceType type;
        type.plural = text_of(resource, "name");
        if (type.plural.find('/') != std::string::npos) // a subresource (deployments/status)
          continue;
        type.group = group;
        type.version = version;
        type.kind = text_of(resource, "kind");
        const Json* namespaced = find_member(resource, "namespaced");
        type.namespaced = namespaced != nullptr && namespaced->IsTrue();
        if (const Json* verbs = find_member(resource, "verbs"); verbs != nullptr && verbs->IsArray()) {
          for (const auto& verb : verbs->GetArray())
            if (verb.IsString())
              type.verbs.emplace_back(verb.GetString());
        }
        types.push_back(std::move(type));
      }
    }
  }
  return resources_[group_version] = std::move(types);
}

std::vector<ResourceType> ApiClient::namespaced_listable() {
  if (!groups_)
    load_groups();
  std::vector<ResourceType> types;
  for (const auto& [group, info] : *groups_) {
    const std::string version = info.preferred.empty() && !info.versions.empty() ? info.versions.front() : info.preferred;
    if (version.empty())
      continue;
    for (const ResourceType& type : resources_of(group, version))
      if (type.namespaced && type.supports("list"))
        types.push_back(type);
  }
  std::sort(types.begin(), types.end(), [](const ResourceType& a, const ResourceType& b) {
    return std::tie(a.group, a.kind) < std::tie(b.group, b.kind);
  });
  return types;
}

std::optional<ResourceType> ApiClient::find_kind(const std::string& group, const std::string& kind, const std::string& version) {
  if (!groups_)
    load_groups();
  const auto info = groups_->find(group);
  if (info == groups_->end())
    return std::nullopt;
  std::vector<std::string> versions;
  if (!version.empty()) {
    if (std::find(info->second.versions.begin(), info->second.versions.end(), version) == info->second.versions.end())
      return std::nullopt;
    versions.push_back(version);
  } else {
    versions.push_back(info->second.preferred);
    for (const std::string& other : info->second.versions)
      if (other != info->second.preferred)
        versions.push_back(other);
  }
  for (const std::string& candidate : versions) {
    for (const ResourceType& type : resources_of(group, candidate)) {
      if (type.kind == kind)
        return type;
    }
  }
  return std::nullopt;
}

std::optional<ResourceType> ApiClient::resource_for(const std::string& group, const std::string& version, const std::string& kind,
                                                    bool refresh) {
  if (auto found = find_kind(group, kind, version))
    return found;
  if (!refresh)
    return std::nullopt;
  // Unknown: a CRD may have been installed since discovery was read. Refresh once per kind.
  if (!refreshed_.insert(group + "/" + version + "/" + kind).second)
    return std::nullopt;
  forget_group(group);
  groups_.reset();
  return find_kind(group, kind, version);
}

std::optional<ResourceType> ApiClient::resource_for_kind(const std::string& group, const std::string& kind, bool refresh) {
  return resource_for(group, "", kind, refresh);
}

void ApiClient::forget_group(const std::string& group) {
  for (auto it = resources_.begin(); it != resources_.end();) {
    const std::string& group_version = it->first;
    const size_t slash = group_version.find('/');
    const std::string owner = slash == std::string::npos ? std::string() : group_version.substr(0, slash);
    it = owner == group ? resources_.erase(it) : std::next(it);
  }
  groups_.reset();
  for (auto it = refreshed_.begin(); it != refreshed_.end();)
    it = it->starts_with(group + "/") ? refreshed_.erase(it) : std::next(it);
}

} // namespace meridian::kube

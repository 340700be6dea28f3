// The test API server (see fake_apiserver.h).
#include "fake_apiserver.h"

#include "../../support/http_server.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <rapidjson/document.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace meridian::testing {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void run(const std::string& command) {
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0)
    throw std::runtime_error("failed: " + command);
}

std::string text_at(const Json& value, std::string_view path) {
  const Json* found = find_path(value, path);
  return found != nullptr && found->IsString() ? std::string(found->GetString(), found->GetStringLength()) : std::string();
}

void set(Json& object, std::string_view key, Json value, JsonAllocator& allocator) {
  object.RemoveMember(Json(rapidjson::StringRef(key.data(), key.size())));
  object.AddMember(Json(key.data(), static_cast<rapidjson::SizeType>(key.size()), allocator), value, allocator);
}

Json& object_at(Json& object, std::string_view key, JsonAllocator& allocator) {
  auto member = object.FindMember(Json(rapidjson::StringRef(key.data(), key.size())));
  if (member == object.MemberEnd() || !member->value.IsObject()) {
    set(object, key, Json(rapidjson::kObjectType), allocator);
    member = object.FindMember(Json(rapidjson::StringRef(key.data(), key.size())));
  }
  return member->value;
}

Json str(std::string_view text, JsonAllocator& allocator) { return Json(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator); }

std::string status_body(int code, std::string_view reason, std::string_view message, const std::string& details = "{}") {
  JsonDocument doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  set(doc, "kind", str("Status", a), a);
  set(doc, "apiVersion", str("v1", a), a);
  set(doc, "metadata", Json(rapidjson::kObjectType), a);
  set(doc, "status", str("Failure", a), a);
  set(doc, "message", str(message, a), a);
  set(doc, "reason", str(reason, a), a);
  JsonDocument parsed;
  parse_json(details, parsed);
  set(doc, "details", Json(parsed, a), a);
  set(doc, "code", Json(code), a);
  return write_compact(doc);
}

//! One label-selector term: key op values.
bool selector_term_matches(std::string term, const Json* labels) {
  const auto label = [&](const std::string& key) -> std::optional<std::string> {
    const Json* value = labels != nullptr ? find_member(*labels, key) : nullptr;
    if (value == nullptr || !value->IsString())
      return std::nullopt;
    return std::string(value->GetString());
  };
  const auto trim = [](std::string text) {
    while (!text.empty() && text.front() == ' ')
      text.erase(text.begin());
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    return text;
  };
  term = trim(term);
  for (const std::string op : {" notin ", " in "}) {
    const size_t at = term.find(op);
    if (at == std::string::npos)
      continue;
    const std::string key = trim(term.substr(0, at));
    std::string list = trim(term.substr(at + op.size()));
    list = list.substr(1, list.size() - 2);
    bool listed = false;
    std::stringstream values(list);
    std::string value;
    while (std::getline(values, value, ','))
      listed = listed || label(key) == trim(value);
    return op == " in " ? listed : !listed;
  }
  if (const size_t at = term.find("!="); at != std::string::npos)
    return label(trim(term.substr(0, at))) != trim(term.substr(at + 2));
  if (const size_t at = term.find('='); at != std::string::npos) {
    const size_t value_at = term[at + 1] == '=' ? at + 2 : at + 1;
    return label(trim(term.substr(0, at))) == trim(term.substr(value_at));
  }
  if (!term.empty() && term.front() == '!')
    return !label(term.substr(1));
  return label(term).has_value();
}

bool selector_matches(const std::string& selector, const Json* labels) {
  int depth = 0;
  std::string term;
  for (const char c : selector + ",") {
    if (c == '(')
      ++depth;
    if (c == ')')
      --depth;
    if (c == ',' && depth == 0) {
      if (!term.empty() && !selector_term_matches(term, labels))
        return false;
      term.clear();
      continue;
    }
    term += c;
  }
  return true;
}

} // namespace

struct TlsContext {
  SSL_CTX* ctx = nullptr;
  ~TlsContext() { SSL_CTX_free(ctx); }
};

struct FakeApiServer::Type {
  std::string group, version, plural, kind;
  bool namespaced = false;
  std::string base() const { return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version; }
};

struct FakeApiServer::Request {
  std::string method, target, path, body, content_type, user;
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;
};

struct FakeApiServer::Response {
  int status = 200;
  std::string body;
  std::map<std::string, std::string> headers;
};

TestCertificates make_certificates() {
  char pattern[] = "/tmp/meridian-kube-XXXXXX";
  const char* dir = mkdtemp(pattern);
  if (dir == nullptr)
    throw std::runtime_error("mkdtemp failed");
  TestCertificates c;
  c.dir = dir;
  const std::string d = c.dir;
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::ofstream(d + "/server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  std::ofstream(d + "/client.ext") << "extendedKeyUsage=clientAuth\n";
  run(fmt::format("openssl req -x509 {} -keyout {}/ca.key -out {}/ca.crt -days 2 -subj /CN=test-ca", key, d, d));
  run(fmt::format("openssl req -x509 {} -keyout {}/other.key -out {}/other.crt -days 2 -subj /CN=other-ca", key, d, d));
  run(fmt::format("openssl req {} -keyout {}/server.key -out {}/server.csr -subj /CN=127.0.0.1", key, d, d));
  run(fmt::format("openssl x509 -req -in {0}/server.csr -CA {0}/ca.crt -CAkey {0}/ca.key -CAcreateserial -out {0}/server.crt -days 2 "
                  "-extfile {0}/server.ext",
                  d));
  run(fmt::format("openssl req {} -keyout {}/client.key -out {}/client.csr -subj /O=system:masters/CN=admin", key, d, d));
  run(fmt::format("openssl x509 -req -in {0}/client.csr -CA {0}/ca.crt -CAkey {0}/ca.key -CAcreateserial -out {0}/client.crt -days 2 "
                  "-extfile {0}/client.ext",
                  d));
  c.ca_file = d + "/ca.crt";
  c.ca_pem = read_text(c.ca_file);
  c.other_ca_file = d + "/other.crt";
  c.other_ca_pem = read_text(c.other_ca_file);
  c.server_cert_file = d + "/server.crt";
  c.server_key_file = d + "/server.key";
  c.client_cert_file = d + "/client.crt";
  c.client_key_file = d + "/client.key";
  c.client_cert_pem = read_text(c.client_cert_file);
  c.client_key_pem = read_text(c.client_key_file);
  return c;
}

FakeApiServer::FakeApiServer(const TestCertificates& certificates) : tls_(std::make_unique<TlsContext>()) {
  tls_->ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_chain_file(tls_->ctx, certificates.server_cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(tls_->ctx, certificates.server_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(tls_->ctx, certificates.ca_file.c_str(), nullptr) != 1)
    throw std::runtime_error("cannot load the server certificate");
  // Ask for a client certificate but accept connections without one (tokens); checked per request.
  SSL_CTX_set_verify(tls_->ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  static const unsigned char kSession[] = "meridian-test";
  SSL_CTX_set_session_id_context(tls_->ctx, kSession, sizeof kSession - 1);

  const std::string core = "create delete deletecollection get list patch update watch";
  types_ = {
      {"", "v1", "namespaces", "Namespace", false},
      {"", "v1", "configmaps", "ConfigMap", true},
      {"", "v1", "pods", "Pod", true},
      {"", "v1", "nodes", "Node", false},
      {"", "v1", "services", "Service", true},
      {"apps", "v1", "deployments", "Deployment", true},
      {"apps", "v1", "daemonsets", "DaemonSet", true},
      {"apps", "v1", "statefulsets", "StatefulSet", true},
      {"apps", "v1", "replicasets", "ReplicaSet", true},
      {"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false},
  };

  listen_fd_ = listen_on_loopback(port_);
  thread_ = std::thread([this] { serve(); });
}

FakeApiServer::~FakeApiServer() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
  ::close(listen_fd_);
}

std::string FakeApiServer::url() const { return fmt::format("https://127.0.0.1:{}", port_); }

void FakeApiServer::add_token(const std::string& token, const std::string& user) {
  std::lock_guard lock(mutex_);
  tokens_[token] = user;
}

void FakeApiServer::inject(InjectedResponse response) {
  std::lock_guard lock(mutex_);
  injected_.push_back(std::move(response));
}

std::vector<RecordedRequest> FakeApiServer::requests() {
  std::lock_guard lock(mutex_);
  return requests_;
}

void FakeApiServer::clear_requests() {
  std::lock_guard lock(mutex_);
  requests_.clear();
}

void FakeApiServer::serve() {
  while (!stop_) {
    pollfd poll_fd{listen_fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, 100) <= 0)
      continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0)
      continue;
    handle_connection(fd);
    ::close(fd);
  }
}

void FakeApiServer::handle_connection(int fd) {
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  SSL* ssl = SSL_new(tls_->ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) != 1) {
    ERR_clear_error();
    SSL_free(ssl);
    return;
  }
  const auto message = read_http_request([ssl](char* buffer, size_t size) -> long { return SSL_read(ssl, buffer, static_cast<int>(size)); });
  Request request;
  if (message) {
    request.method = message->method;
    request.target = message->target;
    for (const auto& [name, value] : message->headers) {
      std::string key = name;
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      request.headers[key] = value;
    }
    request.body = message->body;
    request.content_type = request.headers["content-type"];
    request.path = message->path;
    request.query = message->query;
    // Authentication: a bearer token we know, or a client certificate from our CA with a known CN.
    const std::string authorization = request.headers["authorization"];
    {
      std::lock_guard lock(mutex_);
      if (authorization.starts_with("Bearer ") && tokens_.count(authorization.substr(7)) != 0)
        request.user = tokens_[authorization.substr(7)];
    }
    if (request.user.empty() && authorization.empty()) {
      if (X509* peer = SSL_get1_peer_certificate(ssl)) {
        char cn[256] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        if (SSL_get_verify_result(ssl) == X509_V_OK && accepted_client_cns.count(cn) != 0)
          request.user = cn;
        X509_free(peer);
      }
    }
    Response response;
    {
      std::lock_guard lock(mutex_);
      response = dispatch(request);
      requests_.push_back({request.method, request.path, request.query, request.content_type, request.body, request.user, response.status});
    }
    const std::string reply = http_reply_text({response.status, response.body, {response.headers.begin(), response.headers.end()}});
    SSL_write(ssl, reply.data(), static_cast<int>(reply.size()));
  }
  SSL_shutdown(ssl);
  SSL_free(ssl);
}

const FakeApiServer::Type* FakeApiServer::find_type(const std::string& group, const std::string& version, const std::string& plural) {
  for (const Type& type : types_)
    if (type.group == group && type.version == version && type.plural == plural)
      return &type;
  return nullptr;
}

const FakeApiServer::Type* FakeApiServer::type_of_kind(const std::string& group, const std::string& version, const std::string& kind) {
  for (const Type& type : types_)
    if (type.group == group && type.version == version && type.kind == kind)
      return &type;
  return nullptr;
}

FakeApiServer::Response FakeApiServer::dispatch(Request& request) {
  if (request.user.empty())
    return {401, status_body(401, "Unauthorized", "Unauthorized"), {}};
  for (auto it = injected_.begin(); it != injected_.end(); ++it) {
    if (it->method == request.method && it->path == request.path && (it->unless_query.empty() || request.query.count(it->unless_query) == 0)) {
      Response response{it->status, it->body, it->headers};
      if (--it->times <= 0)
        injected_.erase(it);
      return response;
    }
  }
  const std::string verbs = R"(["create","delete","deletecollection","get","list","patch","update","watch"])";
  if (request.path == "/version")
    return {200, R"({"major":"1","minor":"30","gitVersion":"v1.30.1","platform":"linux/amd64"})", {}};
  if (request.path == "/api")
    return {200, R"({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[]})", {}};
  if (request.path == "/apis") {
    std::map<std::string, std::vector<std::string>> groups;
    for (const Type& type : types_)
      if (!type.group.empty()) {
        auto& versions = groups[type.group];
        if (std::find(versions.begin(), versions.end(), type.version) == versions.end())
          versions.push_back(type.version);
      }
    std::string list;
    for (const auto& [group, versions] : groups) {
      std::string version_list;
      for (const std::string& version : versions)
        version_list += fmt::format(R"({}{{"groupVersion":"{}/{}","version":"{}"}})", version_list.empty() ? "" : ",", group, version, version);
      list += fmt::format(R"({}{{"name":"{}","versions":[{}],"preferredVersion":{{"groupVersion":"{}/{}","version":"{}"}}}})",
                          list.empty() ? "" : ",", group, version_list, group, versions.front(), versions.front());
    }
    return {200, fmt::format(R"({{"kind":"APIGroupList","apiVersion":"v1","groups":[{}]}})", list), {}};
  }
  // Discovery of one group/version.
  std::vector<std::string> segments;
  {
    std::stringstream path(request.path);
    std::string segment;
    while (std::getline(path, segment, '/'))
      if (!segment.empty())
        segments.push_back(segment);
  }
  const bool core = !segments.empty() && segments[0] == "api";
  const size_t gv_size = core ? 2 : 3;
  if (segments.size() == gv_size && request.method == "GET" && (core || segments[0] == "apis")) {
    const std::string group = core ? "" : segments[1];
    const std::string version = segments[gv_size - 1];
    std::string resources;
    for (const Type& type : types_) {
      if (type.group != group || type.version != version)
        continue;
      resources += fmt::format(R"({}{{"name":"{}","singularName":"","namespaced":{},"kind":"{}","verbs":{}}})", resources.empty() ? "" : ",",
                               type.plural, type.namespaced ? "true" : "false", type.kind, verbs);
      // Subresources, as the real server lists them (a client must skip them).
      resources += fmt::format(R"(,{{"name":"{}/status","singularName":"","namespaced":{},"kind":"{}","verbs":["get","patch","update"]}})",
                               type.plural, type.namespaced ? "true" : "false", type.kind);
    }
    if (resources.empty())
      return {404, status_body(404, "NotFound", "the server could not find the requested resource"), {}};
    return {200,
            fmt::format(R"({{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"{}","resources":[{}]}})",
                        group.empty() ? version : group + "/" + version, resources),
            {}};
  }
  return handle_resource(request);
}

FakeApiServer::Response FakeApiServer::handle_resource(Request& request) {
  const auto not_found = [] { return Response{404, status_body(404, "NotFound", "the server could not find the requested resource"), {}}; };
  std::vector<std::string> segments;
  {
    std::stringstream path(request.path);
    std::string segment;
    while (std::getline(path, segment, '/'))
      if (!segment.empty())
        segments.push_back(segment);
  }
  if (segments.empty() || (segments[0] != "api" && segments[0] != "apis"))
    return not_found();
  const bool core = segments[0] == "api";
  const size_t gv_size = core ? 2 : 3;
  if (segments.size() <= gv_size)
    return not_found();
  const std::string group = core ? "" : segments[1];
  const std::string version = segments[gv_size - 1];
  std::vector<std::string> rest(segments.begin() + static_cast<long>(gv_size), segments.end());
  std::string ns;
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 2)
    return not_found();
  const Type* type = find_type(group, version, rest[0]);
  if (type == nullptr || (!type->namespaced && !ns.empty()))
    return not_found();
  const std::string name = rest.size() == 2 ? rest[1] : "";
  const std::string collection = type->namespaced && !ns.empty() ? fmt::format("{}/namespaces/{}/{}", type->base(), ns, type->plural)
                                                                  : fmt::format("{}/{}", type->base(), type->plural);
  const std::string path = name.empty() ? collection : collection + "/" + name;
  const std::string resource = group.empty() ? type->plural : type->plural + "." + group;
  const std::string details = fmt::format(R"({{"name":"{}","group":"{}","kind":"{}"}})", name, group, type->plural);
  const auto missing = [&] { return Response{404, status_body(404, "NotFound", fmt::format("{} \"{}\" not found", resource, name), details), {}}; };
  if (request.query.count("force") != 0 && !(request.method == "PATCH" && request.content_type.starts_with("application/apply-patch+yaml")))
    return {422, status_body(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
                             R"({"group":"meta.k8s.io","kind":"PatchOptions","causes":[{"reason":"FieldValueForbidden","message":"Forbidden: may not be specified for non-apply patch","field":"force"}]})"),
            {}};
  if (request.query.count("dryRun") != 0 && request.query["dryRun"] != "All")
    return {400, status_body(400, "BadRequest", fmt::format("Invalid dry run value: {}", request.query["dryRun"])), {}};
  const bool dry_run = request.query.count("dryRun") != 0;

  if (request.method == "GET" && name.empty()) {
    std::vector<std::shared_ptr<JsonDocument>> matched;
    for (const auto& [object_path, object] : objects_) {
      const std::string object_ns = text_at(*object, "metadata.namespace");
      const Type* object_type = nullptr;
      const std::string api_version = text_at(*object, "apiVersion");
      const size_t slash = api_version.find('/');
      object_type = type_of_kind(slash == std::string::npos ? "" : api_version.substr(0, slash),
                                 slash == std::string::npos ? api_version : api_version.substr(slash + 1), text_at(*object, "kind"));
      if (object_type != type || (!ns.empty() && object_ns != ns))
        continue;
      if (request.query.count("labelSelector") != 0 && !selector_matches(request.query["labelSelector"], find_path(*object, "metadata.labels")))
        continue;
      matched.push_back(object);
    }
    size_t offset = 0;
    if (request.query.count("continue") != 0) {
      const std::string token = request.query["continue"];
      if (!token.starts_with("page-"))
        return {400, status_body(400, "BadRequest", "continue key is not valid"), {}};
      offset = std::stoul(token.substr(5));
    }
    size_t limit = matched.size();
    if (request.query.count("limit") != 0)
      limit = std::stoul(request.query["limit"]);
    JsonDocument list(rapidjson::kObjectType);
    auto& a = list.GetAllocator();
    set(list, "kind", str(type->kind + "List", a), a);
    set(list, "apiVersion", str(group.empty() ? version : group + "/" + version, a), a);
    Json metadata(rapidjson::kObjectType);
    set(metadata, "resourceVersion", str(std::to_string(resource_version_), a), a);
    if (offset + limit < matched.size()) {
      set(metadata, "continue", str(fmt::format("page-{}", offset + limit), a), a);
      set(metadata, "remainingItemCount", Json(static_cast<int64_t>(matched.size() - offset - limit)), a);
    }
    set(list, "metadata", std::move(metadata), a);
    Json items(rapidjson::kArrayType);
    for (size_t index = offset; index < matched.size() && index < offset + limit; ++index) {
      // As a real API server answers: a LIST's items carry neither apiVersion nor kind.
      Json item(*matched[index], a);
      item.RemoveMember("apiVersion");
      item.RemoveMember("kind");
      items.PushBack(std::move(item), a);
    }
    set(list, "items", std::move(items), a);
    return {200, write_compact(list), {}};
  }
  if (name.empty())
    return {405, status_body(405, "MethodNotAllowed", fmt::format("the server does not allow this method on the requested resource")), {}};

  if (request.method == "GET") {
    const auto found = objects_.find(path);
    if (found == objects_.end())
      return missing();
    JsonDocument& object = *found->second;
    if (type->kind == "CustomResourceDefinition" && ++crd_gets_[path] >= crd_establish_after_gets) {
      Json* conditions = const_cast<Json*>(find_path(object, "status.conditions"));
      if (conditions != nullptr && conditions->IsArray()) {
        for (auto& condition : conditions->GetArray())
          if (text_at(condition, "type") == "Established" && text_at(condition, "status") != "True") {
            set(condition, "status", str("True", object.GetAllocator()), object.GetAllocator());
            const std::string crd_group = text_at(object, "spec.group");
            const Json* versions = find_path(object, "spec.versions");
            for (const auto& served : versions->GetArray())
              types_.push_back({crd_group, text_at(served, "name"), text_at(object, "spec.names.plural"), text_at(object, "spec.names.kind"),
                                text_at(object, "spec.scope") == "Namespaced"});
          }
      }
    }
    const std::string body = write_compact(object);
    if (const auto deleting = deleting_.find(path); deleting != deleting_.end() && --deleting->second <= 0) {
      deleting_.erase(deleting);
      objects_.erase(path);
    }
    return {200, body, {}};
  }

  if (request.method == "DELETE") {
    const auto found = objects_.find(path);
    if (found == objects_.end())
      return missing();
    JsonDocument options;
    std::string policy = "Background";
    if (!request.body.empty()) {
      if (parse_json(request.body, options) || text_at(options, "kind") != "DeleteOptions")
        return {400, status_body(400, "BadRequest", "the body of the request was in an unknown format"), {}};
      policy = text_at(options, "propagationPolicy");
    }
    if (policy != "Background" && policy != "Foreground" && policy != "Orphan")
      return {400, status_body(400, "BadRequest", fmt::format("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{}\"", policy)), {}};
    const std::string uid = text_at(*found->second, "metadata.uid");
    if (dry_run)
      return {200, fmt::format(R"({{"kind":"Status","apiVersion":"v1","status":"Success","details":{{"name":"{}","kind":"{}","uid":"{}"}}}})", name, type->plural, uid), {}};
    JsonDocument& object = *found->second;
    set(object_at(object, "metadata", object.GetAllocator()), "deletionTimestamp", str("2025-01-01T00:00:00Z", object.GetAllocator()),
        object.GetAllocator());
    const std::string body = write_compact(object);
    if (delete_after_gets <= 0)
      objects_.erase(found);
    else
      deleting_[path] = delete_after_gets;
    if (policy == "Foreground")
      return {200, body, {}};
    return {200, fmt::format(R"({{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Success","details":{{"name":"{}","group":"{}","kind":"{}","uid":"{}"}}}})",
                             name, group, type->plural, uid),
            {}};
  }

  if (request.method != "PATCH")
    return {405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"), {}};
  std::string media_type = request.content_type.substr(0, request.content_type.find(';'));
  if (media_type != "application/apply-patch+yaml" && media_type != "application/merge-patch+json" &&
      media_type != "application/strategic-merge-patch+json" && media_type != "application/json-patch+json")
    return {415, status_body(415, "UnsupportedMediaType", fmt::format("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")), {}};
  if (media_type != "application/apply-patch+yaml")
    return {415, status_body(415, "UnsupportedMediaType", "only apply patches are modelled by the test server"), {}};
  if (request.query["fieldManager"].empty())
    return {422, status_body(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                             R"({"group":"meta.k8s.io","kind":"PatchOptions","causes":[{"reason":"FieldValueRequired","message":"Required value: is required for apply patch","field":"fieldManager"}]})"),
            {}};
  JsonDocument body;
  if (parse_json(request.body, body) || !body.IsObject())
    return {400, status_body(400, "BadRequest", "error decoding YAML: the body is not a JSON object"), {}};
  if (find_path(body, "metadata.managedFields") != nullptr)
    return {400, status_body(400, "BadRequest", "metadata.managedFields must be nil"), {}};
  if (text_at(body, "metadata.name") != name)
    return {400, status_body(400, "BadRequest", fmt::format("the name of the object ({}) does not match the name on the URL ({})", text_at(body, "metadata.name"), name)), {}};
  if (type->namespaced && !text_at(body, "metadata.namespace").empty() && text_at(body, "metadata.namespace") != ns)
    return {400, status_body(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"), {}};
  if (text_at(body, "kind") != type->kind || text_at(body, "apiVersion") != (group.empty() ? version : group + "/" + version))
    return {400, status_body(400, "BadRequest", "the kind or apiVersion of the body does not match the URL"), {}};
  if (type->namespaced && ns != "default" && ns != "kube-system" && objects_.count("/api/v1/namespaces/" + ns) == 0)
    return {404, status_body(404, "NotFound", fmt::format("namespaces \"{}\" not found", ns), fmt::format(R"({{"name":"{}","kind":"namespaces"}})", ns)), {}};
  if (const Json* replicas = find_path(body, "spec.replicas"); type->kind == "Deployment" && replicas != nullptr && replicas->IsInt64() && replicas->GetInt64() < 0)
    return {422, status_body(422, "Invalid",
                             fmt::format("Deployment.apps \"{}\" is invalid: spec.replicas: Invalid value: {}: must be greater than or equal to 0", name, replicas->GetInt64()),
                             fmt::format(R"({{"name":"{}","group":"apps","kind":"Deployment","causes":[{{"reason":"FieldValueInvalid","message":"Invalid value: {}: must be greater than or equal to 0","field":"spec.replicas"}}]}})",
                                         name, replicas->GetInt64())),
            {}};

  auto result = std::make_shared<JsonDocument>();
  auto& a = result->GetAllocator();
  result->CopyFrom(body, a);
  Json& metadata = object_at(*result, "metadata", a);
  if (type->namespaced)
    set(metadata, "namespace", str(ns, a), a);
  const auto live = objects_.find(path);
  const bool created = live == objects_.end();
  if (created) {
    set(metadata, "uid", str(fmt::format("00000000-0000-0000-0000-{:012}", ++uid_), a), a);
    set(metadata, "creationTimestamp", str("2025-01-01T00:00:00Z", a), a);
    set(metadata, "generation", Json(1), a);
  } else {
    const Json& old = *live->second;
    set(metadata, "uid", str(text_at(old, "metadata.uid"), a), a);
    set(metadata, "creationTimestamp", str(text_at(old, "metadata.creationTimestamp"), a), a);
    const Json* old_spec = find_member(old, "spec");
    const Json* new_spec = find_member(*result, "spec");
    const Json* generation = find_path(old, "metadata.generation");
    long long next = generation != nullptr && generation->IsInt64() ? generation->GetInt64() : 1;
    if ((old_spec == nullptr) != (new_spec == nullptr) || (old_spec != nullptr && !json_equal(*old_spec, *new_spec)))
      ++next;
    set(metadata, "generation", Json(static_cast<int64_t>(next)), a);
    if (const Json* status = find_member(old, "status"))
      set(*result, "status", Json(*status, a), a);
  }
  // Defaults the API server fills in (so that a dry-run result differs from the manifest).
  if (type->kind == "Deployment") {
    Json& spec = object_at(*result, "spec", a);
    if (find_member(spec, "progressDeadlineSeconds") == nullptr)
      set(spec, "progressDeadlineSeconds", Json(600), a);
    if (find_member(spec, "revisionHistoryLimit") == nullptr)
      set(spec, "revisionHistoryLimit", Json(10), a);
  }
  if (type->kind == "CustomResourceDefinition" && created)
    set(*result, "status",
        Json(JsonDocument().Parse(R"({"conditions":[{"type":"NamesAccepted","status":"True"},{"type":"Established","status":"False"}]})"), a), a);
  if (type->kind == "Namespace")
    set(*result, "status", Json(JsonDocument().Parse(R"({"phase":"Active"})"), a), a);
  set(metadata, "resourceVersion", str(std::to_string(++resource_version_), a), a);
  JsonDocument managed;
  managed.Parse(fmt::format(R"([{{"manager":"{}","operation":"Apply","apiVersion":"{}","fieldsType":"FieldsV1","fieldsV1":{{}}}}])",
                            request.query["fieldManager"], group.empty() ? version : group + "/" + version)
                    .c_str());
  set(metadata, "managedFields", Json(managed, a), a);
  if (!dry_run) {
    objects_[path] = result;
    if (type->kind == "CustomResourceDefinition" && created)
      crd_gets_[path] = 0;
  }
  return {created ? 201 : 200, write_compact(*result), {}};
}

void FakeApiServer::put(const std::string& manifest_json) {
  std::lock_guard lock(mutex_);
  auto object = std::make_shared<JsonDocument>();
  if (parse_json(manifest_json, *object))
    throw std::runtime_error("put: not JSON: " + manifest_json);
  const std::string api_version = text_at(*object, "apiVersion");
  const size_t slash = api_version.find('/');
  const Type* type = type_of_kind(slash == std::string::npos ? "" : api_version.substr(0, slash),
                                  slash == std::string::npos ? api_version : api_version.substr(slash + 1), text_at(*object, "kind"));
  if (type == nullptr)
    throw std::runtime_error("put: unknown kind " + text_at(*object, "kind"));
  auto& a = object->GetAllocator();
  Json& metadata = object_at(*object, "metadata", a);
  std::string ns = text_at(*object, "metadata.namespace");
  if (type->namespaced && ns.empty()) {
    ns = "default";
    set(metadata, "namespace", str(ns, a), a);
  }
  if (find_member(metadata, "uid") == nullptr)
    set(metadata, "uid", str(fmt::format("00000000-0000-0000-0000-{:012}", ++uid_), a), a);
  set(metadata, "resourceVersion", str(std::to_string(++resource_version_), a), a);
  const std::string name = text_at(*object, "metadata.name");
  const std::string path = type->namespaced ? fmt::format("{}/namespaces/{}/{}/{}", type->base(), ns, type->plural, name)
                                            : fmt::format("{}/{}/{}", type->base(), type->plural, name);
  objects_[path] = object;
}

std::optional<std::string> FakeApiServer::object(const std::string& path) {
  std::lock_guard lock(mutex_);
  const auto found = objects_.find(path);
  if (found == objects_.end())
    return std::nullopt;
  return write_compact(*found->second);
}

void FakeApiServer::set_status(const std::string& path, const std::string& status_json) {
  std::lock_guard lock(mutex_);
  const auto found = objects_.find(path);
  if (found == objects_.end())
    throw std::runtime_error("set_status: no object at " + path);
  JsonDocument status;
  parse_json(status_json, status);
  set(*found->second, "status", Json(status, found->second->GetAllocator()), found->second->GetAllocator());
}

} // namespace meridian::testing

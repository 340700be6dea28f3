// The credential chain (see credentials.h).
#include "backend/ack/credentials.h"

#include "backend/ack/http.h"
#include "base/error.h"
#include "base/json.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace meridian::ack {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return {};
  const size_t last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

std::string env(const CredentialLookup& lookup, const std::string& name) { return lookup.getenv(name).value_or(""); }

std::optional<AccessKey> from_environment(const CredentialLookup& lookup) {
  const std::string id = env(lookup, "ALIBABA_CLOUD_ACCESS_KEY_ID");
  const std::string secret = env(lookup, "ALIBABA_CLOUD_ACCESS_KEY_SECRET");
  if (id.empty() && secret.empty())
    return std::nullopt;
  if (id.empty())
    throw UserError("environment: ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but ALIBABA_CLOUD_ACCESS_KEY_ID is empty");
  if (secret.empty())
    throw UserError("environment: ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is empty");
  return AccessKey{id, secret, env(lookup, "ALIBABA_CLOUD_SECURITY_TOKEN"), "environment"};
}


//! An STS session: a key and when it expires.
struct Session {
  AccessKey key;
  std::chrono::system_clock::time_point expiration;
};

class FixedCredentials final : public CredentialProvider {
public:
  explicit FixedCredentials(AccessKey key) : key_(std::move(key)) {}
  AccessKey current() override { return key_; }

private:
  AccessKey key_;
};

//! An STS session fetched again `refresh_before` its expiration; a failed refresh keeps the old
//! session while it is valid.
class SessionCredentials final : public CredentialProvider {
public:
  SessionCredentials(std::function<Session()> fetch, std::chrono::seconds refresh_before, std::function<std::chrono::system_clock::time_point()> now)
      : fetch_(std::move(fetch)), refresh_before_(refresh_before), now_(std::move(now)) {}

  AccessKey current() override {
    const auto now = now_();
    if (session_ && now < next_refresh_)
      return session_->key;
    try {
      session_ = fetch_();
    } catch (const std::exception&) {
      if (session_ && now < session_->expiration)
        return session_->key;
      throw;
    }
    next_refresh_ = session_->expiration - refresh_before_;
    if (next_refresh_ <= now) // a session shorter than the margin: refresh half-way through it
      next_refresh_ = now + (session_->expiration - now) / 2;
    return session_->key;
  }

private:
  std::function<Session()> fetch_;
  std::chrono::seconds refresh_before_;
  std::function<std::chrono::system_clock::time_point()> now_;
  std::optional<Session> session_;
  std::chrono::system_clock::time_point next_refresh_{};
};

//! `2024-08-30T07:03:06Z` or `2024-08-30T07:03:06.117Z` (what STS and the metadata service write).
std::optional<std::chrono::system_clock::time_point> parse_utc(const std::string& text) {
  if ((text.size() != 20 && text.size() != 24) || text.back() != 'Z')
    return std::nullopt;
  std::tm parts{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &parts);
  if (end == nullptr || (*end != 'Z' && *end != '.'))
    return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

std::string utc_text(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text.size() > 300 ? text.substr(0, 300) + "..." : text;
}

//! `Code: Message (request id ...)` of an STS error body, or the status and body.
std::string sts_error(const HttpResponse& response) {
  JsonDocument body;
  if (parse_json(response.body, body) || !body.IsObject() || string_member(body, "Code").empty())
    return fmt::format("HTTP {}: {}", response.status, one_line(response.body));
  std::string text = fmt::format("{}: {}", string_member(body, "Code"), one_line(std::string(string_member(body, "Message"))));
  if (const std::string_view id = string_member(body, "RequestId"); !id.empty())
    text += fmt::format(" (request id {})", id);
  return text;
}

//! The Credentials of an STS or metadata answer, or a UserError naming what is missing.
Session session_of(const Json& credentials, const std::string& where, const std::string& source) {
  Session session;
  session.key = {std::string(string_member(credentials, "AccessKeyId")), std::string(string_member(credentials, "AccessKeySecret")),
                 std::string(string_member(credentials, "SecurityToken")), source};
  for (const auto& [field, value] : {std::pair{"AccessKeyId", &session.key.id}, {"AccessKeySecret", &session.key.secret},
                                     {"SecurityToken", &session.key.security_token}})
    if (value->empty())
      throw TransientError(fmt::format("{}: the answer has no {}", where, field));
  const std::string expiration(string_member(credentials, "Expiration"));
  const auto expires = parse_utc(expiration);
  if (!expires)
    throw TransientError(fmt::format("{}: Expiration: expected a UTC time such as 2024-08-30T07:03:06Z, got \"{}\"", where, expiration));
  session.expiration = *expires;
  return session;
}

HttpTransport& transport_of(const CredentialLookup& lookup, std::shared_ptr<HttpTransport>& made) {
  if (lookup.http)
    return *lookup.http;
  if (!made)
    made = make_http_transport();
  return *made;
}

//! RRSA: ALIBABA_CLOUD_ROLE_ARN, _OIDC_PROVIDER_ARN and _OIDC_TOKEN_FILE; nullopt when none of the
//! OIDC variables is set.
std::unique_ptr<CredentialProvider> from_oidc(const CredentialLookup& lookup) {
  const std::string role = env(lookup, "ALIBABA_CLOUD_ROLE_ARN");
  const std::string provider = env(lookup, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN");
  const std::string token_file = env(lookup, "ALIBABA_CLOUD_OIDC_TOKEN_FILE");
  if (provider.empty() && token_file.empty())
    return nullptr; // ALIBABA_CLOUD_ROLE_ARN alone belongs to other tools (RamRoleArn), not to RRSA
  for (const auto& [name, value] : {std::pair{"ALIBABA_CLOUD_ROLE_ARN", &role}, {"ALIBABA_CLOUD_OIDC_PROVIDER_ARN", &provider},
                                    {"ALIBABA_CLOUD_OIDC_TOKEN_FILE", &token_file}})
    if (value->empty())
      throw UserError(fmt::format("environment: RRSA: {} is empty (RRSA needs ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and "
                                  "ALIBABA_CLOUD_OIDC_TOKEN_FILE)",
                                  name));
  std::string origin = env(lookup, "ALIBABA_CLOUD_STS_ENDPOINT");
  if (origin.empty()) {
    const std::string region = env(lookup, "ALIBABA_CLOUD_STS_REGION");
    std::string vpc = env(lookup, "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED");
    std::transform(vpc.begin(), vpc.end(), vpc.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    origin = region.empty() ? "sts.aliyuncs.com" : fmt::format("{}.{}.aliyuncs.com", vpc == "true" ? "sts-vpc" : "sts", region);
  }
  while (!origin.empty() && origin.back() == '/')
    origin.pop_back();
  if (origin.find("://") == std::string::npos)
    origin = "https://" + origin;
  std::string session_name = env(lookup, "ALIBABA_CLOUD_ROLE_SESSION_NAME");
  if (session_name.empty())
    session_name = fmt::format("meridian-{}", std::chrono::duration_cast<std::chrono::milliseconds>(lookup.now().time_since_epoch()).count());
  auto made = std::make_shared<std::shared_ptr<HttpTransport>>();
  const std::string where = fmt::format("RRSA: STS AssumeRoleWithOIDC at {}", origin);
  const std::string source = fmt::format("RRSA (role {})", role);
  auto fetch = [lookup, role, provider, token_file, origin, session_name, made, where, source]() {
    const auto token = read_file(token_file);
    if (!token || trim(*token).empty())
      throw UserError(fmt::format("{}: ALIBABA_CLOUD_OIDC_TOKEN_FILE: cannot read the OIDC token", token_file));
    HttpRequest request;
    request.method = "POST";
    request.target = "/?Version=2015-04-01&Action=AssumeRoleWithOIDC&Format=JSON&Timestamp=" + encode_uri_component(utc_text(lookup.now()));
    request.headers = {{"content-type", "application/x-www-form-urlencoded"}};
    // The SDK's field order; anonymous: the OIDC token is the proof.
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{{"OIDCProviderArn", provider},
                                                                                     {"OIDCToken", *token},
                                                                                     {"RoleArn", role},
                                                                                     {"RoleSessionName", session_name},
                                                                                     {"DurationSeconds", "3600"}})
      request.body += (request.body.empty() ? "" : "&") + key + "=" + encode_uri_component(value);
    request.timeout = std::chrono::seconds(10);
    HttpResponse response;
    try {
      response = transport_of(lookup, *made).send(origin, request);
    } catch (const TransientError& error) {
      throw TransientError(fmt::format("{}: {}", where, error.what()));
    }
    if (response.status != 200) {
      const std::string message = fmt::format("{}: {}", where, sts_error(response));
      if (response.status >= 500 || response.status == 429)
        throw TransientError(message);
      throw UserError(message);
    }
    JsonDocument body;
    if (parse_json(response.body, body) || !body.IsObject() || find_member(body, "Credentials") == nullptr)
      throw TransientError(fmt::format("{}: the answer has no Credentials", where));
    return session_of(*find_member(body, "Credentials"), where, source);
  };
  return std::make_unique<SessionCredentials>(std::move(fetch), std::chrono::minutes(15), lookup.now);
}

bool env_true(const CredentialLookup& lookup, const std::string& name) {
  std::string value = env(lookup, name);
  std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return value == "true";
}

//! The ECS instance RAM role (the metadata service), as the SDK's ECSRAMRoleCredentialsProvider
//! asks for it: an IMDSv2 token (PUT /latest/api/token), then the role's credentials; without a
//! token (IMDSv1) unless ALIBABA_CLOUD_IMDSV1_DISABLED.
std::unique_ptr<CredentialProvider> from_ecs_role(const CredentialLookup& lookup) {
  std::string origin = env(lookup, "MERIDIAN_ACK_METADATA_ENDPOINT");
  if (origin.empty())
    origin = "http://100.100.100.200";
  while (!origin.empty() && origin.back() == '/')
    origin.pop_back();
  const bool v1_disabled = env_true(lookup, "ALIBABA_CLOUD_IMDSV1_DISABLED");
  const std::string configured_role = env(lookup, "ALIBABA_CLOUD_ECS_METADATA");
  auto made = std::make_shared<std::shared_ptr<HttpTransport>>();
  const std::string where = fmt::format("ECS instance RAM role: metadata service {}", origin);
  auto fetch = [lookup, origin, v1_disabled, configured_role, made, where]() {
    HttpTransport& http = transport_of(lookup, *made);
    const auto send = [&](const std::string& method, const std::string& path, const std::optional<std::string>& token) {
      HttpRequest request;
      request.method = method;
      request.target = path;
      request.timeout = std::chrono::seconds(1);
      if (method == "PUT")
        request.headers.emplace_back("x-aliyun-ecs-metadata-token-ttl-seconds", "21600");
      else if (token)
        request.headers.emplace_back("x-aliyun-ecs-metadata-token", *token);
      try {
        return http.send(origin, request);
      } catch (const TransientError& error) {
        throw TransientError(fmt::format("{}: {}", where, error.what()));
      }
    };
    const auto metadata_token = [&]() -> std::optional<std::string> {
      try {
        const HttpResponse answer = send("PUT", "/latest/api/token", std::nullopt);
        if (answer.status == 200)
          return answer.body;
        if (v1_disabled)
          throw TransientError(fmt::format("{}: PUT /latest/api/token: HTTP {} (IMDSv1 is disabled)", where, answer.status));
      } catch (const TransientError&) {
        if (v1_disabled)
          throw;
      }
      return std::nullopt;
    };
    // GET `path` with the token, and again without it when that fails and IMDSv1 is allowed.
    const auto get = [&](const std::string& path) {
      const std::optional<std::string> token = metadata_token();
      HttpResponse answer = send("GET", path, token);
      if (answer.status != 200 && token && !v1_disabled)
        answer = send("GET", path, std::nullopt);
      if (answer.status != 200)
        throw TransientError(fmt::format("{}: GET {}: HTTP {}: {}", where, path, answer.status, one_line(answer.body)));
      return answer.body;
    };
    std::string role = configured_role;
    if (role.empty())
      role = trim(get("/latest/meta-data/ram/security-credentials/"));
    if (role.empty())
      throw UserError(fmt::format("{}: no RAM role is attached to this instance", where));
    const std::string text = get("/latest/meta-data/ram/security-credentials/" + encode_uri_component(role));
    JsonDocument body;
    if (parse_json(text, body) || !body.IsObject())
      throw TransientError(fmt::format("{}: the credentials of role {} are not JSON", where, role));
    if (string_member(body, "Code") != "Success")
      throw TransientError(fmt::format("{}: role {}: Code is \"{}\", not Success", where, role, string_member(body, "Code")));
    return session_of(body, where, fmt::format("ECS instance RAM role {}", role));
  };
  return std::make_unique<SessionCredentials>(std::move(fetch), std::chrono::hours(1), lookup.now);
}

std::string string_field(const Json& profile, std::string_view key) { return std::string(string_member(profile, key)); }

std::optional<AccessKey> from_cli_config(const CredentialLookup& lookup) {
  if (const std::string disabled = env(lookup, "ALIBABA_CLOUD_CLI_PROFILE_DISABLED"); disabled == "true" || disabled == "TRUE" || disabled == "True")
    return std::nullopt;
  const std::string path = lookup.home + "/.aliyun/config.json";
  const auto text = read_file(path);
  if (!text)
    return std::nullopt;
  JsonDocument config;
  if (const auto error = parse_json(*text, config))
    throw UserError(fmt::format("{}: not valid JSON: {}", path, *error));
  const Json* profiles = find_member(config, "profiles");
  if (profiles == nullptr || !profiles->IsArray() || profiles->Empty())
    return std::nullopt; // the SDK moves on to the next source when the CLI has no profile
  std::string name = env(lookup, "ALIBABA_CLOUD_PROFILE");
  if (name.empty())
    name = string_field(config, "current");
  for (const Json& profile : profiles->GetArray()) {
    if (string_member(profile, "name") != name)
      continue;
    const std::string where = fmt::format("{}: profile {}", path, name);
    const std::string mode = string_field(profile, "mode");
    if (mode != "AK" && mode != "StsToken")
      throw UserError(fmt::format("{}: mode: \"{}\" is not supported (expected AK or StsToken)", where, mode));
    AccessKey key{string_field(profile, "access_key_id"), string_field(profile, "access_key_secret"),
                  mode == "StsToken" ? string_field(profile, "sts_token") : "", "~/.aliyun/config.json profile " + name};
    for (const auto& [field, value] : {std::pair{"access_key_id", &key.id}, {"access_key_secret", &key.secret}})
      if (value->empty())
        throw UserError(fmt::format("{}: {}: expected a non-empty string", where, field));
    if (mode == "StsToken" && key.security_token.empty())
      throw UserError(fmt::format("{}: sts_token: expected a non-empty string (mode StsToken)", where));
    return key;
  }
  throw UserError(fmt::format("{}: no profile named \"{}\"", path, name));
}

//! Sections of an INI file: name → key → value.
std::map<std::string, std::map<std::string, std::string>> parse_ini(const std::string& text) {
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string section;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';')
      continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      continue;
    }
    const size_t equals = line.find('=');
    if (equals != std::string::npos)
      sections[section][trim(line.substr(0, equals))] = trim(line.substr(equals + 1));
  }
  return sections;
}

std::optional<AccessKey> from_credentials_file(const CredentialLookup& lookup) {
  std::string path = env(lookup, "ALIBABA_CLOUD_CREDENTIALS_FILE");
  if (path.empty())
    path = lookup.home + "/.alibabacloud/credentials";
  const auto text = read_file(path);
  if (!text)
    return std::nullopt;
  std::string name = env(lookup, "ALIBABA_CLOUD_PROFILE");
  if (name.empty())
    name = "default";
  const auto sections = parse_ini(*text);
  const auto section = sections.find(name);
  if (section == sections.end())
    throw UserError(fmt::format("{}: no section [{}]", path, name));
  const std::string where = fmt::format("{}: [{}]", path, name);
  const auto value = [&](const std::string& key) {
    const auto found = section->second.find(key);
    return found == section->second.end() ? std::string() : found->second;
  };
  if (value("type") != "access_key")
    throw UserError(fmt::format("{}: type: \"{}\" is not supported (expected access_key)", where, value("type")));
  AccessKey key{value("access_key_id"), value("access_key_secret"), "", fmt::format("{} [{}]", path, name)};
  if (key.id.empty())
    throw UserError(fmt::format("{}: access_key_id: expected a non-empty value", where));
  if (key.secret.empty())
    throw UserError(fmt::format("{}: access_key_secret: expected a non-empty value", where));
  return key;
}

} // namespace

CredentialLookup process_lookup() {
  CredentialLookup lookup;
  lookup.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
  };
  const char* home = std::getenv("HOME");
  lookup.home = home == nullptr ? "" : home;
  return lookup;
}

std::unique_ptr<CredentialProvider> fixed_credentials(AccessKey key) { return std::make_unique<FixedCredentials>(std::move(key)); }

std::unique_ptr<CredentialProvider> resolve_credentials(const CredentialLookup& given) {
  CredentialLookup lookup = given;
  if (!lookup.now)
    lookup.now = [] { return std::chrono::system_clock::now(); };
  if (auto key = from_environment(lookup))
    return fixed_credentials(std::move(*key));
  if (auto oidc = from_oidc(lookup)) {
    oidc->current(); // a broken RRSA set-up fails now, not at the first request
    return oidc;
  }
  if (auto key = from_cli_config(lookup))
    return fixed_credentials(std::move(*key));
  if (auto key = from_credentials_file(lookup))
    return fixed_credentials(std::move(*key));
  std::string ecs = "ALIBABA_CLOUD_ECS_METADATA_DISABLED is true";
  if (!env_true(lookup, "ALIBABA_CLOUD_ECS_METADATA_DISABLED")) {
    auto role = from_ecs_role(lookup);
    try {
      role->current();
      return role;
    } catch (const std::exception& error) {
      ecs = error.what();
    }
  }
  throw UserError(fmt::format("no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, use RRSA "
                              "(ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE), configure a profile in "
                              "~/.aliyun/config.json (aliyun configure) or ~/.alibabacloud/credentials, or run on ECS with a RAM role ({})",
                              ecs));
}

AccessKey resolve_access_key(const CredentialLookup& lookup) { return resolve_credentials(lookup)->current(); }

std::string encode_uri_component(std::string_view text) {
  static constexpr std::string_view kept = "-_.!~*'()";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || kept.find(c) != std::string_view::npos)
      out += c;
    else
      out += fmt::format("%{:02X}", byte);
  }
  return out;
}

} // namespace meridian::ack

// The credential chain (see credentials.h).
#include "backend/ack/credentials.h"

#include "base/error.h"
#include "base/json.h"

#include <fmt/format.h>

#include <cstdlib>
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

void refuse_oidc(const CredentialLookup& lookup) {
  if (env(lookup, "ALIBABA_CLOUD_ROLE_ARN").empty() || env(lookup, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN").empty() ||
      env(lookup, "ALIBABA_CLOUD_OIDC_TOKEN_FILE").empty())
    return;
  throw UserError("environment: ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE ask for RRSA "
                  "(AssumeRoleWithOIDC), which Meridian does not support yet: set ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET(/SECURITY_TOKEN) instead");
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

AccessKey resolve_access_key(const CredentialLookup& lookup) {
  if (auto key = from_environment(lookup))
    return *key;
  refuse_oidc(lookup);
  if (auto key = from_cli_config(lookup))
    return *key;
  if (auto key = from_credentials_file(lookup))
    return *key;
  throw UserError("no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or configure "
                  "a profile in ~/.aliyun/config.json (aliyun configure) or ~/.alibabacloud/credentials");
}

} // namespace meridian::ack

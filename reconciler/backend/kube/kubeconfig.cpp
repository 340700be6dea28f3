// kubeconfig loading (as client-go's clientcmd), exec credential plugins, in-cluster config.
#include "backend/kube/kubeconfig.h"

#include "base/error.h"
#include "manifest/yaml_parser.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

extern char** environ;

namespace meridian::kube {
namespace {

namespace fs = std::filesystem;

constexpr auto kTokenFileRecheck = std::chrono::minutes(1);

std::string read_file(const fs::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw UserError(fmt::format("{}: cannot read {}: {}", path.string(), what, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string text(const Json* value) {
  if (value == nullptr || !value->IsString())
    return {};
  return {value->GetString(), value->GetStringLength()};
}

std::string text_of(const Json& object, std::string_view key) { return text(find_member(object, key)); }

bool bool_of(const Json& object, std::string_view key) {
  const Json* value = find_member(object, key);
  return value != nullptr && value->IsTrue();
}

std::string expand_home(const std::string& path) {
  if (path == "~" || path.starts_with("~/")) {
    const char* home = std::getenv("HOME");
    return std::string(home == nullptr ? "" : home) + path.substr(1);
  }
  return path;
}

//! A path from a kubeconfig, made absolute against the file's directory.
std::string resolve_path(const std::string& path, const fs::path& base) {
  if (path.empty())
    return path;
  const std::string expanded = expand_home(path);
  if (fs::path(expanded).is_absolute())
    return expanded;
  return (base / expanded).lexically_normal().string();
}

//! One named entry of a kubeconfig list (a cluster, user or context) and the file it came from.
struct Entry {
  const Json* body = nullptr;
  fs::path base;
  std::string file;
};

//! Every kubeconfig file of a loading chain, merged: the first definition of each name wins.
struct MergedConfig {
  std::vector<std::unique_ptr<YamlFile>> files; // owns the parsed documents the entries point into
  std::map<std::string, Entry> clusters;
  std::map<std::string, Entry> users;
  std::map<std::string, Entry> contexts;
  std::string current_context;
  std::string origin; // the files, for messages
};

void merge_file(MergedConfig& merged, const std::string& file) {
  const std::string content = read_file(file, "kubeconfig");
  auto parsed = parse_yaml(content);
  if (parsed->error)
    throw UserError(fmt::format("{}:{}: kubeconfig: {}", file, parsed->error->line, parsed->error->message));
  if (parsed->documents.empty()) {
    merged.files.push_back(std::move(parsed));
    return;
  }
  const Json& root = parsed->documents[0].value;
  if (!root.IsObject())
    throw UserError(fmt::format("{}: kubeconfig: expected a mapping with clusters, users and contexts", file));
  const fs::path base = fs::absolute(file).parent_path();
  const auto collect = [&](std::string_view list, std::string_view body_key, std::map<std::string, Entry>& into) {
    const Json* items = find_member(root, list);
    if (items == nullptr || items->IsNull())
      return;
    if (!items->IsArray())
      throw UserError(fmt::format("{}: {}: expected a list", file, list));
    for (rapidjson::SizeType index = 0; index < items->Size(); ++index) {
      const Json& item = (*items)[index];
      const std::string name = text_of(item, "name");
      const Json* body = find_member(item, body_key);
      if (name.empty() || body == nullptr || !body->IsObject())
        throw UserError(fmt::format("{}: {}[{}]: expected name and {}", file, list, index, body_key));
      into.try_emplace(name, Entry{body, base, file});
    }
  };
  collect("clusters", "cluster", merged.clusters);
  collect("users", "user", merged.users);
  collect("contexts", "context", merged.contexts);
  if (merged.current_context.empty())
    merged.current_context = text_of(root, "current-context");
  merged.files.push_back(std::move(parsed));
}

//! The files kubectl would read for `binding`, or empty when none exists (in-cluster config).
std::vector<std::string> kubeconfig_files(const ClusterBinding& binding) {
  if (!binding.kubeconfig.empty())
    return {expand_home(binding.kubeconfig)};
  std::vector<std::string> files;
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string_view list(env);
    while (!list.empty()) {
      const size_t colon = list.find(':');
      const std::string file(list.substr(0, colon));
      if (!file.empty() && fs::exists(file))
        files.push_back(file);
      list = colon == std::string_view::npos ? std::string_view{} : list.substr(colon + 1);
    }
    return files;
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr) {
    const fs::path recommended = fs::path(home) / ".kube" / "config";
    if (fs::exists(recommended))
      files.push_back(recommended.string());
  }
  return files;
}

//! The bytes of `<name>-data` (base64) or of the file `<name>`; "" when neither is set.
std::string inline_or_file(const Entry& entry, std::string_view name, std::string_view where) {
  const std::string data = text_of(*entry.body, fmt::format("{}-data", name));
  if (!data.empty()) {
    auto decoded = decode_base64(data);
    if (!decoded)
      throw UserError(fmt::format("{}: {}.{}-data: not valid base64", entry.file, where, name));
    return *decoded;
  }
  const std::string path = text_of(*entry.body, name);
  if (path.empty())
    return {};
  return read_file(resolve_path(path, entry.base), std::string(name));
}

std::optional<ExecPlugin> exec_plugin(const Entry& user, std::string_view where) {
  const Json* exec = find_member(*user.body, "exec");
  if (exec == nullptr || exec->IsNull())
    return std::nullopt;
  ExecPlugin plugin;
  plugin.command = text_of(*exec, "command");
  if (plugin.command.empty())
    throw UserError(fmt::format("{}: {}.exec.command: required", user.file, where));
  // client-go: a command with a path separator is relative to the kubeconfig's directory.
  if (plugin.command.find('/') != std::string::npos)
    plugin.command = resolve_path(plugin.command, user.base);
  plugin.api_version = text_of(*exec, "apiVersion");
  if (plugin.api_version != "client.authentication.k8s.io/v1" && plugin.api_version != "client.authentication.k8s.io/v1beta1")
    throw UserError(fmt::format("{}: {}.exec.apiVersion: expected client.authentication.k8s.io/v1 or v1beta1, got \"{}\"", user.file,
                                where, plugin.api_version));
  plugin.install_hint = text_of(*exec, "installHint");
  plugin.provide_cluster_info = bool_of(*exec, "provideClusterInfo");
  if (const Json* args = find_member(*exec, "args"); args != nullptr && args->IsArray()) {
    for (const auto& arg : args->GetArray())
      plugin.args.push_back(text(&arg));
  }
  if (const Json* env = find_member(*exec, "env"); env != nullptr && env->IsArray()) {
    for (const auto& variable : env->GetArray())
      plugin.env.emplace_back(text_of(variable, "name"), text_of(variable, "value"));
  }
  return plugin;
}

std::string trim_server(std::string server) {
  while (!server.empty() && server.back() == '/')
    server.pop_back();
  return server;
}

//! A file descriptor closed when it goes out of scope.
class FileDescriptor {
public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_;
};

//! posix_spawn file actions, destroyed when they go out of scope.
class SpawnActions {
public:
  SpawnActions() { posix_spawn_file_actions_init(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
  posix_spawn_file_actions_t* get() { return &actions_; }

private:
  posix_spawn_file_actions_t actions_;
};

struct ProcessResult {
  int exit_code = -1;
  std::string out;
};

//! Runs `command` (looked up in PATH) with `env` added to ours; stdout captured, stderr inherited.
ProcessResult run_process(const std::string& command, const std::vector<std::string>& args,
                          const std::vector<std::pair<std::string, std::string>>& env, int& spawn_error) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    spawn_error = errno;
    return {};
  }
  FileDescriptor read_end(fds[0]);
  FileDescriptor write_end(fds[1]);
  SpawnActions actions;
  posix_spawn_file_actions_adddup2(actions.get(), write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);

  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view variable(*entry);
    const bool overridden = std::any_of(env.begin(), env.end(), [&](const auto& pair) { return variable.starts_with(pair.first + "="); });
    if (!overridden)
      environment.emplace_back(variable);
  }
  for (const auto& [name, value] : env)
    environment.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : environment)
    envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_text = {command};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_text)
    argv.push_back(arg.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  spawn_error = posix_spawnp(&pid, command.c_str(), actions.get(), nullptr, argv.data(), envp.data());
  write_end.reset();
  if (spawn_error != 0)
    return {};
  ProcessResult result;
  char buffer[4096];
  for (;;) {
    const ssize_t count = ::read(read_end.get(), buffer, sizeof buffer);
    if (count < 0 && errno == EINTR)
      continue;
    if (count <= 0)
      break;
    result.out.append(buffer, static_cast<size_t>(count));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string json_string(std::string_view value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  return buffer.GetString();
}

} // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned int accumulator = 0;
  int bits = 0;
  bool padding = false;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
      continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const size_t value = kAlphabet.find(c);
    if (value == std::string_view::npos || padding)
      return std::nullopt;
    accumulator = (accumulator << 6) | static_cast<unsigned int>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((accumulator >> bits) & 0xff);
    }
  }
  return out;
}

std::string encode_base64(std::string_view bytes) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t index = 0;
  for (; index + 2 < bytes.size(); index += 3) {
    const unsigned int chunk = (static_cast<unsigned char>(bytes[index]) << 16) | (static_cast<unsigned char>(bytes[index + 1]) << 8) |
                               static_cast<unsigned char>(bytes[index + 2]);
    for (const int shift : {18, 12, 6, 0})
      out += kAlphabet[(chunk >> shift) & 0x3f];
  }
  if (index < bytes.size()) {
    unsigned int chunk = static_cast<unsigned char>(bytes[index]) << 16;
    if (index + 1 < bytes.size())
      chunk |= static_cast<unsigned char>(bytes[index + 1]) << 8;
    out += kAlphabet[(chunk >> 18) & 0x3f];
    out += kAlphabet[(chunk >> 12) & 0x3f];
    out += index + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 0x3f] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int consumed = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second, &consumed) != 6)
    return std::nullopt;
  std::string_view rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front())))
      rest.remove_prefix(1);
  }
  long offset_seconds = 0;
  if (rest == "Z" || rest == "z") {
    offset_seconds = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    const int hours = std::atoi(std::string(rest.substr(1, 2)).c_str());
    const int minutes = std::atoi(std::string(rest.substr(4, 2)).c_str());
    offset_seconds = (hours * 3600L + minutes * 60L) * (rest[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  // system_clock counts nanoseconds in 64 bits (until 2262): clamp far-future expiries.
  constexpr time_t kLatest = 7'000'000'000; // 2191
  const time_t utc = std::min<time_t>(timegm(&tm) - offset_seconds, kLatest);
  return std::chrono::system_clock::from_time_t(utc);
}

CredentialSource::CredentialSource(Credentials fixed, std::string token_file, std::optional<ExecPlugin> exec, Endpoint endpoint)
    : fixed_(std::move(fixed)), token_file_(std::move(token_file)), exec_(std::move(exec)), endpoint_(std::move(endpoint)) {}

void CredentialSource::invalidate() {
  plugin_output_.reset();
  plugin_expiry_.reset();
  file_read_at_ = {};
}

Credentials CredentialSource::current() {
  Credentials credentials = fixed_;
  if (!token_file_.empty()) {
    // Service-account tokens rotate; client-go re-reads the file every minute.
    const auto now = std::chrono::steady_clock::now();
    if (file_token_.empty() || now - file_read_at_ >= kTokenFileRecheck) {
      std::string token = read_file(token_file_, "token file");
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
        token.pop_back();
      file_token_ = std::move(token);
      file_read_at_ = now;
    }
    credentials.token = file_token_;
  }
  if (exec_) {
    const bool expired = plugin_expiry_ && std::chrono::system_clock::now() >= *plugin_expiry_;
    if (!plugin_output_ || expired)
      plugin_output_ = run_plugin();
    const Credentials& issued = *plugin_output_;
    if (!issued.token.empty())
      credentials.token = issued.token;
    if (!issued.client_certificate_pem.empty()) {
      credentials.client_certificate_pem = issued.client_certificate_pem;
      credentials.client_key_pem = issued.client_key_pem;
    }
  }
  return credentials;
}

Credentials CredentialSource::run_plugin() {
  const ExecPlugin& plugin = *exec_;
  std::string cluster_info;
  if (plugin.provide_cluster_info) {
    cluster_info = fmt::format(",\"cluster\":{{\"server\":{},\"certificate-authority-data\":{},\"insecure-skip-tls-verify\":{}}}",
                               json_string(endpoint_.server), json_string(encode_base64(endpoint_.ca_pem)),
                               endpoint_.insecure ? "true" : "false");
  }
  std::vector<std::pair<std::string, std::string>> env = plugin.env;
  env.emplace_back("KUBERNETES_EXEC_INFO",
                   fmt::format("{{\"apiVersion\":{},\"kind\":\"ExecCredential\",\"spec\":{{\"interactive\":false{}}}}}",
                               json_string(plugin.api_version), cluster_info));
  int spawn_error = 0;
  const ProcessResult result = run_process(plugin.command, plugin.args, env, spawn_error);
  const std::string where = fmt::format("{}: exec plugin {}", endpoint_.origin, plugin.command);
  if (spawn_error != 0)
    throw UserError(fmt::format("{}: cannot run: {}{}", where, std::strerror(spawn_error),
                                plugin.install_hint.empty() ? "" : " (" + plugin.install_hint + ")"));
  if (result.exit_code != 0)
    throw UserError(fmt::format("{}: exited with status {}", where, result.exit_code));
  JsonDocument credential;
  if (const auto error = parse_json(result.out, credential))
    throw UserError(fmt::format("{}: output is not an ExecCredential: {}", where, *error));
  if (text_of(credential, "kind") != "ExecCredential" || text_of(credential, "apiVersion") != plugin.api_version)
    throw UserError(fmt::format("{}: expected an ExecCredential of apiVersion {}, got kind \"{}\" apiVersion \"{}\"", where,
                                plugin.api_version, text_of(credential, "kind"), text_of(credential, "apiVersion")));
  const Json* status = find_member(credential, "status");
  if (status == nullptr || !status->IsObject())
    throw UserError(fmt::format("{}: the ExecCredential has no status", where));
  Credentials issued;
  issued.token = text_of(*status, "token");
  issued.client_certificate_pem = text_of(*status, "clientCertificateData");
  issued.client_key_pem = text_of(*status, "clientKeyData");
  if (issued.token.empty() && (issued.client_certificate_pem.empty() || issued.client_key_pem.empty()))
    throw UserError(fmt::format("{}: the ExecCredential status has neither token nor clientCertificateData and clientKeyData", where));
  plugin_expiry_.reset();
  if (const std::string expiry = text_of(*status, "expirationTimestamp"); !expiry.empty()) {
    plugin_expiry_ = parse_rfc3339(expiry);
    if (!plugin_expiry_)
      throw UserError(fmt::format("{}: status.expirationTimestamp: not an RFC 3339 time: \"{}\"", where, expiry));
  }
  return issued;
}

std::optional<Connection> in_cluster_connection(const std::string& account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0')
    return std::nullopt;
  const std::string host_text(host);
  Connection connection;
  connection.endpoint.server = fmt::format("https://{}:{}", host_text.find(':') != std::string::npos ? "[" + host_text + "]" : host_text, port);
  connection.endpoint.origin = "in-cluster config";
  const fs::path dir(account_dir);
  connection.endpoint.ca_pem = read_file(dir / "ca.crt", "service-account CA");
  if (fs::exists(dir / "namespace")) {
    std::string ns = read_file(dir / "namespace", "service-account namespace");
    while (!ns.empty() && (ns.back() == '\n' || ns.back() == ' '))
      ns.pop_back();
    if (!ns.empty())
      connection.default_namespace = ns;
  }
  connection.credentials = std::make_unique<CredentialSource>(Credentials{}, (dir / "token").string(), std::nullopt, connection.endpoint);
  return connection;
}

Connection resolve_connection(const ClusterBinding& binding) {
  const std::vector<std::string> files = kubeconfig_files(binding);
  if (files.empty()) {
    if (auto connection = in_cluster_connection())
      return std::move(*connection);
    throw UserError("no kubeconfig: set KUBECONFIG, create ~/.kube/config, bind clusters with --kube-config, or run inside a cluster");
  }
  MergedConfig merged;
  for (const std::string& file : files)
    merge_file(merged, file);
  std::string origin_files;
  for (const std::string& file : files)
    origin_files += (origin_files.empty() ? "" : ":") + file;

  const std::string context_name = binding.context.empty() ? merged.current_context : binding.context;
  if (context_name.empty())
    throw UserError(fmt::format("{}: no current-context and no context given", origin_files));
  const auto context = merged.contexts.find(context_name);
  if (context == merged.contexts.end())
    throw UserError(fmt::format("{}: context \"{}\" not found", origin_files, context_name));
  const std::string origin = fmt::format("kubeconfig {}, context {}", origin_files, context_name);
  const std::string cluster_name = text_of(*context->second.body, "cluster");
  const auto cluster = merged.clusters.find(cluster_name);
  if (cluster == merged.clusters.end())
    throw UserError(fmt::format("{}: cluster \"{}\" not found", origin, cluster_name));

  Connection connection;
  connection.endpoint.origin = origin;
  connection.endpoint.server = trim_server(text_of(*cluster->second.body, "server"));
  if (connection.endpoint.server.empty())
    throw UserError(fmt::format("{}: cluster \"{}\": server: required", origin, cluster_name));
  if (!connection.endpoint.server.starts_with("https://") && !connection.endpoint.server.starts_with("http://"))
    throw UserError(fmt::format("{}: cluster \"{}\": server: expected an https:// URL, got \"{}\"", origin, cluster_name,
                                connection.endpoint.server));
  connection.endpoint.insecure = bool_of(*cluster->second.body, "insecure-skip-tls-verify");
  connection.endpoint.ca_pem = inline_or_file(cluster->second, "certificate-authority", "cluster." + cluster_name);
  if (const std::string ns = text_of(*context->second.body, "namespace"); !ns.empty())
    connection.default_namespace = ns;

  Credentials fixed;
  std::string token_file;
  std::optional<ExecPlugin> exec;
  const std::string user_name = text_of(*context->second.body, "user");
  if (!user_name.empty()) {
    const auto user = merged.users.find(user_name);
    if (user == merged.users.end())
      throw UserError(fmt::format("{}: user \"{}\" not found", origin, user_name));
    const std::string where = "user." + user_name;
    fixed.client_certificate_pem = inline_or_file(user->second, "client-certificate", where);
    fixed.client_key_pem = inline_or_file(user->second, "client-key", where);
    if (fixed.client_certificate_pem.empty() != fixed.client_key_pem.empty())
      throw UserError(fmt::format("{}: {}: client-certificate and client-key go together", user->second.file, where));
    fixed.token = text_of(*user->second.body, "token");
    if (fixed.token.empty() && !text_of(*user->second.body, "tokenFile").empty())
      token_file = resolve_path(text_of(*user->second.body, "tokenFile"), user->second.base);
    fixed.username = text_of(*user->second.body, "username");
    fixed.password = text_of(*user->second.body, "password");
    exec = exec_plugin(user->second, where);
    if (find_member(*user->second.body, "auth-provider") != nullptr && !exec)
      throw UserError(fmt::format("{}: {}.auth-provider: not supported (removed from kubectl); use an exec plugin", user->second.file, where));
  }
  connection.credentials = std::make_unique<CredentialSource>(std::move(fixed), std::move(token_file), std::move(exec), connection.endpoint);
  return connection;
}

} // namespace meridian::kube

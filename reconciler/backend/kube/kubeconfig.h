// kubeconfig and in-cluster configuration: from a ClusterBinding to an API server endpoint and the
// credentials to present to it (internal to the kube backend).
//
// Loading follows client-go: $KUBECONFIG (a colon-separated list, first definition wins) or
// ~/.kube/config, and the in-cluster service account when neither exists. Relative paths in a
// kubeconfig are relative to its file. `*-data` fields are base64.
#pragma once

#include "backend/kube/kube.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace meridian::kube {

//! How to reach and trust one API server.
struct Endpoint {
  std::string server;          //!< https://host:port (no trailing slash)
  std::string ca_pem;          //!< "" = the system's trust store
  bool insecure = false;       //!< insecure-skip-tls-verify
  std::string origin;          //!< `kubeconfig /path, context c` or `in-cluster config`, for messages
};

//! What one request presents: a bearer token, basic auth, and/or a client certificate.
struct Credentials {
  std::string token;
  std::string username;
  std::string password;
  std::string client_certificate_pem;
  std::string client_key_pem;

  bool operator==(const Credentials&) const = default;
};

//! One exec credential plugin (client.authentication.k8s.io ExecCredential).
struct ExecPlugin {
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string api_version;
  std::string install_hint;
  bool provide_cluster_info = false;
};

//! Credentials that change while Meridian runs: token files re-read when they rotate, exec plugins
//! re-run when their credential expires. Not thread-safe.
class CredentialSource {
public:
  CredentialSource(Credentials fixed, std::string token_file, std::optional<ExecPlugin> exec, Endpoint endpoint);

  //! Credentials valid now (runs the plugin or re-reads the token file when needed). Throws UserError.
  Credentials current();
  //! Forgets cached plugin output (after a 401), so the next `current` runs the plugin again.
  void invalidate();
  bool refreshable() const { return exec_.has_value() || !token_file_.empty(); }

private:
  Credentials run_plugin();

  Credentials fixed_;
  std::string token_file_;
  std::optional<ExecPlugin> exec_;
  Endpoint endpoint_;
  std::string file_token_;
  std::chrono::steady_clock::time_point file_read_at_{};
  std::optional<Credentials> plugin_output_;
  std::optional<std::chrono::system_clock::time_point> plugin_expiry_;
};

//! A resolved kubeconfig context (or the in-cluster config).
struct Connection {
  Endpoint endpoint;
  std::unique_ptr<CredentialSource> credentials;
  std::string default_namespace = "default";
};

//! Resolves `binding` as kubectl would. Throws UserError naming the file, context and field.
Connection resolve_connection(const ClusterBinding& binding);

//! The in-cluster config from the service-account directory and KUBERNETES_SERVICE_HOST/PORT;
//! nullopt when those variables are not set.
std::optional<Connection> in_cluster_connection(const std::string& account_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

//! Base64 (standard alphabet, padding optional, whitespace ignored); nullopt when malformed.
std::optional<std::string> decode_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

//! RFC 3339 text ("2025-01-01T00:00:00Z", fractions and offsets allowed) as a time point.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

} // namespace meridian::kube

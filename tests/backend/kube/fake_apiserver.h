// A test Kubernetes API server on 127.0.0.1 with TLS (OpenSSL, one connection at a time,
// Connection: close). It checks requests the way kube-apiserver does (paths from discovery, verbs,
// apply content type, fieldManager, force only on apply, no managedFields in an apply body, dryRun,
// limit/continue, label selectors, authentication) and answers with responses shaped like the real
// ones: Status errors, discovery documents, CRDs that become Established after a few GETs, objects
// that linger after DELETE for a few GETs.
#pragma once

#include "base/json.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace meridian::testing {

//! Certificates generated for one test run (with the `openssl` command) under `dir`.
struct TestCertificates {
  std::string dir;
  std::string ca_file, ca_pem;
  std::string server_cert_file, server_key_file;
  std::string client_cert_file, client_key_file, client_cert_pem, client_key_pem; //!< CN=admin, signed by the CA
  std::string other_ca_file, other_ca_pem; //!< an unrelated CA (to see verification fail)
};

//! Makes a fresh temporary directory and the certificates in it.
TestCertificates make_certificates();

struct RecordedRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  std::string content_type;
  std::string body;
  std::string user; //!< authenticated user ("" when rejected)
  int status = 0;
};

//! A canned response for the next `times` requests whose method and path match.
struct InjectedResponse {
  std::string method;
  std::string path;
  int status = 500;
  std::string body;
  std::map<std::string, std::string> headers;
  int times = 1;
  std::string unless_query; //!< a query parameter (such as dryRun) whose requests are answered as usual
};

class FakeApiServer {
public:
  explicit FakeApiServer(const TestCertificates& certificates);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  std::string url() const;
  int port() const { return port_; }

  void add_token(const std::string& token, const std::string& user);
  void inject(InjectedResponse response);
  std::vector<RecordedRequest> requests();
  void clear_requests();

  //! Stores an object as another client would (a JSON manifest; namespace defaults to "default").
  void put(const std::string& manifest_json);
  //! The stored object at its REST path, or nullopt.
  std::optional<std::string> object(const std::string& path);
  //! Replaces the `status` of the object at `path` (JSON text of the status).
  void set_status(const std::string& path, const std::string& status_json);

  int crd_establish_after_gets = 2; //!< a new CRD reports Established=False for this many GETs
  int delete_after_gets = 1;        //!< a deleted object still answers GET this many times
  std::set<std::string> accepted_client_cns = {"admin"};

private:
  struct Type;
  struct Response;
  struct Request;
  void serve();
  void handle_connection(int fd);
  Response dispatch(Request& request);
  Response handle_resource(Request& request);
  const Type* find_type(const std::string& group, const std::string& version, const std::string& plural);
  const Type* type_of_kind(const std::string& group, const std::string& version, const std::string& kind);

  std::unique_ptr<struct TlsContext> tls_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, std::string> tokens_;
  std::vector<InjectedResponse> injected_;
  std::vector<RecordedRequest> requests_;
  std::vector<Type> types_;
  std::map<std::string, std::shared_ptr<JsonDocument>> objects_; //!< by REST path
  std::map<std::string, int> crd_gets_;
  std::map<std::string, int> deleting_;
  long long resource_version_ = 100;
  long long uid_ = 0;
};

} // namespace meridian::testing

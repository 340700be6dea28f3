// One HTTPS exchange with an API server (internal to the kube backend). The implementation
// (https_transport.cpp) is the backend's only cpprestsdk translation unit.
#pragma once

#include "backend/kube/kubeconfig.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace meridian::kube {

struct HttpCall {
  std::string method;       //!< GET, PATCH, DELETE...
  std::string target;       //!< path and query, already encoded: /apis/apps/v1/namespaces/x/deployments?limit=500
  std::string body;         //!< empty: no body
  std::string content_type; //!< of the body
};

struct HttpResult {
  int status = 0;
  std::string body;
  std::optional<long> retry_after_seconds; //!< from the Retry-After header
};

class Transport {
public:
  virtual ~Transport() = default;
  //! Sends `call` with `credentials`. Throws TransientError when the server cannot be reached
  //! (refused, reset, timeout) and UserError when TLS fails (untrusted certificate, bad key).
  virtual HttpResult send(const HttpCall& call, const Credentials& credentials) = 0;
};

//! An HTTPS (or plain HTTP) client of `endpoint`, trusting its CA (or nothing, when insecure); a
//! request that takes longer than `timeout` fails as unreachable.
std::unique_ptr<Transport> make_https_transport(const Endpoint& endpoint, std::chrono::seconds timeout = std::chrono::seconds(30));

//! Percent-encodes one query or path component.
std::string url_encode(std::string_view text);

} // namespace meridian::kube

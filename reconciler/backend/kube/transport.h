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

//! A response whose body arrives over time (a WATCH): read it line by line as the server sends it.
class Stream {
public:
  virtual ~Stream() = default;
  //! The HTTP status of the response.
  virtual int status() const = 0;
  //! The next line of the body (without its newline); nullopt when the server ended the body or
  //! the stream was cancelled. Throws TransientError when the connection breaks.
  virtual std::optional<std::string> read_line() = 0;
  //! Ends the stream from another thread: a read_line blocked in it returns nullopt.
  virtual void cancel() = 0;
};

class Transport {
public:
  virtual ~Transport() = default;
  //! Sends `call` with `credentials`. Throws TransientError when the server cannot be reached
  //! (refused, reset, timeout) and UserError when TLS fails (untrusted certificate, bad key).
  virtual HttpResult send(const HttpCall& call, const Credentials& credentials) = 0;
  //! Sends `call` and returns once the response's headers arrived, its body to read as it comes.
  //! Throws as send does; by default a transport cannot stream (UserError).
  virtual std::unique_ptr<Stream> open_stream(const HttpCall& call, const Credentials& credentials);
};

//! An HTTPS (or plain HTTP) client of `endpoint`, trusting its CA (or nothing, when insecure); a
//! request that takes longer than `timeout` fails as unreachable.
std::unique_ptr<Transport> make_https_transport(const Endpoint& endpoint, std::chrono::seconds timeout = std::chrono::seconds(30));

//! Percent-encodes one query or path component.
std::string url_encode(std::string_view text);

} // namespace meridian::kube

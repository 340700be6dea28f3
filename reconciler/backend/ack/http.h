// One HTTP exchange of the ack backend (internal to it): the CS OpenAPI, STS and the ECS metadata
// service all go through an HttpTransport, so that tests can point them at 127.0.0.1. The
// implementation (http_transport.cpp) is the backend's only cpprestsdk translation unit.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace meridian::ack {

struct HttpRequest {
  std::string method;
  std::string target; //!< encoded path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{0}; //!< 0 = the transport's default (30 s)
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers; //!< names lower-cased
};

//! One HTTP exchange. Throws TransientError when the endpoint cannot be reached.
class HttpTransport {
public:
  virtual ~HttpTransport() = default;
  virtual HttpResponse send(const std::string& origin, const HttpRequest& request) = 0;
};

//! HTTPS or plain HTTP (an `http://` origin) with cpprestsdk, one connection pool per origin.
std::unique_ptr<HttpTransport> make_http_transport();

} // namespace meridian::ack

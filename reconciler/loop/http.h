// The HTTP server of `meridian run`, behind a plain interface.
//
// cpprestsdk's http_listener lives only in http_server.cpp (its headers pull in Boost.Asio and cost
// ~20 s per translation unit); everything else sees HttpRequest → HttpResponse. Handlers run on
// the listener's thread pool, concurrently: the handler must be thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace meridian {

struct HttpRequest {
  std::string method;                         //!< GET, POST, ...
  std::string path;                           //!< decoded, without the query
  std::map<std::string, std::string> query;   //!< decoded query parameters
  std::map<std::string, std::string> headers; //!< names lower-cased
  std::string body;
  bool body_too_large = false;                //!< the body exceeded the server's limit and was not read
  std::string remote;                         //!< peer address

  //! A header by lower-case name, "" when absent.
  std::string header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

//! Host and port of a --listen address ("127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080").
struct ListenAddress {
  std::string host;
  int port = 0;
  bool is_loopback() const;
};
//! Parses a --listen value; throws UserError when it is not host:port.
ListenAddress parse_listen_address(std::string_view text);

class HttpServer {
public:
  //! Listens on `address` until destroyed; bodies longer than `body_limit` are not read (the
  //! handler sees body_too_large). Throws UserError when the address cannot be bound.
  HttpServer(const ListenAddress& address, size_t body_limit, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  //! http://host:port
  std::string url() const;

private:
  struct State;
  std::unique_ptr<State> state_;
};

} // namespace meridian

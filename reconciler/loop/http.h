// The HTTP server of `meridian run`, behind a plain interface.
//
// http_server.cpp is a small HTTP/1.1 server of its own (poll(2), Connection: close); everything
// else sees HttpRequest → HttpResponse. Handlers run on a few worker threads, concurrently: the
// handler must be thread-safe. A request reaches a worker only once it is complete: a slow or
// silent client holds a socket, never a worker.
#pragma once

#include <chrono>
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
  bool body_too_large = false;                //!< the body exceeded the server's limit and was not read (the server answers 413 itself)
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
  //! Listens on `address` until destroyed. A body declared longer than `body_limit` is refused
  //! (413) before any of it is read, a chunked one (411) too; a request whose headers and body
  //! have not arrived within `read_deadline` of the connection is dropped (408). Throws UserError
  //! when the address cannot be bound.
  HttpServer(const ListenAddress& address, size_t body_limit, HttpHandler handler,
             std::chrono::milliseconds read_deadline = std::chrono::seconds(10));
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

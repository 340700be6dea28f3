// HTTP/1.1 plumbing the tests' fake servers share (fake ACK, fake STS and metadata service, fake
// API server): reading one request from a connection (Content-Length or chunked body), its path
// and query decoded, writing a response, and a plain-HTTP server on 127.0.0.1 that hands each
// request to a handler, one connection at a time, closing each after its response.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace meridian::testing {

struct HttpMessage {
  std::string method;
  std::string target;                                        //!< as sent: path and query, encoded
  std::string path;                                          //!< decoded
  std::string raw_query;                                     //!< as sent
  std::map<std::string, std::string> query;                  //!< decoded
  std::vector<std::pair<std::string, std::string>> headers;  //!< names as sent, values trimmed
  std::string body;
  //! The value of header `name` (any case), "" when absent.
  std::string header(std::string_view name) const;
};

struct HttpReply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers; //!< besides Content-Length and Connection
  std::string content_type = "application/json";
};

//! Percent-decoding ('+' is a space, as in a form).
std::string url_decode(std::string_view text);

//! Reads one request through `read` (returns the bytes read into the buffer, <= 0 at the end or on
//! an error); nullopt when the connection ends before a whole head arrived.
std::optional<HttpMessage> read_http_request(const std::function<long(char*, size_t)>& read);

//! The bytes of `reply`, with Content-Length and Connection: close.
std::string http_reply_text(const HttpReply& reply);

//! A listening socket on 127.0.0.1 at a free port (written to `port`). Throws std::runtime_error.
int listen_on_loopback(int& port);

//! A plain-HTTP server on 127.0.0.1 (a free port) serving `handle` from its own thread until destroyed.
class PlainHttpServer {
public:
  explicit PlainHttpServer(std::function<HttpReply(const HttpMessage&)> handle);
  ~PlainHttpServer();
  PlainHttpServer(const PlainHttpServer&) = delete;
  PlainHttpServer& operator=(const PlainHttpServer&) = delete;

  std::string url() const; //!< http://127.0.0.1:PORT
  int port() const { return port_; }

private:
  void serve();

  std::function<HttpReply(const HttpMessage&)> handle_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace meridian::testing

// The only translation unit that includes cpprestsdk.
#include "loop/http.h"

#include "base/error.h"

#include <cpprest/http_listener.h>
#include <cpprest/uri.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace meridian {

namespace http = web::http;
using web::http::experimental::listener::http_listener;

std::string HttpRequest::header(std::string_view name) const {
  const auto found = headers.find(std::string(name));
  return found == headers.end() ? std::string() : found->second;
}

bool ListenAddress::is_loopback() const {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

ListenAddress parse_listen_address(std::string_view text) {
  const auto invalid = [&] {
    return UserError(fmt::format("--listen: expected host:port such as 127.0.0.1:8080, got \"{}\"", text));
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
    throw invalid();
  ListenAddress address;
  address.host = std::string(text.substr(0, colon));
  if (address.host.front() == '[') {
    if (address.host.back() != ']')
      throw invalid();
    address.host = address.host.substr(1, address.host.size() - 2);
  }
  const std::string_view port = text.substr(colon + 1);
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), address.port);
  if (error != std::errc() || end != port.data() + port.size() || address.port <= 0 || address.port > 65535)
    throw invalid();
  return address;
}

struct HttpServer::State {
  State(const std::string& url, size_t limit, HttpHandler on_request)
      : base(url), body_limit(limit), handler(std::move(on_request)), listener(web::uri(url)) {}

  void serve(http::http_request request) {
    HttpResponse response;
    try {
      response = handler(translate(request));
    } catch (const std::exception& error) {
      response = {500, "application/json", fmt::format("{{\"error\":\"internal error\"}}\n"), {}};
    }
    http::http_response reply(static_cast<http::status_code>(response.status));
    for (const auto& [name, value] : response.headers)
      reply.headers().add(name, value);
    reply.set_body(std::move(response.body), response.content_type);
    request.reply(reply).then([](const pplx::task<void>& sent) {
      try {
        sent.get();
      } catch (...) {
        // The client went away; nothing to tell it.
      }
    });
  }

  HttpRequest translate(http::http_request& request) const {
    HttpRequest out;
    out.method = request.method();
    const web::uri& uri = request.relative_uri();
    out.path = web::uri::decode(uri.path());
    for (const auto& [name, value] : web::uri::split_query(uri.query()))
      out.query[web::uri::decode(name)] = web::uri::decode(value);
    for (const auto& [name, value] : request.headers()) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      out.headers[lower] = value;
    }
    out.remote = request.remote_address();
    // A declared length over the limit is refused before reading a byte of it; an undeclared
    // (chunked) body is read and then measured.
    if (request.headers().content_length() > body_limit) {
      out.body_too_large = true;
      return out;
    }
    const std::vector<unsigned char> body = request.extract_vector().get();
    if (body.size() > body_limit) {
      out.body_too_large = true;
      return out;
    }
    out.body.assign(body.begin(), body.end());
    return out;
  }

  std::string base;
  size_t body_limit;
  HttpHandler handler;
  http_listener listener;
};

HttpServer::HttpServer(const ListenAddress& address, size_t body_limit, HttpHandler handler) {
  const std::string host = address.host.find(':') != std::string::npos ? "[" + address.host + "]" : address.host;
  const std::string url = fmt::format("http://{}:{}", host, address.port);
  try {
    state_ = std::make_unique<State>(url, body_limit, std::move(handler));
    State* state = state_.get();
    state_->listener.support([state](http::http_request request) { state->serve(std::move(request)); });
    state_->listener.open().wait();
  } catch (const std::exception& error) {
    throw UserError(fmt::format("--listen {}:{}: cannot listen: {}", address.host, address.port, error.what()));
  }
}

HttpServer::~HttpServer() {
  try {
    state_->listener.close().wait();
  } catch (...) {
    // Closing a listener whose connections already failed; the process is stopping anyway.
  }
}

std::string HttpServer::url() const { return state_->base; }

} // namespace meridian

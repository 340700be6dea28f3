// The ack backend's only cpprestsdk translation unit: one http_client per origin.
#include "backend/ack/http.h"

#include "base/error.h"

#include <cpprest/http_client.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace meridian::ack {
namespace {

namespace http = web::http;

constexpr auto kRequestTimeout = std::chrono::seconds(30);

class CppRestTransport final : public HttpTransport {
public:
  HttpResponse send(const std::string& origin, const HttpRequest& call) override {
    http::http_request request(call.method);
    request.set_request_uri(web::uri(call.target));
    std::string content_type;
    for (const auto& [name, value] : call.headers) {
      if (name == "content-type")
        content_type = value;
      else
        request.headers().add(name, value);
    }
    if (!call.body.empty() || !content_type.empty())
      request.set_body(call.body, content_type);
    try {
      http::http_response response = client(origin, call.timeout).request(request).get();
      HttpResponse result;
      result.status = response.status_code();
      result.body = response.extract_utf8string(true).get();
      for (const auto& [name, value] : response.headers()) {
        std::string key = name;
        std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        result.headers[key] = value;
      }
      return result;
    } catch (const http::http_exception& error) {
      clients_.erase({origin, call.timeout}); // a broken connection pool must not serve the retry
      std::string what = error.what();
      std::replace(what.begin(), what.end(), '\n', ' ');
      throw TransientError(fmt::format("{}: {}", origin, what));
    }
  }

private:
  http::client::http_client& client(const std::string& origin, std::chrono::milliseconds timeout) {
    auto found = clients_.find({origin, timeout});
    if (found == clients_.end()) {
      http::client::http_client_config config;
      config.set_timeout(timeout.count() > 0 ? std::chrono::duration_cast<std::chrono::microseconds>(timeout)
                                             : std::chrono::duration_cast<std::chrono::microseconds>(kRequestTimeout));
      found = clients_.emplace(std::pair{origin, timeout}, std::make_unique<http::client::http_client>(web::uri(origin), config)).first;
    }
    return *found->second;
  }

  //! By origin and timeout (the metadata service is asked with a short one).
  std::map<std::pair<std::string, std::chrono::milliseconds>, std::unique_ptr<http::client::http_client>> clients_;
};

} // namespace

std::unique_ptr<HttpTransport> make_http_transport() { return std::make_unique<CppRestTransport>(); }

} // namespace meridian::ack

// The kube backend's only cpprestsdk translation unit: HTTPS requests with the kubeconfig's TLS
// material (CA, client certificate through the SSL context callback, insecure flag).
#include "backend/kube/transport.h"

#include "base/error.h"

#include <cpprest/http_client.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <utility>
#include <cctype>

namespace meridian::kube {
namespace {

namespace http = web::http;

//! A WATCH asks the server to end it after at most 60 s (timeoutSeconds); its connection waits longer.
constexpr auto kStreamTimeout = std::chrono::seconds(120);

//! An OpenSSL memory BIO over a string, freed when it goes out of scope.
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

Bio memory_bio(const std::string& pem) { return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))); }

//! Every certificate of a PEM bundle; empty when none parses.
std::vector<std::unique_ptr<X509, X509Deleter>> read_certificates(const std::string& pem) {
  std::vector<std::unique_ptr<X509, X509Deleter>> certificates;
  Bio bio = memory_bio(pem);
  while (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    certificates.emplace_back(certificate);
  ERR_clear_error();
  return certificates;
}

bool valid_private_key(const std::string& pem) {
  Bio bio = memory_bio(pem);
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return key != nullptr;
}

bool mentions(std::string text, std::initializer_list<std::string_view> words) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::any_of(words.begin(), words.end(), [&](std::string_view word) { return text.find(word) != std::string::npos; });
}

class HttpsTransport final : public Transport {
public:
  HttpsTransport(Endpoint endpoint, std::chrono::seconds timeout) : endpoint_(std::move(endpoint)), timeout_(timeout) {
    if (!endpoint_.ca_pem.empty() && read_certificates(endpoint_.ca_pem).empty())
      throw UserError(fmt::format("{}: certificate-authority: no PEM certificate in it", endpoint_.origin));
  }

  HttpResult send(const HttpCall& call, const Credentials& credentials) override {
    if (!client_ || credentials.client_certificate_pem != client_certificate_ || credentials.client_key_pem != client_key_)
      connect(credentials, timeout_);
    http::http_request request = make_request(call, credentials);
    try {
      http::http_response response = client_->request(request).get();
      HttpResult result;
      result.status = response.status_code();
      result.body = response.extract_utf8string(true).get();
      const auto retry_after = response.headers().find("Retry-After");
      if (retry_after != response.headers().end()) {
        char* end = nullptr;
        const long seconds = std::strtol(retry_after->second.c_str(), &end, 10);
        if (end != retry_after->second.c_str() && seconds >= 0)
          result.retry_after_seconds = seconds;
      }
      return result;
    } catch (const http::http_exception& error) {
      client_.reset(); // a broken connection pool must not serve the retry
      fail(error.what());
    }
  }

  std::unique_ptr<Stream> open_stream(const HttpCall& call, const Credentials& credentials) override {
    // A stream has a connection of its own, whose timeout outlasts the WATCH's timeoutSeconds.
    connect(credentials, kStreamTimeout);
    http::http_request request = make_request(call, credentials);
    pplx::cancellation_token_source cancel;
    try {
      http::http_response response = client_->request(request, cancel.get_token()).get();
      return std::make_unique<HttpsStream>(std::move(response), std::move(cancel), endpoint_);
    } catch (const http::http_exception& error) {
      client_.reset();
      fail(error.what());
    } catch (const pplx::task_canceled&) {
      client_.reset();
      throw TransientError(fmt::format("{}: {}: cancelled", endpoint_.origin, endpoint_.server));
    }
  }

private:
  //! The body of a WATCH, read in chunks as the server flushes them and cut into lines.
  class HttpsStream final : public Stream {
  public:
    HttpsStream(http::http_response response, pplx::cancellation_token_source cancel, const Endpoint& endpoint)
        : response_(std::move(response)), body_(response_.body()), cancel_(std::move(cancel)), endpoint_(endpoint) {}
    ~HttpsStream() override { cancel(); }

    int status() const override { return response_.status_code(); }

    std::optional<std::string> read_line() override {
      for (;;) {
        if (const size_t newline = buffer_.find('\n'); newline != std::string::npos) {
          std::string line = buffer_.substr(0, newline);
          buffer_.erase(0, newline + 1);
          return line;
        }
        if (ended_ || cancelled_.load()) {
          if (buffer_.empty() || cancelled_.load())
            return std::nullopt;
          return std::exchange(buffer_, std::string());
        }
        // One byte, waiting for it (getn would wait for a whole chunk), then whatever else has come.
        try {
          auto buffer = body_.streambuf();
          const auto first = buffer.bumpc().get();
          if (first == concurrency::streams::streambuf<uint8_t>::traits::eof()) {
            ended_ = true;
            continue;
          }
          buffer_ += static_cast<char>(first);
          if (const size_t available = buffer.in_avail(); available > 0) {
            uint8_t chunk[64 * 1024];
            const size_t count = buffer.getn(chunk, std::min(available, sizeof chunk)).get();
            buffer_.append(reinterpret_cast<const char*>(chunk), count);
          }
        } catch (const std::exception& error) {
          if (cancelled_.load())
            return std::nullopt;
          throw TransientError(fmt::format("{}: {}: the stream broke: {}", endpoint_.origin, endpoint_.server, error.what()));
        }
      }
    }

    void cancel() override {
      if (!cancelled_.exchange(true))
        cancel_.cancel();
    }

  private:
    http::http_response response_;
    concurrency::streams::istream body_;
    pplx::cancellation_token_source cancel_;
    Endpoint endpoint_;
    std::string buffer_;
    bool ended_ = false;
    std::atomic<bool> cancelled_{false};
  };

  http::http_request make_request(const HttpCall& call, const Credentials& credentials) const {
    http::http_request request(call.method);
    request.set_request_uri(web::uri(call.target));
    request.headers().add("Accept", "application/json");
    request.headers().add("User-Agent", "meridian");
    if (!credentials.token.empty())
      request.headers().add("Authorization", "Bearer " + credentials.token);
    else if (!credentials.username.empty())
      request.headers().add("Authorization", "Basic " + encode_base64(credentials.username + ":" + credentials.password));
    if (!call.body.empty() || !call.content_type.empty())
      request.set_body(call.body, call.content_type);
    return request;
  }

  //! The error of a failed exchange: TLS failures are the user's to fix, the rest may pass.
  [[noreturn]] void fail(const std::string& what) const {
    if (mentions(what, {"handshake", "certificate", "ssl", "tls"}))
      throw UserError(fmt::format("{}: {}: TLS handshake failed: {} (check certificate-authority, client certificate and server name)",
                                   endpoint_.origin, endpoint_.server, one_line(what)));
    throw TransientError(fmt::format("{}: {}: {}", endpoint_.origin, endpoint_.server, one_line(what)));
  }

  static std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    while (!text.empty() && (text.back() == ' ' || text.back() == '.'))
      text.pop_back();
    return text;
  }

  void connect(const Credentials& credentials, std::chrono::seconds timeout) {
    if (!credentials.client_certificate_pem.empty()) {
      if (read_certificates(credentials.client_certificate_pem).empty())
        throw UserError(fmt::format("{}: client certificate: no PEM certificate in it", endpoint_.origin));
      if (!valid_private_key(credentials.client_key_pem))
        throw UserError(fmt::format("{}: client key: not a PEM private key", endpoint_.origin));
    }
    client_certificate_ = credentials.client_certificate_pem;
    client_key_ = credentials.client_key_pem;
    http::client::http_client_config config;
    config.set_timeout(timeout);
    config.set_validate_certificates(!endpoint_.insecure);
    const std::string ca = endpoint_.ca_pem;
    const std::string certificate = client_certificate_;
    const std::string key = client_key_;
    config.set_ssl_context_callback([ca, certificate, key](boost::asio::ssl::context& context) {
      boost::system::error_code ignored; // the PEM was checked above; a failure here shows as a handshake error
      if (!ca.empty()) {
        // Trust the kubeconfig's CA only, as kubectl does, not the system store cpprestsdk loaded.
        X509_STORE* store = X509_STORE_new();
        for (auto& certificate_authority : read_certificates(ca))
          X509_STORE_add_cert(store, certificate_authority.get());
        SSL_CTX_set_cert_store(context.native_handle(), store);
      }
      if (!certificate.empty()) {
        context.use_certificate_chain(boost::asio::buffer(certificate.data(), certificate.size()), ignored);
        context.use_private_key(boost::asio::buffer(key.data(), key.size()), boost::asio::ssl::context::pem, ignored);
      }
    });
    client_ = std::make_unique<http::client::http_client>(web::uri(endpoint_.server), config);
  }

  Endpoint endpoint_;
  std::chrono::seconds timeout_;
  std::string client_certificate_;
  std::string client_key_;
  std::unique_ptr<http::client::http_client> client_;
};

} // namespace

std::unique_ptr<Stream> Transport::open_stream(const HttpCall& call, const Credentials&) {
  throw UserError(fmt::format("{} {}: this transport cannot stream responses", call.method, call.target));
}

std::unique_ptr<Transport> make_https_transport(const Endpoint& endpoint, std::chrono::seconds timeout) {
  return std::make_unique<HttpsTransport>(endpoint, timeout);
}

} // namespace meridian::kube

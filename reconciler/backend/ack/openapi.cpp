// The ACK OpenAPI client (see openapi.h).
#include "backend/ack/openapi.h"

#include "base/error.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <ctime>
#include <thread>

namespace meridian::ack {
namespace {

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string random_nonce() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    throw UserError("cannot draw a random signature nonce (OpenSSL RAND_bytes failed)");
  std::string out;
  for (const unsigned char byte : bytes)
    out += fmt::format("{:02x}", byte);
  return out;
}

//! host[:port] of an origin `scheme://host[:port]`.
std::string host_of(const std::string& origin) {
  const size_t scheme = origin.find("://");
  return scheme == std::string::npos ? origin : origin.substr(scheme + 3);
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  while (!text.empty() && (text.back() == ' ' || text.back() == '.'))
    text.pop_back();
  return text;
}

//! `code: message (request id …)` from an error body (ACK writes code/message/requestId; the SDK
//! also reads the capitalised spellings).
std::string error_text(int status, const std::string& body) {
  JsonDocument error;
  if (parse_json(body, error) || !error.IsObject()) {
    const std::string excerpt = one_line(body.substr(0, 200));
    return fmt::format("HTTP {}{}{}", status, excerpt.empty() ? "" : ": ", excerpt);
  }
  const auto field = [&](std::string_view lower, std::string_view upper) {
    std::string value(string_member(error, lower));
    return value.empty() ? std::string(string_member(error, upper)) : value;
  };
  const std::string code = field("code", "Code");
  const std::string message = one_line(field("message", "Message"));
  const std::string request_id = field("requestId", "RequestId");
  std::string text = code.empty() ? fmt::format("HTTP {}", status) : code;
  if (!message.empty())
    text += ": " + message;
  if (!request_id.empty())
    text += fmt::format(" (request id {})", request_id);
  return text;
}

//! Writes are sent once: apply is the one layer that retries them (with its backoff, or the
//! server's Retry-After, and after looking a create's object up by name).
bool is_write(const ApiCall& call) { return call.method != "GET"; }

bool throttled(int status, const std::string& body) {
  if (status == 429)
    return true;
  JsonDocument error;
  if (parse_json(body, error) || !error.IsObject())
    return false;
  const std::string code = std::string(string_member(error, "code")) + std::string(string_member(error, "Code"));
  return code.find("Throttling") != std::string::npos;
}

} // namespace

std::string path_component(std::string_view text) { return percent_encode(text); }

OpenApiClient::OpenApiClient(AccessKey key, std::unique_ptr<HttpTransport> transport, ClientOptions options)
    : OpenApiClient(fixed_credentials(std::move(key)), std::move(transport), std::move(options)) {}

OpenApiClient::OpenApiClient(std::unique_ptr<CredentialProvider> credentials, std::unique_ptr<HttpTransport> transport, ClientOptions options)
    : credentials_(std::move(credentials)), transport_(std::move(transport)), options_(std::move(options)) {
  if (!options_.sleep)
    options_.sleep = [](std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); };
  if (!options_.timestamp)
    options_.timestamp = utc_timestamp;
  if (!options_.nonce)
    options_.nonce = random_nonce;
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/')
    options_.endpoint.pop_back();
  if (!options_.endpoint.empty() && options_.endpoint.find("://") == std::string::npos)
    options_.endpoint = "https://" + options_.endpoint;
}

std::pair<std::string, HttpRequest> OpenApiClient::prepare(const std::string& region, const ApiCall& call) {
  if (options_.endpoint.empty() && region.empty())
    throw UserError(fmt::format("ACK {}: no region to send it to (set region in the ack config)", call.action));
  const std::string origin = options_.endpoint.empty() ? fmt::format("https://cs.{}.aliyuncs.com", region) : options_.endpoint;
  HttpRequest request;
  request.method = call.method;
  request.target = call.pathname;
  std::string query;
  for (const auto& [key, value] : call.query)
    query += fmt::format("{}{}={}", query.empty() ? "?" : "&", percent_encode(key), percent_encode(value));
  request.target += query;
  if (call.body != nullptr)
    request.body = write_canonical(*call.body); // the SDK's bodies have sorted keys too
  SignedRequest signed_request{call.method, call.pathname, call.query, {}};
  auto& headers = signed_request.headers;
  headers = {{"host", host_of(origin)},
             {"x-acs-version", std::string(kApiVersion)},
             {"x-acs-action", call.action},
             {"user-agent", "meridian (AlibabaCloud ACK client)"},
             {"x-acs-date", options_.timestamp()},
             {"x-acs-signature-nonce", options_.nonce()},
             {"accept", "application/json"}};
  if (call.body != nullptr)
    headers.emplace_back("content-type", "application/json; charset=utf-8");
  const AccessKey key = credentials_->current();
  const std::string payload_hash = sha256_hex(request.body);
  headers.emplace_back("x-acs-content-sha256", payload_hash);
  if (!key.security_token.empty()) {
    headers.emplace_back("x-acs-accesskey-id", key.id);
    headers.emplace_back("x-acs-security-token", key.security_token);
  }
  headers.emplace_back("Authorization", authorization(signed_request, payload_hash, key.id, key.secret));
  request.headers = headers;
  return {origin, std::move(request)};
}

ApiResult OpenApiClient::call(const std::string& region, const ApiCall& call, std::initializer_list<int> accepted) {
  std::chrono::milliseconds backoff = options_.first_backoff;
  for (int attempt = 1;; ++attempt) {
    // Each attempt is signed again: a fresh date and nonce, as the SDK's retry loop does.
    const auto [origin, request] = prepare(region, call);
    HttpResponse response;
    try {
      response = transport_->send(origin, request);
    } catch (const TransientError& error) {
      if (attempt >= options_.max_attempts || !call.resend_after_failure || is_write(call))
        throw TransientError(fmt::format("ACK {}: {}", call.action, error.what()));
      options_.sleep(backoff);
      backoff *= 2;
      continue;
    }
    const bool ok = (response.status >= 200 && response.status < 300) ||
                    std::find(accepted.begin(), accepted.end(), response.status) != accepted.end();
    if (ok) {
      ApiResult result;
      result.status = response.status;
      result.body = std::make_shared<JsonDocument>();
      if (response.body.empty())
        result.body->SetObject();
      else if (const auto error = parse_json(response.body, *result.body))
        throw TransientError(fmt::format("ACK {}: HTTP {}: the answer is not JSON: {}", call.action, response.status, *error));
      return result;
    }
    const bool retry = throttled(response.status, response.body) || response.status >= 500;
    const bool resend = !is_write(call) && (throttled(response.status, response.body) || call.resend_after_failure);
    std::chrono::milliseconds retry_after{0};
    if (const auto after = response.headers.find("retry-after"); after != response.headers.end()) {
      char* end = nullptr;
      const long seconds = std::strtol(after->second.c_str(), &end, 10);
      if (end != after->second.c_str() && seconds >= 0 && seconds < 600)
        retry_after = std::chrono::milliseconds(seconds * 1000);
    }
    if (retry && resend && attempt < options_.max_attempts) {
      options_.sleep(std::max(backoff, retry_after));
      backoff *= 2;
      continue;
    }
    const std::string message = fmt::format("ACK {}: {}", call.action, error_text(response.status, response.body));
    if (retry)
      throw TransientError(message, retry_after);
    throw UserError(message);
  }
}

} // namespace meridian::ack

// The ACK OpenAPI client (product CS, version 2015-12-15, ROA style; internal to the ack backend):
// builds each request as @alicloud/cs20151215 does (headers, JSON body with sorted keys), signs it
// with ACS3-HMAC-SHA256, sends it through an HttpTransport, retries reads on throttling and 5xx with
// backoff, and turns ACK's error bodies into one-line errors with code, message and request id.
#pragma once

#include "backend/ack/credentials.h"
#include "backend/ack/http.h"
#include "backend/ack/signature.h"
#include "base/json.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace meridian::ack {

inline constexpr std::string_view kApiVersion = "2015-12-15";

//! One operation of the API, as the SDK's `…WithOptions` method describes it.
struct ApiCall {
  std::string action;                       //!< x-acs-action, e.g. DescribeClusterDetail
  std::string method;                       //!< GET, POST, PUT, DELETE
  std::string pathname;                     //!< encoded, e.g. /clusters/c123/nodepools
  std::map<std::string, std::string> query; //!< raw values
  const Json* body = nullptr;               //!< JSON body, or none
  //! False for a read whose failure must not be resent. Writes (any method but GET) are never
  //! resent by the client: throttling, 5xx and a lost connection are thrown as TransientError (with
  //! the server's Retry-After) to apply, the one layer that retries writes; a create may have been
  //! carried out (CreateCluster takes no client token), so apply's next attempt looks the object
  //! up by name first. Reads are resent on throttling and 5xx, up to max_attempts.
  bool resend_after_failure = true;
};

struct ApiResult {
  int status = 0;
  std::shared_ptr<JsonDocument> body; //!< parsed answer (an empty object when the body is empty)
};

struct ClientOptions {
  //! `https://host[:port]` or `http://host:port` for every region; "" = https://cs.<region>.aliyuncs.com.
  std::string endpoint;
  int max_attempts = 4;
  std::chrono::milliseconds first_backoff{std::chrono::milliseconds(500)};
  std::function<void(std::chrono::milliseconds)> sleep;       //!< default: this thread sleeps
  std::function<std::string()> timestamp;                     //!< x-acs-date; default: now, yyyy-MM-ddTHH:mm:ssZ
  std::function<std::string()> nonce;                         //!< default: 32 random hex digits
};

//! Percent-encodes one path component as the SDK's URL.percentEncode does.
std::string path_component(std::string_view text);

class OpenApiClient {
public:
  //! Signs every request with `key`.
  OpenApiClient(AccessKey key, std::unique_ptr<HttpTransport> transport, ClientOptions options);
  //! Signs each request with what `credentials` hold at that moment (STS sessions are refreshed).
  OpenApiClient(std::unique_ptr<CredentialProvider> credentials, std::unique_ptr<HttpTransport> transport, ClientOptions options);

  //! The request `call` becomes in `region` (headers signed), without sending it.
  std::pair<std::string, HttpRequest> prepare(const std::string& region, const ApiCall& call);

  //! Sends `call`. Statuses in `accepted` (besides 2xx) come back as results; other errors throw
  //! UserError (4xx) or TransientError (throttling and 5xx after the retries, unreachable endpoint)
  //! with `ACK <Action>: <code>: <message> (request id <id>)`. Retries back off exponentially.
  ApiResult call(const std::string& region, const ApiCall& call, std::initializer_list<int> accepted = {});

private:
  std::unique_ptr<CredentialProvider> credentials_;
  std::unique_ptr<HttpTransport> transport_;
  ClientOptions options_;
};

} // namespace meridian::ack

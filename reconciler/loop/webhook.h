// Git push webhooks: signature checks and the rate limit in front of them.
//
// A webhook only wakes the loop; its payload is untrusted and never read for a commit. Signatures
// are HMAC-SHA256 of the raw body with the shared secret (GitHub's X-Hub-Signature-256 and
// Meridian's X-Meridian-Signature, both `sha256=<hex>`) or the secret itself (GitLab's
// X-Gitlab-Token). Every comparison is constant-time (CRYPTO_memcmp), so a caller learns nothing
// from how long a rejection takes.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

namespace meridian {

//! Lower-case hex HMAC-SHA256 of `body` keyed with `secret`.
std::string hmac_sha256_hex(std::string_view secret, std::string_view body);

//! True when `header` is `sha256=<hex HMAC-SHA256 of body>` (hex in either case).
bool verify_hmac_signature(std::string_view secret, std::string_view body, std::string_view header);

//! True when `token` equals `secret`, compared in constant time (lengths included).
bool verify_token(std::string_view secret, std::string_view token);

//! Token bucket: `burst` requests at once, refilled at `per_second`. Thread-safe.
class TokenBucket {
public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double burst, double per_second);

  //! Takes one token if there is one; false means rate limited.
  bool take(Clock::time_point now = Clock::now());

private:
  std::mutex mutex_;
  double burst_;
  double per_second_;
  double tokens_;
  Clock::time_point last_;
  bool started_ = false;
};

} // namespace meridian

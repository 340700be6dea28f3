#include "loop/webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <optional>

namespace meridian {
namespace {

using Digest = std::array<unsigned char, 32>;

Digest hmac_sha256(std::string_view secret, std::string_view body) {
  Digest digest{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), digest.data(), &length);
  return digest;
}

Digest sha256(std::string_view text) {
  Digest digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<Digest> parse_hex_digest(std::string_view hex) {
  Digest digest{};
  if (hex.size() != digest.size() * 2)
    return std::nullopt;
  for (size_t i = 0; i < digest.size(); ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0)
      return std::nullopt;
    digest[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return digest;
}

} // namespace

std::string hmac_sha256_hex(std::string_view secret, std::string_view body) {
  static constexpr char digits[] = "0123456789abcdef";
  const Digest digest = hmac_sha256(secret, body);
  std::string hex;
  for (const unsigned char byte : digest) {
    hex += digits[byte >> 4];
    hex += digits[byte & 0xf];
  }
  return hex;
}

bool verify_hmac_signature(std::string_view secret, std::string_view body, std::string_view header) {
  constexpr std::string_view prefix = "sha256=";
  if (secret.empty() || header.substr(0, prefix.size()) != prefix)
    return false;
  const std::optional<Digest> claimed = parse_hex_digest(header.substr(prefix.size()));
  if (!claimed)
    return false;
  const Digest expected = hmac_sha256(secret, body);
  return CRYPTO_memcmp(claimed->data(), expected.data(), expected.size()) == 0;
}

bool verify_token(std::string_view secret, std::string_view token) {
  // Comparing digests rather than the strings keeps the time independent of the lengths too.
  if (secret.empty())
    return false;
  const Digest expected = sha256(secret);
  const Digest claimed = sha256(token);
  return CRYPTO_memcmp(claimed.data(), expected.data(), expected.size()) == 0;
}

TokenBucket::TokenBucket(double burst, double per_second) : burst_(burst), per_second_(per_second), tokens_(burst) {}

bool TokenBucket::take(Clock::time_point now) {
  const std::lock_guard lock(mutex_);
  if (started_ && now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * per_second_);
  }
  if (!started_ || now > last_)
    last_ = now;
  started_ = true;
  if (tokens_ < 1.0)
    return false;
  tokens_ -= 1.0;
  return true;
}

} // namespace meridian

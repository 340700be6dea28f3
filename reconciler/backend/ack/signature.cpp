// Signature V3 (see signature.h).
#include "backend/ack/signature.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

namespace meridian::ack {
namespace {

std::string hex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t index = 0; index < size; ++index) {
    out += kDigits[bytes[index] >> 4];
    out += kDigits[bytes[index] & 0xf];
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return {};
  const size_t last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

bool is_signed_header(std::string_view lower_name) {
  return lower_name == "host" || lower_name == "content-type" || lower_name.starts_with("x-acs-");
}

//! Signed headers by lower-case name, each with its trimmed values sorted (the SDK joins repeats with ",").
std::map<std::string, std::vector<std::string>> signed_headers(const SignedRequest& request) {
  std::map<std::string, std::vector<std::string>> headers;
  for (const auto& [name, value] : request.headers) {
    std::string key = lower(name);
    if (is_signed_header(key))
      headers[key].push_back(trim(value));
  }
  for (auto& [name, values] : headers)
    std::sort(values.begin(), values.end());
  return headers;
}

} // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return hex(digest, sizeof digest);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
       &size);
  return hex(digest, size);
}

std::string percent_encode(std::string_view text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    // encodeURIComponent keeps A-Z a-z 0-9 - _ . ~ ! ' ( ) *; the SDK then encodes ! ' ( ) * too.
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 0xf];
    }
  }
  return out;
}

std::vector<std::string> signed_header_names(const SignedRequest& request) {
  std::vector<std::string> names;
  for (const auto& [name, values] : signed_headers(request))
    names.push_back(name);
  return names;
}

std::string canonical_request(const SignedRequest& request, std::string_view payload_hash) {
  std::string uri = request.pathname;
  // The SDK's fix-ups of an already encoded path: "+" → %20, "*" → %2A, "%7E" → "~".
  std::string canonical_uri;
  for (size_t index = 0; index < uri.size(); ++index) {
    if (uri[index] == '+')
      canonical_uri += "%20";
    else if (uri[index] == '*')
      canonical_uri += "%2A";
    else if (uri.compare(index, 3, "%7E") == 0) {
      canonical_uri += '~';
      index += 2;
    } else
      canonical_uri += uri[index];
  }
  std::string query;
  for (const auto& [key, value] : request.query) // std::map: keys sorted as the SDK sorts them
    query += fmt::format("{}{}={}", query.empty() ? "" : "&", key, percent_encode(value));
  std::string headers;
  std::string names;
  for (const auto& [name, values] : signed_headers(request)) {
    std::string joined;
    for (const std::string& value : values)
      joined += (joined.empty() ? "" : ",") + value;
    headers += fmt::format("{}:{}\n", name, joined);
    names += (names.empty() ? "" : ";") + name;
  }
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, canonical_uri, query, headers, names, payload_hash);
}

std::string authorization(const SignedRequest& request, std::string_view payload_hash, std::string_view access_key_id,
                          std::string_view access_key_secret) {
  const std::string string_to_sign = fmt::format("{}\n{}", kSignatureAlgorithm, sha256_hex(canonical_request(request, payload_hash)));
  std::string names;
  for (const std::string& name : signed_header_names(request))
    names += (names.empty() ? "" : ";") + name;
  return fmt::format("{} Credential={},SignedHeaders={},Signature={}", kSignatureAlgorithm, access_key_id, names,
                     hmac_sha256_hex(access_key_secret, string_to_sign));
}

} // namespace meridian::ack

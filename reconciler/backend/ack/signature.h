// ACS3-HMAC-SHA256 (signature V3), the algorithm Alibaba Cloud's current SDKs use for every CS
// (ACK) request: a canonical request over the method, path, query, signed headers and the hashed
// body, hashed again and signed with the AccessKey secret. Written from @alicloud/openapi-core's
// Utils.getAuthorization and checked against requests that SDK signed (tests/backend/ack).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meridian::ack {

inline constexpr std::string_view kSignatureAlgorithm = "ACS3-HMAC-SHA256";

//! A request as it is signed: `pathname` already percent-encoded, query values raw.
struct SignedRequest {
  std::string method;
  std::string pathname;
  std::map<std::string, std::string> query;
  std::vector<std::pair<std::string, std::string>> headers; //!< names as sent; case-insensitive
};

//! Lower-case hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

//! Lower-case hex HMAC-SHA256 of `data` keyed by `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

//! JavaScript's encodeURIComponent plus ! ' ( ) * encoded: how the SDK encodes query values.
std::string percent_encode(std::string_view text);

//! Names of the headers that are signed (host, content-type, x-acs-*), lower-cased and sorted.
std::vector<std::string> signed_header_names(const SignedRequest& request);

//! The canonical request of signature V3 for a body whose SHA-256 is `payload_hash`.
std::string canonical_request(const SignedRequest& request, std::string_view payload_hash);

//! The `Authorization` header value: `ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...`.
std::string authorization(const SignedRequest& request, std::string_view payload_hash, std::string_view access_key_id,
                          std::string_view access_key_secret);

} // namespace meridian::ack

// Alibaba Cloud credentials, found as the official SDKs' default chain finds them
// (@alicloud/credentials 2.4 DefaultCredentialsProvider), in this order:
//  1. the environment: ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and, for an STS
//     key, ALIBABA_CLOUD_SECURITY_TOKEN;
//  2. RRSA, OIDC role assumption for pods in ACK: ALIBABA_CLOUD_ROLE_ARN,
//     ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE, exchanged for an STS key
//     with STS AssumeRoleWithOIDC (anonymous RPC call to sts.aliyuncs.com, sts.<region> with
//     ALIBABA_CLOUD_STS_REGION, sts-vpc.<region> with ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true, or
//     ALIBABA_CLOUD_STS_ENDPOINT, which ack-pod-identity-webhook injects too;
//     ALIBABA_CLOUD_ROLE_SESSION_NAME; 3600 s), the token file read
//     again at each refresh;
//  3. the `aliyun` CLI's ~/.aliyun/config.json (profile $ALIBABA_CLOUD_PROFILE or its `current`;
//     modes AK and StsToken);
//  4. ~/.alibabacloud/credentials (or $ALIBABA_CLOUD_CREDENTIALS_FILE; section
//     $ALIBABA_CLOUD_PROFILE or `default`, type access_key);
//  5. the ECS instance RAM role from the metadata service (http://100.100.100.200: an IMDSv2 token,
//     then /latest/meta-data/ram/security-credentials/<role>; the role from
//     ALIBABA_CLOUD_ECS_METADATA or the service; ALIBABA_CLOUD_ECS_METADATA_DISABLED=true skips it,
//     ALIBABA_CLOUD_IMDSV1_DISABLED=true forbids the tokenless fallback; MERIDIAN_ACK_METADATA_ENDPOINT
//     points elsewhere, for tests).
// STS sessions (2 and 5) are refreshed before they expire: 15 minutes before for RRSA, an hour
// before for the ECS role (the SDK's stale and prefetch times); a failed refresh keeps the old key
// while it is still valid. Unlike the SDK, a source that is configured but broken (half an
// environment pair, an RRSA token file that cannot be read, an STS refusal) is an error, never a
// silent fall-through to another identity. Never from Git.
//
// Secrets never appear in messages: errors name the source and the field only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace meridian::ack {

class HttpTransport;

struct AccessKey {
  std::string id;
  std::string secret;
  std::string security_token; //!< STS token; "" for a long-term AccessKey
  std::string source;         //!< where it came from, for messages ("environment", "~/.aliyun/config.json profile default")
};

//! Where the chain looks: the process environment, home directory, clock and HTTP by default;
//! tests substitute.
struct CredentialLookup {
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  std::string home;
  std::function<std::chrono::system_clock::time_point()> now; //!< default: the system clock
  //! For STS and the metadata service; nullptr: a cpprestsdk transport made when first needed.
  std::shared_ptr<HttpTransport> http;
};

//! The real environment and $HOME.
CredentialLookup process_lookup();

//! Credentials that may change while Meridian runs. Used from one thread at a time.
class CredentialProvider {
public:
  virtual ~CredentialProvider() = default;
  //! A key valid now (an STS session is refreshed first when it is about to expire). Throws
  //! UserError for what the user must fix, TransientError when STS or the metadata service could
  //! not be reached and no valid key is left.
  virtual AccessKey current() = 0;
};

//! A provider that always hands out `key`.
std::unique_ptr<CredentialProvider> fixed_credentials(AccessKey key);

//! The first source of the chain that is configured (fetching an STS session now, so that a
//! broken one fails at start). Throws UserError naming the source and field when a source is
//! present but broken, or listing every place looked at when none is.
std::unique_ptr<CredentialProvider> resolve_credentials(const CredentialLookup& lookup);

//! resolve_credentials(lookup)->current().
AccessKey resolve_access_key(const CredentialLookup& lookup);

//! JavaScript's encodeURIComponent (how the credentials SDK encodes STS form fields and queries).
std::string encode_uri_component(std::string_view text);

} // namespace meridian::ack

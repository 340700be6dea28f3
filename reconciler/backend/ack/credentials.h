// Alibaba Cloud credentials, found as the official SDKs' default chain finds them
// (@alicloud/credentials DefaultCredentialsProvider): the environment, then RRSA (OIDC role
// assumption, recognised but not supported yet: an error, never a silent fallback to another
// identity), then the `aliyun` CLI's ~/.aliyun/config.json (profile $ALIBABA_CLOUD_PROFILE or its
// `current`; modes AK and StsToken), then ~/.alibabacloud/credentials (or
// $ALIBABA_CLOUD_CREDENTIALS_FILE; section $ALIBABA_CLOUD_PROFILE or `default`, type access_key).
// The ECS instance RAM role (metadata service) is not read yet. Never from Git.
//
// Secrets never appear in messages: errors name the source and the field only.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace meridian::ack {

struct AccessKey {
  std::string id;
  std::string secret;
  std::string security_token; //!< STS token; "" for a long-term AccessKey
  std::string source;         //!< where it came from, for messages ("environment", "~/.aliyun/config.json profile default")
};

//! Where the chain looks: the process environment and home directory by default; tests substitute.
struct CredentialLookup {
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  std::string home;
};

//! The real environment and $HOME.
CredentialLookup process_lookup();

//! The first credentials of the chain. Throws UserError naming the source and field when a source
//! is present but broken, or listing every place looked at when none is.
AccessKey resolve_access_key(const CredentialLookup& lookup);

} // namespace meridian::ack

// The credential chain (environment, RRSA, aliyun CLI profile, credentials file, ECS instance RAM
// role) and the ack config file: order, errors naming the source and field, secrets never in
// messages. RRSA and the ECS role run against a fake STS and a fake metadata service on 127.0.0.1
// that check each request as the real services do; their sessions are refreshed before expiry.
#include "backend/ack/ack.h"
#include "backend/ack/credentials.h"
#include "backend/ack/http.h"
#include "../../support/http_server.h"
#include "base/error.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <regex>

using namespace meridian;
using namespace meridian::ack;
namespace fs = std::filesystem;

namespace {

struct Home {
  fs::path path;
  std::map<std::string, std::string> env;
  Home() {
    std::string pattern = (fs::temp_directory_path() / "meridian-ack-home-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~Home() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  void write(const std::string& relative, const std::string& text) {
    fs::create_directories((path / relative).parent_path());
    std::ofstream(path / relative) << text;
  }
  CredentialLookup lookup() const {
    CredentialLookup lookup;
    lookup.getenv = [this](const std::string& name) -> std::optional<std::string> {
      const auto found = env.find(name);
      return found == env.end() ? std::nullopt : std::optional<std::string>(found->second);
    };
    lookup.home = path.string();
    return lookup;
  }
};

const std::string cli_config = R"({
  "current": "prod",
  "profiles": [
    {"name": "default", "mode": "AK", "access_key_id": "LTAIcliDefault", "access_key_secret": "cli-default-secret"},
    {"name": "prod", "mode": "StsToken", "access_key_id": "STS.cliProd", "access_key_secret": "cli-prod-secret", "sts_token": "cli-prod-token"},
    {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "worker"}
  ]
})";

const std::string credentials_file = "[default]\ntype = access_key\naccess_key_id = LTAIfileDefault\naccess_key_secret = file-default-secret\n"
                                     "[other]\ntype = ecs_ram_role\n";

std::string error_of(const Home& home) {
  try {
    resolve_access_key(home.lookup());
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

} // namespace

TEST_CASE("the chain: environment, then the aliyun CLI profile, then the credentials file") {
  Home home;
  home.write(".aliyun/config.json", cli_config);
  home.write(".alibabacloud/credentials", credentials_file);
  home.env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = "LTAIenv";
  home.env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = "env-secret";
  home.env["ALIBABA_CLOUD_SECURITY_TOKEN"] = "env-token";
  AccessKey key = resolve_access_key(home.lookup());
  CHECK(key.id == "LTAIenv");
  CHECK(key.secret == "env-secret");
  CHECK(key.security_token == "env-token");
  CHECK(key.source == "environment");

  home.env.clear();
  key = resolve_access_key(home.lookup());
  CHECK(key.id == "STS.cliProd"); // the CLI's current profile
  CHECK(key.security_token == "cli-prod-token");
  home.env["ALIBABA_CLOUD_PROFILE"] = "default";
  key = resolve_access_key(home.lookup());
  CHECK(key.id == "LTAIcliDefault");
  CHECK(key.security_token.empty());

  home.env["ALIBABA_CLOUD_CLI_PROFILE_DISABLED"] = "true";
  key = resolve_access_key(home.lookup());
  CHECK(key.id == "LTAIfileDefault");

  home.env.clear();
  fs::remove(home.path / ".aliyun/config.json");
  key = resolve_access_key(home.lookup());
  CHECK(key.id == "LTAIfileDefault");
  CHECK(key.source.find(".alibabacloud/credentials [default]") != std::string::npos);

  home.env["ALIBABA_CLOUD_CREDENTIALS_FILE"] = (home.path / "elsewhere").string();
  home.write("elsewhere", "[default]\ntype = access_key\naccess_key_id = LTAIelsewhere\naccess_key_secret = s\n");
  CHECK(resolve_access_key(home.lookup()).id == "LTAIelsewhere");
}

TEST_CASE("credential errors name the source and the field, never a secret") {
  Home home;
  SECTION("nothing configured lists where it looked, the metadata service's answer included") {
    home.env["MERIDIAN_ACK_METADATA_ENDPOINT"] = "http://127.0.0.1:1"; // nothing listens there
    const std::string message = error_of(home);
    CHECK(message.find("ALIBABA_CLOUD_ACCESS_KEY_ID") != std::string::npos);
    CHECK(message.find("ALIBABA_CLOUD_OIDC_TOKEN_FILE") != std::string::npos);
    CHECK(message.find("~/.aliyun/config.json") != std::string::npos);
    CHECK(message.find("~/.alibabacloud/credentials") != std::string::npos);
    CHECK(message.find("ECS instance RAM role: metadata service http://127.0.0.1:1") != std::string::npos);
    home.env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true";
    CHECK(error_of(home).find("(ALIBABA_CLOUD_ECS_METADATA_DISABLED is true)") != std::string::npos);
  }
  SECTION("half an environment pair") {
    home.env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = "LTAIenv";
    CHECK(error_of(home) == "environment: ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is empty");
    home.env.clear();
    home.env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = "very-secret-value";
    const std::string message = error_of(home);
    CHECK(message.find("ALIBABA_CLOUD_ACCESS_KEY_ID is empty") != std::string::npos);
    CHECK(message.find("very-secret-value") == std::string::npos);
  }
  SECTION("half an RRSA set-up, or a token file that cannot be read, is an error, not a fall-through to the CLI profile") {
    home.write(".aliyun/config.json", cli_config);
    home.env["ALIBABA_CLOUD_ROLE_ARN"] = "acs:ram::1:role/x";
    home.env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"] = "/var/run/token";
    CHECK(error_of(home) == "environment: RRSA: ALIBABA_CLOUD_OIDC_PROVIDER_ARN is empty (RRSA needs ALIBABA_CLOUD_ROLE_ARN, "
                            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE)");
    home.env["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"] = "acs:ram::1:oidc-provider/y";
    home.env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"] = (home.path / "missing-token").string();
    CHECK(error_of(home) == (home.path / "missing-token").string() + ": ALIBABA_CLOUD_OIDC_TOKEN_FILE: cannot read the OIDC token");
  }
  SECTION("ALIBABA_CLOUD_ROLE_ARN alone is not RRSA (other tools use it)") {
    home.write(".aliyun/config.json", cli_config);
    home.env["ALIBABA_CLOUD_ROLE_ARN"] = "acs:ram::1:role/x";
    CHECK(resolve_access_key(home.lookup()).id == "STS.cliProd");
  }
  SECTION("an unsupported CLI mode, a missing profile, a broken file") {
    home.write(".aliyun/config.json", cli_config);
    home.env["ALIBABA_CLOUD_PROFILE"] = "ecs";
    CHECK(error_of(home) == (home.path / ".aliyun/config.json").string() + ": profile ecs: mode: \"EcsRamRole\" is not supported (expected AK or StsToken)");
    home.env["ALIBABA_CLOUD_PROFILE"] = "nope";
    CHECK(error_of(home) == (home.path / ".aliyun/config.json").string() + ": no profile named \"nope\"");
    home.write(".aliyun/config.json", "{\"profiles\": [");
    CHECK(error_of(home).starts_with((home.path / ".aliyun/config.json").string() + ": not valid JSON"));
  }
  SECTION("a credentials file without a secret") {
    home.write(".alibabacloud/credentials", "[default]\ntype = access_key\naccess_key_id = LTAIx\n");
    CHECK(error_of(home) == (home.path / ".alibabacloud/credentials").string() + ": [default]: access_key_secret: expected a non-empty value");
    home.env["ALIBABA_CLOUD_PROFILE"] = "other";
    home.write(".alibabacloud/credentials", credentials_file);
    CHECK(error_of(home).find("type: \"ecs_ram_role\" is not supported") != std::string::npos);
  }
}

namespace {

//! A clock the test moves.
struct Clock {
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  std::function<std::chrono::system_clock::time_point()> function() {
    return [this] { return now; };
  }
};

//! STS (2015-04-01) answering AssumeRoleWithOIDC as the service does: an anonymous RPC POST with
//! the action in the query and the fields in a form body; anything else is refused with STS's
//! error shape. Each session it hands out has a new key and lasts `duration` (else DurationSeconds).
struct FakeSts {
  std::mutex mutex;
  std::vector<meridian::testing::HttpMessage> requests;
  std::string expected_token = "oidc-token-1";
  std::optional<int> duration;
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
  int fail_with = 0; //!< answer this status (with an STS error body) instead
  int issued = 0;
  meridian::testing::PlainHttpServer server{[this](const meridian::testing::HttpMessage& request) { return handle(request); }};

  static meridian::testing::HttpReply refuse(int status, const std::string& code, const std::string& message) {
    return {status, fmt::format(R"({{"RequestId":"STS-REQUEST-1","HostId":"sts.aliyuncs.com","Code":"{}","Message":"{}","Recommend":"https://api.aliyun.com"}})",
                                code, message)};
  }

  meridian::testing::HttpReply handle(const meridian::testing::HttpMessage& request) {
    std::lock_guard lock(mutex);
    requests.push_back(request);
    if (fail_with != 0)
      return refuse(fail_with, fail_with >= 500 ? "InternalError" : "NoPermission", "injected by the test");
    if (request.method != "POST" || request.path != "/")
      return refuse(404, "InvalidAction.NotFound", "Specified api is not found");
    const auto query = [&](const std::string& name) { return request.query.count(name) ? request.query.at(name) : std::string(); };
    if (query("Action") != "AssumeRoleWithOIDC" || query("Version") != "2015-04-01" || query("Format") != "JSON")
      return refuse(400, "InvalidParameter", "Action, Version or Format");
    if (!std::regex_match(query("Timestamp"), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      return refuse(400, "InvalidTimeStamp.Format", "Timestamp");
    if (!request.header("authorization").empty() || request.query.count("Signature") != 0)
      return refuse(400, "InvalidParameter", "AssumeRoleWithOIDC is called anonymously");
    if (request.header("content-type") != "application/x-www-form-urlencoded")
      return refuse(400, "InvalidParameter", "the body must be a form");
    std::map<std::string, std::string> form;
    std::istringstream pairs(request.body);
    for (std::string pair; std::getline(pairs, pair, '&');)
      form[meridian::testing::url_decode(pair.substr(0, pair.find('=')))] = meridian::testing::url_decode(pair.substr(pair.find('=') + 1));
    for (const char* field : {"OIDCProviderArn", "OIDCToken", "RoleArn", "RoleSessionName"})
      if (form[field].empty())
        return refuse(400, "MissingParameter", field);
    if (!std::regex_match(form["RoleSessionName"], std::regex(R"([\w\-.@]{2,64})")))
      return refuse(400, "InvalidParameter.RoleSessionName", "RoleSessionName");
    const int seconds = form["DurationSeconds"].empty() ? 3600 : std::stoi(form["DurationSeconds"]);
    if (seconds < 900 || seconds > 43200)
      return refuse(400, "InvalidParameter.DurationSeconds", "DurationSeconds");
    if (form["OIDCToken"] != expected_token)
      return refuse(400, "AuthenticationFail.OIDCToken.Invalid", "the OIDC token is not valid");
    if (form["RoleArn"] != "acs:ram::1234:role/meridian" || form["OIDCProviderArn"] != "acs:ram::1234:oidc-provider/ack-rrsa-c123")
      return refuse(403, "NoPermission", "the role cannot be assumed with this provider");
    ++issued;
    const std::time_t expires = std::chrono::system_clock::to_time_t(now()) + duration.value_or(seconds);
    std::tm parts{};
    gmtime_r(&expires, &parts);
    char expiration[32];
    std::strftime(expiration, sizeof expiration, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return {200, fmt::format(R"({{"RequestId":"STS-REQUEST-2","AssumedRoleUser":{{"Arn":"acs:ram::1234:role/meridian/{0}","AssumedRoleId":"3000:{0}"}},)"
                             R"("Credentials":{{"AccessKeyId":"STS.rrsa{1}","AccessKeySecret":"rrsa-secret-{1}","SecurityToken":"rrsa-token-{1}","Expiration":"{2}"}}}})",
                             form["RoleSessionName"], issued, expiration)};
  }
};

//! The ECS metadata service in IMDSv2-only mode: a token from PUT /latest/api/token (with its TTL
//! header) must come with every GET.
struct FakeMetadata {
  std::mutex mutex;
  std::vector<std::string> requests; //!< "METHOD path"
  int issued = 0;
  long long lifetime = 6 * 3600;
  bool v1_only = false; //!< an older service: no token endpoint, GETs without a token
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
  meridian::testing::PlainHttpServer server{[this](const meridian::testing::HttpMessage& request) { return handle(request); }};

  meridian::testing::HttpReply handle(const meridian::testing::HttpMessage& request) {
    std::lock_guard lock(mutex);
    requests.push_back(request.method + " " + request.path);
    if (v1_only && request.method == "PUT")
      return {404, "", {}, "text/plain"};
    if (request.method == "PUT" && request.path == "/latest/api/token") {
      const std::string ttl = request.header("x-aliyun-ecs-metadata-token-ttl-seconds");
      if (ttl.empty() || std::stoi(ttl) < 1 || std::stoi(ttl) > 21600)
        return {400, "", {}, "text/plain"};
      return {200, "imds-token", {}, "text/plain"};
    }
    if (request.method != "GET")
      return {405, "", {}, "text/plain"};
    if (!v1_only && request.header("x-aliyun-ecs-metadata-token") != "imds-token")
      return {401, "", {}, "text/plain"};
    if (request.path == "/latest/meta-data/ram/security-credentials/")
      return {200, "meridian-worker", {}, "text/plain"};
    if (request.path != "/latest/meta-data/ram/security-credentials/meridian-worker")
      return {404, "", {}, "text/plain"};
    ++issued;
    const std::time_t expires = std::chrono::system_clock::to_time_t(now()) + lifetime;
    std::tm parts{};
    gmtime_r(&expires, &parts);
    char expiration[32];
    std::strftime(expiration, sizeof expiration, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return {200, fmt::format(R"({{"AccessKeyId":"STS.ecs{}","AccessKeySecret":"ecs-secret-{}","Expiration":"{}","SecurityToken":"ecs-token-{}",)"
                             R"("LastUpdated":"2024-01-01T00:00:00Z","Code":"Success"}})",
                             issued, issued, expiration, issued),
            {}, "text/plain"};
  }
};

void set_rrsa(Home& home, const FakeSts& sts) {
  home.write("token", "oidc-token-1");
  home.env["ALIBABA_CLOUD_ROLE_ARN"] = "acs:ram::1234:role/meridian";
  home.env["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"] = "acs:ram::1234:oidc-provider/ack-rrsa-c123";
  home.env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"] = (home.path / "token").string();
  home.env["ALIBABA_CLOUD_STS_ENDPOINT"] = sts.server.url();
}

} // namespace

TEST_CASE("RRSA: AssumeRoleWithOIDC as the SDK sends it, after the environment and before the CLI profile") {
  Home home;
  FakeSts sts;
  set_rrsa(home, sts);
  home.write(".aliyun/config.json", cli_config);
  home.env["ALIBABA_CLOUD_ROLE_SESSION_NAME"] = "meridian-test";
  const AccessKey key = resolve_access_key(home.lookup());
  CHECK(key.id == "STS.rrsa1");
  CHECK(key.secret == "rrsa-secret-1");
  CHECK(key.security_token == "rrsa-token-1");
  CHECK(key.source == "RRSA (role acs:ram::1234:role/meridian)");
  REQUIRE(sts.requests.size() == 1);
  const auto& request = sts.requests[0];
  // The SDK's form, field by field and in its order, encoded as encodeURIComponent does.
  CHECK(request.body == "OIDCProviderArn=acs%3Aram%3A%3A1234%3Aoidc-provider%2Fack-rrsa-c123&OIDCToken=oidc-token-1&"
                        "RoleArn=acs%3Aram%3A%3A1234%3Arole%2Fmeridian&RoleSessionName=meridian-test&DurationSeconds=3600");
  CHECK(request.target.starts_with("/?Version=2015-04-01&Action=AssumeRoleWithOIDC&Format=JSON&Timestamp="));

  // The environment comes first; RRSA is then not asked.
  home.env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = "LTAIenv";
  home.env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = "env-secret";
  CHECK(resolve_access_key(home.lookup()).id == "LTAIenv");
  CHECK(sts.requests.size() == 1);

  // Without a session name, one of Meridian's own.
  home.env.erase("ALIBABA_CLOUD_ACCESS_KEY_ID");
  home.env.erase("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
  home.env.erase("ALIBABA_CLOUD_ROLE_SESSION_NAME");
  CHECK(resolve_access_key(home.lookup()).id == "STS.rrsa2");
  CHECK(sts.requests.back().body.find("RoleSessionName=meridian-") != std::string::npos);
}

TEST_CASE("RRSA: the session is refreshed 15 minutes before it expires, with the token file read again") {
  Home home;
  FakeSts sts;
  set_rrsa(home, sts);
  Clock clock;
  sts.now = clock.function();
  CredentialLookup lookup = home.lookup();
  lookup.now = clock.function();
  auto credentials = resolve_credentials(lookup);
  CHECK(credentials->current().id == "STS.rrsa1");
  clock.now += std::chrono::minutes(44);
  CHECK(credentials->current().id == "STS.rrsa1");
  CHECK(sts.requests.size() == 1);
  // The token rotates (the kubelet rewrites the projected token); the refresh sends the new one.
  home.write("token", "oidc-token-2");
  sts.expected_token = "oidc-token-2";
  clock.now += std::chrono::minutes(2); // 14 minutes left
  CHECK(credentials->current().id == "STS.rrsa2");
  CHECK(sts.requests.size() == 2);

  // A refresh STS refuses keeps the old session while it lasts, then fails.
  sts.fail_with = 503;
  clock.now += std::chrono::minutes(50);
  CHECK(credentials->current().id == "STS.rrsa2");
  clock.now += std::chrono::minutes(11);
  try {
    credentials->current();
    FAIL("an expired session must not be used");
  } catch (const TransientError& error) {
    CHECK(std::string(error.what()).find("InternalError: injected by the test (request id STS-REQUEST-1)") != std::string::npos);
  }
}

TEST_CASE("RRSA: STS's refusal is one line with its code and request id, never the token or a secret") {
  Home home;
  FakeSts sts;
  set_rrsa(home, sts);
  home.write("token", "a-wrong-token");
  const std::string message = error_of(home);
  CHECK(message == "RRSA: STS AssumeRoleWithOIDC at " + sts.server.url() +
                       ": AuthenticationFail.OIDCToken.Invalid: the OIDC token is not valid (request id STS-REQUEST-1)");
  CHECK(message.find("a-wrong-token") == std::string::npos);
}

TEST_CASE("RRSA: the STS endpoint follows ALIBABA_CLOUD_STS_REGION and ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED") {
  //! Where requests would go (no network here).
  struct Offline final : HttpTransport {
    std::vector<std::string> origins;
    HttpResponse send(const std::string& origin, const HttpRequest&) override {
      origins.push_back(origin);
      throw TransientError(origin + ": offline");
    }
  };
  Home home;
  FakeSts sts;
  set_rrsa(home, sts);
  home.env.erase("ALIBABA_CLOUD_STS_ENDPOINT");
  auto offline = std::make_shared<Offline>();
  const auto tried = [&] {
    CredentialLookup lookup = home.lookup();
    lookup.http = offline;
    CHECK_THROWS_AS(resolve_credentials(lookup), TransientError);
    return offline->origins.back();
  };
  CHECK(tried() == "https://sts.aliyuncs.com");
  home.env["ALIBABA_CLOUD_STS_REGION"] = "cn-zhangjiakou";
  CHECK(tried() == "https://sts.cn-zhangjiakou.aliyuncs.com");
  home.env["ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"] = "true";
  CHECK(tried() == "https://sts-vpc.cn-zhangjiakou.aliyuncs.com");
  home.env["ALIBABA_CLOUD_STS_ENDPOINT"] = "sts.example.internal";
  CHECK(tried() == "https://sts.example.internal");
  CHECK(sts.requests.empty());
}

TEST_CASE("the ECS instance RAM role: IMDSv2 token, role name, credentials; last in the chain; refreshed an hour before expiry") {
  Home home;
  FakeMetadata metadata;
  home.env["MERIDIAN_ACK_METADATA_ENDPOINT"] = metadata.server.url();
  Clock clock;
  metadata.now = clock.function();
  CredentialLookup lookup = home.lookup();
  lookup.now = clock.function();
  auto credentials = resolve_credentials(lookup);
  AccessKey key = credentials->current();
  CHECK(key.id == "STS.ecs1");
  CHECK(key.security_token == "ecs-token-1");
  CHECK(key.source == "ECS instance RAM role meridian-worker");
  CHECK(metadata.requests == std::vector<std::string>{"PUT /latest/api/token", "GET /latest/meta-data/ram/security-credentials/",
                                                      "PUT /latest/api/token", "GET /latest/meta-data/ram/security-credentials/meridian-worker"});
  clock.now += std::chrono::hours(4);
  CHECK(credentials->current().id == "STS.ecs1");
  clock.now += std::chrono::minutes(61); // 59 minutes left
  CHECK(credentials->current().id == "STS.ecs2");

  // ALIBABA_CLOUD_ECS_METADATA names the role: no lookup of it.
  metadata.requests.clear();
  home.env["ALIBABA_CLOUD_ECS_METADATA"] = "meridian-worker";
  CHECK(resolve_access_key(home.lookup()).id == "STS.ecs3");
  CHECK(metadata.requests == std::vector<std::string>{"PUT /latest/api/token", "GET /latest/meta-data/ram/security-credentials/meridian-worker"});

  // Any source before it wins, and the metadata service is not asked.
  metadata.requests.clear();
  home.write(".alibabacloud/credentials", credentials_file);
  CHECK(resolve_access_key(home.lookup()).id == "LTAIfileDefault");
  CHECK(metadata.requests.empty());
}

TEST_CASE("the ECS instance RAM role without IMDSv2: requests without a token, unless ALIBABA_CLOUD_IMDSV1_DISABLED") {
  Home home;
  FakeMetadata metadata;
  metadata.v1_only = true;
  home.env["MERIDIAN_ACK_METADATA_ENDPOINT"] = metadata.server.url();
  CHECK(resolve_access_key(home.lookup()).id == "STS.ecs1");
  CHECK(metadata.requests == std::vector<std::string>{"PUT /latest/api/token", "GET /latest/meta-data/ram/security-credentials/",
                                                      "PUT /latest/api/token", "GET /latest/meta-data/ram/security-credentials/meridian-worker"});
  home.env["ALIBABA_CLOUD_IMDSV1_DISABLED"] = "true";
  const std::string message = error_of(home);
  CHECK(message.find("no Alibaba Cloud credentials") != std::string::npos);
  CHECK(message.find("PUT /latest/api/token: HTTP 404 (IMDSv1 is disabled)") != std::string::npos);
}

TEST_CASE("the ack config file") {
  Home home;
  const std::string path = (home.path / "ack.yaml").string();
  home.write("ack.yaml", "region: cn-beijing\nendpoint: http://127.0.0.1:9\nkubeconfig: private\nnetworks:\n"
                         "  cn-beijing: {vpcId: vpc-1, vswitchIds: [vsw-1, vsw-2], serviceCidr: 172.21.0.0/20}\n"
                         "clusters:\n  idc: {clusterId: c123, kubeconfig: idc.yaml, context: admin}\n");
  const AckOptions options = load_ack_options(path);
  CHECK(options.region == "cn-beijing");
  CHECK(options.endpoint == "http://127.0.0.1:9");
  CHECK(options.private_kubeconfig);
  CHECK(options.networks.at("cn-beijing").vswitch_ids == std::vector<std::string>{"vsw-1", "vsw-2"});
  CHECK(options.clusters.at("idc").cluster_id == "c123");
  CHECK(options.clusters.at("idc").kubeconfig == (home.path / "idc.yaml").string());

  const auto error_for = [&](const std::string& text) {
    home.write("ack.yaml", text);
    try {
      load_ack_options(path);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  CHECK(error_for("regoin: x\n") == path + ": regoin: unknown field (expected region, endpoint, kubeconfig, networkPlugin, networks, clusters)");
  CHECK(error_for("kubeconfig: intranet\n") == path + ": kubeconfig: expected public or private, got \"intranet\"");
  CHECK(error_for("endpoint: cs.example.com\n") == path + ": endpoint: expected an http:// or https:// URL, got \"cs.example.com\"");
  CHECK(error_for("networks:\n  cn-beijing: {vpcId: vpc-1}\n") == path + ": networks.cn-beijing: expected vpcId and vswitchIds");
  CHECK(error_for("networks:\n  cn-beijing: {vpcId: vpc-1, vswitchIds: vsw-1}\n") ==
        path + ": networks.cn-beijing.vswitchIds: expected a non-empty list of strings");
  CHECK(error_for("clusters:\n  idc: {context: admin}\n") == path + ": clusters.idc: expected clusterId (and optionally kubeconfig, context)");
  CHECK(error_for("clusters: [a]\n") == path + ": clusters: expected a mapping with a cluster name per key");
}

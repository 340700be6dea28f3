// The credential chain (environment, RRSA refused, aliyun CLI profile, credentials file) and the
// ack config file: order, errors naming the source and field, secrets never in messages.
#include "backend/ack/ack.h"
#include "backend/ack/credentials.h"
#include "base/error.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

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
  } catch (const UserError& error) {
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
  SECTION("nothing configured lists where it looked") {
    const std::string message = error_of(home);
    CHECK(message.find("ALIBABA_CLOUD_ACCESS_KEY_ID") != std::string::npos);
    CHECK(message.find("~/.aliyun/config.json") != std::string::npos);
    CHECK(message.find("~/.alibabacloud/credentials") != std::string::npos);
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
  SECTION("RRSA is refused rather than silently skipped") {
    home.write(".aliyun/config.json", cli_config);
    home.env["ALIBABA_CLOUD_ROLE_ARN"] = "acs:ram::1:role/x";
    home.env["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"] = "acs:ram::1:oidc-provider/y";
    home.env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"] = "/var/run/token";
    CHECK(error_of(home).find("RRSA") != std::string::npos);
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
    } catch (const UserError& error) {
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

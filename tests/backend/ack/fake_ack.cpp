// The test ACK server (see fake_ack.h).
#include "fake_ack.h"
#include "../../support/text.h"

#include "backend/ack/signature.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace meridian::testing {
namespace {

using ack::percent_encode;
using ack::sha256_hex;
using ack::hmac_sha256_hex;

// Field names of the SDK's request models (@alicloud/cs20151215 7.2.0), by body section.
const std::map<std::string, std::set<std::string>>& model_fields() {
  static const std::map<std::string, std::set<std::string>> fields = [] {
    const auto words = [](std::string_view text) {
      std::set<std::string> set;
      std::istringstream in{std::string(text)};
      for (std::string word; in >> word;)
        set.insert(word);
      return set;
    };
    std::map<std::string, std::set<std::string>> map;
    map["CreateCluster"] = words(
        "access_control_list addons api_audiences audit_log_config auto_mode auto_renew auto_renew_period charge_type cis_enabled "
        "cloud_monitor_flags cluster_domain cluster_spec cluster_type container_cidr control_plane_config control_plane_endpoints_config "
        "controlplane_log_components controlplane_log_project controlplane_log_ttl cpu_policy custom_san deletion_protection disable_rollback "
        "enable_rrsa encryption_provider_key endpoint_public_access extra_sans format_disk image_id image_type instances ip_stack "
        "is_enterprise_security_group keep_instance_name key_pair kubernetes_version load_balancer_id load_balancer_spec logging_type "
        "login_password maintenance_window master_auto_renew master_auto_renew_period master_count master_instance_charge_type "
        "master_instance_types master_period master_period_unit master_system_disk_category master_system_disk_performance_level "
        "master_system_disk_size master_system_disk_snapshot_policy_id master_vswitch_ids name nat_gateway node_cidr_mask node_name_mode "
        "node_port_range nodepools num_of_nodes operation_policy os_type period period_unit platform pod_vswitch_ids profile proxy_mode "
        "rds_instances region_id resource_group_id rrsa_config runtime security_group_id security_hardening_os service_account_issuer "
        "service_cidr service_discovery_types snat_entry soc_enabled ssh_flags tags taints timeout_mins timezone user_ca user_data vpcid "
        "vswitch_ids worker_auto_renew worker_auto_renew_period worker_data_disks worker_instance_charge_type worker_instance_types "
        "worker_period worker_period_unit worker_system_disk_category worker_system_disk_performance_level worker_system_disk_size "
        "worker_system_disk_snapshot_policy_id worker_vswitch_ids zone_id zone_ids");
    map["CreateClusterNodePool"] = words(
        "auto_mode auto_scaling count eflo_node_group host_network interconnect_config interconnect_mode intranet kubernetes_config "
        "management max_nodes node_components node_config nodepool_info scaling_group tee_config");
    map["nodepool_info"] = words("name resource_group_id type");
    const std::string scaling_common =
        "auto_renew auto_renew_period compensate_with_on_demand data_disks deploymentset_id desired_size disk_init enable_high_density_mode "
        "image_id image_type instance_charge_type instance_patterns instance_types internet_charge_type internet_max_bandwidth_out key_pair "
        "login_password multi_az_policy on_demand_base_capacity on_demand_percentage_above_base_capacity period period_unit platform "
        "private_pool_options rds_instances resource_pool_options scaling_policy security_group_ids spot_instance_pools spot_instance_remedy "
        "spot_price_limit spot_strategy system_disk_bursting_enabled system_disk_categories system_disk_category system_disk_encrypt_algorithm "
        "system_disk_encrypted system_disk_kms_key_id system_disk_performance_level system_disk_provisioned_iops system_disk_size "
        "system_disk_snapshot_policy_id tags vswitch_ids";
    map["CreateClusterNodePool.scaling_group"] = words(scaling_common + " cis_enabled cpu_options instance_metadata_options login_as_non_root "
                                                                        "ram_role_name security_group_id security_hardening_os soc_enabled");
    map["ModifyClusterNodePool.scaling_group"] = words(scaling_common);
    map["kubernetes_config"] = words("cms_enabled cpu_policy labels node_name_mode pre_user_data runtime runtime_version taints unschedulable user_data");
    map["auto_scaling"] = words("eip_bandwidth eip_internet_charge_type enable is_bond_eip max_instances min_instances type");
    map["ModifyClusterNodePool"] = words("auto_scaling concurrency eflo_node_group kubernetes_config management nodepool_info scaling_group tee_config update_nodes");
    map["ModifyCluster"] = words(
        "access_control_list api_server_custom_cert_sans api_server_eip api_server_eip_id client_token cluster_name cluster_spec "
        "control_plane_config control_plane_endpoints_config deletion_protection enable_rrsa ingress_domain_rebinding ingress_loadbalancer_id "
        "instance_deletion_protection maintenance_window operation_policy resource_group_id security_group_id system_events_logging timezone vswitch_ids");
    map["UpgradeCluster"] = words("component_name master_only next_version rolling_policy version");
    map["Tag"] = words("key value");
    map["Taint"] = words("effect key value");
    map["Addon"] = words("config disabled name version");
    return map;
  }();
  return fields;
}

Json str(std::string_view text, JsonAllocator& allocator) { return Json(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator); }

void set(Json& object, std::string_view key, Json value, JsonAllocator& allocator) {
  object.RemoveMember(Json(rapidjson::StringRef(key.data(), key.size())));
  object.AddMember(str(key, allocator), value, allocator);
}

Json& object_at(Json& object, std::string_view key, JsonAllocator& allocator) {
  if (const Json* found = find_member(object, key); found == nullptr || !found->IsObject())
    set(object, key, Json(rapidjson::kObjectType), allocator);
  return object.FindMember(Json(rapidjson::StringRef(key.data(), key.size())))->value;
}

std::string text_at(const Json& value, std::string_view path) {
  const Json* found = find_path(value, path);
  return found != nullptr && found->IsString() ? std::string(found->GetString(), found->GetStringLength()) : std::string();
}

std::string now_text() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S+08:00", &parts);
  return text;
}

//! RFC 3339 UTC time `seconds` from now, as ACK writes `expiration`.
std::string utc_in(long long seconds) {
  const std::time_t then = std::time(nullptr) + seconds;
  std::tm parts{};
  gmtime_r(&then, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

} // namespace

struct FakeAck::Request {
  std::string method;
  std::string path;
  std::string raw_query;
  std::map<std::string, std::string> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(const std::string& name) const {
    for (const auto& [key, value] : headers)
      if (lower(key) == name)
        return value;
    return {};
  }
  std::string action; //!< of the route
  std::vector<std::string> params;
  JsonDocument json;
};

struct FakeAck::Response {
  int status = 200;
  std::string body;
  std::string error_code;
};

struct FakeAck::Task {
  std::string id;
  std::string type;
  std::string cluster_id;
  std::string nodepool_id;
  int polls = 0;
  std::string state = "running";
  std::string error_code, error_message;
  std::function<void()> effect; //!< applied when the task succeeds
};

namespace {

FakeAck::Response error(int status, std::string_view code, std::string_view message) {
  JsonDocument doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  set(doc, "code", str(code, a), a);
  set(doc, "message", str(message, a), a);
  set(doc, "requestId", str("FAKE-REQUEST-ID", a), a);
  set(doc, "status", Json(status), a);
  return {status, write_compact(doc), std::string(code)};
}

FakeAck::Response answer(const Json& body) { return {200, write_compact(body), ""}; }

//! The first field of `object` the model does not know, or "".
std::string unknown_field(const Json& object, const std::string& model) {
  if (!object.IsObject())
    return "(not an object)";
  const auto& known = model_fields().at(model);
  for (const auto& member : object.GetObject())
    if (known.count(member.name.GetString()) == 0)
      return member.name.GetString();
  return {};
}

std::string check_list(const Json* list, const std::string& model, const std::string& where) {
  if (list == nullptr)
    return {};
  if (!list->IsArray())
    return where + " must be a list";
  for (const Json& item : list->GetArray())
    if (const std::string field = unknown_field(item, model); !field.empty())
      return fmt::format("{}: unknown field {}", where, field);
  return {};
}

bool strings(const Json* list) {
  if (list == nullptr || !list->IsArray() || list->Empty())
    return false;
  return std::all_of(list->Begin(), list->End(), [](const Json& item) { return item.IsString(); });
}

} // namespace

FakeAck::FakeAck() : server_(std::make_unique<PlainHttpServer>([this](const HttpMessage& message) { return handle(message); })) {}

FakeAck::~FakeAck() { server_.reset(); } // no request is handled once members go

std::string FakeAck::url() const { return server_->url(); }

void FakeAck::add_key(const std::string& id, const std::string& secret, const std::string& security_token) {
  std::lock_guard lock(mutex_);
  keys_[id] = {secret, security_token};
}

std::string FakeAck::add_cluster(const std::string& name, const std::string& region, const std::string& cluster_type, const std::string& profile,
                                 const std::string& state, const std::map<std::string, std::string>& tags) {
  std::lock_guard lock(mutex_);
  const std::string id = fmt::format("c{:031d}", next_id_++);
  auto cluster = std::make_shared<JsonDocument>(rapidjson::kObjectType);
  auto& a = cluster->GetAllocator();
  set(*cluster, "cluster_id", str(id, a), a);
  set(*cluster, "name", str(name, a), a);
  set(*cluster, "region_id", str(region, a), a);
  set(*cluster, "cluster_type", str(cluster_type, a), a);
  set(*cluster, "profile", str(profile, a), a);
  set(*cluster, "state", str(state, a), a);
  set(*cluster, "current_version", str(cluster_type == "ExternalKubernetes" ? "1.28.3" : "1.30.7-aliyun.1", a), a);
  set(*cluster, "created", str(now_text(), a), a);
  Json list(rapidjson::kArrayType);
  for (const auto& [key, value] : tags) {
    Json tag(rapidjson::kObjectType);
    set(tag, "key", str(key, a), a);
    set(tag, "value", str(value, a), a);
    list.PushBack(tag, a);
  }
  set(*cluster, "tags", std::move(list), a);
  clusters_[id] = cluster;
  return id;
}

std::string FakeAck::add_nodepool(const std::string& cluster_id, const std::string& name, const std::vector<std::string>& instance_types,
                                  int desired_size, const std::vector<std::string>& vswitches) {
  std::lock_guard lock(mutex_);
  const std::string id = fmt::format("np{:030d}", next_id_++);
  auto pool = std::make_shared<JsonDocument>(rapidjson::kObjectType);
  auto& a = pool->GetAllocator();
  Json& info = object_at(*pool, "nodepool_info", a);
  set(info, "nodepool_id", str(id, a), a);
  set(info, "name", str(name, a), a);
  set(info, "type", str("ess", a), a);
  set(info, "region_id", str(text_at(*clusters_.at(cluster_id), "region_id"), a), a);
  Json& group = object_at(*pool, "scaling_group", a);
  Json types(rapidjson::kArrayType);
  for (const std::string& type : instance_types)
    types.PushBack(str(type, a), a);
  set(group, "instance_types", std::move(types), a);
  Json switches(rapidjson::kArrayType);
  for (const std::string& vswitch : vswitches)
    switches.PushBack(str(vswitch, a), a);
  set(group, "vswitch_ids", std::move(switches), a);
  set(group, "desired_size", Json(desired_size), a);
  Json& status = object_at(*pool, "status", a);
  set(status, "state", str("active", a), a);
  set(status, "total_nodes", Json(desired_size), a);
  set(status, "healthy_nodes", Json(desired_size), a);
  pools_[cluster_id].push_back(pool);
  return id;
}

void FakeAck::set_kubeconfig(const std::string& cluster_id, const std::string& public_config, const std::string& private_config) {
  std::lock_guard lock(mutex_);
  kubeconfigs_[cluster_id] = {public_config, private_config};
}

void FakeAck::lose_next_answer(const std::string& action) {
  std::lock_guard lock(mutex_);
  ++lost_answers_[action];
}

void FakeAck::fail_next(const std::string& action, int status, const std::string& code, int times) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < times; ++i)
    failures_[action].emplace_back(status, code);
}

std::vector<AckCall> FakeAck::calls() {
  std::lock_guard lock(mutex_);
  return calls_;
}

std::vector<std::string> FakeAck::actions() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const AckCall& call : calls_)
    if (call.status == 200)
      out.push_back(call.action);
  return out;
}

void FakeAck::clear_calls() {
  std::lock_guard lock(mutex_);
  calls_.clear();
}

std::string FakeAck::cluster_json(const std::string& cluster_id) {
  std::lock_guard lock(mutex_);
  const auto found = clusters_.find(cluster_id);
  return found == clusters_.end() ? "" : write_canonical(*found->second);
}

std::string FakeAck::nodepool_json(const std::string& cluster_id, const std::string& name) {
  std::lock_guard lock(mutex_);
  for (const auto& pool : pools_[cluster_id])
    if (text_at(*pool, "nodepool_info.name") == name)
      return write_canonical(*pool);
  return {};
}

std::string FakeAck::cluster_id(const std::string& name) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, cluster] : clusters_)
    if (text_at(*cluster, "name") == name)
      return id;
  return {};
}

void FakeAck::pool_ready(const std::string& id, JsonDocument& pool, int size) {
  auto& allocator = pool.GetAllocator();
  Json& status = object_at(pool, "status", allocator);
  set(status, "state", str("active", allocator), allocator);
  set(status, "total_nodes", Json(size), allocator);
  set(status, "healthy_nodes", Json(size), allocator);
  if (pool_changed)
    pool_changed(id, &pool);
}

HttpReply FakeAck::handle(const HttpMessage& message) {
  Request request;
  request.method = message.method;
  request.path = message.path;
  request.raw_query = message.raw_query;
  request.query = message.query;
  request.headers = message.headers;
  request.body = message.body;
  Response response;
  {
    std::lock_guard lock(mutex_);
    response = dispatch(request);
    calls_.push_back({request.action.empty() ? request.header("x-acs-action") : request.action, request.method, request.path, request.query,
                      request.body, response.status, response.error_code});
  }
  return {response.status, response.body, {{"x-acs-request-id", "FAKE-REQUEST-ID"}}, "application/json;charset=utf-8"};
}

std::string FakeAck::verify(const Request& request) {
  const std::string authorization = request.header("authorization");
  if (!authorization.starts_with("ACS3-HMAC-SHA256 "))
    return "IncompleteSignature: the Authorization header is not ACS3-HMAC-SHA256";
  std::map<std::string, std::string> parts;
  std::istringstream fields(authorization.substr(17));
  for (std::string field; std::getline(fields, field, ',');) {
    const size_t equals = field.find('=');
    if (equals != std::string::npos)
      parts[trim(field.substr(0, equals))] = trim(field.substr(equals + 1));
  }
  for (const char* part : {"Credential", "SignedHeaders", "Signature"})
    if (parts[part].empty())
      return fmt::format("IncompleteSignature: the Authorization header has no {}", part);
  const auto key = keys_.find(parts["Credential"]);
  if (key == keys_.end())
    return "InvalidAccessKeyId.NotFound: Specified access key is not found.";
  if (request.header("x-acs-version") != "2015-12-15")
    return fmt::format("InvalidVersion: x-acs-version \"{}\" is not 2015-12-15", request.header("x-acs-version"));
  for (const char* header : {"host", "x-acs-action", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"})
    if (request.header(header).empty())
      return fmt::format("MissingParameter: the {} header is required", header);
  std::tm parts_of_date{};
  const std::string date = request.header("x-acs-date");
  if (strptime(date.c_str(), "%Y-%m-%dT%H:%M:%SZ", &parts_of_date) == nullptr || date.size() != 20)
    return fmt::format("InvalidTimeStamp.Format: x-acs-date \"{}\" is not yyyy-MM-ddTHH:mm:ssZ", date);
  if (std::abs(static_cast<long>(timegm(&parts_of_date) - std::time(nullptr))) > allowed_skew_seconds)
    return "InvalidTimeStamp.Expired: x-acs-date is too far from now";
  if (!nonces_.insert(request.header("x-acs-signature-nonce")).second)
    return "SignatureNonceUsed: Specified signature nonce was used already.";
  if (request.header("x-acs-content-sha256") != sha256_hex(request.body))
    return "IncompleteSignature: x-acs-content-sha256 is not the SHA-256 of the body";
  if (!key->second.second.empty() &&
      (request.header("x-acs-security-token") != key->second.second || request.header("x-acs-accesskey-id") != key->first))
    return "InvalidSecurityToken.Mismatch: the security token does not belong to this access key";
  // Every header that must be signed is signed.
  std::set<std::string> signed_names;
  std::istringstream names(parts["SignedHeaders"]);
  for (std::string name; std::getline(names, name, ';');)
    signed_names.insert(name);
  for (const auto& [name, value] : request.headers) {
    const std::string key_name = lower(name);
    if ((key_name == "host" || key_name.starts_with("x-acs-") || (key_name == "content-type" && !request.body.empty())) &&
        signed_names.count(key_name) == 0)
      return fmt::format("IncompleteSignature: header {} is not signed", key_name);
  }
  // The canonical request as the service rebuilds it from what arrived.
  std::string query;
  for (const auto& [name, value] : request.query)
    query += (query.empty() ? "" : "&") + name + "=" + percent_encode(value);
  std::string canonical_headers;
  for (const std::string& name : signed_names) {
    std::vector<std::string> values;
    for (const auto& [header, value] : request.headers)
      if (lower(header) == name)
        values.push_back(trim(value));
    std::sort(values.begin(), values.end());
    std::string joined;
    for (const std::string& value : values)
      joined += (joined.empty() ? "" : ",") + value;
    canonical_headers += name + ":" + joined + "\n";
  }
  const std::string canonical = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, request.path, query, canonical_headers,
                                            parts["SignedHeaders"], request.header("x-acs-content-sha256"));
  const std::string expected = hmac_sha256_hex(key->second.first, "ACS3-HMAC-SHA256\n" + sha256_hex(canonical));
  if (expected != parts["Signature"])
    return "SignatureDoesNotMatch: Specified signature is not matched with our calculation.";
  return {};
}

FakeAck::Response FakeAck::dispatch(Request& request) {
  struct Route {
    const char* method;
    std::regex path;
    const char* action;
  };
  static const std::vector<Route> routes = {
      {"GET", std::regex("/api/v1/clusters"), "DescribeClustersV1"},
      {"POST", std::regex("/clusters"), "CreateCluster"},
      {"GET", std::regex("/clusters/([^/]+)"), "DescribeClusterDetail"},
      {"DELETE", std::regex("/clusters/([^/]+)"), "DeleteCluster"},
      {"PUT", std::regex("/api/v2/clusters/([^/]+)"), "ModifyCluster"},
      {"POST", std::regex("/api/v2/clusters/([^/]+)/upgrade"), "UpgradeCluster"},
      {"POST", std::regex("/clusters/([^/]+)/tags"), "ModifyClusterTags"},
      {"POST", std::regex("/clusters/([^/]+)/components/install"), "InstallClusterAddons"},
      {"POST", std::regex("/clusters/([^/]+)/components/uninstall"), "UnInstallClusterAddons"},
      {"GET", std::regex("/clusters/([^/]+)/nodepools"), "DescribeClusterNodePools"},
      {"POST", std::regex("/clusters/([^/]+)/nodepools"), "CreateClusterNodePool"},
      {"PUT", std::regex("/clusters/([^/]+)/nodepools/([^/]+)"), "ModifyClusterNodePool"},
      {"POST", std::regex("/clusters/([^/]+)/nodepools/([^/]+)"), "ScaleClusterNodePool"},
      {"DELETE", std::regex("/clusters/([^/]+)/nodepools/([^/]+)"), "DeleteClusterNodepool"},
      {"GET", std::regex("/tasks/([^/]+)"), "DescribeTaskInfo"},
      {"GET", std::regex("/k8s/([^/]+)/user_config"), "DescribeClusterUserKubeconfig"},
  };
  for (const Route& route : routes) {
    std::smatch match;
    if (request.method != route.method || !std::regex_match(request.path, match, route.path))
      continue;
    request.action = route.action;
    for (size_t index = 1; index < match.size(); ++index)
      request.params.push_back(url_decode(match[index].str()));
    break;
  }
  if (const std::string problem = verify(request); !problem.empty()) {
    const size_t colon = problem.find(':');
    const std::string code = problem.substr(0, colon);
    return error(code == "InvalidAccessKeyId.NotFound" ? 404 : 400, code, trim(problem.substr(colon + 1)));
  }
  if (request.action.empty())
    return error(404, "InvalidAction.NotFound", fmt::format("no action at {} {}", request.method, request.path));
  if (request.header("x-acs-action") != request.action)
    return error(400, "InvalidAction.Mismatch",
                 fmt::format("x-acs-action {} does not match {} {} ({})", request.header("x-acs-action"), request.method, request.path, request.action));
  advance_tasks(); // time passes with every request the service accepts
  if (auto failure = failures_.find(request.action); failure != failures_.end() && !failure->second.empty()) {
    const auto [status, code] = failure->second.front();
    failure->second.erase(failure->second.begin());
    return error(status, code, "injected by the test");
  }
  if (!request.body.empty()) {
    if (request.header("content-type") != "application/json; charset=utf-8")
      return error(400, "InvalidParameter", fmt::format("content-type \"{}\" is not application/json; charset=utf-8", request.header("content-type")));
    if (parse_json(request.body, request.json))
      return error(400, "InvalidParameter", "the body is not JSON");
  }
  Response response = route(request);
  if (auto lost = lost_answers_.find(request.action); lost != lost_answers_.end() && lost->second > 0 && response.status == 200) {
    --lost->second;
    return error(503, "ServiceUnavailable", "the request was carried out but its answer was lost (injected by the test)");
  }
  return response;
}

void FakeAck::advance_tasks() {
  for (auto& [id, task] : tasks_) {
    if (task->state != "running" || ++task->polls <= task_polls)
      continue;
    if (!task->error_code.empty()) {
      task->state = "failed";
    } else {
      task->state = "success";
      if (task->effect)
        task->effect();
    }
  }
}

FakeAck::Response FakeAck::finish_task(Task& task) {
  JsonDocument body(rapidjson::kObjectType);
  auto& a = body.GetAllocator();
  set(body, "task_id", str(task.id, a), a);
  set(body, "task_type", str(task.type, a), a);
  set(body, "cluster_id", str(task.cluster_id, a), a);
  set(body, "created", str(now_text(), a), a);
  set(body, "state", str(task.state, a), a);
  set(body, "current_stage", str(task.state == "running" ? "Provisioning" : "", a), a);
  if (task.state == "failed") {
    Json failure(rapidjson::kObjectType);
    set(failure, "code", str(task.error_code, a), a);
    set(failure, "message", str(task.error_message, a), a);
    set(body, "error", std::move(failure), a);
  }
  return answer(body);
}

FakeAck::Response FakeAck::route(Request& request) {
  const std::string& action = request.action;
  JsonDocument reply(rapidjson::kObjectType);
  auto& a = reply.GetAllocator();
  set(reply, "request_id", str("FAKE-REQUEST-ID", a), a);
  const auto new_task = [&](const std::string& type, const std::string& cluster_id, std::function<void()> effect) -> Task& {
    auto task = std::make_unique<Task>();
    task->id = fmt::format("T-{:024d}", next_id_++);
    task->type = type;
    task->cluster_id = cluster_id;
    task->effect = std::move(effect);
    Task& ref = *task;
    tasks_[task->id] = std::move(task);
    set(reply, "task_id", str(ref.id, a), a);
    return ref;
  };
  const auto cluster_of = [&](const std::string& id) -> std::shared_ptr<JsonDocument> {
    const auto found = clusters_.find(id);
    return found == clusters_.end() ? nullptr : found->second;
  };
  const auto set_state = [](const std::shared_ptr<JsonDocument>& object, std::string_view path, const std::string& state) {
    Json* target = object.get();
    if (path == "status")
      target = &object_at(*object, "status", object->GetAllocator());
    set(*target, "state", str(state, object->GetAllocator()), object->GetAllocator());
  };

  if (action == "DescribeClustersV1") {
    for (const char* number : {"page_number", "page_size"})
      if (request.query.count(number) != 0 && request.query[number].find_first_not_of("0123456789") != std::string::npos)
        return error(400, "InvalidParameter", fmt::format("{} must be a number", number));
    const int page = request.query.count("page_number") ? std::stoi(request.query["page_number"]) : 1;
    const int size = request.query.count("page_size") ? std::stoi(request.query["page_size"]) : 10;
    if (size < 1 || size > 100)
      return error(400, "InvalidParameter", "page_size must be 1..100");
    std::vector<std::shared_ptr<JsonDocument>> matching;
    for (const auto& [id, cluster] : clusters_) {
      if (request.query.count("name") && text_at(*cluster, "name") != request.query["name"])
        continue;
      matching.push_back(cluster);
    }
    Json list(rapidjson::kArrayType);
    for (size_t index = static_cast<size_t>((page - 1) * size); index < matching.size() && index < static_cast<size_t>(page * size); ++index)
      list.PushBack(Json(*matching[index], a), a);
    set(reply, "clusters", std::move(list), a);
    Json info(rapidjson::kObjectType);
    set(info, "page_number", Json(page), a);
    set(info, "page_size", Json(size), a);
    set(info, "total_count", Json(static_cast<int>(matching.size())), a);
    set(reply, "page_info", std::move(info), a);
    return answer(reply);
  }
  if (action == "CreateCluster") {
    const Json& body = request.json;
    if (const std::string field = unknown_field(body, "CreateCluster"); !field.empty())
      return error(400, "InvalidParameter", fmt::format("unknown field {}", field));
    for (const char* field : {"name", "region_id", "cluster_type"})
      if (text_at(body, field).empty())
        return error(400, "MissingParameter", fmt::format("{} is required", field));
    const std::string type = text_at(body, "cluster_type");
    const std::string profile = text_at(body, "profile").empty() ? "Default" : text_at(body, "profile");
    if (type != "ManagedKubernetes" && type != "Kubernetes" && type != "ExternalKubernetes")
      return error(400, "InvalidParameter", fmt::format("cluster_type {} is not supported", type));
    if (profile != "Default" && profile != "Edge" && profile != "Serverless" && profile != "Lingjun")
      return error(400, "InvalidParameter", fmt::format("profile {} is not supported", profile));
    if (text_at(body, "vpcid").empty() && find_member(body, "zone_ids") == nullptr)
      return error(400, "MissingParameter", "vpcid is required unless zone_ids asks for a new VPC");
    if (!strings(find_member(body, "vswitch_ids")) && find_member(body, "zone_ids") == nullptr)
      return error(400, "MissingParameter", "vswitch_ids is required");
    if (const std::string problem = check_list(find_member(body, "addons"), "Addon", "addons"); !problem.empty())
      return error(400, "InvalidParameter", problem);
    if (const std::string problem = check_list(find_member(body, "tags"), "Tag", "tags"); !problem.empty())
      return error(400, "InvalidParameter", problem);
    bool network = false;
    if (const Json* addons = find_member(body, "addons"); addons != nullptr)
      for (const Json& addon : addons->GetArray()) {
        const std::string name = text_at(addon, "name");
        network = network || name == "flannel" || name.starts_with("terway");
      }
    if (!network && profile != "Serverless")
      return error(400, "ErrorCheckAddons", "a network plugin addon (flannel or terway-*) is required");
    const std::string id = fmt::format("c{:031d}", next_id_++);
    auto cluster = std::make_shared<JsonDocument>(rapidjson::kObjectType);
    auto& ca = cluster->GetAllocator();
    set(*cluster, "cluster_id", str(id, ca), ca);
    for (const char* field : {"name", "region_id", "cluster_type", "cluster_spec"})
      if (!text_at(body, field).empty())
        set(*cluster, field, str(text_at(body, field), ca), ca);
    set(*cluster, "profile", str(profile, ca), ca);
    set(*cluster, "vpc_id", str(text_at(body, "vpcid"), ca), ca);
    set(*cluster, "current_version", str(text_at(body, "kubernetes_version").empty() ? "1.31.1-aliyun.1" : text_at(body, "kubernetes_version"), ca), ca);
    set(*cluster, "state", str("initial", ca), ca);
    set(*cluster, "created", str(now_text(), ca), ca);
    set(*cluster, "tags", find_member(body, "tags") ? Json(*find_member(body, "tags"), ca) : Json(rapidjson::kArrayType), ca);
    clusters_[id] = cluster;
    new_task("cluster_create", id, [cluster, set_state] { set_state(cluster, "", "running"); });
    set(reply, "cluster_id", str(id, a), a);
    return answer(reply);
  }
  // Everything else names a cluster.
  const std::shared_ptr<JsonDocument> cluster = request.params.empty() ? nullptr : cluster_of(request.params[0]);
  if (action == "DescribeTaskInfo") {
    const auto task = tasks_.find(request.params[0]);
    if (task == tasks_.end())
      return error(404, "ErrorTaskNotFound", fmt::format("task {} not found", request.params[0]));
    return finish_task(*task->second);
  }
  if (cluster == nullptr || text_at(*cluster, "state") == "deleted")
    return error(404, "ErrorClusterNotFound", fmt::format("cluster {} not found", request.params.empty() ? "" : request.params[0]));
  const std::string cluster_id = request.params[0];
  const std::string state = text_at(*cluster, "state");
  auto& ca = cluster->GetAllocator();
  if (action == "DescribeClusterDetail")
    return answer(*cluster);
  if (action == "DescribeClusterUserKubeconfig") {
    if (state != "running")
      return error(400, "ErrorClusterState", fmt::format("cluster {} is {}", cluster_id, state));
    const std::string which = request.query.count("PrivateIpAddress") ? request.query["PrivateIpAddress"] : "false";
    if (which != "true" && which != "false")
      return error(400, "InvalidParameter", "PrivateIpAddress must be true or false");
    const auto config = kubeconfigs_.find(cluster_id);
    set(reply, "config", str(config == kubeconfigs_.end() ? default_kubeconfig : which == "true" ? config->second.second : config->second.first, a), a);
    long long seconds = kubeconfig_seconds;
    if (const auto minutes = request.query.find("TemporaryDurationMinutes"); minutes != request.query.end()) {
      if (minutes->second.empty() || minutes->second.find_first_not_of("0123456789") != std::string::npos || minutes->second.size() > 6 ||
          std::stoll(minutes->second) < 15 || std::stoll(minutes->second) > 4320)
        return error(400, "InvalidParameter", "TemporaryDurationMinutes must be 15..4320");
      seconds = std::stoll(minutes->second) * 60;
    }
    set(reply, "expiration", str(utc_in(seconds), a), a);
    return answer(reply);
  }
  if (action == "DeleteCluster") {
    set_state(cluster, "", "deleting");
    new_task("cluster_delete", cluster_id, [cluster, set_state] { set_state(cluster, "", "deleted"); });
    set(reply, "cluster_id", str(cluster_id, a), a);
    return answer(reply);
  }
  if (action == "ModifyClusterTags") {
    if (!request.json.IsArray())
      return error(400, "InvalidParameter", "the body must be a list of tags");
    if (const std::string problem = check_list(&request.json, "Tag", "tags"); !problem.empty())
      return error(400, "InvalidParameter", problem);
    Json& tags = (*cluster)["tags"];
    for (const Json& tag : request.json.GetArray()) {
      bool replaced = false;
      for (Json& existing : tags.GetArray())
        if (text_at(existing, "key") == text_at(tag, "key")) {
          set(existing, "value", str(text_at(tag, "value"), ca), ca);
          replaced = true;
        }
      if (!replaced)
        tags.PushBack(Json(tag, ca), ca);
    }
    return answer(reply);
  }
  if (state != "running")
    return error(400, "ErrorClusterState", fmt::format("cluster {} is {}, the operation needs running", cluster_id, state));
  if (action == "ModifyCluster" || action == "UpgradeCluster") {
    if (const std::string field = unknown_field(request.json, action); !field.empty())
      return error(400, "InvalidParameter", fmt::format("unknown field {}", field));
    if (action == "UpgradeCluster" && text_at(request.json, "next_version").empty())
      return error(400, "MissingParameter", "next_version is required");
    set_state(cluster, "", action == "UpgradeCluster" ? "upgrading" : "updating");
    auto body = std::make_shared<JsonDocument>();
    body->CopyFrom(request.json, body->GetAllocator());
    new_task(action == "UpgradeCluster" ? "cluster_upgrade" : "cluster_update", cluster_id, [cluster, body, set_state] {
      auto& allocator = cluster->GetAllocator();
      if (!text_at(*body, "next_version").empty())
        set(*cluster, "current_version", str(text_at(*body, "next_version"), allocator), allocator);
      if (!text_at(*body, "cluster_spec").empty())
        set(*cluster, "cluster_spec", str(text_at(*body, "cluster_spec"), allocator), allocator);
      set_state(cluster, "", "running");
    });
    set(reply, "cluster_id", str(cluster_id, a), a);
    return answer(reply);
  }
  if (action == "InstallClusterAddons" || action == "UnInstallClusterAddons") {
    if (const std::string problem = check_list(&request.json, "Addon", "addons"); !problem.empty() || !request.json.IsArray())
      return error(400, "InvalidParameter", problem.empty() ? "the body must be a list of addons" : problem);
    new_task(action == "InstallClusterAddons" ? "addon_install" : "addon_uninstall", cluster_id, {});
    return answer(reply);
  }
  auto& pools = pools_[cluster_id];
  if (action == "DescribeClusterNodePools") {
    Json list(rapidjson::kArrayType);
    for (const auto& pool : pools)
      list.PushBack(Json(*pool, a), a);
    set(reply, "nodepools", std::move(list), a);
    return answer(reply);
  }
  const std::string profile = text_at(*cluster, "profile");
  if (action == "CreateClusterNodePool") {
    const Json& body = request.json;
    if (const std::string field = unknown_field(body, "CreateClusterNodePool"); !field.empty())
      return error(400, "InvalidParameter", fmt::format("unknown field {}", field));
    for (const auto& [section, model] : std::vector<std::pair<const char*, std::string>>{{"nodepool_info", "nodepool_info"},
                                                                                          {"scaling_group", "CreateClusterNodePool.scaling_group"},
                                                                                          {"kubernetes_config", "kubernetes_config"},
                                                                                          {"auto_scaling", "auto_scaling"}})
      if (const Json* part = find_member(body, section); part != nullptr)
        if (const std::string field = unknown_field(*part, model); !field.empty())
          return error(400, "InvalidParameter", fmt::format("{}: unknown field {}", section, field));
    if (const std::string problem = check_list(find_path(body, "kubernetes_config.labels"), "Tag", "kubernetes_config.labels"); !problem.empty())
      return error(400, "InvalidParameter", problem);
    if (const std::string problem = check_list(find_path(body, "kubernetes_config.taints"), "Taint", "kubernetes_config.taints"); !problem.empty())
      return error(400, "InvalidParameter", problem);
    const std::string name = text_at(body, "nodepool_info.name");
    if (name.empty())
      return error(400, "MissingParameter", "nodepool_info.name is required");
    const std::string type = text_at(body, "nodepool_info.type").empty() ? "ess" : text_at(body, "nodepool_info.type");
    if (profile == "Serverless")
      return error(400, "ErrorClusterType", "a Serverless cluster has no node pools");
    if (type == "edge" && profile != "Edge")
      return error(400, "InvalidParameter", "edge node pools need an Edge cluster");
    if (!strings(find_path(body, "scaling_group.vswitch_ids")) || !strings(find_path(body, "scaling_group.instance_types")))
      return error(400, "MissingParameter", "scaling_group.vswitch_ids and scaling_group.instance_types are required");
    for (const auto& pool : pools)
      if (text_at(*pool, "nodepool_info.name") == name)
        return error(400, "ErrorNodePoolNameExists", fmt::format("node pool {} already exists", name));
    const std::string id = fmt::format("np{:030d}", next_id_++);
    auto pool = std::make_shared<JsonDocument>();
    pool->CopyFrom(body, pool->GetAllocator());
    auto& pa = pool->GetAllocator();
    Json& info = object_at(*pool, "nodepool_info", pa);
    set(info, "nodepool_id", str(id, pa), pa);
    set(info, "type", str(type, pa), pa);
    set(info, "region_id", str(text_at(*cluster, "region_id"), pa), pa);
    Json& status = object_at(*pool, "status", pa);
    set(status, "state", str("scaling", pa), pa);
    set(status, "total_nodes", Json(0), pa);
    set(status, "healthy_nodes", Json(0), pa);
    pools.push_back(pool);
    const Json* size_value = find_path(body, "scaling_group.desired_size");
    const int size = size_value != nullptr && size_value->IsInt() ? size_value->GetInt() : 0;
    Task& task = new_task("nodepool_create", cluster_id, [this, pool, size, id] {
      pool_ready(id, *pool, size);
    });
    if (const Json* types = find_path(body, "scaling_group.instance_types"); size > 0)
      for (const Json& type_name : types->GetArray())
        if (sold_out.count(type_name.GetString()) != 0) {
          task.error_code = "OperationDenied.NoStock";
          task.error_message = fmt::format("The requested resource ({}) is sold out in the specified zone; try other types of resources or other "
                                           "regions and zones.",
                                           type_name.GetString());
          task.effect = [pool] {};
          auto& allocator = pool->GetAllocator();
          set(object_at(*pool, "status", allocator), "state", str("active", allocator), allocator);
        }
    set(reply, "nodepool_id", str(id, a), a);
    return answer(reply);
  }
  // The rest names a node pool.
  const auto pool_at = std::find_if(pools.begin(), pools.end(), [&](const auto& pool) {
    return request.params.size() > 1 && text_at(*pool, "nodepool_info.nodepool_id") == request.params[1];
  });
  if (pool_at == pools.end())
    return error(404, "ErrorNodePoolNotFound", fmt::format("node pool {} not found", request.params.size() > 1 ? request.params[1] : ""));
  const std::shared_ptr<JsonDocument> pool = *pool_at;
  auto& pa = pool->GetAllocator();
  if (action == "DeleteClusterNodepool") {
    const std::string force = request.query.count("force") ? request.query["force"] : "false";
    const Json* total = find_path(*pool, "status.total_nodes");
    if (force != "true" && total != nullptr && total->IsInt() && total->GetInt() > 0)
      return error(400, "ErrorNodePoolHasNodes", "the node pool has nodes: remove them or delete with force=true");
    set_state(pool, "status", "deleting");
    new_task("nodepool_delete", cluster_id, [this, &pools, pool, id = request.params[1]] {
      pools.erase(std::remove(pools.begin(), pools.end(), pool), pools.end());
      if (pool_changed)
        pool_changed(id, nullptr);
    });
    set(reply, "nodepool_id", str(request.params[1], a), a);
    return answer(reply);
  }
  if (action == "ScaleClusterNodePool") {
    // Adds `count` nodes (the SDK's ScaleClusterNodePoolRequest has nothing else): a scale-out of
    // a pool whose size is set by hand, not by its autoscaler.
    if (request.json.IsObject())
      for (const auto& member : request.json.GetObject())
        if (std::string_view(member.name.GetString()) != "count")
          return error(400, "InvalidParameter", fmt::format("unknown field {}", member.name.GetString()));
    const Json* count = request.json.IsObject() ? find_member(request.json, "count") : nullptr;
    if (count == nullptr || !count->IsInt() || count->GetInt() < 1 || count->GetInt() > 500)
      return error(400, "InvalidParameter", "count must be 1..500");
    if (const Json* enabled = find_path(*pool, "auto_scaling.enable"); enabled != nullptr && enabled->IsBool() && enabled->GetBool())
      return error(400, "ErrorNodePoolAutoScaling", "the node pool scales automatically: change its auto_scaling instead");
    const std::string pool_state = text_at(*pool, "status.state");
    if (pool_state != "active")
      return error(400, "ErrorNodePoolState", fmt::format("node pool is {}, the operation needs active", pool_state));
    const Json* size_value = find_path(*pool, "scaling_group.desired_size");
    const int size = (size_value != nullptr && size_value->IsInt() ? size_value->GetInt() : 0) + count->GetInt();
    set(object_at(*pool, "scaling_group", pa), "desired_size", Json(size), pa);
    set_state(pool, "status", "scaling");
    new_task("nodepool_scaleout", cluster_id, [this, pool, size, id = request.params[1]] {
      pool_ready(id, *pool, size);
    });
    return answer(reply);
  }
  if (action == "ModifyClusterNodePool") {
    const Json& body = request.json;
    if (const std::string field = unknown_field(body, "ModifyClusterNodePool"); !field.empty())
      return error(400, "InvalidParameter", fmt::format("unknown field {}", field));
    for (const auto& [section, model] : std::vector<std::pair<const char*, std::string>>{{"scaling_group", "ModifyClusterNodePool.scaling_group"},
                                                                                          {"kubernetes_config", "kubernetes_config"},
                                                                                          {"auto_scaling", "auto_scaling"}})
      if (const Json* part = find_member(body, section); part != nullptr)
        if (const std::string field = unknown_field(*part, model); !field.empty())
          return error(400, "InvalidParameter", fmt::format("{}: unknown field {}", section, field));
    const std::string pool_state = text_at(*pool, "status.state");
    if (pool_state != "active")
      return error(400, "ErrorNodePoolState", fmt::format("node pool is {}, the operation needs active", pool_state));
    for (const char* section : {"scaling_group", "kubernetes_config", "auto_scaling"})
      if (const Json* part = find_member(body, section); part != nullptr)
        for (const auto& member : part->GetObject())
          set(object_at(*pool, section, pa), member.name.GetString(), Json(member.value, pa), pa);
    set_state(pool, "status", "updating");
    const Json* size_value = find_path(*pool, "scaling_group.desired_size");
    const int size = size_value != nullptr && size_value->IsInt() ? size_value->GetInt() : 0;
    new_task("nodepool_update", cluster_id, [this, pool, size, id = request.params[1]] {
      pool_ready(id, *pool, size);
    });
    set(reply, "nodepool_id", str(request.params[1], a), a);
    return answer(reply);
  }
  return error(400, "NotSupportedByFake", action);
}

} // namespace meridian::testing

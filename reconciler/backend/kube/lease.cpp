#include "backend/kube/lease.h"

#include "backend/kube/client.h"
#include "base/error.h"
#include "base/json.h"

#include <fmt/format.h>

namespace meridian::kube {
namespace {

constexpr const char* lease_api = "/apis/coordination.k8s.io/v1";

std::string json_string(std::string_view text) {
  JsonDocument document;
  Json value(text.data(), static_cast<rapidjson::SizeType>(text.size()), document.GetAllocator());
  return write_compact(value);
}

//! The spec a record is written as (client-go's LeaseSpecFromLeaderElectionRecord): the holder
//! and times are always sent, so a released lease reads back holderIdentity "".
std::string spec_json(const LeaseRecord& record) {
  return fmt::format(R"({{"holderIdentity":{},"leaseDurationSeconds":{},"acquireTime":{},"renewTime":{},"leaseTransitions":{}}})",
                     json_string(record.holder), record.lease_duration_seconds, json_string(record.acquire_time),
                     json_string(record.renew_time), record.transitions);
}

int int_member(const Json& object, std::string_view key) {
  const Json* value = find_member(object, key);
  return value != nullptr && value->IsInt() ? value->GetInt() : 0;
}

LeaseRecord record_of(const JsonDocument& lease) {
  LeaseRecord record;
  const Json* spec = find_member(lease, "spec");
  if (spec == nullptr || !spec->IsObject())
    return record;
  record.holder = std::string(string_member(*spec, "holderIdentity"));
  record.lease_duration_seconds = int_member(*spec, "leaseDurationSeconds");
  record.acquire_time = std::string(string_member(*spec, "acquireTime"));
  record.renew_time = std::string(string_member(*spec, "renewTime"));
  record.transitions = int_member(*spec, "leaseTransitions");
  return record;
}

class KubeLeaseLock final : public LeaseLock {
public:
  KubeLeaseLock(std::unique_ptr<ApiClient> client, std::string namespace_name, std::string lease_name, std::string group)
      : client_(std::move(client)), namespace_(std::move(namespace_name)), name_(std::move(lease_name)), group_(std::move(group)) {}

  std::optional<LeaseRecord> get() override {
    const ApiResponse response = client_->request({"GET", object_path(), {}, {}}, {404});
    if (response.status == 404) {
      resource_version_.clear();
      return std::nullopt;
    }
    return remember(*response.object);
  }

  bool create(const LeaseRecord& record) override {
    const std::string body = fmt::format(
        R"({{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{{"name":{},"namespace":{}{}}},"spec":{}}})",
        json_string(name_), json_string(namespace_), labels(), spec_json(record));
    const ApiResponse response = client_->request(
        {"POST", fmt::format("{}/namespaces/{}/leases", lease_api, url_encode(namespace_)), body, "application/json"}, {409});
    if (response.status == 409)
      return false;
    remember(*response.object);
    return true;
  }

  bool update(const LeaseRecord& record) override {
    if (resource_version_.empty())
      return false; // nothing read yet: the caller reads first
    const std::string body = fmt::format(
        R"({{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{{"name":{},"namespace":{},"resourceVersion":{}{}}},"spec":{}}})",
        json_string(name_), json_string(namespace_), json_string(resource_version_), labels(), spec_json(record));
    const ApiResponse response = client_->request({"PUT", object_path(), body, "application/json"}, {404, 409});
    if (response.status == 404 || response.status == 409)
      return false;
    remember(*response.object);
    return true;
  }

  std::string describe() const override { return namespace_ + "/" + name_; }

private:
  //! `,"labels":{...}` of a membership Lease (a PUT replaces the metadata: it is sent every time).
  std::string labels() const {
    return group_.empty() ? "" : fmt::format(R"(,"labels":{{{}:{}}})", json_string(kLeaseGroupLabel), json_string(group_));
  }

  std::string object_path() const {
    return fmt::format("{}/namespaces/{}/leases/{}", lease_api, url_encode(namespace_), url_encode(name_));
  }

  LeaseRecord remember(const JsonDocument& lease) {
    const Json* metadata = find_member(lease, "metadata");
    resource_version_ = metadata != nullptr && metadata->IsObject() ? std::string(string_member(*metadata, "resourceVersion")) : "";
    return record_of(lease);
  }

  std::unique_ptr<ApiClient> client_;
  std::string namespace_;
  std::string name_;
  std::string group_;
  std::string resource_version_; //!< of the lease last read or written: updates are conditional on it
};

class KubeLeaseMembers final : public MemberList {
public:
  KubeLeaseMembers(std::unique_ptr<ApiClient> client, std::string namespace_name, std::string group)
      : client_(std::move(client)), namespace_(std::move(namespace_name)), group_(std::move(group)) {}

  std::vector<std::pair<std::string, LeaseRecord>> list() override {
    std::vector<std::pair<std::string, LeaseRecord>> members;
    const auto items = client_->list(fmt::format("{}/namespaces/{}/leases", lease_api, url_encode(namespace_)), 500,
                                     "labelSelector=" + url_encode(fmt::format("{}={}", kLeaseGroupLabel, group_)));
    for (const auto& item : items) {
      const Json* metadata = find_member(*item, "metadata");
      if (metadata == nullptr || !metadata->IsObject())
        continue;
      members.emplace_back(std::string(string_member(*metadata, "name")), record_of(*item));
    }
    return members;
  }

private:
  std::unique_ptr<ApiClient> client_;
  std::string namespace_;
  std::string group_;
};

std::unique_ptr<ApiClient> lease_client(const ClusterBinding& binding, std::chrono::seconds timeout) {
  Connection connection = resolve_connection(binding);
  auto transport = make_https_transport(connection.endpoint, timeout);
  RetryPolicy retry;
  retry.max_attempts = 1;
  return std::make_unique<ApiClient>("(leader election)", std::move(connection), std::move(transport), retry);
}

} // namespace

std::unique_ptr<LeaseLock> open_lease_lock(const ClusterBinding& binding, const std::string& namespace_name,
                                           const std::string& lease_name, std::chrono::seconds timeout, const std::string& group) {
  return std::make_unique<KubeLeaseLock>(lease_client(binding, timeout), namespace_name, lease_name, group);
}

std::unique_ptr<MemberList> open_lease_members(const ClusterBinding& binding, const std::string& namespace_name,
                                               const std::string& group, std::chrono::seconds timeout) {
  return std::make_unique<KubeLeaseMembers>(lease_client(binding, timeout), namespace_name, group);
}

} // namespace meridian::kube

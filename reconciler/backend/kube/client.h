// A client of one cluster's API server (internal to the kube backend): requests with retries,
// `Status` errors in one line, discovery (kind → REST path) and paginated LISTs.
#pragma once

#include "backend/kube/transport.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace meridian::kube {

//! One resource type of the API (an APIResource of a discovery document).
struct ResourceType {
  std::string group;   //!< "" for the core group
  std::string version;
  std::string kind;
  std::string plural;  //!< the path segment: deployments
  bool namespaced = false;
  std::vector<std::string> verbs;

  std::string group_version() const { return group.empty() ? version : group + "/" + version; }
  //! /api/v1 or /apis/<group>/<version>
  std::string base_path() const;
  //! The collection path (all namespaces when `ns` is "" for a namespaced type).
  std::string collection_path(const std::string& ns) const;
  std::string object_path(const std::string& ns, const std::string& name) const;
  bool supports(std::string_view verb) const;
};

//! A response whose status the caller handles (2xx, or 404 where absence is an answer).
struct ApiResponse {
  int status = 0;
  std::shared_ptr<JsonDocument> object; //!< the parsed body (null document when not JSON)
};

//! How requests are retried.
struct RetryPolicy {
  int max_attempts = 5; //!< per read; a write is sent once
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(10)};
  std::chrono::seconds max_retry_after{std::chrono::seconds(60)};
};

//! "Invalid: Deployment.apps \"web\" is invalid: spec.replicas: ...": a Status body (or, when the
//! body is not a Status, the HTTP status and body) in one line.
std::string describe_status(int http_status, const std::string& body);
//! The Status reason of an error response ("Invalid", "Forbidden", "Conflict"...), or one made
//! from the HTTP status when the body is not a Status.
std::string status_reason(int http_status, const std::string& body);
//! True for the 500 a server-side apply answers for a field the type's schema lacks: permanent.
bool schema_rejection(int http_status, const std::string& body);

class ApiClient {
public:
  //! `cluster` names the Meridian cluster in messages; `sleep` waits between retries.
  ApiClient(std::string cluster, Connection connection, std::unique_ptr<Transport> transport, RetryPolicy retry = {},
            std::function<void(std::chrono::milliseconds)> sleep = {});

  const std::string& cluster() const { return cluster_; }
  const Endpoint& endpoint() const { return connection_.endpoint; }

  //! Sends one request. A read (GET) is retried on 429, 5xx and connection failures with backoff
  //! (Retry-After honoured), up to RetryPolicy::max_attempts; a write is sent once (apply retries
  //! the object: one retry layer per request). Returns 2xx responses and those whose status is in
  //! `accepted`; throws UserError (TransientError, with the server's Retry-After, when retrying
  //! might help) with the Status rendered otherwise.
  ApiResponse request(const HttpCall& call, std::initializer_list<int> accepted = {});

  //! Every item of a collection, following `continue` tokens (`limit` per page; restarts once when
  //! a token expires). `query` is extra query text such as "labelSelector=app%3Dweb".
  //! `resource_version`, when given, receives the list's metadata.resourceVersion (where a WATCH starts).
  std::vector<std::shared_ptr<JsonDocument>> list(const std::string& collection_path, int limit, const std::string& query = {},
                                                  std::string* resource_version = nullptr);

  //! Opens a streamed GET of `target` (a WATCH), presenting the current credentials. The caller
  //! reads the status (non-2xx bodies are one Status) and the lines. Throws as request does for
  //! connection failures, without retrying.
  std::unique_ptr<Stream> stream(const std::string& target);

  //! The resource type of (group, version, kind); refreshes discovery once when it is unknown
  //! (unless `refresh` is false). nullopt when the server does not serve it.
  std::optional<ResourceType> resource_for(const std::string& group, const std::string& version, const std::string& kind,
                                           bool refresh = true);
  //! The resource type of (group, kind) in the group's preferred version (or any served version).
  std::optional<ResourceType> resource_for_kind(const std::string& group, const std::string& kind, bool refresh = true);
  //! Every namespaced resource type that can be listed, in its group's preferred version, sorted by
  //! group and kind (what a Namespace can hold: `kubectl api-resources --namespaced --verbs=list`).
  std::vector<ResourceType> namespaced_listable();
  //! Forgets what discovery said about `group` (after a CRD of it became Established).
  void forget_group(const std::string& group);

private:
  struct GroupInfo {
    std::string preferred;
    std::vector<std::string> versions;
  };
  void load_groups();
  const std::vector<ResourceType>& resources_of(const std::string& group, const std::string& version);
  std::optional<ResourceType> find_kind(const std::string& group, const std::string& kind, const std::string& version);

  std::string cluster_;
  Connection connection_;
  std::unique_ptr<Transport> transport_;
  RetryPolicy retry_;
  std::function<void(std::chrono::milliseconds)> sleep_;
  std::optional<std::map<std::string, GroupInfo>> groups_; //!< by group name ("" = core)
  std::map<std::string, std::vector<ResourceType>> resources_; //!< by group/version
  std::set<std::string> refreshed_; //!< (group, kind) pairs discovery was refreshed for already
};

} // namespace meridian::kube

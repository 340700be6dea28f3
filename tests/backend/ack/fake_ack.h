// A test ACK OpenAPI server (product CS, 2015-12-15) on 127.0.0.1, plain HTTP, one connection at a
// time. It checks every request as the service does: the ACS3-HMAC-SHA256 signature recomputed
// from the request as received (canonical URI, query, the headers named in SignedHeaders, the
// hashed payload, which must match the body), the x-acs-* headers the SDK sends, a fresh nonce, the
// access key (and STS token), the method and path of the action, and body fields by the SDK's
// request models (unknown fields and missing required ones are refused with ACK's error shape).
// Answers have the SDK's response shapes. Long operations are tasks: time passes with every
// accepted request, and after `task_polls` of them a task ends and changes the cluster or node pool; a node pool asking for an instance type
// in `sold_out` fails with OperationDenied.NoStock.
#pragma once

#include "../../support/http_server.h"
#include "base/json.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace meridian::testing {

struct AckCall {
  std::string action;
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  std::string body;
  int status = 0;
  std::string error_code;
};

class FakeAck {
public:
  FakeAck();
  ~FakeAck();
  FakeAck(const FakeAck&) = delete;
  FakeAck& operator=(const FakeAck&) = delete;

  std::string url() const;

  void add_key(const std::string& id, const std::string& secret, const std::string& security_token = "");

  //! An existing cluster (as another tool made it): returns its id.
  std::string add_cluster(const std::string& name, const std::string& region, const std::string& cluster_type, const std::string& profile,
                          const std::string& state = "running", const std::map<std::string, std::string>& tags = {});
  //! An existing node pool of cluster `cluster_id`: returns its id.
  std::string add_nodepool(const std::string& cluster_id, const std::string& name, const std::vector<std::string>& instance_types,
                           int desired_size, const std::vector<std::string>& vswitches);

  //! The kubeconfig DescribeClusterUserKubeconfig hands out for `cluster_id` (public and private).
  void set_kubeconfig(const std::string& cluster_id, const std::string& public_config, const std::string& private_config);
  //! The next `times` calls of `action` answer `status` with ACK's error body for `code`.
  void fail_next(const std::string& action, int status, const std::string& code, int times = 1);

  //! The next call of `action` is carried out but answered 503 (a lost answer).
  void lose_next_answer(const std::string& action);

  std::vector<AckCall> calls();
  std::vector<std::string> actions(); //!< the actions of calls() that were accepted, in order
  void clear_calls();
  //! The cluster (DescribeClusterDetail shape) or node pool (DescribeClusterNodePools item) as JSON text; "" when absent.
  std::string cluster_json(const std::string& cluster_id);
  std::string nodepool_json(const std::string& cluster_id, const std::string& name);
  std::string cluster_id(const std::string& name);

  std::set<std::string> sold_out; //!< instance types with no stock
  std::string default_kubeconfig; //!< for clusters without set_kubeconfig
  int task_polls = 2;             //!< DescribeTaskInfo answers `running` this many times first
  int allowed_skew_seconds = 900; //!< x-acs-date must be this close to now
  //! How long a kubeconfig DescribeClusterUserKubeconfig hands out lasts when the request names no
  //! TemporaryDurationMinutes (ACK: a long validity, reported in `expiration`).
  long long kubeconfig_seconds = 3LL * 365 * 24 * 3600;
  //! Called, on the server's thread, when a node pool's task succeeds (created, modified, scaled)
  //! with the pool as DescribeClusterNodePools shows it, and with nullptr once it is deleted.
  std::function<void(const std::string& pool_id, const Json* pool)> pool_changed;

  struct Request;
  struct Response;
  struct Task;

private:
  HttpReply handle(const HttpMessage& message);
  //! A pool's task succeeded: `size` nodes, all healthy (and pool_changed told).
  void pool_ready(const std::string& id, JsonDocument& pool, int size);
  Response dispatch(Request& request);
  Response route(Request& request);
  std::string verify(const Request& request);
  Response finish_task(Task& task);
  void advance_tasks();

  std::mutex mutex_;
  std::map<std::string, std::pair<std::string, std::string>> keys_; //!< id → secret, STS token
  std::set<std::string> nonces_;
  std::vector<AckCall> calls_;
  std::map<std::string, std::vector<std::pair<int, std::string>>> failures_; //!< action → (status, code)
  std::map<std::string, std::shared_ptr<JsonDocument>> clusters_;          //!< by id
  std::map<std::string, std::vector<std::shared_ptr<JsonDocument>>> pools_; //!< by cluster id
  std::map<std::string, std::pair<std::string, std::string>> kubeconfigs_;
  std::map<std::string, std::unique_ptr<Task>> tasks_;
  std::map<std::string, int> lost_answers_;
  long long next_id_ = 1000;
  std::unique_ptr<PlainHttpServer> server_; //!< last: started once everything else exists
};

} // namespace meridian::testing

// The routes of `meridian run`'s HTTP server, independent of the server library.
//
//   GET  /healthz              the process is alive
//   GET  /readyz               the first reconcile finished, no fetch is stuck, the state store answers (else 503)
//   GET  /api/v1/status        the loop's status (status.h)
//   GET  /api/v1/history       past applies, newest first (?limit=N, default 20)
//   GET  /api/v1/plan          the latest plan, as `meridian plan --format json`
//   GET  /metrics              Prometheus text format 0.0.4
//   POST /hooks/github         X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>
//   POST /hooks/gitlab         X-Gitlab-Token: <secret>
//   POST /hooks/generic        X-Meridian-Signature: sha256=<hex HMAC-SHA256 of the body>
//   POST /api/v1/suspend       suspend (?reason=...), /api/v1/resume, /api/v1/reconcile (wake now)
//
// A webhook is checked in this order: size (413), signature (401), then the rate of its endpoint
// (429: unsigned floods never use up the rate of valid pushes); only a push (or tag push) event
// wakes the loop, and only wakes it.
//
// /api/v1/* and /metrics answer only requests whose Host is the listen address, localhost, an IP
// address or a configured name (DNS rebinding), and whose Origin, when sent, is one of those
// (cross-site posts). With --api-token-file every /api/v1/* endpoint needs `Authorization: Bearer
// <token>` (the file is read again when it changes: rotation), and so does /metrics on a listener
// that is not loopback. Control endpoints (suspend, resume, reconcile) always need the token; on a
// non-loopback listener so do the read endpoints. Thread-safe: called from the server's threads.
#pragma once

#include "loop/http.h"
#include "loop/metrics.h"
#include "loop/status.h"
#include "loop/suspend.h"
#include "loop/trigger.h"
#include "loop/webhook.h"

#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

namespace meridian {

class StateStore;
struct ApplyRecord;

struct ApiOptions {
  std::string webhook_secret;       //!< empty: webhooks are refused
  size_t body_limit = 1 << 20;      //!< 1 MiB, far above any push payload
  double webhook_burst = 20;        //!< requests at once
  double webhook_per_second = 2;    //!< sustained rate
  bool loopback = true;             //!< the listener is on a loopback address
  std::string listen_host;          //!< the --listen host, an allowed Host
  std::vector<std::string> allowed_hosts; //!< further names clients may reach the API by (--api-host)
  std::string token_file;           //!< --api-token-file; empty: no token, control endpoints refused
  long long fetch_stuck_after = 180; //!< seconds a fetch may run before /readyz fails (above --git-timeout)
  std::string state_store_path;     //!< <state-dir>/meridian.db, for history and readiness
  //! Leader election: the holder of the Lease when it is another replica, "" when this one leads
  //! (unset without --leader-elect). A standby answers pushes 503: it would not reconcile them.
  std::function<std::optional<std::string>()> standby_of;
};

class Api {
public:
  Api(ApiOptions options, StatusBoard& board, Metrics& metrics, TriggerQueue& triggers, const SuspendFlag& suspend);
  ~Api();

  HttpResponse handle(const HttpRequest& request);

  //! Declares the webhook metric family in `metrics` (the loop declares the others).
  static void declare_metrics(Metrics& metrics);

private:
  HttpResponse webhook(const std::string& endpoint, const HttpRequest& request);
  HttpResponse control(const HttpRequest& request);
  HttpResponse history(const HttpRequest& request);
  HttpResponse ready();
  bool store_reachable();
  //! Why the API refuses `request` (Host, Origin, token), or nullopt when it may be served.
  std::optional<HttpResponse> refusal(const HttpRequest& request, bool needs_token);
  bool host_allowed(std::string_view host) const;
  //! The token in --api-token-file, read again when the file changed; "" when unreadable.
  std::string current_token();

  ApiOptions options_;
  StatusBoard& board_;
  Metrics& metrics_;
  TriggerQueue& triggers_;
  const SuspendFlag& suspend_;
  std::map<std::string, std::unique_ptr<TokenBucket>> limiters_; //!< one per webhook endpoint
  std::mutex token_mutex_;
  std::string token_;                 //!< as last read
  std::string token_stamp_;           //!< the file's inode, size and mtime when read
  std::mutex store_mutex_;
  std::unique_ptr<StateStore> store_; //!< the HTTP threads' own connection, opened on first use
};

//! Applies as JSON, newest first, as /api/v1/history and `meridian history -o json` print them:
//! `[{id, repository, commit, trigger, started, finished, result, summary, objects: [{key, object,
//! cluster, region, action, result, message}]}]` (schemas/history.v1.json).
std::string render_history(const std::vector<ApplyRecord>& records);

//! A JSON object `{"error": message}` with a trailing newline.
std::string json_error(std::string_view message);

} // namespace meridian

// The routes of `meridian run`'s HTTP server, independent of the server library.
//
//   GET  /healthz              the process is alive
//   GET  /readyz               the first reconcile finished and the state store answers (else 503)
//   GET  /api/v1/status        the loop's status (status.h)
//   GET  /api/v1/history       past applies, newest first (?limit=N, default 20)
//   GET  /api/v1/plan          the latest plan, as `meridian plan --format json`
//   GET  /metrics              Prometheus text format 0.0.4
//   POST /hooks/github         X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>
//   POST /hooks/gitlab         X-Gitlab-Token: <secret>
//   POST /hooks/generic        X-Meridian-Signature: sha256=<hex HMAC-SHA256 of the body>
//   POST /api/v1/suspend       suspend (?reason=...), /api/v1/resume, /api/v1/reconcile (wake now)
//
// A webhook is checked in this order: size (413), rate (429), signature (401); an accepted one
// only wakes the loop. Control endpoints are open on a loopback listener; on any other address
// they need the generic signature. Thread-safe: called from the server's threads.
#pragma once

#include "loop/http.h"
#include "loop/metrics.h"
#include "loop/status.h"
#include "loop/suspend.h"
#include "loop/trigger.h"
#include "loop/webhook.h"

#include <memory>
#include <mutex>
#include <string>

namespace meridian {

class StateStore;

struct ApiOptions {
  std::string webhook_secret;       //!< empty: webhooks are refused
  size_t body_limit = 1 << 20;      //!< 1 MiB, far above any push payload
  double webhook_burst = 20;        //!< requests at once
  double webhook_per_second = 2;    //!< sustained rate
  bool protect_control = false;     //!< control endpoints need X-Meridian-Signature
  std::string state_store_path;     //!< <state-dir>/meridian.db, for history and readiness
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

  ApiOptions options_;
  StatusBoard& board_;
  Metrics& metrics_;
  TriggerQueue& triggers_;
  const SuspendFlag& suspend_;
  TokenBucket limiter_;
  std::mutex store_mutex_;
  std::unique_ptr<StateStore> store_; //!< the HTTP threads' own connection, opened on first use
};

//! A JSON object `{"error": message}` with a trailing newline.
std::string json_error(std::string_view message);

} // namespace meridian

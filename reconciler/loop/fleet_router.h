// The HTTP routes of `meridian run --config`: one Api per fleet behind one server.
//
//   GET  /healthz                      the process is alive
//   GET  /readyz                       every fleet is ready (else 503 naming those that are not)
//   GET  /metrics                      every fleet's families with a `fleet` label, and the
//                                      process-wide ones (process_*, meridian_build_info) without
//   GET  /api/v1/status                {"fleets": {"<name>": <the fleet's status>, ...}}
//   *    /api/v1/fleets/<name>/<rest>  the fleet's own /api/v1/<rest> (status, history, plan,
//                                      suspend, resume, reconcile)
//   POST /hooks/<endpoint>             routed by the repository URL in the payload (GitHub
//                                      repository.clone_url/ssh_url/html_url/git_url, GitLab
//                                      project.git_http_url/git_ssh_url/web_url, or a top-level
//                                      "repository" string) to every fleet of that repository, whose
//                                      Api checks its own secret; 404 when no fleet serves it
//
// Authentication (Host, Origin, bearer token) is each fleet's Api's: the merged routes ask the
// first fleet's Api the same question first. Thread-safe as Api is.
#pragma once

#include "loop/api.h"

#include <string>
#include <vector>

namespace meridian {

struct RoutedFleet {
  std::string name;
  std::string repository; //!< as configured
  Api* api;
  const Metrics* metrics;
};

class FleetRouter {
public:
  FleetRouter(std::vector<RoutedFleet> fleets, Metrics& process_metrics);

  HttpResponse handle(const HttpRequest& request);

private:
  HttpResponse webhook(const HttpRequest& request);

  std::vector<RoutedFleet> fleets_;
  Metrics& process_metrics_;
};

//! A repository URL or path reduced to what identifies it: host and path, lower-case host, no
//! scheme, user, port, trailing `/` or `.git` (`git@github.com:org/fleet.git` and
//! `https://github.com/org/fleet` are the same; `file:///srv/fleet` and `/srv/fleet` too).
std::string repository_identity(std::string_view url);

} // namespace meridian

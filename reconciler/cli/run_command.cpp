// `meridian run`: the long-running reconcile loop with its HTTP server; `meridian suspend` and
// `meridian resume` for maintenance windows.
#include "backend/kube/lease.h"
#include "base/duration.h"
#include "base/error.h"
#include "base/label_selector.h"
#include "cli/build_info.h"
#include "cli/fleets_config.h"
#include "cli/workspace.h"
#include "loop/api.h"
#include "loop/fleet_router.h"
#include "loop/http.h"
#include "base/log.h"
#include "leader/election.h"
#include "leader/shards.h"
#include "loop/loop.h"
#include "loop/metrics.h"
#include "loop/process_metrics.h"
#include "backend/kube/kube.h"
#include "backend/sim/sim.h"
#include "state/store.h"

#include <fmt/format.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <pthread.h>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace meridian {
namespace {

constexpr auto shutdown_grace = std::chrono::seconds(30);

CommandSpec run_spec() {
  CommandSpec spec{"run",
                   "--repo URL [--ref BRANCH] [--path DIR] [--interval 1m] [--listen 127.0.0.1:8080] [--webhook-secret-file FILE] "
                   "[--self-heal] [--prune] [--state-dir DIR] [--once] [--leader-elect]",
                   "Keep the live fleet equal to Git: fetch every interval (or on a push webhook), apply new commits region by "
                   "region, report drift and, with --self-heal, correct it.",
                   workspace_options(),
                   "HTTP (127.0.0.1:8080 unless --listen says otherwise): GET /healthz /readyz /metrics /api/v1/status\n"
                   "/api/v1/history /api/v1/plan; POST /hooks/github (X-Hub-Signature-256), /hooks/gitlab (X-Gitlab-Token),\n"
                   "/hooks/generic (X-Meridian-Signature: sha256=<hex HMAC-SHA256 of the body>); POST /api/v1/suspend,\n"
                   "/api/v1/resume, /api/v1/reconcile (these need --api-token-file's bearer token). A webhook only wakes the loop: Meridian fetches and applies what the\n"
                   "ref points to, never what the payload says. SIGTERM or SIGINT stops after the current object, records the\n"
                   "apply as interrupted and exits 0 (a second signal, or 30 s, exits at once).\n"
                   "With --leader-elect, replicas campaign for a coordination.k8s.io/v1 Lease and only its holder fetches and\n"
                   "applies; a standby answers /healthz, /readyz (ok leader=false) and /metrics (meridian_leader 0). A leader\n"
                   "that cannot renew within the renew deadline stops applying (recorded as interrupted) and exits 1; SIGTERM\n"
                   "releases the Lease."};
  spec.options.push_back({"config", "FILE", "reconcile every fleet this file lists (YAML, schemas/fleets.v1.json), each from its own "
                                           "repository, in place of --repo (see README: Many repositories in one process)"});
  spec.options.push_back({"interval", "DURATION", "time between fetches, with ±10% jitter (default 1m, at least 1s)"});
  spec.options.push_back({"listen", "HOST:PORT", "address of the HTTP server (default 127.0.0.1:8080)"});
  spec.options.push_back({"webhook-secret-file", "FILE", "shared secret of the webhooks (without it, webhooks are refused)"});
  spec.options.push_back({"api-token-file", "FILE", "bearer token of /api/v1/* (and of /metrics off loopback), read again when the file "
                                                   "changes; without it control endpoints are refused, and off loopback the API too"});
  spec.options.push_back({"api-host", "NAME[,NAME...]", "further Host names the API answers to (besides the listen address, "
                                                        "localhost and IP addresses)"});
  spec.options.push_back({"self-heal", "", "correct drift made behind Meridian's back (with exponential backoff)"});
  spec.options.push_back({"prune", "", "delete managed objects that Git no longer has"});
  spec.options.push_back({"allow-mass-prune", "", "allow pruning more than half of the managed objects"});
  spec.options.push_back({"once", "", "reconcile once and exit (0 when it succeeded); no HTTP server unless --listen"});
  spec.options.push_back(lock_timeout_option());
  spec.options.push_back({"seed", "N", "seed of the interval jitter (default: from the clock)"});
  spec.options.push_back({"leader-elect", "", "campaign for a coordination.k8s.io/v1 Lease; only its holder fetches and applies"});
  spec.options.push_back({"leader-elect-lease-namespace", "NS", "namespace of the Lease (default $POD_NAMESPACE, the service "
                                                                "account's namespace in a pod, else default)"});
  spec.options.push_back({"leader-elect-lease-name", "NAME", "name of the Lease (default meridian)"});
  spec.options.push_back({"leader-elect-identity", "ID", "this replica's holderIdentity (default $POD_NAME, else hostname_pid)"});
  spec.options.push_back({"leader-elect-kubeconfig", "FILE", "kubeconfig of the API server holding the Lease (default $KUBECONFIG, "
                                                             "~/.kube/config, else the in-cluster service account)"});
  spec.options.push_back({"leader-elect-lease-duration", "DURATION", "how long a standby waits on an unrenewed Lease (default 15s)"});
  spec.options.push_back({"leader-elect-renew-deadline", "DURATION", "how long the leader tries to renew before it stops applying and "
                                                                     "exits (default 10s)"});
  spec.options.push_back({"leader-elect-retry-period", "DURATION", "between attempts to acquire or renew (default 2s)"});
  spec.options.push_back({"shards", "N", "with --leader-elect: divide the target clusters into N shards, each held through its own Lease "
                                         "(<lease-name>-shard-<i>); replicas share them and apply only their shards' objects "
                                         "(see README: Sharding)"});
  return spec;
}

std::string read_secret(const std::string& path, const char* option = "--webhook-secret-file") {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    throw UserError(fmt::format("{} {}: cannot read the file", option, path));
  std::stringstream text;
  text << file.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' '))
    secret.pop_back();
  if (secret.empty())
    throw UserError(fmt::format("{} {}: the file is empty", option, path));
  return secret;
}

// The fleet's identity in `meridian.io/managed-by`. It must equal what open_workspace computes
// (cli/workspace.cpp), or `run` and `apply` would see each other's objects as foreign.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// SIGTERM and SIGINT are blocked in every thread and taken here with sigtimedwait, so that a stop
// can notify the loop (a condition variable cannot be touched from a signal handler). The first
// signal stops taking work and lets the current object finish; a second one, or the grace
// period running out, exits at once (the store then reports the apply as interrupted).
class SignalWatcher {
public:
  SignalWatcher(std::atomic<bool>& stop, TriggerQueue& triggers)
      : stop_(stop), triggers_(triggers), thread_([this] { watch(); }) {}
  ~SignalWatcher() {
    done_.store(true);
    thread_.join();
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

private:
  void watch() {
    const sigset_t set = stop_signals();
    std::chrono::steady_clock::time_point deadline{};
    while (!done_.load()) {
      timespec slice{0, 200'000'000};
      const int signal = sigtimedwait(&set, nullptr, &slice);
      if (signal > 0) {
        const char* name = signal == SIGTERM ? "SIGTERM" : "SIGINT";
        if (stop_.load()) {
          log_warn("{} again: exiting now", name);
          std::_Exit(1);
        }
        log_event("{}: stopping after the current object", name);
        stop_.store(true);
        triggers_.stop();
        deadline = std::chrono::steady_clock::now() + shutdown_grace;
      }
      if (stop_.load() && deadline != std::chrono::steady_clock::time_point{} && std::chrono::steady_clock::now() > deadline) {
        log_error("did not stop within {}s: exiting now", shutdown_grace.count());
        std::_Exit(1);
      }
    }
  }

  std::atomic<bool>& stop_;
  TriggerQueue& triggers_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

std::chrono::milliseconds parse_interval(const Options& options) {
  const std::string text = options.get_or("interval", "1m");
  const auto interval = parse_duration(text);
  if (!interval)
    throw UserError(fmt::format("--interval: expected a duration such as 30s, 1m or 1h30m, got \"{}\"", text));
  if (*interval < std::chrono::seconds(1))
    throw UserError(fmt::format("--interval: must be at least 1s, got {}", text));
  return *interval;
}

uint64_t parse_seed(const Options& options) {
  const auto text = options.get("seed");
  if (!text)
    return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^ static_cast<uint64_t>(getpid());
  if (text->empty() || text->find_first_not_of("0123456789") != std::string::npos)
    throw UserError(fmt::format("--seed: expected a non-negative number, got \"{}\"", *text));
  return std::stoull(*text);
}

std::chrono::milliseconds election_duration(const Options& options, const std::string& name, const char* fallback) {
  const std::string text = options.get_or(name, fallback);
  const auto duration = parse_duration(text);
  if (!duration)
    throw UserError(fmt::format("--{}: expected a duration such as 15s or 500ms, got \"{}\"", name, text));
  return *duration;
}

std::string default_identity() {
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0')
    return pod;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}_{}", host[0] != '\0' ? host : "localhost", getpid());
}

std::string default_lease_namespace() {
  if (const char* pod_namespace = std::getenv("POD_NAMESPACE"); pod_namespace != nullptr && *pod_namespace != '\0')
    return pod_namespace;
  std::ifstream file("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
  std::string name;
  if (file && std::getline(file, name) && !name.empty())
    return name;
  return "default";
}

// --shards N, 0 without it.
int parse_shards(const Options& options) {
  const auto text = options.get("shards");
  if (!text)
    return 0;
  if (!options.flag("leader-elect"))
    throw UserError("--shards: only with --leader-elect (each shard is held through a Lease)");
  if (options.flag("once"))
    throw UserError("--shards: not with --once (the replicas' shares settle over several retry periods)");
  int shards = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), shards);
  if (error != std::errc() || end != text->data() + text->size() || shards < 1 || shards > 1000)
    throw UserError(fmt::format("--shards: expected a number of shards from 1 to 1000, got \"{}\"", *text));
  return shards;
}

struct ElectionSetup {
  ElectionConfig config;
  std::string lease_namespace;
  std::string lease_name;
  std::chrono::seconds timeout;
  kube::ClusterBinding binding;
};

ElectionSetup election_setup(const Options& options) {
  ElectionSetup setup;
  ElectionConfig& config = setup.config;
  config.identity = options.get_or("leader-elect-identity", default_identity());
  config.lease_duration = election_duration(options, "leader-elect-lease-duration", "15s");
  config.renew_deadline = election_duration(options, "leader-elect-renew-deadline", "10s");
  config.retry_period = election_duration(options, "leader-elect-retry-period", "2s");
  if (const std::string problem = check_election_config(config); !problem.empty())
    throw UserError(problem);
  setup.lease_namespace = options.get_or("leader-elect-lease-namespace", default_lease_namespace());
  setup.lease_name = options.get_or("leader-elect-lease-name", "meridian");
  // A request may take the renew deadline at most: the elector must get its answer in time to act on it.
  setup.timeout = std::chrono::seconds(std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(config.renew_deadline).count()));
  setup.binding = kube::ClusterBinding{options.get_or("leader-elect-kubeconfig", ""), ""};
  return setup;
}

// The shard elector of --shards (not started).
std::unique_ptr<ShardElector> open_shard_elector(const Options& options, int shards) {
  ElectionSetup setup = election_setup(options);
  if (setup.lease_name.size() > 63 || !is_dns_label(setup.lease_name))
    throw UserError(fmt::format("--leader-elect-lease-name: with --shards, expected a DNS label of at most 63 characters (it is the "
                                "{} label of the membership Leases), got \"{}\"", kube::kLeaseGroupLabel, setup.lease_name));
  try {
    std::vector<std::unique_ptr<LeaseLock>> locks;
    for (int shard = 0; shard < shards; ++shard)
      locks.push_back(kube::open_lease_lock(setup.binding, setup.lease_namespace, shard_lease_name(setup.lease_name, shard), setup.timeout));
    auto member = kube::open_lease_lock(setup.binding, setup.lease_namespace, member_lease_name(setup.lease_name, setup.config.identity),
                                        setup.timeout, setup.lease_name);
    auto members = kube::open_lease_members(setup.binding, setup.lease_namespace, setup.lease_name, setup.timeout);
    return std::make_unique<ShardElector>(setup.config, std::move(locks), std::move(member), std::move(members));
  } catch (const Error& error) {
    throw UserError(fmt::format("--leader-elect: {}", error.what()));
  }
}

// The elector of --leader-elect (not started), or null without it.
std::unique_ptr<LeaderElector> open_elector(const Options& options) {
  if (!options.flag("leader-elect")) {
    for (const char* name : {"leader-elect-lease-namespace", "leader-elect-lease-name", "leader-elect-identity", "leader-elect-kubeconfig",
                             "leader-elect-lease-duration", "leader-elect-renew-deadline", "leader-elect-retry-period"})
      if (options.flag(name))
        throw UserError(fmt::format("--{}: only with --leader-elect", name));
    return nullptr;
  }
  ElectionSetup setup = election_setup(options);
  std::unique_ptr<LeaseLock> lock;
  try {
    lock = kube::open_lease_lock(setup.binding, setup.lease_namespace, setup.lease_name, setup.timeout);
  } catch (const Error& error) {
    throw UserError(fmt::format("--leader-elect: {}", error.what()));
  }
  return std::make_unique<LeaderElector>(std::move(setup.config), std::move(lock));
}

} // namespace

// One fleet of `run --config`: its state under <state-dir>/fleets/<name>, its loop on its own
// thread, its own status, metrics and Api.
struct FleetRuntime {
  FleetConfig config;
  std::string directory;
  std::unique_ptr<StateStore> store;
  std::unique_ptr<Backend> own_backend; //!< kube: one per fleet; sim: the shared one
  Metrics metrics;
  StatusBoard board;
  std::unique_ptr<SuspendFlag> suspend;
  TriggerQueue triggers;
  std::unique_ptr<ReconcileLoop> loop;
  std::unique_ptr<Api> api;
  std::thread thread;
};

//! The reason written into a fleet's suspend flag by `suspend: true`; a flag with another reason
//! (`meridian suspend`, the API) is the operator's and left alone.
std::string config_suspend_reason(const std::string& file) { return fmt::format("suspend: true in {}", file); }

int run_fleets(const Options& options, const std::string& config_file) {
  for (const char* flag : {"repo", "ref", "path", "owner", "interval", "webhook-secret-file", "ssh-key", "netrc", "kube-config",
                           "backend", "self-heal", "prune"})
    if (options.flag(flag))
      throw UserError(fmt::format("--{}: not with --config (set it per fleet in {})", flag, config_file));
  for (const char* flag : {"kubeconfig", "context", "allow-mass-prune", "force-conflicts", "ack-config", "ack-endpoint", "allow-replace", "shards"})
    if (options.flag(flag))
      throw UserError(fmt::format("--{}: not available with --config yet", flag));
  const FleetsConfig config = load_fleets_config(config_file);
  const bool once = options.flag("once");
  const std::string directory = state_dir(options);
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const auto lock = lock_state_dir(options, "meridian run --config");
  std::filesystem::create_directories(directory);

  ApiOptions api_defaults;
  const std::optional<ListenAddress> listen =
      once && !options.get("listen") ? std::nullopt
                                     : std::optional<ListenAddress>(parse_listen_address(options.get_or("listen", "127.0.0.1:8080")));
  api_defaults.loopback = !listen || listen->is_loopback();
  if (listen)
    api_defaults.listen_host = listen->host;
  if (const auto hosts = options.get("api-host")) {
    std::stringstream names(*hosts);
    for (std::string name; std::getline(names, name, ',');)
      if (!name.empty())
        api_defaults.allowed_hosts.push_back(name);
  }
  if (const auto token_file = options.get("api-token-file")) {
    read_secret(*token_file, "--api-token-file");
    api_defaults.token_file = *token_file;
  }

  // Fleets on the simulator share one simulated world (sim.db) and take turns: one reconcile at a time.
  std::mutex simulator_turn;
  std::unique_ptr<Backend> simulator;
  Metrics process_metrics;
  register_build_info(process_metrics, build_info().version, build_info().commit);
  register_process_metrics(process_metrics);
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<FleetRuntime>> fleets;
  for (const FleetConfig& fleet_config : config.fleets) {
    auto fleet = std::make_unique<FleetRuntime>();
    fleet->config = fleet_config;
    fleet->directory = directory + "/fleets/" + fleet_config.name;
    std::filesystem::create_directories(fleet->directory);
    fleet->store = std::make_unique<StateStore>(fleet->directory + "/meridian.db");
    Backend* backend = nullptr;
    if (fleet_config.backend == "sim") {
      if (!simulator)
        simulator = sim::open_simulator(directory + "/sim.db");
      backend = simulator.get();
    } else {
      kube::KubeOptions kube_options;
      if (!fleet_config.kube_config.empty())
        kube_options = kube::load_kube_options(fleet_config.kube_config);
      kube_options.state_file = fleet->directory + "/kube-clusters.json";
      kube_options.watch = true; // a long-lived loop: the watch cache
      fleet->own_backend = kube::open_kube_backend(std::move(kube_options));
      backend = fleet->own_backend.get();
    }
    fleet->suspend = std::make_unique<SuspendFlag>(fleet->directory);
    const std::string reason = config_suspend_reason(config.file);
    const auto flag = fleet->suspend->read();
    if (fleet_config.suspend && !flag)
      fleet->suspend->suspend(reason);
    else if (!fleet_config.suspend && flag && flag->reason == reason)
      fleet->suspend->resume();

    LoopOptions loop_options;
    loop_options.repository = fleet_config.repository;
    loop_options.ref = fleet_config.ref;
    loop_options.path = fleet_config.path;
    loop_options.git.cache_dir = fleet->directory + "/repos";
    loop_options.git.ssh_key_file = fleet_config.ssh_key_file;
    loop_options.git.netrc_file = fleet_config.netrc_file;
    loop_options.git.timeout = git_timeout(options);
    loop_options.verify = signature_policy(options);
    loop_options.owner = fleet_config.owner;
    loop_options.fleet = fleet_config.name;
    loop_options.interval = fleet_config.interval;
    loop_options.seed = parse_seed(options) + fleets.size();
    loop_options.self_heal = fleet_config.self_heal;
    loop_options.prune = fleet_config.prune;
    loop_options.exclusive = fleet_config.backend == "sim" ? &simulator_turn : nullptr;
    ReconcileLoop::declare_metrics(fleet->metrics);
    Api::declare_metrics(fleet->metrics);
    fleet->loop = std::make_unique<ReconcileLoop>(loop_options, *backend, *fleet->store, fleet->board, fleet->metrics, *fleet->suspend, stop);

    ApiOptions api_options = api_defaults;
    if (!fleet_config.webhook_secret_file.empty())
      api_options.webhook_secret = read_secret(fleet_config.webhook_secret_file, "credentials.webhookSecretFile");
    api_options.state_store_path = fleet->directory + "/meridian.db";
    if (loop_options.git.timeout.count() > 0)
      api_options.fetch_stuck_after = std::chrono::duration_cast<std::chrono::seconds>(loop_options.git.timeout).count() + 30;
    fleet->api = std::make_unique<Api>(api_options, fleet->board, fleet->metrics, fleet->triggers, *fleet->suspend);
    fleets.push_back(std::move(fleet));
  }

  // Every fleet's queue is stopped by the first signal.
  TriggerQueue signal_queue;
  const SignalWatcher watcher(stop, signal_queue);
  std::vector<RoutedFleet> routes;
  for (const auto& fleet : fleets)
    routes.push_back({fleet->config.name, fleet->config.repository, fleet->api.get(), &fleet->metrics});
  FleetRouter router(routes, process_metrics);
  std::unique_ptr<HttpServer> server;
  if (listen)
    server = std::make_unique<HttpServer>(*listen, api_defaults.body_limit, [&router](const HttpRequest& request) { return router.handle(request); });
  log_event("meridian run: {} fleets from {} ({}), {}", fleets.size(), config.file,
            fmt::join([&] {
              std::vector<std::string> names;
              for (const auto& fleet : fleets)
                names.push_back(fmt::format("{}: {}{} every {}{}", fleet->config.name, fleet->config.repository,
                                            fleet->config.ref.empty() ? "" : "@" + fleet->config.ref, format_duration(fleet->config.interval),
                                            fleet->config.suspend ? ", suspended" : ""));
              return names;
            }(), "; "),
            server ? "listening on " + server->url() : std::string("no HTTP server"));

  if (once) {
    bool all_succeeded = true;
    for (const auto& fleet : fleets) {
      const ReconcileResult result = fleet->loop->reconcile(TriggerKind::schedule);
      all_succeeded = all_succeeded && (result == ReconcileResult::succeeded || result == ReconcileResult::suspended);
      if (stop.load())
        break;
    }
    return all_succeeded || stop.load() ? 0 : 1;
  }
  for (const auto& fleet : fleets)
    fleet->thread = std::thread([&fleet = *fleet] { fleet.loop->run(fleet.triggers); });
  while (!signal_queue.stopped())
    signal_queue.wait_until(TriggerQueue::Clock::now() + std::chrono::seconds(1));
  for (const auto& fleet : fleets)
    fleet->triggers.stop();
  for (const auto& fleet : fleets)
    fleet->thread.join();
  log_event("meridian run: stopped");
  return 0;
}

int run_run(const std::vector<std::string>& args) {
  const CommandSpec spec = run_spec();
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  if (const auto config_file = options.get("config"))
    return run_fleets(options, *config_file);
  const auto repo = options.get("repo");
  if (!repo || repo->empty())
    throw UserError("--repo or --config is required: the fleet repository to keep the fleet equal to (a path or a URL), or a file of fleets");
  const bool once = options.flag("once");
  const std::string directory = state_dir(options);

  LoopOptions loop_options;
  loop_options.repository = *repo;
  loop_options.ref = options.get_or("ref", "");
  loop_options.path = options.get_or("path", "");
  loop_options.git.cache_dir = directory + "/repos";
  loop_options.git.ssh_key_file = options.get_or("ssh-key", "");
  loop_options.git.netrc_file = options.get_or("netrc", "");
  loop_options.git.timeout = git_timeout(options);
  loop_options.verify = signature_policy(options);
  loop_options.owner = fleet_owner(options, *repo, loop_options.path);
  loop_options.interval = parse_interval(options);
  loop_options.seed = parse_seed(options);
  loop_options.self_heal = options.flag("self-heal");
  loop_options.prune = options.flag("prune");
  loop_options.allow_mass_prune = options.flag("allow-mass-prune");

  ApiOptions api_options;
  if (const auto secret_file = options.get("webhook-secret-file"))
    api_options.webhook_secret = read_secret(*secret_file);
  api_options.state_store_path = directory + "/meridian.db";
  const std::optional<ListenAddress> listen =
      once && !options.get("listen") ? std::nullopt
                                     : std::optional<ListenAddress>(parse_listen_address(options.get_or("listen", "127.0.0.1:8080")));
  api_options.loopback = !listen || listen->is_loopback();
  if (loop_options.git.timeout.count() > 0)
    api_options.fetch_stuck_after = std::chrono::duration_cast<std::chrono::seconds>(loop_options.git.timeout).count() + 30;
  if (listen)
    api_options.listen_host = listen->host;
  if (const auto hosts = options.get("api-host")) {
    std::stringstream names(*hosts);
    for (std::string name; std::getline(names, name, ',');)
      if (!name.empty())
        api_options.allowed_hosts.push_back(name);
  }
  if (const auto token_file = options.get("api-token-file")) {
    read_secret(*token_file, "--api-token-file"); // readable and not empty now; read again on every change
    api_options.token_file = *token_file;
  }

  // Block the stop signals before any thread starts, so that every thread inherits the mask and
  // only SignalWatcher takes them.
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Held for as long as `run` runs: an `apply` or another `run` on this state directory meanwhile would
  // fight it over the live fleet.
  const auto lock = lock_state_dir(options, "meridian run");
  StateStore store(api_options.state_store_path);
  const std::unique_ptr<Backend> backend = open_backend(options, /*watch=*/true);
  Metrics metrics;
  ReconcileLoop::declare_metrics(metrics);
  Api::declare_metrics(metrics);
  register_build_info(metrics, build_info().version, build_info().commit);
  register_process_metrics(metrics);
  StatusBoard board;
  const SuspendFlag suspend(directory);
  TriggerQueue triggers;
  std::atomic<bool> stop{false};
  const SignalWatcher watcher(stop, triggers);
  metrics.declare("meridian_leader", "1 while this replica may apply: it holds the leader Lease (always 1 without --leader-elect).",
                  MetricType::gauge);
  const int shards = parse_shards(options);
  const std::unique_ptr<LeaderElector> elector = shards > 0 ? nullptr : open_elector(options);
  const std::unique_ptr<ShardElector> shard_elector = shards > 0 ? open_shard_elector(options, shards) : nullptr;
  metrics.set("meridian_leader", elector || shard_elector ? 0 : 1);
  if (shard_elector) {
    ShardElector* const sharding = shard_elector.get();
    loop_options.shards = shards;
    loop_options.holds_shard = [sharding](int shard) { return sharding->holds(shard); };
    metrics.declare("meridian_shard_leader", "1 while this replica holds the shard's Lease and may apply the objects of its clusters.",
                    MetricType::gauge, {"shard", "replica"});
    ShardingStatus sharding_status{sharding->describe(), sharding->config().identity, 1, {}};
    for (int shard = 0; shard < shards; ++shard) {
      metrics.set("meridian_shard_leader", {std::to_string(shard), sharding->config().identity}, 0);
      sharding_status.shards.push_back({shard, "", false, {}});
    }
    board.update([&](LoopStatus& status) { status.sharding = sharding_status; });
  }
  std::atomic<bool> leadership_lost{false};
  if (elector) {
    LeaderElector* const election = elector.get();
    loop_options.may_write = [election] { return election->is_leader(); };
    api_options.standby_of = [election]() -> std::optional<std::string> {
      if (election->is_leader())
        return std::nullopt;
      return election->leader();
    };
    board.update([&](LoopStatus& status) {
      status.leader_election = LeaderStatus{election->describe(), election->config().identity, "", false};
    });
  }
  ReconcileLoop loop(loop_options, *backend, store, board, metrics, suspend, stop);
  Api api(api_options, board, metrics, triggers, suspend);
  std::unique_ptr<HttpServer> server;
  if (listen)
    server = std::make_unique<HttpServer>(*listen, api_options.body_limit, [&api, fleet = loop_options.owner](const HttpRequest& request) {
      const LogScope scope(LogContext{fleet, "", 0}); // webhook and refusal lines name the fleet too
      return api.handle(request);
    });

  const LogScope fleet_scope(LogContext{loop_options.owner, "", 0});
  log_event("meridian run: {}{} every {} (±10%), backend {}, self-heal {}, prune {}, webhooks {}, {}", *repo,
            loop_options.ref.empty() ? "" : "@" + loop_options.ref, format_duration(loop_options.interval), backend->name(),
            loop_options.self_heal ? "on" : "off", loop_options.prune ? "on" : "off", api_options.webhook_secret.empty() ? "off" : "on",
            server ? "listening on " + server->url() : std::string("no HTTP server"));
  if (!api_options.loopback && api_options.token_file.empty())
    log_warn("the listener is not on a loopback address and there is no --api-token-file: /api/v1/* and /metrics are refused");

  if (elector) {
    const std::string identity = elector->config().identity;
    LeaderElector::Callbacks callbacks;
    callbacks.started_leading = [&, identity](const std::string& expired_holder) {
      if (!expired_holder.empty())
        log_event("leader election: {} stopped renewing lease {} without releasing it: a rollout it ran is resumed here, "
                  "and recorded as interrupted in its own state directory", expired_holder, elector->describe());
      log_event("leader election: {} holds lease {}: reconciling", identity, elector->describe());
      metrics.set("meridian_leader", 1);
      board.update([&](LoopStatus& status) {
        status.leader_election->holder = identity;
        status.leader_election->leader = true;
      });
    };
    // As client-go's controllers do: a replica that lost its lease exits (its apply stopped between
    // objects and was recorded as interrupted); its supervisor starts it again as a standby.
    callbacks.stopped_leading = [&](const std::string& reason) {
      log_event("leader election: leadership lost: {}: stopping", reason);
      metrics.set("meridian_leader", 0);
      board.update([](LoopStatus& status) { status.leader_election->leader = false; });
      leadership_lost.store(true);
      triggers.stop();
    };
    callbacks.new_leader = [&, identity](const std::string& holder) {
      if (holder != identity)
        log_event("leader election: lease {} is held by {}", elector->describe(), holder.empty() ? "nobody" : holder);
      board.update([&](LoopStatus& status) { status.leader_election->holder = holder; });
    };
    callbacks.log = [](const std::string& message) { log_event("leader election: {}", message); };
    log_event("leader election: {} campaigns for lease {} (duration {}, renew deadline {}, retry period {})", identity,
              elector->describe(), format_duration(elector->config().lease_duration), format_duration(elector->config().renew_deadline),
              format_duration(elector->config().retry_period));
    board.update([](LoopStatus& status) { status.phase = "standby"; });
    elector->start(std::move(callbacks));
    while (!elector->wait_for_leadership(stop, std::chrono::seconds(1)))
      if (stop.load() || leadership_lost.load()) {
        elector->stop(false);
        log_event("meridian run: stopped (a standby)");
        return 0;
      }
  }
  if (shard_elector) {
    const std::string identity = shard_elector->config().identity;
    ShardElector::Callbacks callbacks;
    callbacks.acquired = [&, identity](int shard, const std::string& expired_holder) {
      if (!expired_holder.empty())
        log_event("sharding: {} stopped renewing the lease of shard {} without releasing it: a rollout it ran there is resumed here, "
                  "and recorded as interrupted in its own state directory", expired_holder, shard);
      log_event("sharding: {} holds shard {}: reconciling its clusters", identity, shard);
      metrics.set("meridian_shard_leader", {std::to_string(shard), identity}, 1);
      triggers.post(TriggerKind::shard);
    };
    // A shard lost stops the apply under way between objects (recorded as interrupted); unlike a
    // lost leadership this is not fatal: the replica keeps its other shards and campaigns on.
    callbacks.lost = [&, identity](int shard, const std::string& reason) {
      log_event("sharding: {} no longer holds shard {}: {}", identity, shard, reason);
      metrics.set("meridian_shard_leader", {std::to_string(shard), identity}, 0);
      triggers.post(TriggerKind::shard); // an apply it interrupted resumes at once for the shards still held
    };
    callbacks.changed = [&] {
      const std::vector<ShardHolding> holdings = shard_elector->holdings();
      const int live = shard_elector->live_members();
      bool holds_any = false;
      board.update([&](LoopStatus& status) {
        status.sharding->live_replicas = live;
        for (const ShardHolding& holding : holdings) {
          ShardStatus& shard = status.sharding->shards[static_cast<size_t>(holding.shard)];
          shard.holder = holding.holder;
          shard.held = holding.held;
          holds_any = holds_any || holding.held;
        }
      });
      metrics.set("meridian_leader", holds_any ? 1 : 0);
    };
    callbacks.log = [](const std::string& message) { log_event("sharding: {}", message); };
    log_event("sharding: {} campaigns for {} shards, leases {} (duration {}, renew deadline {}, retry period {})", identity, shards,
              shard_elector->describe(), format_duration(shard_elector->config().lease_duration),
              format_duration(shard_elector->config().renew_deadline), format_duration(shard_elector->config().retry_period));
    shard_elector->start(std::move(callbacks));
  }
  // Without a cluster's Lease, the state directory's lock (held above) is what keeps a second
  // process on this machine from applying.
  const auto finish = [&](int status) {
    if (leadership_lost.load()) {
      log_event("meridian run: stopped: leadership lost");
      return 1;
    }
    if (elector)
      elector->stop(true); // hand the lease over now rather than after its duration
    if (shard_elector)
      shard_elector->stop(true);
    return status;
  };
  if (once) {
    const ReconcileResult result = loop.reconcile(TriggerKind::schedule);
    return finish(result == ReconcileResult::succeeded || result == ReconcileResult::suspended || stop.load() ? 0 : 1);
  }
  loop.run(triggers);
  log_event("meridian run: stopped");
  return finish(0);
}

CommandSpec suspend_command_spec() {
  return {"suspend", "[--reason TEXT] [--state-dir DIR] [--fleet NAME]",
          "Suspend reconciliation (a maintenance window): `meridian run` on this state directory skips its "
          "reconciles until `meridian resume`.",
          {{"reason", "TEXT", "why, shown in /api/v1/status and the log"},
           {"state-dir", "DIR", "state directory (default $MERIDIAN_STATE_DIR or ./.meridian)"},
           {"fleet", "NAME", "with `run --config`: the fleet's own state, <state-dir>/fleets/NAME"}},
          "The flag is a file in the state directory, so it survives restarts; a running process notices it\n"
          "within a second (or use POST /api/v1/suspend on its HTTP server). An apply in progress finishes."};
}

CommandSpec resume_command_spec() {
  return {"resume", "[--state-dir DIR] [--fleet NAME]",
          "Resume reconciliation suspended with `meridian suspend`; a running `meridian run` reconciles at once.",
          {{"state-dir", "DIR", "state directory (default $MERIDIAN_STATE_DIR or ./.meridian)"},
           {"fleet", "NAME", "with `run --config`: the fleet's own state, <state-dir>/fleets/NAME"}},
          ""};
}

int run_suspend(const std::vector<std::string>& args) {
  const CommandSpec spec = suspend_command_spec();
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  const std::string reason = options.get_or("reason", "suspended with meridian suspend");
  const SuspendFlag flag(state_dir(options));
  flag.suspend(reason);
  std::cout << fmt::format("Reconciliation suspended ({}): {}\nResume with: meridian resume\n", flag.path(), reason);
  return 0;
}

int run_resume(const std::vector<std::string>& args) {
  const CommandSpec spec = resume_command_spec();
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  const SuspendFlag flag(state_dir(options));
  std::cout << (flag.resume() ? "Reconciliation resumed.\n" : "Reconciliation was not suspended.\n");
  return 0;
}

CommandSpec run_command_spec() { return run_spec(); }

} // namespace meridian

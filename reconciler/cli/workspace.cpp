#include "cli/workspace.h"

#include "backend/ack/ack.h"
#include "backend/kube/kube.h"
#include "backend/sim/sim.h"
#include "base/duration.h"
#include "base/error.h"
#include "base/log.h"
#include "validate/validate.h"

#include <fmt/format.h>

#include <malloc.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace meridian {

std::vector<OptionSpec> workspace_options() {
  std::vector<OptionSpec> options = repository_options();
  options.push_back({"backend", "sim|kube|ack", "live-state backend: sim (default, the embedded fleet simulator), kube (real clusters) or "
                                                "ack (Alibaba Cloud ACK: clusters and node pools, and kube inside them)"});
  options.push_back({"kube-config", "FILE", "with --backend kube: cluster name -> {kubeconfig, context} (default: every cluster uses "
                                            "$KUBECONFIG or ~/.kube/config current-context, or the in-cluster config)"});
  options.push_back({"kubeconfig", "FILE", "with --backend kube: the kubeconfig file, as kubectl's --kubeconfig (in place of $KUBECONFIG "
                                           "and ~/.kube/config) for every cluster whose --kube-config binding names no kubeconfig"});
  options.push_back({"context", "NAME", "with --backend kube: the kubeconfig context, as kubectl's --context (in place of current-context) "
                                        "for every cluster whose --kube-config binding names no kubeconfig and no context"});
  options.push_back({"owner", "NAME", "the fleet's identity on live objects (meridian.io/owner label, managed-by annotation; default: "
                                      "the repository's name and --path); objects of another owner are never changed or pruned"});
  options.push_back({"force-conflicts", "", "with --backend kube or ack: take over fields another field manager owns (server-side apply's "
                                             "force); without it such a field fails the plan as a Conflict naming the manager"});
  options.push_back({"ack-config", "FILE", "with --backend ack: region, endpoint, networks per region, existing clusters (see README)"});
  options.push_back({"ack-endpoint", "URL", "with --backend ack: send every ACK OpenAPI call here (default https://cs.<region>.aliyuncs.com, "
                                            "or $MERIDIAN_ACK_ENDPOINT)"});
  options.push_back({"allow-replace", "", "with --backend ack: delete and create again a Cluster or NodePool whose change ACK cannot make in place"});
  options.push_back({"no-color", "", "never colour the output"});
  return options;
}

namespace {

// kubectl's --kubeconfig and --context, for the clusters the binding file leaves to the defaults:
// --kubeconfig wherever a binding names no kubeconfig file, --context wherever it names neither
// a file nor a context (a context of the default kubeconfig means nothing in another file).
void apply_kubectl_flags(kube::KubeOptions& kube_options, const Options& options) {
  const std::string kubeconfig = options.get_or("kubeconfig", "");
  const std::string context = options.get_or("context", "");
  if (options.flag("kubeconfig")) {
    if (kubeconfig.empty())
      throw UserError("--kubeconfig: expected a file name");
    if (!std::filesystem::is_regular_file(kubeconfig))
      throw UserError(fmt::format("--kubeconfig {}: no such file", kubeconfig));
  }
  if (options.flag("context") && context.empty())
    throw UserError("--context: expected a context name");
  const auto apply = [&](kube::ClusterBinding& binding) {
    if (!binding.kubeconfig.empty())
      return;
    binding.kubeconfig = kubeconfig;
    if (binding.context.empty())
      binding.context = context;
  };
  for (auto& [cluster, binding] : kube_options.clusters)
    apply(binding);
  if (kube_options.fallback)
    apply(*kube_options.fallback);
}

} // namespace

std::unique_ptr<Backend> open_backend(const Options& options, bool watch) {
  const std::string name = options.get_or("backend", "sim");
  for (const char* flag : {"kube-config", "kubeconfig", "context"})
    if (name != "kube" && options.flag(flag))
      throw UserError(fmt::format("--{}: only with --backend kube", flag));
  if (name != "kube" && name != "ack" && options.flag("force-conflicts"))
    throw UserError("--force-conflicts: only with --backend kube or ack");
  for (const char* flag : {"ack-config", "ack-endpoint", "allow-replace"})
    if (name != "ack" && options.flag(flag))
      throw UserError(fmt::format("--{}: only with --backend ack", flag));
  if (name == "sim")
    return sim::open_simulator(shared_state_dir(options) + "/sim.db");
  if (name == "kube") {
    kube::KubeOptions kube_options;
    if (const std::string file = options.get_or("kube-config", ""); !file.empty())
      kube_options = kube::load_kube_options(file);
    apply_kubectl_flags(kube_options, options);
    std::filesystem::create_directories(state_dir(options));
    kube_options.state_file = state_dir(options) + "/kube-clusters.json";
    kube_options.force_conflicts = options.flag("force-conflicts");
    kube_options.watch = watch;
    return kube::open_kube_backend(std::move(kube_options));
  }
  if (name == "ack") {
    ack::AckOptions ack_options;
    if (const std::string file = options.get_or("ack-config", ""); !file.empty())
      ack_options = ack::load_ack_options(file);
    if (const char* endpoint = std::getenv("MERIDIAN_ACK_ENDPOINT"); endpoint != nullptr && *endpoint != '\0')
      ack_options.endpoint = endpoint;
    if (const std::string endpoint = options.get_or("ack-endpoint", ""); !endpoint.empty()) {
      if (!endpoint.starts_with("https://") && !endpoint.starts_with("http://"))
        throw UserError(fmt::format("--ack-endpoint: expected an http:// or https:// URL, got \"{}\"", endpoint));
      ack_options.endpoint = endpoint;
    }
    ack_options.allow_replace = options.flag("allow-replace");
    ack_options.kube.force_conflicts = options.flag("force-conflicts");
    // ACK's task progress is an event: under `run` it carries the reconcile's fleet, commit and id.
    ack_options.progress = [](const std::string& line) { log_event("{}", line); };
    return ack::open_ack_backend(std::move(ack_options));
  }
  throw UserError(fmt::format("--backend: unknown backend \"{}\", expected sim, kube or ack", name));
}

OptionSpec lock_timeout_option() {
  return {"lock-timeout", "DURATION", "wait this long for another apply or run on the state directory to finish (default 0s: "
                                      "refuse at once, naming it)"};
}

std::unique_ptr<StateLock> lock_state_dir(const Options& options, const std::string& command) {
  std::chrono::milliseconds timeout{0};
  if (const auto text = options.get("lock-timeout")) {
    const auto parsed = parse_duration(*text);
    if (!parsed || parsed->count() < 0)
      throw UserError(fmt::format("--lock-timeout: expected a duration such as 30s or 5m, got \"{}\"", *text));
    timeout = *parsed;
  }
  auto lock = make_file_lock(state_dir(options), command);
  lock->acquire(timeout);
  return lock;
}

bool use_color(const Options& options, int fd) {
  if (options.flag("no-color"))
    return false;
  if (const char* no_color = std::getenv("NO_COLOR"); no_color != nullptr && *no_color != '\0')
    return false;
  return isatty(fd) != 0;
}

std::string fleet_owner(const Options& options, const std::string& repository, std::string path) {
  // A fleet of `run --config` owns its objects under its name unless the file gives an owner.
  if (const auto fleet = options.get("fleet"); fleet && !options.get("owner"))
    return *fleet;
  if (const auto owner = options.get("owner")) {
    const bool legal = !owner->empty() && owner->size() <= 63 && owner_label_value(*owner) == *owner;
    if (!legal)
      throw UserError(fmt::format("--owner: expected a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
                                  "letter or digit, got \"{}\"",
                                  *owner));
    return *owner;
  }
  std::string name = repository;
  while (name.size() > 1 && (name.back() == '/' || name.back() == '\\'))
    name.pop_back();
  if (std::filesystem::exists(repository))
    name = std::filesystem::weakly_canonical(repository).filename().string();
  if (const size_t cut = name.find_last_of("/:"); cut != std::string::npos)
    name = name.substr(cut + 1);
  if (name.ends_with(".git") && name.size() > 4)
    name.resize(name.size() - 4);
  if (name.empty())
    name = "fleet";
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  while (path.starts_with("./"))
    path = path.substr(2);
  if (path == ".")
    path.clear();
  return path.empty() ? name : name + "/" + path;
}

std::unique_ptr<Workspace> open_workspace(const Options& options) {
  auto workspace = std::make_unique<Workspace>();
  {
    const OpenedRepository opened = open_repository(options);
    const std::string path = options.get_or("path", "");
    FleetLoader loader(path, fleet_owner(options, opened.repository.location(), path));
    FleetLoad loaded = loader.load(opened.repository, opened.commit, workspace->fleet);
    if (!loaded.fleet)
      throw UserError(invalid_manifests_message(fmt::format("{}@{}", opened.repository.location(), opened.commit.id.substr(0, 12)),
                                                "planned or applied", loaded.findings, true));
    workspace->fleet = std::move(loaded.fleet);
    // The desired state holds its own copies: the parse (a third of a plan's memory) can go, with
    // the loader's cache.
    workspace->fleet->set.release_documents();
  }
  // Parsing ran on every core, so the freed parse sits in several malloc arenas: give it back to
  // the system before live state is read, or it stays in the process's peak.
  malloc_trim(0);
  workspace->store = std::make_unique<StateStore>(state_dir(options) + "/meridian.db");
  workspace->backend = open_backend(options);
  return workspace;
}

} // namespace meridian

// Helpers for plan and apply tests: the engine's libraries (manifest → validate → model → plan →
// apply) driven in-process against the real simulator on a temporary SQLite file, with the state
// store in the same directory. Manifests are given as in-memory files (path → YAML), as a commit
// of the fleet repository would hold them; examples/ folders can be loaded as such files.
#pragma once

#include "../support/scratch_dir.h"
#include "apply/apply.h"
#include "backend/forwarding.h"
#include "backend/sim/sim.h"
#include "manifest/manifest.h"
#include "model/desired.h"
#include "plan/plan.h"
#include "state/store.h"
#include "validate/validate.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace engine_test {

using namespace meridian;
namespace fs = std::filesystem;

inline std::string source_path(const std::string& relative) { return std::string(MERIDIAN_SOURCE_ROOT) + "/" + relative; }

inline std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

//! Named for the files it leaves when a test is killed.
struct TempDir : meridian::testing::ScratchDir {
  TempDir() : ScratchDir("meridian-engine") {}
};

using Files = std::map<std::string, std::string>;

//! Every *.yaml file of examples/<folder>, by path relative to the folder.
inline Files example_files(const std::string& folder) {
  Files files;
  const fs::path root = source_path("examples/" + folder);
  for (const auto& entry : fs::recursive_directory_iterator(root))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml")
      files[fs::relative(entry.path(), root).string()] = slurp(entry.path());
  return files;
}

//! Replaces every occurrence of `from` in `text` (REQUIREs at least one).
inline std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = 0;
  bool any = false;
  while ((at = text.find(from, at)) != std::string::npos) {
    text.replace(at, from.size(), to);
    at += to.size();
    any = true;
  }
  INFO("replacing " << from);
  REQUIRE(any);
  return text;
}

inline std::string cluster_yaml(const std::string& name, const std::string& region, const std::string& type = "Managed") {
  return "apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: " + name + "\nspec:\n  type: " + type +
         "\n  region: " + region + "\n";
}

inline std::string pool_yaml(const std::string& name, const std::string& cluster, const std::string& region,
                             const std::string& instance_type = "ecs.g7.large", int size = 1) {
  return "apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: " + name + "\nspec:\n  cluster: " + cluster +
         "\n  region: " + region + "\n  type: ess\n  instanceTypes: [" + instance_type + "]\n  desiredSize: " + std::to_string(size) +
         "\n";
}

inline std::string configmap_yaml(const std::string& name, const std::string& ns = "default", const std::string& extra_annotations = "") {
  std::string text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\n";
  if (!extra_annotations.empty())
    text += "  annotations:\n" + extra_annotations;
  return text + "data:\n  key: value\n";
}

//! A one-replica Deployment `web` in namespace default (nginx 1.25, 100m CPU requested).
inline const std::string web_deployment_yaml = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.25", resources: {requests: {cpu: 100m}}}]
)";

inline std::string fleet_yaml(const std::vector<std::string>& regions, int parallel = 1, bool halt = true,
                              const std::string& timeout = "10m", const std::string& extra_spec = "") {
  std::string list;
  for (const std::string& region : regions)
    list += (list.empty() ? "" : ", ") + region;
  return "apiVersion: meridian.io/v1alpha1\nkind: Fleet\nmetadata:\n  name: fleet\nspec:\n  rollout:\n    regions: [" + list +
         "]\n    maxParallelRegions: " + std::to_string(parallel) + "\n    haltOnFailure: " + (halt ? "true" : "false") +
         "\n    healthTimeout: " + timeout + "\n" + extra_spec;
}

//! A change of a plan, as "action Kind/name" (Kind/namespace/name for namespaced objects).
inline std::string describe(const PlannedChange& change) { return std::string(to_string(change.action)) + " " + change.ref.display(); }

//! The plan's changes (unchanged objects left out), in apply order.
inline std::vector<std::string> changes_of(const Plan& plan) {
  std::vector<std::string> out;
  for (const PlannedChange& change : plan.changes)
    if (change.action != Action::unchanged)
      out.push_back(describe(change));
  return out;
}

inline long index_of(const std::vector<std::string>& list, const std::string& item) {
  const auto found = std::find(list.begin(), list.end(), item);
  INFO("looking for " << item);
  REQUIRE(found != list.end());
  return found - list.begin();
}

inline const PlannedChange& change_for(const Plan& plan, const std::string& kind, const std::string& name) {
  for (const PlannedChange& change : plan.changes)
    if (change.ref.kind == kind && change.ref.name == name)
      return change;
  FAIL("no change for " << kind << "/" << name);
  throw std::logic_error("unreachable");
}

//! The engine against a simulator: load a commit's files, plan, apply; repeat with new files.
class Engine {
public:
  static constexpr const char* owner = "/fleet/repo";

  explicit Engine(const std::string& fixture = "") {
    sim_ = std::make_unique<sim::Simulator>((dir_.path / "sim.db").string());
    if (!fixture.empty())
      sim_->init(slurp(source_path("examples/fixtures/" + fixture + ".yaml")), fixture + ".yaml");
    store_ = std::make_unique<StateStore>((dir_.path / "meridian.db").string());
  }

  //! Loads `files` as the new commit: validated, desired state built; REQUIREs it valid.
  void load(const Files& files) {
    std::vector<std::pair<std::string, std::string>> list(files.begin(), files.end());
    desired_.reset();
    set_ = std::make_unique<ManifestSet>(manifests_from_texts(list));
    set_->commit.id = std::string(40, 'c');
    set_->commit.summary = "test commit";
    const std::vector<Finding> findings = validate_manifests(*set_);
    std::string text;
    for (const Finding& finding : findings)
      text += finding.format() + "\n";
    INFO(text);
    REQUIRE(is_valid(findings));
    desired_ = std::make_unique<DesiredState>(build_desired_state(*set_, owner));
    std::string problems;
    for (const Finding& finding : desired_->findings)
      problems += finding.format() + "\n";
    INFO(problems);
    REQUIRE(desired_->findings.empty());
  }

  //! Loads `files` and returns the desired-state findings (dependency problems) without requiring none.
  std::vector<Finding> load_findings(const Files& files) {
    std::vector<std::pair<std::string, std::string>> list(files.begin(), files.end());
    desired_.reset();
    set_ = std::make_unique<ManifestSet>(manifests_from_texts(list));
    REQUIRE(is_valid(validate_manifests(*set_)));
    desired_ = std::make_unique<DesiredState>(build_desired_state(*set_, owner));
    return desired_->findings;
  }

  Plan plan(PlanOptions options = {}) { return make_plan(*desired_, *backend_(), *store_, options); }

  ApplyReport apply(const Plan& plan, ApplyOptions options = {}) {
    if (!options.progress)
      options.progress = [this](const std::string& line) { log.push_back(line); };
    return apply_plan(plan, *desired_, *backend_(), *store_, options);
  }

  //! Plans and applies; REQUIREs the apply to succeed.
  ApplyReport converge(PlanOptions options = {}) {
    const Plan planned = plan(options);
    const ApplyReport report = apply(planned);
    INFO(joined_log());
    REQUIRE(report.result == ApplyResult::succeeded);
    return report;
  }

  std::string joined_log() const {
    std::string text;
    for (const std::string& line : log)
      text += line + "\n";
    return text;
  }

  //! Replaces the backend the engine talks to (e.g. a recording wrapper around sim()).
  void use_backend(Backend* backend) { backend_override_ = backend; }

  sim::Simulator& sim() { return *sim_; }
  StateStore& store() { return *store_; }
  const DesiredState& desired() const { return *desired_; }
  const fs::path& dir() const { return dir_.path; }

  std::vector<std::string> log;

private:
  Backend* backend_() { return backend_override_ != nullptr ? backend_override_ : sim_.get(); }

  TempDir dir_;
  std::unique_ptr<sim::Simulator> sim_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<ManifestSet> set_;
  std::unique_ptr<DesiredState> desired_;
  Backend* backend_override_ = nullptr;
};

//! A Backend that forwards to another and records every apply and remove.
class RecordingBackend : public ForwardingBackend {
public:
  struct Call {
    std::string op; //!< apply | remove
    ObjectRef ref;
    std::shared_ptr<JsonDocument> body;
  };

  explicit RecordingBackend(Backend& inner) : ForwardingBackend(inner) {}

  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override {
    if (!dry_run) {
      auto copy = std::make_shared<JsonDocument>();
      copy->CopyFrom(desired, copy->GetAllocator());
      calls.push_back({"apply", ref, copy});
      if (on_apply)
        on_apply(ref);
    }
    return ForwardingBackend::apply(ref, desired, dry_run);
  }
  void remove(const ObjectRef& ref, bool dry_run) override {
    if (!dry_run) {
      calls.push_back({"remove", ref, nullptr});
      if (on_remove)
        on_remove(ref);
    }
    ForwardingBackend::remove(ref, dry_run);
  }
  void wait(std::chrono::milliseconds duration) override {
    ForwardingBackend::wait(duration);
    if (after_wait)
      after_wait();
  }

  std::vector<Call> calls;
  std::function<void(const ObjectRef&)> on_apply;  //!< before the apply reaches the inner backend; may throw
  std::function<void(const ObjectRef&)> on_remove; //!< before the remove reaches the inner backend
  std::function<void()> after_wait;
};

inline std::string text_at(const Json& object, const char* pointer) {
  const Json* found = find_pointer(object, pointer);
  return found != nullptr && found->IsString() ? std::string(found->GetString(), found->GetStringLength()) : std::string();
}

} // namespace engine_test

// Helpers for the PlanMemo tests (test_memo.cpp, test_changes.cpp): a counting Backend in front of
// the simulator, a fleet repository as a sequence of commits that share the parse of unchanged
// files (as the loop's ManifestCache does), and the simulator, state store and memo that one
// `meridian run` process holds, with the check that a memo plan renders like a fresh one.
#pragma once

#include "engine_fixture.h"

#include "backend/forwarding.h"
#include "base/error.h"

#include <deque>
#include <functional>
#include <optional>
#include <set>

namespace memo_test {

using namespace engine_test;

//! Forwards every call to `inner` and counts them; records the keys of the refs passed to get().
//! Forwards changes_since only when `forward_changes` (otherwise it answers as a backend without
//! history, nullopt), and records what it was asked and answered either way.
class CountingBackend : public ForwardingBackend, public Forecaster {
public:
  explicit CountingBackend(Backend& inner) : ForwardingBackend(inner) {}

  Forecaster* forecaster() override { return inner().forecaster() == nullptr ? nullptr : this; }
  std::vector<LiveObject> list_managed(std::string_view owner) override {
    ++calls["list_managed"];
    return inner().list_managed(owner);
  }
  void visit_managed(std::string_view owner, const std::function<void(LiveObject&&)>& visit) override {
    ++calls["visit_managed"];
    if (claim_server_side_dry_run) {
      // Like a backend that streams no visit of its own: plan dry-runs inside the visit.
      for (LiveObject& live : inner().list_managed(owner))
        visit(std::move(live));
      return;
    }
    inner().visit_managed(owner, visit);
  }
  std::optional<std::string> revision() override {
    ++calls["revision"];
    return inner().revision();
  }
  std::optional<std::vector<ObjectRef>> changes_since(const std::string& revision) override {
    ++calls["changes_since"];
    asked_since.push_back(revision);
    if (!forward_changes)
      return LiveReader::changes_since(revision);
    auto answer = inner().changes_since(revision);
    named = answer;
    return answer;
  }
  std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) override {
    ++calls["get"];
    gets.push_back(ref.key());
    return inner().get(ref);
  }
  //! Through get (counted), as the simulator's own get_as does.
  std::shared_ptr<const JsonDocument> get_as(const ObjectRef& ref, std::string_view api_version) override {
    return LiveReader::get_as(ref, api_version);
  }
  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override {
    ++calls[dry_run ? "apply_dry_run" : "apply"];
    if (dry_run && fail_dry_run_of && *fail_dry_run_of == ref)
      throw UserError("admission webhook denied the request");
    return inner().apply(ref, desired, dry_run);
  }
  bool server_side_dry_run() const override { return claim_server_side_dry_run || inner().server_side_dry_run(); }
  void remove(const ObjectRef& ref, bool dry_run) override {
    ++calls[dry_run ? "remove_dry_run" : "remove"];
    inner().remove(ref, dry_run);
  }
  Health health(const ObjectRef& ref) override {
    ++calls["health"];
    return inner().health(ref);
  }
  std::vector<PodPlacement> placements(const ObjectRef& workload) override {
    ++calls["placements"];
    return inner().placements(workload);
  }
  std::vector<PlacementForecast> predict(const std::vector<std::pair<ObjectRef, const Json*>>& changes) override {
    ++calls["predict"];
    return inner().forecaster()->predict(changes);
  }
  void wait(std::chrono::milliseconds duration) override {
    ++calls["wait"];
    inner().wait(duration);
  }
  long long now_ms() override {
    ++calls["now_ms"];
    return inner().now_ms();
  }
  std::vector<std::string> node_regions(const std::string& cluster) override {
    ++calls["node_regions"];
    return inner().node_regions(cluster);
  }

  int count(const std::string& call) const {
    const auto found = calls.find(call);
    return found == calls.end() ? 0 : found->second;
  }
  void clear() {
    calls.clear();
    gets.clear();
    asked_since.clear();
    named.reset();
  }
  //! The keys get() was asked for, sorted (a key asked twice is there twice).
  std::vector<std::string> sorted_gets() const {
    std::vector<std::string> sorted = gets;
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  }
  //! The distinct keys get() was asked for, sorted.
  std::vector<std::string> distinct_gets() const {
    const std::set<std::string> distinct(gets.begin(), gets.end());
    return {distinct.begin(), distinct.end()};
  }

  std::map<std::string, int> calls;
  std::vector<std::string> gets;
  bool forward_changes = true;                 //!< forward changes_since to `inner` (else: nullopt)
  bool claim_server_side_dry_run = false;      //!< pretend the inner dry-run is a server's (as kube's is)
  std::optional<ObjectRef> fail_dry_run_of;    //!< a dry-run apply of this ref throws UserError
  std::vector<std::string> asked_since;        //!< the revisions changes_since was asked about
  std::optional<std::vector<ObjectRef>> named; //!< the inner backend's last answer to changes_since
};

//! One commit of the fleet repository: its files, the ManifestSet and the desired state.
struct Commit {
  Files files;
  std::unique_ptr<ManifestSet> set;
  std::unique_ptr<DesiredState> desired;
  std::set<std::string> parsed; //!< files parsed for this commit (the rest share a parse of the commit before)
};

//! Commits in order, all kept alive. A file whose text is the same as in the commit before keeps
//! that commit's Manifests (same `object` pointer and `blob`), as the ManifestCache hands them out;
//! a file whose text some file of the commit before had (a rename, a copy) gets that parse too.
//! The memo recognises an unchanged document by its parse.
class Repo {
public:
  //! The next commit; validated (REQUIREd valid unless `require_valid` is false) and, when valid,
  //! its desired state built with the commit before as `previous` (when the owner is the same).
  const Commit& commit(const Files& files, const std::string& owner = Engine::owner, bool require_valid = true) {
    auto next = std::make_unique<Commit>();
    next->files = files;
    next->set = std::make_unique<ManifestSet>(next_set(files, *next));
    const std::vector<Finding> findings = validate_manifests(*next->set);
    if (require_valid) {
      std::string text;
      for (const Finding& finding : findings)
        text += finding.format() + "\n";
      INFO(text);
      REQUIRE(is_valid(findings));
    }
    if (is_valid(findings)) {
      const DesiredState* previous = !history_.empty() && history_.back()->desired ? history_.back()->desired.get() : nullptr;
      next->desired = std::make_unique<DesiredState>(build_desired_state(*next->set, owner, previous));
      REQUIRE(next->desired->findings.empty());
    }
    history_.push_back(std::move(next));
    return *history_.back();
  }

  //! The next commit, whose documents are the last commit's (REQUIREd): as the loop does, the last
  //! commit's desired state is moved into it and rebased onto its set instead of being built.
  const Commit& commit_same_documents(const Files& files) {
    REQUIRE_FALSE(history_.empty());
    Commit& last = *history_.back();
    REQUIRE(last.desired);
    auto next = std::make_unique<Commit>();
    next->files = files;
    next->set = std::make_unique<ManifestSet>(next_set(files, *next));
    REQUIRE(same_documents(*last.set, *next->set));
    next->desired = std::make_unique<DesiredState>(std::move(*last.desired));
    last.desired.reset();
    rebase_desired_state(*next->desired, *last.set, *next->set);
    history_.push_back(std::move(next));
    return *history_.back();
  }

  //! The next commit as the loop makes it of a commit that only edits documents in place (find_edit,
  //! validate_edit, prepare_desired_edit, apply_edit, apply_desired_edit): the files whose text
  //! changed are parsed, their documents paired by position with the last set's (`same` when
  //! json_identical), and the last commit's set and desired state (the very objects, as the loop
  //! patches them in place) move into the new commit, which leaves the last commit without them.
  //! REQUIREs what find_edit requires: the same files, each with its documents in number, order and
  //! identity, Meridian's own kinds unchanged but for layout. nullptr when validate_edit finds an
  //! error or prepare_desired_edit refuses: then nothing moves and no commit is added. `findings`
  //! (when given) gets validate_edit's findings.
  const Commit* try_commit_edit(const Files& files, std::vector<Finding>* findings = nullptr) {
    REQUIRE_FALSE(history_.empty());
    Commit& last = *history_.back();
    REQUIRE(last.set);
    REQUIRE(last.desired);
    REQUIRE(last.set->findings.empty());
    REQUIRE(files.size() == last.files.size());
    const std::vector<Manifest>& manifests = last.set->manifests;
    const std::string number = std::to_string(history_.size() + 1);
    ManifestEdit edit;
    edit.commit.id = std::string(40 - number.size(), 'b') + number; // a new id for every commit, as next_set
    edit.commit.summary = "commit " + number;
    edit.files = files.size();
    std::set<std::string> parsed;
    for (const auto& [path, text] : files) {
      INFO("edited file " << path);
      const auto old = last.files.find(path);
      REQUIRE(old != last.files.end());
      if (old->second == text)
        continue;
      ManifestSet file = manifests_from_texts({{path, text}});
      REQUIRE(file.findings.empty());
      size_t begin = 0;
      while (begin < manifests.size() && manifests[begin].file != path)
        ++begin;
      size_t end = begin;
      while (end < manifests.size() && manifests[end].file == path)
        ++end;
      REQUIRE(end - begin == file.manifests.size());
      edit.changes.push_back({path, begin < end ? manifests[begin].blob_id : std::string(),
                              file.manifests.empty() ? std::string() : file.manifests.front().blob_id});
      for (size_t i = 0; i < file.manifests.size(); ++i) {
        Manifest& manifest = file.manifests[i];
        const Manifest& before = manifests[begin + i];
        INFO("document " << i);
        REQUIRE(manifest.object->IsObject() == before.object->IsObject());
        REQUIRE(manifest.api_version == before.api_version);
        REQUIRE(manifest.group == before.group);
        REQUIRE(manifest.kind == before.kind);
        REQUIRE(manifest.name == before.name);
        REQUIRE(manifest.namespace_ == before.namespace_);
        REQUIRE(manifest.cluster == before.cluster);
        REQUIRE(manifest.cluster_from_path == before.cluster_from_path);
        const bool same = json_identical(*before.object, *manifest.object);
        if (!same)
          REQUIRE_FALSE(manifest.is_meridian_kind());
        edit.documents.push_back({begin + i, std::move(manifest), same});
      }
      ++edit.parsed_files;
      parsed.insert(path);
    }
    const std::vector<Finding> found = validate_edit(*last.set, edit);
    if (findings != nullptr)
      *findings = found;
    if (!is_valid(found))
      return nullptr;
    std::optional<DesiredEdit> objects = prepare_desired_edit(*last.desired, *last.set, edit);
    if (!objects)
      return nullptr;
    auto next = std::make_unique<Commit>();
    next->files = files;
    next->parsed = std::move(parsed);
    next->set = std::move(last.set);
    next->desired = std::move(last.desired);
    ManifestCache cache;
    apply_edit(*next->set, std::move(edit), cache);
    apply_desired_edit(*next->desired, std::move(*objects), *next->set);
    history_.push_back(std::move(next));
    return history_.back().get();
  }

  //! try_commit_edit, REQUIREd to be accepted.
  const Commit& commit_edit(const Files& files) {
    std::vector<Finding> findings;
    const Commit* next = try_commit_edit(files, &findings);
    std::string text;
    for (const Finding& finding : findings)
      text += finding.format() + "\n";
    INFO(text);
    REQUIRE(is_valid(findings));
    REQUIRE(next != nullptr);
    return *next;
  }

  //! Drops every commit but the last, as `meridian run` lets go of the generation before: what the
  //! last one shares with them (parses, bodies) must stay alive on its own.
  void forget_older() {
    while (history_.size() > 1)
      history_.pop_front();
  }

private:
  ManifestSet next_set(const Files& files, Commit& next) {
    const Commit* previous = history_.empty() ? nullptr : history_.back().get();
    ManifestSet set;
    set.repository = "https://git.example.com/fleet.git";
    const std::string number = std::to_string(history_.size() + 1);
    set.commit.id = std::string(40 - number.size(), 'b') + number; // a new id for every commit
    set.commit.summary = "commit " + number;
    set.files = files.size();
    for (const auto& [path, text] : files) {
      const auto old = previous != nullptr ? previous->files.find(path) : Files::const_iterator();
      if (previous != nullptr && old != previous->files.end() && old->second == text) {
        for (const Manifest& manifest : previous->set->manifests)
          if (manifest.file == path)
            set.manifests.push_back(manifest);
        for (const Finding& finding : previous->set->findings)
          if (finding.file == path)
            set.findings.push_back(finding);
        continue;
      }
      ManifestSet parsed = manifests_from_texts({{path, text}});
      // The same text under another path is the same blob: the cache hands out its parse.
      std::shared_ptr<const ParsedBlob> same_blob;
      if (previous != nullptr)
        for (const Manifest& manifest : previous->set->manifests)
          if (manifest.blob != nullptr && manifest.blob->text == text)
            same_blob = manifest.blob;
      for (Manifest& manifest : parsed.manifests) {
        if (same_blob != nullptr) {
          manifest.blob = same_blob;
          manifest.object = &same_blob->yaml->documents.at(manifest.document_index).value;
          REQUIRE(same_blob->yaml->documents.at(manifest.document_index).index == manifest.document_index);
        }
        set.manifests.push_back(std::move(manifest));
      }
      for (Finding& finding : parsed.findings)
        set.findings.push_back(std::move(finding));
      if (same_blob == nullptr) {
        ++set.parsed_files;
        next.parsed.insert(path);
      }
    }
    return set;
  }

  std::deque<std::unique_ptr<Commit>> history_;
};

const ObjectRef settings_ref{"hz", "", "ConfigMap", "default", "settings"};
const ObjectRef flags_ref{"hz", "", "ConfigMap", "default", "flags"};
const ObjectRef extra_ref{"hz", "", "ConfigMap", "default", "extra"};
const ObjectRef web_ref{"hz", "apps", "Deployment", "default", "web"};

//! The file of the ConfigMaps settings (data.key: `settings_value`) and flags.
inline std::string config_yaml(const std::string& settings_value) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  key: " + settings_value +
         "\n---\n" + configmap_yaml("flags");
}

//! A small fleet: a cluster, its pool, three ConfigMaps in two files and a Deployment. `fleet_extra`
//! is added to the fleet's spec.
inline Files base_files(const std::string& fleet_extra = "") {
  return {{"fleet.yaml", fleet_yaml({"cn-hangzhou"}, 1, true, "5m", fleet_extra)},
          {"clusters.yaml", cluster_yaml("hz", "cn-hangzhou")},
          {"pools.yaml", pool_yaml("hz-pool", "hz", "cn-hangzhou")},
          {"clusters/hz/config.yaml", config_yaml("value")},
          {"clusters/hz/extra.yaml", configmap_yaml("extra")},
          {"clusters/hz/web.yaml", web_deployment_yaml}};
}

//! `text` parsed (REQUIREd to parse).
inline std::shared_ptr<JsonDocument> json(const std::string& text) {
  auto document = std::make_shared<JsonDocument>();
  INFO(text);
  REQUIRE_FALSE(parse_json(text, *document));
  return document;
}

//! Another tool (not Meridian) sets the ConfigMap extra's data.key to "drifted".
inline void drift_extra(sim::Simulator& sim) {
  sim.apply_foreign(extra_ref, *json(R"({"apiVersion":"v1","kind":"ConfigMap",
                                         "metadata":{"name":"extra","namespace":"default"},"data":{"key":"drifted"}})"));
}

//! The distinct keys of `refs`, sorted.
inline std::vector<std::string> keys(const std::vector<ObjectRef>& refs) {
  std::set<std::string> distinct;
  for (const ObjectRef& ref : refs)
    distinct.insert(ref.key());
  return {distinct.begin(), distinct.end()};
}

inline std::string rendered(const Plan& plan) { return render_plan(plan, ReportFormat::json, false); }

//! The simulator, the state store and a memo, as one `meridian run` process holds them, and a
//! counting backend in front of the simulator for the memo plans.
struct PlanFleet {
  TempDir dir;
  sim::Simulator sim{(dir.path / "sim.db").string()};
  StateStore store{(dir.path / "meridian.db").string()};
  CountingBackend counting{sim};
  std::shared_ptr<PlanMemo> memo = make_plan_memo();
  Repo repo;
  std::vector<std::string> log;

  //! A plan through the counting backend with the memo (counts cleared first).
  Plan plan_with_memo(const Commit& commit, PlanOptions options = {}) {
    REQUIRE(commit.desired);
    counting.clear();
    options.memo = memo.get();
    return make_plan(*commit.desired, counting, store, options);
  }
  //! A plan of the same situation without any memo, straight on the simulator.
  Plan plan_fresh(const Commit& commit, PlanOptions options = {}) {
    REQUIRE(commit.desired);
    options.memo = nullptr;
    return make_plan(*commit.desired, sim, store, options);
  }
  //! Applies `plan` through the simulator itself (not the counting backend).
  ApplyReport apply(const Commit& commit, const Plan& plan, ApplyOptions options = {}) {
    options.progress = [this](const std::string& line) { log.push_back(line); };
    return apply_plan(plan, *commit.desired, sim, store, options);
  }
  //! Applies `plan`; REQUIREs it to succeed.
  void apply_ok(const Commit& commit, const Plan& plan) {
    const ApplyReport report = apply(commit, plan);
    std::string text;
    for (const std::string& line : log)
      text += line + "\n";
    INFO(text);
    REQUIRE(report.result == ApplyResult::succeeded);
  }
  //! Loads `files` as the first commit and applies it; REQUIREs a second plan in sync.
  const Commit& converge(const Files& files) {
    const Commit& commit = repo.commit(files);
    apply_ok(commit, plan_fresh(commit));
    REQUIRE_FALSE(plan_fresh(commit).has_changes());
    return commit;
  }
  //! The simulator's revision (REQUIREd known).
  std::string revision() {
    const auto revision = sim.revision();
    REQUIRE(revision);
    return *revision;
  }
};

//! The memo plan renders exactly like a plan made without a memo (JSON and text, fingerprint,
//! warnings).
inline void check_same_as_fresh(PlanFleet& fleet, const Commit& commit, const Plan& with_memo, PlanOptions options = {}) {
  const Plan fresh = fleet.plan_fresh(commit, options);
  CHECK(rendered(with_memo) == rendered(fresh));
  CHECK(render_plan(with_memo, ReportFormat::text, false) == render_plan(fresh, ReportFormat::text, false));
  CHECK(with_memo.fingerprint == fresh.fingerprint);
  CHECK(with_memo.warnings == fresh.warnings);
}

} // namespace memo_test

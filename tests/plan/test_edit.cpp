// Commits that edit documents in place, as `meridian run` takes them: the edit is validated alone
// (validate_edit), turned into objects alone (prepare_desired_edit, refused when anything but the
// bodies changes), patched into the last set and desired state (apply_edit, apply_desired_edit),
// and planned by patching the memo's last plan (make_plan re-diffs the edited objects alone). Every
// edited desired state must equal one built afresh from the same files, and every plan of it must
// render byte for byte like a plan made without a memo, unchanged objects and forecasts included.
#include "memo_fixture.h"

#include <set>

using namespace engine_test;
using namespace memo_test;

namespace {

const std::string owner_a = Engine::owner;

const ObjectRef dependent_ref{"hz", "", "ConfigMap", "default", "dependent"};
const ObjectRef agent_ref{"hz", "apps", "DaemonSet", "default", "agent"};

//! "action Kind/namespace/name@cluster": describe() with the cluster, for fleets of several clusters.
std::string describe_at(const PlannedChange& change) { return describe(change) + "@" + change.ref.cluster; }

//! The plan's changes but unchanged ones, with their clusters, in apply order.
std::vector<std::string> changes_at(const Plan& plan) {
  std::vector<std::string> out;
  for (const PlannedChange& change : plan.changes)
    if (change.action != Action::unchanged)
      out.push_back(describe_at(change));
  return out;
}

//! The keys of the objects the edit of `state` changed (DesiredState::edited), sorted.
std::vector<std::string> edited_keys(const DesiredState& state) {
  std::vector<ObjectRef> refs;
  for (const size_t position : state.edited) {
    REQUIRE(position < state.objects.size());
    refs.push_back(state.objects[position].ref);
  }
  CHECK(std::is_sorted(state.edited.begin(), state.edited.end()));
  CHECK(std::adjacent_find(state.edited.begin(), state.edited.end()) == state.edited.end());
  return keys(refs);
}

std::string field_text(const std::optional<std::string>& value) { return value ? *value : "(absent)"; }

//! Two plans hold the same changes in the same order, unchanged objects included (the rendered
//! plans leave those out), with the same regions, waves, tiers, fields and rollouts; every change
//! of `plan` with a desired object points at the object of `desired` with its ref.
void check_same_changes(const Plan& plan, const Plan& fresh, const DesiredState& desired) {
  CHECK(plan.regions == fresh.regions);
  CHECK(plan.waves == fresh.waves);
  CHECK(plan.warnings == fresh.warnings);
  REQUIRE(plan.changes.size() == fresh.changes.size());
  for (size_t i = 0; i < plan.changes.size(); ++i) {
    const PlannedChange& a = plan.changes[i];
    const PlannedChange& b = fresh.changes[i];
    INFO("change " << i << ": " << describe_at(a) << " / fresh: " << describe_at(b));
    CHECK(a.ref == b.ref);
    CHECK(a.action == b.action);
    CHECK(a.region == b.region);
    CHECK(a.wave == b.wave);
    CHECK(a.tier == b.tier);
    CHECK(a.region_rollout == b.region_rollout);
    CHECK(a.rollout_regions == b.rollout_regions);
    CHECK(a.note == b.note);
    REQUIRE(a.fields.size() == b.fields.size());
    for (size_t f = 0; f < a.fields.size(); ++f) {
      INFO("field " << a.fields[f].pointer);
      CHECK(a.fields[f].pointer == b.fields[f].pointer);
      CHECK(field_text(a.fields[f].before) == field_text(b.fields[f].before));
      CHECK(field_text(a.fields[f].after) == field_text(b.fields[f].after));
    }
    CHECK((a.desired == nullptr) == (b.desired == nullptr));
    if (a.desired != nullptr) {
      REQUIRE(a.desired >= desired.objects.data());
      REQUIRE(a.desired < desired.objects.data() + desired.objects.size());
      CHECK(a.desired->ref == a.ref);
    }
  }
}

//! The memo plan `plan` of `commit` is the plan made without a memo: rendered (JSON, text,
//! forecasts, fingerprint, warnings) and change by change.
void check_like_fresh(PlanFleet& fleet, const Commit& commit, const Plan& plan, const PlanOptions& options) {
  check_same_as_fresh(fleet, commit, plan, options);
  PlanOptions fresh_options = options;
  fresh_options.memo = nullptr;
  const Plan fresh = fleet.plan_fresh(commit, fresh_options);
  check_same_changes(plan, fresh, *commit.desired);
  CHECK(plan.commit == commit.set->commit.id);
  CHECK(plan.commit_summary == commit.set->commit.summary);
}

//! The memo plan of an edited commit, patched from the memo's last plan: live state was read with
//! one get() of each object in `edited` and nothing else (no list, no question about writes), and
//! the plan is what a plan without a memo says.
Plan plan_patched(PlanFleet& fleet, const Commit& commit, const std::vector<ObjectRef>& edited, const PlanOptions& options) {
  REQUIRE(commit.desired->edited_from != 0);
  CHECK(edited_keys(*commit.desired) == keys(edited));
  const Plan plan = fleet.plan_with_memo(commit, options);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.count("list_managed") == 0);
  CHECK(fleet.counting.count("changes_since") == 0);
  CHECK(fleet.counting.count("apply_dry_run") == 0);
  CHECK(fleet.counting.sorted_gets() == keys(edited)); // each exactly once
  check_like_fresh(fleet, commit, plan, options);
  return plan;
}

//! The edited commit's set and desired state are those of the same files loaded and built afresh:
//! the same documents at the same places, the same objects in the same order with the same refs,
//! regions, tiers, dependencies (and their positions), rollout modes and identical bodies, the same
//! settings, clusters and commit.
void check_like_built(const Commit& commit) {
  const std::vector<std::pair<std::string, std::string>> list(commit.files.begin(), commit.files.end());
  ManifestSet set = manifests_from_texts(list);
  set.repository = commit.set->repository;
  set.commit = commit.set->commit;
  REQUIRE(is_valid(validate_manifests(set)));
  CHECK(is_valid(validate_manifests(*commit.set)));
  const DesiredState built = build_desired_state(set, owner_a);
  REQUIRE(built.findings.empty());

  const ManifestSet& edited_set = *commit.set;
  CHECK(edited_set.commit.id == set.commit.id);
  CHECK(edited_set.commit.summary == set.commit.summary);
  CHECK(edited_set.files == set.files);
  CHECK(edited_set.findings.empty());
  REQUIRE(edited_set.manifests.size() == set.manifests.size());
  for (size_t i = 0; i < set.manifests.size(); ++i) {
    const Manifest& a = edited_set.manifests[i];
    const Manifest& b = set.manifests[i];
    INFO("manifest " << i << ": " << b.file << " " << b.display_name());
    CHECK(a.file == b.file);
    CHECK(a.line == b.line);
    CHECK(a.document_index == b.document_index);
    CHECK(a.display_name() == b.display_name());
    CHECK(a.cluster == b.cluster);
    REQUIRE(a.object != nullptr);
    CHECK(json_identical(*a.object, *b.object));
    REQUIRE(a.blob != nullptr);
    CHECK(&a.blob->yaml->documents.at(a.document_index).value == a.object);
  }

  const DesiredState& state = *commit.desired;
  CHECK(state.owner == built.owner);
  CHECK(state.repository == built.repository);
  CHECK(state.commit.id == built.commit.id);
  CHECK(state.path == built.path);
  CHECK(state.findings.empty());
  CHECK(state.fleet.name == built.fleet.name);
  CHECK(state.fleet.regions == built.fleet.regions);
  CHECK(state.fleet.max_parallel_regions == built.fleet.max_parallel_regions);
  CHECK(state.fleet.halt_on_failure == built.fleet.halt_on_failure);
  CHECK(state.fleet.health_timeout == built.fleet.health_timeout);
  CHECK(state.fleet.prune == built.fleet.prune);
  CHECK(state.fleet.ignore.size() == built.fleet.ignore.size());
  REQUIRE(state.clusters.size() == built.clusters.size());
  for (const auto& [name, cluster] : built.clusters) {
    INFO("cluster " << name);
    const auto found = state.clusters.find(name);
    REQUIRE(found != state.clusters.end());
    CHECK(found->second.type == cluster.type);
    CHECK(found->second.region == cluster.region);
  }
  REQUIRE(state.objects.size() == built.objects.size());
  CHECK(state.index.size() == built.index.size());
  for (size_t i = 0; i < built.objects.size(); ++i) {
    const DesiredObject& a = state.objects[i];
    const DesiredObject& b = built.objects[i];
    INFO("object " << i << ": " << b.ref.key());
    CHECK(a.ref == b.ref);
    CHECK(a.region == b.region);
    CHECK(a.tier == b.tier);
    CHECK(a.depends_on == b.depends_on);
    CHECK(a.depends_on_index == b.depends_on_index);
    CHECK(a.region_rollout == b.region_rollout);
    REQUIRE(a.body != nullptr);
    CHECK(json_identical(*a.body, *b.body));
    if (!json_identical(*a.body, *b.body))
      CHECK(write_canonical(*a.body) == write_canonical(*b.body));
    // Each object is made from the manifest at its document's place in the commit's set.
    REQUIRE(a.manifest != nullptr);
    CHECK(a.manifest - edited_set.manifests.data() == b.manifest - set.manifests.data());
    const auto position = state.index.find(a.ref);
    REQUIRE(position != state.index.end());
    CHECK(position->second == i);
  }
}

//! What a refused edit must leave exactly as it was: the last commit's set and desired state.
struct Snapshot {
  std::string set_commit;
  std::string state_commit;
  uint64_t content_id = 0;
  uint64_t edited_from = 0;
  std::vector<size_t> edited;
  std::vector<const Json*> documents;
  std::vector<const Manifest*> manifests;
  std::vector<const JsonDocument*> bodies;
  std::vector<std::string> texts;

  explicit Snapshot(const Commit& commit) {
    REQUIRE(commit.set);
    REQUIRE(commit.desired);
    set_commit = commit.set->commit.id;
    state_commit = commit.desired->commit.id;
    content_id = commit.desired->content_id;
    edited_from = commit.desired->edited_from;
    edited = commit.desired->edited;
    for (const Manifest& manifest : commit.set->manifests)
      documents.push_back(manifest.object);
    for (const DesiredObject& object : commit.desired->objects) {
      manifests.push_back(object.manifest);
      bodies.push_back(object.body.get());
      texts.push_back(write_canonical(*object.body));
    }
  }
  void check_same(const Snapshot& other) const {
    CHECK(set_commit == other.set_commit);
    CHECK(state_commit == other.state_commit);
    CHECK(content_id == other.content_id);
    CHECK(edited_from == other.edited_from);
    CHECK(edited == other.edited);
    CHECK(documents == other.documents);
    CHECK(manifests == other.manifests);
    CHECK(bodies == other.bodies);
    CHECK(texts == other.texts);
  }
};

//! The edit of `files` is refused by prepare_desired_edit (validate_edit finds no error) and leaves
//! the last commit, `last`, exactly as it was.
void check_refused_by_desired(PlanFleet& fleet, const Commit& last, const Files& files) {
  const Snapshot before(last);
  std::vector<Finding> findings;
  CHECK(fleet.repo.try_commit_edit(files, &findings) == nullptr);
  std::string text;
  for (const Finding& finding : findings)
    text += finding.format() + "\n";
  INFO(text);
  CHECK(is_valid(findings));
  before.check_same(Snapshot(last));
}

//! The edit of `files` is refused by validate_edit with an error whose text holds `expected`, and
//! leaves the last commit, `last`, exactly as it was.
void check_refused_as_invalid(PlanFleet& fleet, const Commit& last, const Files& files, const std::string& expected) {
  const Snapshot before(last);
  std::vector<Finding> findings;
  CHECK(fleet.repo.try_commit_edit(files, &findings) == nullptr);
  std::string text;
  bool found = false;
  for (const Finding& finding : findings) {
    text += finding.format() + "\n";
    found = found || (finding.severity == Severity::error && finding.format().find(expected) != std::string::npos);
  }
  INFO(text);
  CHECK_FALSE(is_valid(findings));
  CHECK(found);
  before.check_same(Snapshot(last));
}

//! The one field change of `change` (REQUIREd one).
const FieldChange& only_field(const PlannedChange& change) {
  INFO(describe_at(change));
  REQUIRE(change.fields.size() == 1);
  return change.fields[0];
}

const PlacementForecast* forecast_for(const Plan& plan, const ObjectRef& workload) {
  for (const PlacementForecast& forecast : plan.forecasts)
    if (forecast.workload == workload)
      return &forecast;
  return nullptr;
}

//! config.yaml with the ConfigMap flags's data.key set to `value` (settings's stays `settings_value`).
std::string config_with_flags(const std::string& settings_value, const std::string& flags_value) {
  return replaced(config_yaml(settings_value), "name: flags\n  namespace: default\ndata:\n  key: value",
                  "name: flags\n  namespace: default\ndata:\n  key: " + flags_value);
}

std::string web_with(const std::string& replicas, const std::string& image) {
  return replaced(replaced(web_deployment_yaml, "replicas: 1", "replicas: " + replicas), "nginx:1.25", image);
}

} // namespace

TEST_CASE("plan edit: a ConfigMap edited, reverted, edited twice, applied and edited again", "[plan][memo][edit]") {
  PlanFleet fleet;
  PlanOptions options;
  options.predict = GENERATE(true, false);
  INFO("predict " << options.predict);
  Files files = base_files();
  const Commit& base = fleet.converge(files);
  const Plan first = fleet.plan_with_memo(base, options);
  REQUIRE(fleet.counting.count("visit_managed") == 1); // an empty memo: live state is read
  REQUIRE_FALSE(first.has_changes());
  const uint64_t base_content = base.desired->content_id;
  const DesiredState* state = base.desired.get();
  const ManifestSet* set = base.set.get();

  // unchanged → update: the order is computed again.
  files["clusters/hz/config.yaml"] = config_yaml("changed");
  const Commit& changed = fleet.repo.commit_edit(files);
  CHECK(changed.parsed == std::set<std::string>{"clusters/hz/config.yaml"});
  CHECK(changed.desired.get() == state); // patched in place, as the loop does
  CHECK(changed.set.get() == set);
  CHECK(changed.desired->edited_from == base_content);
  CHECK(changed.desired->content_id != base_content);
  CHECK(changed.desired->commit.id != first.commit);
  check_like_built(changed);
  const Plan changed_plan = plan_patched(fleet, changed, {settings_ref}, options);
  REQUIRE(changes_of(changed_plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
  const FieldChange& field = only_field(change_for(changed_plan, "ConfigMap", "settings"));
  CHECK(field.pointer == "/data/key");
  CHECK(field.before == std::optional<std::string>("\"value\""));
  CHECK(field.after == std::optional<std::string>("\"changed\""));
  CHECK(changed_plan.count(Action::unchanged) == 5);
  CHECK(changed_plan.fingerprint != first.fingerprint);
  const uint64_t changed_content = changed.desired->content_id;

  // Reverted: update → unchanged.
  files["clusters/hz/config.yaml"] = config_yaml("value");
  const Commit& reverted = fleet.repo.commit_edit(files);
  CHECK(reverted.desired.get() == state);
  CHECK(reverted.desired->edited_from == changed_content);
  check_like_built(reverted);
  const Plan reverted_plan = plan_patched(fleet, reverted, {settings_ref}, options);
  CHECK_FALSE(reverted_plan.has_changes());
  CHECK(reverted_plan.count(Action::unchanged) == 6);
  CHECK(reverted_plan.forecasts.empty());

  // Two different edits before applying: unchanged → update, then update → update of another value.
  files["clusters/hz/config.yaml"] = config_yaml("other");
  const Commit& other = fleet.repo.commit_edit(files);
  check_like_built(other);
  const Plan other_plan = plan_patched(fleet, other, {settings_ref}, options);
  REQUIRE(changes_of(other_plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
  CHECK(only_field(change_for(other_plan, "ConfigMap", "settings")).after == std::optional<std::string>("\"other\""));

  files["clusters/hz/config.yaml"] = config_with_flags("third", "flagged");
  const Commit& third = fleet.repo.commit_edit(files);
  check_like_built(third);
  const Plan third_plan = plan_patched(fleet, third, {settings_ref, flags_ref}, options);
  REQUIRE(changes_of(third_plan) == std::vector<std::string>{"update ConfigMap/default/flags", "update ConfigMap/default/settings"});
  CHECK(only_field(change_for(third_plan, "ConfigMap", "settings")).after == std::optional<std::string>("\"third\""));
  CHECK(only_field(change_for(third_plan, "ConfigMap", "flags")).after == std::optional<std::string>("\"flagged\""));

  // Applied: live state moved, so the next plan reads what the apply wrote (not a patch).
  const std::string revision = fleet.revision();
  fleet.apply_ok(third, third_plan);
  const Plan synced = fleet.plan_with_memo(third, options);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.asked_since == std::vector<std::string>{revision});
  CHECK_FALSE(synced.has_changes());
  check_like_fresh(fleet, third, synced, options);

  // Edited again after the apply: patched from the plan made after it.
  files["clusters/hz/config.yaml"] = config_with_flags("fourth", "flagged");
  const Commit& fourth = fleet.repo.commit_edit(files);
  CHECK(fourth.desired->edited_from != 0);
  check_like_built(fourth);
  const Plan fourth_plan = plan_patched(fleet, fourth, {settings_ref}, options);
  REQUIRE(changes_of(fourth_plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
  const FieldChange& fourth_field = only_field(change_for(fourth_plan, "ConfigMap", "settings"));
  CHECK(fourth_field.before == std::optional<std::string>("\"third\""));
  CHECK(fourth_field.after == std::optional<std::string>("\"fourth\""));

  // Applied and edited once more without planning in between: the memo's key moved, so the plan
  // reads what the apply wrote, and still says what a fresh plan says.
  const std::string revision_before = fleet.revision();
  fleet.apply_ok(fourth, fourth_plan);
  files["clusters/hz/config.yaml"] = config_with_flags("fifth", "flagged");
  const Commit& fifth = fleet.repo.commit_edit(files);
  check_like_built(fifth);
  const Plan fifth_plan = fleet.plan_with_memo(fifth, options);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.asked_since == std::vector<std::string>{revision_before});
  REQUIRE(changes_of(fifth_plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
  check_like_fresh(fleet, fifth, fifth_plan, options);
  // And the next edit is patched from that plan.
  files["clusters/hz/config.yaml"] = config_with_flags("fourth", "flagged");
  const Commit& back = fleet.repo.commit_edit(files);
  const Plan back_plan = plan_patched(fleet, back, {settings_ref}, options);
  CHECK_FALSE(back_plan.has_changes());
  fleet.repo.forget_older(); // what the last commit shares with the older ones lives on
  check_like_built(back);
  check_like_fresh(fleet, back, fleet.plan_with_memo(back, options), options);
}

TEST_CASE("plan edit: a Deployment's replicas and image edited, forecasts made again", "[plan][memo][edit][forecast]") {
  PlanFleet fleet;
  PlanOptions options;
  options.predict = GENERATE(true, false);
  INFO("predict " << options.predict);
  Files files = base_files();
  const Commit& base = fleet.converge(files);
  fleet.plan_with_memo(base, options);

  files["clusters/hz/web.yaml"] = web_with("3", "nginx:1.25");
  const Commit& scaled = fleet.repo.commit_edit(files);
  check_like_built(scaled);
  const Plan scaled_plan = plan_patched(fleet, scaled, {web_ref}, options);
  REQUIRE(changes_of(scaled_plan) == std::vector<std::string>{"update Deployment/default/web"});
  CHECK(only_field(change_for(scaled_plan, "Deployment", "web")).after == std::optional<std::string>("3"));
  if (options.predict) {
    const PlacementForecast* forecast = forecast_for(scaled_plan, web_ref);
    REQUIRE(forecast != nullptr);
    CHECK(forecast->pods + forecast->pending == 3);
    CHECK(fleet.counting.count("predict") == 1);
  } else {
    CHECK(scaled_plan.forecasts.empty());
    CHECK(fleet.counting.count("predict") == 0);
  }

  // Another image as well: the forecast is of the new body, not of the last plan's.
  files["clusters/hz/web.yaml"] = web_with("2", "nginx:1.27");
  const Commit& imaged = fleet.repo.commit_edit(files);
  check_like_built(imaged);
  const Plan imaged_plan = plan_patched(fleet, imaged, {web_ref}, options);
  REQUIRE(changes_of(imaged_plan) == std::vector<std::string>{"update Deployment/default/web"});
  CHECK(change_for(imaged_plan, "Deployment", "web").fields.size() == 2);
  if (options.predict) {
    const PlacementForecast* forecast = forecast_for(imaged_plan, web_ref);
    REQUIRE(forecast != nullptr);
    CHECK(forecast->pods + forecast->pending == 2);
  }

  // Back to what runs: no changes and so no forecast.
  files["clusters/hz/web.yaml"] = web_deployment_yaml;
  const Commit& back = fleet.repo.commit_edit(files);
  check_like_built(back);
  const Plan back_plan = plan_patched(fleet, back, {web_ref}, options);
  CHECK_FALSE(back_plan.has_changes());
  CHECK(back_plan.forecasts.empty());
  CHECK(fleet.counting.count("predict") == 0);
}

TEST_CASE("plan edit: the memo's last plan made with or without forecasts serves the other", "[plan][memo][edit][forecast]") {
  PlanFleet fleet;
  Files files = base_files();
  const Commit& base = fleet.converge(files);
  PlanOptions with;
  PlanOptions without;
  without.predict = false;
  fleet.plan_with_memo(base, without);

  files["clusters/hz/web.yaml"] = web_with("2", "nginx:1.25");
  const Commit& scaled = fleet.repo.commit_edit(files);
  const Plan scaled_plan = plan_patched(fleet, scaled, {web_ref}, with);
  CHECK_FALSE(scaled_plan.forecasts.empty());

  files["clusters/hz/config.yaml"] = config_yaml("changed");
  const Commit& configured = fleet.repo.commit_edit(files);
  const Plan configured_plan = plan_patched(fleet, configured, {settings_ref}, without);
  CHECK(configured_plan.forecasts.empty());
  CHECK(changes_of(configured_plan) == std::vector<std::string>{"update ConfigMap/default/settings", "update Deployment/default/web"});

  files["clusters/hz/extra.yaml"] = replaced(configmap_yaml("extra"), "key: value", "key: extra");
  const Commit& extra = fleet.repo.commit_edit(files);
  const Plan extra_plan = plan_patched(fleet, extra, {extra_ref}, with);
  CHECK(forecast_for(extra_plan, web_ref) != nullptr);
  CHECK(changes_of(extra_plan) ==
        std::vector<std::string>{"update ConfigMap/default/extra", "update ConfigMap/default/settings", "update Deployment/default/web"});
}

TEST_CASE("plan edit: several objects in several files in one commit; a file whose documents all stay the same", "[plan][memo][edit]") {
  PlanFleet fleet;
  PlanOptions options;
  options.predict = GENERATE(true, false);
  INFO("predict " << options.predict);
  Files files = base_files();
  const Commit& base = fleet.converge(files);
  fleet.plan_with_memo(base, options);

  // Three documents in three files; flags, beside settings in config.yaml, stays the same.
  files["clusters/hz/config.yaml"] = config_yaml("changed");
  files["clusters/hz/extra.yaml"] = replaced(configmap_yaml("extra"), "key: value", "key: extra");
  files["clusters/hz/web.yaml"] = web_with("2", "nginx:1.25");
  const Commit& several = fleet.repo.commit_edit(files);
  CHECK(several.parsed == std::set<std::string>{"clusters/hz/config.yaml", "clusters/hz/extra.yaml", "clusters/hz/web.yaml"});
  check_like_built(several);
  const Plan several_plan = plan_patched(fleet, several, {settings_ref, extra_ref, web_ref}, options);
  CHECK(changes_of(several_plan) ==
        std::vector<std::string>{"update ConfigMap/default/extra", "update ConfigMap/default/settings", "update Deployment/default/web"});

  // config.yaml rewritten (comments, flow style, blank lines) to the same documents, web edited:
  // only web is an edited object, and only web is read.
  files["clusters/hz/config.yaml"] =
      "# settings and flags\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\n\ndata:\n  key: changed  # edited\n"
      "---\n# flags\n" + configmap_yaml("flags");
  files["clusters/hz/web.yaml"] = web_with("2", "nginx:1.27");
  const Commit& layout = fleet.repo.commit_edit(files);
  CHECK(layout.parsed == std::set<std::string>{"clusters/hz/config.yaml", "clusters/hz/web.yaml"});
  check_like_built(layout);
  const Plan layout_plan = plan_patched(fleet, layout, {web_ref}, options);
  CHECK(changes_of(layout_plan) == changes_of(several_plan));
  const Manifest* settings = layout.desired->find(settings_ref)->manifest;
  CHECK(settings->line == 2); // the set holds the new documents, lines and all
  CHECK(text_at(*settings->object, "/data/key") == "changed");

  // Only layout: no object edited, the plan is the last one (forecasts made again) with this commit.
  files["clusters/hz/extra.yaml"] = "# extra\n" + files["clusters/hz/extra.yaml"];
  files["clusters/hz/web.yaml"] = "\n\n" + files["clusters/hz/web.yaml"];
  const Commit& comments = fleet.repo.commit_edit(files);
  check_like_built(comments);
  CHECK(comments.desired->edited.empty());
  const Plan comments_plan = plan_patched(fleet, comments, {}, options);
  CHECK(changes_of(comments_plan) == changes_of(several_plan));
  CHECK(comments_plan.commit != layout_plan.commit);

  // All of it applied: in sync, like a fresh plan.
  fleet.apply_ok(comments, comments_plan);
  const Plan synced = fleet.plan_with_memo(comments, options);
  CHECK_FALSE(synced.has_changes());
  check_like_fresh(fleet, comments, synced, options);
}

TEST_CASE("plan edit: a chain of edits without applying, each plan patched from the one before", "[plan][memo][edit]") {
  PlanFleet fleet;
  PlanOptions options;
  options.predict = GENERATE(true, false);
  INFO("predict " << options.predict);
  Files files = base_files();
  const Commit& base = fleet.converge(files);
  fleet.plan_with_memo(base, options);

  struct Step {
    std::string path;
    std::string text;
    std::vector<ObjectRef> edited;
    std::vector<std::string> changes;
  };
  const std::vector<Step> steps = {
      {"clusters/hz/config.yaml", config_yaml("one"), {settings_ref}, {"update ConfigMap/default/settings"}},
      {"clusters/hz/extra.yaml", replaced(configmap_yaml("extra"), "key: value", "key: two"), {extra_ref},
       {"update ConfigMap/default/extra", "update ConfigMap/default/settings"}},
      {"clusters/hz/web.yaml", web_with("2", "nginx:1.25"), {web_ref},
       {"update ConfigMap/default/extra", "update ConfigMap/default/settings", "update Deployment/default/web"}},
      {"clusters/hz/config.yaml", config_with_flags("value", "four"), {settings_ref, flags_ref},
       {"update ConfigMap/default/extra", "update ConfigMap/default/flags", "update Deployment/default/web"}},
      {"clusters/hz/extra.yaml", configmap_yaml("extra"), {extra_ref},
       {"update ConfigMap/default/flags", "update Deployment/default/web"}},
      {"clusters/hz/web.yaml", web_with("1", "nginx:1.26"), {web_ref},
       {"update ConfigMap/default/flags", "update Deployment/default/web"}},
  };
  uint64_t content = base.desired->content_id;
  std::set<uint64_t> contents{content};
  const Commit* last = &base;
  for (const Step& step : steps) {
    INFO("step " << step.path << " " << step.changes.size());
    files[step.path] = step.text;
    const Commit& next = fleet.repo.commit_edit(files);
    CHECK(next.desired->edited_from == content);
    CHECK(contents.insert(next.desired->content_id).second); // a new content every time
    content = next.desired->content_id;
    check_like_built(next);
    const Plan plan = plan_patched(fleet, next, step.edited, options);
    CHECK(changes_of(plan) == step.changes);
    // The same content again: the patched plan itself, nothing read.
    const Plan again = fleet.plan_with_memo(next, options);
    CHECK(fleet.counting.count("get") == 0);
    CHECK(fleet.counting.count("visit_managed") == 0);
    CHECK(rendered(again) == rendered(plan));
    check_like_fresh(fleet, next, again, options);
    last = &next;
  }
  const Plan last_plan = fleet.plan_with_memo(*last, options);
  check_like_fresh(fleet, *last, last_plan, options);
  fleet.apply_ok(*last, last_plan);
  CHECK_FALSE(fleet.plan_fresh(*last).has_changes());
  check_like_fresh(fleet, *last, fleet.plan_with_memo(*last, options), options);
}

TEST_CASE("plan edit: when the memo's last plan is of other content, the edited state is planned in full", "[plan][memo][edit]") {
  PlanFleet fleet;
  PlanOptions options;
  options.predict = GENERATE(true, false);
  INFO("predict " << options.predict);
  Files files = base_files();
  const Commit& base = fleet.converge(files);
  fleet.plan_with_memo(base, options);

  SECTION("an edit not planned before the next") {
    files["clusters/hz/config.yaml"] = config_yaml("skipped");
    const Commit& skipped = fleet.repo.commit_edit(files);
    const uint64_t skipped_content = skipped.desired->content_id;
    files["clusters/hz/web.yaml"] = web_with("2", "nginx:1.25");
    const Commit& next = fleet.repo.commit_edit(files);
    REQUIRE(next.desired->edited_from == skipped_content);
    CHECK(edited_keys(*next.desired) == keys({web_ref}));
    check_like_built(next);
    const Plan plan = fleet.plan_with_memo(next, options);
    // Not the last plan patched by web alone (that would miss settings): every object whose document
    // is not the one diffed last time is read again, settings and flags (config.yaml was parsed
    // again) and web; nothing is listed.
    CHECK(fleet.counting.count("visit_managed") == 0);
    CHECK(fleet.counting.sorted_gets() == keys({settings_ref, flags_ref, web_ref}));
    CHECK(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings", "update Deployment/default/web"});
    check_like_fresh(fleet, next, plan, options);

    // That plan is of the edited content: the next edit is patched from it.
    files["clusters/hz/extra.yaml"] = replaced(configmap_yaml("extra"), "key: value", "key: extra");
    const Commit& patched = fleet.repo.commit_edit(files);
    const Plan patched_plan = plan_patched(fleet, patched, {extra_ref}, options);
    CHECK(changes_of(patched_plan) ==
          std::vector<std::string>{"update ConfigMap/default/extra", "update ConfigMap/default/settings", "update Deployment/default/web"});
  }
  SECTION("the last plan made with other prune options") {
    PlanOptions prune = options;
    prune.prune = true;
    fleet.plan_with_memo(base, prune);
    files["clusters/hz/config.yaml"] = config_yaml("changed");
    const Commit& next = fleet.repo.commit_edit(files);
    const Plan plan = fleet.plan_with_memo(next, options);
    CHECK(fleet.counting.count("visit_managed") == 0);
    CHECK(fleet.counting.sorted_gets() == keys({settings_ref, flags_ref}));
    CHECK(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/settings"});
    check_like_fresh(fleet, next, plan, options);
  }
  SECTION("live state moved behind Meridian's back since the last plan") {
    drift_extra(fleet.sim);
    files["clusters/hz/config.yaml"] = config_yaml("changed");
    const Commit& next = fleet.repo.commit_edit(files);
    const Plan plan = fleet.plan_with_memo(next, options);
    CHECK(changes_of(plan) == std::vector<std::string>{"update ConfigMap/default/extra", "update ConfigMap/default/settings"});
    check_like_fresh(fleet, next, plan, options);
  }
  SECTION("a full commit between: the edit after it is patched from its plan") {
    files["clusters/hz/more.yaml"] = configmap_yaml("more");
    const Commit& full = fleet.repo.commit(files);
    const Plan full_plan = fleet.plan_with_memo(full, options);
    CHECK(changes_of(full_plan) == std::vector<std::string>{"create ConfigMap/default/more"});
    files["clusters/hz/more.yaml"] = replaced(configmap_yaml("more"), "key: value", "key: more");
    const Commit& edited = fleet.repo.commit_edit(files);
    check_like_built(edited);
    const Plan plan = plan_patched(fleet, edited, {{"hz", "", "ConfigMap", "default", "more"}}, options);
    CHECK(changes_of(plan) == std::vector<std::string>{"create ConfigMap/default/more"});
    bool more = false;
    for (const FieldChange& field : change_for(plan, "ConfigMap", "more").fields)
      more = more || (field.pointer == "/data/key" && field.after == std::optional<std::string>("\"more\""));
    CHECK(more);
  }
}

namespace {

//! Two clusters in two regions, one wave each (cn-shanghai first), with dependencies inside each:
//! a Namespace, ConfigMaps in it (app depends on base, which sorts after it), a Deployment and a
//! ConfigMap that depends on it (a lower tier waiting for a higher one).
Files two_region_files() {
  Files files = {{"fleet.yaml", fleet_yaml({"cn-shanghai", "cn-hangzhou"}, 1, true, "5m")},
                 {"clusters.yaml", cluster_yaml("hz", "cn-hangzhou") + "---\n" + cluster_yaml("sh", "cn-shanghai")},
                 {"pools.yaml", pool_yaml("hz-pool", "hz", "cn-hangzhou") + "---\n" + pool_yaml("sh-pool", "sh", "cn-shanghai")}};
  for (const std::string cluster : {"hz", "sh"}) {
    files["clusters/" + cluster + "/team.yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n---\n" +
                                                  configmap_yaml("app", "team", "    meridian.io/depends-on: ConfigMap/base\n") + "---\n" +
                                                  configmap_yaml("base", "team");
    files["clusters/" + cluster + "/web.yaml"] =
        web_deployment_yaml + "---\n" + configmap_yaml("after-web", "default", "    meridian.io/depends-on: Deployment/web\n");
  }
  return files;
}

std::string team_yaml(const std::string& namespace_label, const std::string& app_value, const std::string& base_value) {
  std::string text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n";
  if (!namespace_label.empty())
    text += "  labels: {tier: " + namespace_label + "}\n";
  return text + "---\n" +
         replaced(configmap_yaml("app", "team", "    meridian.io/depends-on: ConfigMap/base\n"), "key: value", "key: " + app_value) + "---\n" +
         replaced(configmap_yaml("base", "team"), "key: value", "key: " + base_value);
}

std::string web_file(const std::string& replicas, const std::string& after_value) {
  return web_with(replicas, "nginx:1.25") + "---\n" +
         replaced(configmap_yaml("after-web", "default", "    meridian.io/depends-on: Deployment/web\n"), "key: value", "key: " + after_value);
}

ObjectRef at(const std::string& cluster, const std::string& group, const std::string& kind, const std::string& ns, const std::string& name) {
  return {cluster, group, kind, ns, name};
}

} // namespace

TEST_CASE("plan edit: objects with dependents in two regions, one wave each, keep the order of a fresh plan", "[plan][memo][edit][order]") {
  PlanFleet fleet;
  PlanOptions options;
  options.predict = GENERATE(true, false);
  INFO("predict " << options.predict);
  Files files = two_region_files();
  const Commit& base = fleet.converge(files);
  {
    const DesiredObject* app = base.desired->find(at("hz", "", "ConfigMap", "team", "app"));
    REQUIRE(app != nullptr);
    CHECK(keys(app->depends_on) == keys({at("", "meridian.io", "Cluster", "", "hz"), at("hz", "", "Namespace", "", "team"),
                                         at("hz", "", "ConfigMap", "team", "base")}));
  }
  fleet.plan_with_memo(base, options);

  // Both Namespaces edited: the one in cn-shanghai goes first, in its own wave.
  files["clusters/hz/team.yaml"] = team_yaml("gold", "value", "value");
  files["clusters/sh/team.yaml"] = team_yaml("gold", "value", "value");
  const Commit& namespaces = fleet.repo.commit_edit(files);
  check_like_built(namespaces);
  const Plan namespaces_plan =
      plan_patched(fleet, namespaces, {at("hz", "", "Namespace", "", "team"), at("sh", "", "Namespace", "", "team")}, options);
  CHECK(changes_at(namespaces_plan) == std::vector<std::string>{"update Namespace/team@sh", "update Namespace/team@hz"});
  CHECK(namespaces_plan.waves == std::vector<std::vector<std::string>>{{"cn-shanghai"}, {"cn-hangzhou"}});
  for (const PlannedChange& change : namespaces_plan.changes)
    CHECK(change.wave == (change.region == "cn-shanghai" ? 0 : 1));

  // Dependencies inside each wave: base before app (app sorts first), web before after-web (a
  // ConfigMap, lower tier, waiting for the Deployment).
  files["clusters/hz/team.yaml"] = team_yaml("gold", "app2", "base2");
  files["clusters/sh/web.yaml"] = web_file("2", "after2");
  const Commit& dependents = fleet.repo.commit_edit(files);
  check_like_built(dependents);
  const Plan dependents_plan = plan_patched(fleet, dependents,
                                            {at("hz", "", "ConfigMap", "team", "app"), at("hz", "", "ConfigMap", "team", "base"),
                                             at("sh", "apps", "Deployment", "default", "web"), at("sh", "", "ConfigMap", "default", "after-web")},
                                            options);
  CHECK(changes_at(dependents_plan) ==
        std::vector<std::string>{"update Namespace/team@sh", "update Deployment/default/web@sh", "update ConfigMap/default/after-web@sh",
                                 "update Namespace/team@hz", "update ConfigMap/team/base@hz", "update ConfigMap/team/app@hz"});

  // Only what depends on something edited: the dependent alone, then the dependency alone.
  files["clusters/sh/web.yaml"] = web_file("1", "after3");
  const Commit& after_only = fleet.repo.commit_edit(files);
  check_like_built(after_only);
  const Plan after_only_plan = plan_patched(
      fleet, after_only, {at("sh", "apps", "Deployment", "default", "web"), at("sh", "", "ConfigMap", "default", "after-web")}, options);
  CHECK(changes_at(after_only_plan) ==
        std::vector<std::string>{"update Namespace/team@sh", "update ConfigMap/default/after-web@sh", "update Namespace/team@hz",
                                 "update ConfigMap/team/base@hz", "update ConfigMap/team/app@hz"});

  // Everything back but the hz Namespace: the order drops what no longer changes.
  files["clusters/sh/team.yaml"] = team_yaml("", "value", "value");
  files["clusters/sh/web.yaml"] = web_file("1", "value");
  files["clusters/hz/team.yaml"] = team_yaml("gold", "value", "value");
  const Commit& back = fleet.repo.commit_edit(files);
  check_like_built(back);
  const Plan back_plan =
      plan_patched(fleet, back,
                   {at("sh", "", "Namespace", "", "team"), at("sh", "", "ConfigMap", "default", "after-web"),
                    at("hz", "", "ConfigMap", "team", "app"), at("hz", "", "ConfigMap", "team", "base")},
                   options);
  CHECK(changes_at(back_plan) == std::vector<std::string>{"update Namespace/team@hz"});

  // Applied wave by wave, then one more edit on top of the applied state.
  fleet.apply_ok(back, back_plan);
  check_like_fresh(fleet, back, fleet.plan_with_memo(back, options), options);
  files["clusters/hz/web.yaml"] = web_file("2", "after4");
  const Commit& last = fleet.repo.commit_edit(files);
  check_like_built(last);
  const Plan last_plan = plan_patched(
      fleet, last, {at("hz", "apps", "Deployment", "default", "web"), at("hz", "", "ConfigMap", "default", "after-web")}, options);
  CHECK(changes_at(last_plan) == std::vector<std::string>{"update Deployment/default/web@hz", "update ConfigMap/default/after-web@hz"});
}

TEST_CASE("plan edit: a by-region DaemonSet edited rolls out region by region as in a fresh plan", "[plan][memo][edit][rollout]") {
  PlanFleet fleet;
  fleet.sim.init(slurp(source_path("examples/fixtures/edge.yaml")), "edge.yaml");
  PlanOptions options;
  options.predict = GENERATE(true, false);
  INFO("predict " << options.predict);
  Files files = example_files("edge-daemonset");
  const std::string path = "clusters/edge-central/security-agent.yaml";
  const ObjectRef agent{"edge-central", "apps", "DaemonSet", "security", "security-agent"};
  const Commit& base = fleet.converge(files);
  REQUIRE(base.desired->find(agent)->region_rollout == RegionRollout::on_delete);
  fleet.plan_with_memo(base, options);

  files[path] = replaced(files[path], "security-agent:v1.0.0", "security-agent:v1.1.0");
  const Commit& edited = fleet.repo.commit_edit(files);
  check_like_built(edited);
  CHECK(text_at(*edited.desired->find(agent)->body, "/spec/updateStrategy/type") == "OnDelete");
  const Plan plan = plan_patched(fleet, edited, {agent}, options);
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update DaemonSet/security/security-agent"});
  const PlannedChange& change = change_for(plan, "DaemonSet", "security-agent");
  CHECK(change.region_rollout);
  CHECK(change.rollout_regions == std::vector<std::string>{"cn-hangzhou", "cn-shanghai", "cn-beijing"});
  CHECK(fleet.counting.count("node_regions") == 1);

  // Another annotation beside the rollout mode: only the body changes, accepted.
  files[path] = replaced(files[path], "    meridian.io/rollout: by-region\n", "    meridian.io/rollout: by-region\n    team: security\n");
  const Commit& annotated = fleet.repo.commit_edit(files);
  check_like_built(annotated);
  const Plan annotated_plan = plan_patched(fleet, annotated, {agent}, options);
  CHECK(change_for(annotated_plan, "DaemonSet", "security-agent").region_rollout);

  // The rollout mode dropped or misspelt: refused, the state is built in full.
  check_refused_by_desired(fleet, annotated, [&] {
    Files next = files;
    next[path] = replaced(next[path], "    meridian.io/rollout: by-region\n", "");
    return next;
  }());
  check_refused_by_desired(fleet, annotated, [&] {
    Files next = files;
    next[path] = replaced(next[path], "meridian.io/rollout: by-region", "meridian.io/rollout: by-zone");
    return next;
  }());
  // The image back: accepted, no changes.
  files[path] = replaced(files[path], "security-agent:v1.1.0", "security-agent:v1.0.0");
  const Commit& back = fleet.repo.commit_edit(files);
  const Plan back_plan = plan_patched(fleet, back, {agent}, options);
  CHECK(changes_of(back_plan) == std::vector<std::string>{"update DaemonSet/security/security-agent"}); // the annotation
  CHECK_FALSE(change_for(back_plan, "DaemonSet", "security-agent").region_rollout);
}

TEST_CASE("plan edit: edits that change more than bodies are refused and leave the state as it was", "[plan][memo][edit][refuse]") {
  PlanFleet fleet;
  Files files = base_files();
  files["clusters/hz/dependent.yaml"] = configmap_yaml("dependent", "default", "    meridian.io/depends-on: ConfigMap/settings\n");
  files["clusters/hz/agent.yaml"] = R"(apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "agent:1.0"}]
)";
  const Commit& base = fleet.converge(files);
  REQUIRE(keys(base.desired->find(dependent_ref)->depends_on) ==
          keys({{"", "meridian.io", "Cluster", "", "hz"}, settings_ref}));
  fleet.plan_with_memo(base);
  const uint64_t base_content = base.desired->content_id;
  const auto with = [&](const std::string& path, const std::string& text) {
    Files next = files;
    next[path] = text;
    return next;
  };
  const std::string dependent_path = "clusters/hz/dependent.yaml";
  const std::string agent_path = "clusters/hz/agent.yaml";
  const std::string web_path = "clusters/hz/web.yaml";

  // Dependencies: added, changed, removed, naming nothing, malformed.
  check_refused_by_desired(fleet, base,
                           with("clusters/hz/extra.yaml", configmap_yaml("extra", "default", "    meridian.io/depends-on: ConfigMap/flags\n")));
  check_refused_by_desired(fleet, base,
                           with(dependent_path, configmap_yaml("dependent", "default", "    meridian.io/depends-on: ConfigMap/flags\n")));
  check_refused_by_desired(fleet, base,
                           with(dependent_path, configmap_yaml("dependent", "default",
                                                               "    meridian.io/depends-on: ConfigMap/settings, ConfigMap/flags\n")));
  check_refused_by_desired(fleet, base, with(dependent_path, configmap_yaml("dependent")));
  const Files nowhere = with(dependent_path, configmap_yaml("dependent", "default", "    meridian.io/depends-on: ConfigMap/settings, ConfigMap/nowhere\n"));
  check_refused_by_desired(fleet, base, nowhere);
  check_refused_by_desired(fleet, base, with(dependent_path, configmap_yaml("dependent", "default", "    meridian.io/depends-on: settings\n")));
  {
    // Built in full, the same files have the finding the edit could not report.
    const std::vector<std::pair<std::string, std::string>> list(nowhere.begin(), nowhere.end());
    const ManifestSet set = manifests_from_texts(list);
    REQUIRE(is_valid(validate_manifests(set)));
    const DesiredState built = build_desired_state(set, owner_a);
    REQUIRE(built.findings.size() == 1);
    CHECK(built.findings[0].format().find("\"ConfigMap/nowhere\" names no object of the repository") != std::string::npos);
  }
  // A DaemonSet opting in to the region-by-region rollout.
  check_refused_by_desired(fleet, base,
                           with(agent_path, replaced(files[agent_path], "  name: agent\n",
                                                     "  name: agent\n  annotations:\n    meridian.io/rollout: by-region\n")));
  // Schema errors and a selector that matches no pod of the template.
  check_refused_as_invalid(fleet, base, with(web_path, replaced(web_deployment_yaml, "replicas: 1", "replicas: three")), "replicas");
  check_refused_as_invalid(fleet, base, with(web_path, replaced(web_deployment_yaml, "selector: {matchLabels: {app: web}}",
                                                                "selector: {matchLabels: {app: other}}")),
                           "does not match spec.template.metadata.labels");

  // After all of that the state is the base's and the memo's last plan still is of it: an edit
  // that changes bodies alone is accepted and patched.
  // The same dependency written another way, and another value: only the body changes.
  files[dependent_path] = replaced(configmap_yaml("dependent", "default", "    meridian.io/depends-on: ConfigMap/default/settings\n"),
                                   "key: value", "key: changed");
  files["clusters/hz/config.yaml"] = config_yaml("changed");
  files[agent_path] = replaced(files[agent_path], "agent:1.0", "agent:1.1"); // its namespace is defaulted in the body
  const Commit& accepted = fleet.repo.commit_edit(files);
  CHECK(text_at(*accepted.desired->find(agent_ref)->body, "/metadata/namespace") == "default");
  CHECK(accepted.desired->edited_from == base_content);
  check_like_built(accepted);
  const Plan plan = plan_patched(fleet, accepted, {dependent_ref, settings_ref, agent_ref}, {});
  CHECK(changes_of(plan) ==
        std::vector<std::string>{"update ConfigMap/default/settings", "update ConfigMap/default/dependent", "update DaemonSet/default/agent"});
  CHECK(change_for(plan, "ConfigMap", "dependent").fields.size() == 2); // the annotation and data.key

  // A refused edit on top of an edited state leaves that one as it was too, and the loop then
  // loads the commit in full: its plan is a fresh plan's.
  const Files added = with("clusters/hz/extra.yaml", configmap_yaml("extra", "default", "    meridian.io/depends-on: ConfigMap/flags\n"));
  check_refused_by_desired(fleet, accepted, added);
  const Commit& full = fleet.repo.commit(added);
  const Plan full_plan = fleet.plan_with_memo(full);
  CHECK(changes_of(full_plan) == std::vector<std::string>{"update ConfigMap/default/extra", "update ConfigMap/default/settings",
                                                          "update ConfigMap/default/dependent", "update DaemonSet/default/agent"});
  check_like_fresh(fleet, full, full_plan, {});
}

TEST_CASE("plan edit: prune candidates and their warnings are kept when an edit is patched in", "[plan][memo][edit][prune]") {
  PlanOptions options;
  options.predict = GENERATE(true, false);
  INFO("predict " << options.predict);
  const bool prune = GENERATE(true, false);
  INFO("prune " << prune);
  PlanFleet fleet;
  Files files = base_files(prune ? "  prune: true\n" : "");
  files["clusters/hz/stray.yaml"] = configmap_yaml("stray");
  fleet.converge(files);
  files.erase("clusters/hz/stray.yaml");
  const Commit& without = fleet.repo.commit(files);
  const Plan first = fleet.plan_with_memo(without, options);
  if (prune) {
    CHECK(changes_of(first) == std::vector<std::string>{"delete ConfigMap/default/stray"});
    CHECK(first.warnings.empty());
  } else {
    CHECK_FALSE(first.has_changes());
    CHECK(first.warnings.size() == 1);
  }

  // unchanged → update beside the deletion: ordered again, the deletion last in its wave.
  files["clusters/hz/config.yaml"] = config_yaml("changed");
  files["clusters/hz/web.yaml"] = web_with("2", "nginx:1.25");
  const Commit& edited = fleet.repo.commit_edit(files);
  check_like_built(edited);
  const Plan plan = plan_patched(fleet, edited, {settings_ref, web_ref}, options);
  std::vector<std::string> expected{"update ConfigMap/default/settings", "update Deployment/default/web"};
  if (prune)
    expected.push_back("delete ConfigMap/default/stray");
  CHECK(changes_of(plan) == expected);
  CHECK(plan.warnings == first.warnings);

  // And back: only the deletion (or nothing) again.
  files["clusters/hz/config.yaml"] = config_yaml("value");
  files["clusters/hz/web.yaml"] = web_deployment_yaml;
  const Commit& back = fleet.repo.commit_edit(files);
  const Plan back_plan = plan_patched(fleet, back, {settings_ref, web_ref}, options);
  CHECK(changes_of(back_plan) == changes_of(first));
  CHECK(back_plan.fingerprint != first.fingerprint); // another commit
  CHECK(back_plan.forecasts.size() == first.forecasts.size());
}

TEST_CASE("plan edit: a patched plan leaves the memo knowing the edited objects' new diffs", "[plan][memo][edit]") {
  PlanFleet fleet;
  Files files = base_files();
  const Commit& base = fleet.converge(files);
  fleet.plan_with_memo(base);

  // web patched in; then an edit left unplanned; the plan after it is made in full with the memo's
  // diffs: web's diff is the patched plan's (its document is the one diffed last), so only the
  // objects of the unplanned edit and of the last one are read.
  files["clusters/hz/web.yaml"] = web_with("2", "nginx:1.25");
  const Commit& web = fleet.repo.commit_edit(files);
  plan_patched(fleet, web, {web_ref}, {});
  files["clusters/hz/extra.yaml"] = replaced(configmap_yaml("extra"), "key: value", "key: extra");
  fleet.repo.commit_edit(files);
  files["clusters/hz/config.yaml"] = config_yaml("changed");
  const Commit& last = fleet.repo.commit_edit(files);
  const Plan plan = fleet.plan_with_memo(last);
  CHECK(fleet.counting.count("visit_managed") == 0);
  CHECK(fleet.counting.sorted_gets() == keys({extra_ref, settings_ref, flags_ref}));
  CHECK(changes_of(plan) ==
        std::vector<std::string>{"update ConfigMap/default/extra", "update ConfigMap/default/settings", "update Deployment/default/web"});
  check_like_fresh(fleet, last, plan, {});
}

namespace {

const PlannedChange& change_of(const Plan& plan, const ObjectRef& ref) {
  for (const PlannedChange& change : plan.changes)
    if (change.ref == ref)
      return change;
  FAIL("no change for " << ref.key());
  throw std::logic_error("unreachable");
}

//! Each change but unchanged ones as "describe_at wave N" (waves from 1, as rendered).
std::vector<std::string> changes_with_waves(const Plan& plan) {
  std::vector<std::string> out;
  for (const PlannedChange& change : plan.changes)
    if (change.action != Action::unchanged)
      out.push_back(describe_at(change) + " wave " + std::to_string(change.wave + 1));
  return out;
}

} // namespace

TEST_CASE("plan edit: a workload waiting for a node pool of a later wave moves to that wave as in a fresh plan", "[plan][memo][edit][order]") {
  PlanFleet fleet;
  PlanOptions options;
  options.predict = GENERATE(true, false);
  INFO("predict " << options.predict);
  Files files = two_region_files();
  fleet.converge(files);
  // A pool of cluster sh (cn-shanghai, wave 1) in cn-hangzhou (wave 2), not created yet: sh's
  // workloads wait for it.
  files["pools.yaml"] += "---\n" + pool_yaml("sh-far", "sh", "cn-hangzhou");
  const Commit& pooled = fleet.repo.commit(files);
  const ObjectRef far{"", "meridian.io", "NodePool", "", "sh-far"};
  const ObjectRef sh_web = at("sh", "apps", "Deployment", "default", "web");
  const ObjectRef sh_after = at("sh", "", "ConfigMap", "default", "after-web");
  REQUIRE(std::count(pooled.desired->find(sh_web)->depends_on.begin(), pooled.desired->find(sh_web)->depends_on.end(), far) == 1);
  const Plan first = fleet.plan_with_memo(pooled, options);
  CHECK(changes_with_waves(first) == std::vector<std::string>{"create NodePool/sh-far@ wave 2"});
  check_like_fresh(fleet, pooled, first, options);

  // web in sh changed: it waits for the new pool, in the pool's wave.
  files["clusters/sh/web.yaml"] = web_file("2", "value");
  const Commit& scaled = fleet.repo.commit_edit(files);
  check_like_built(scaled);
  const Plan scaled_plan = plan_patched(fleet, scaled, {sh_web}, options);
  CHECK(changes_with_waves(scaled_plan) ==
        std::vector<std::string>{"create NodePool/sh-far@ wave 2", "update Deployment/default/web@sh wave 2"});
  CHECK(change_of(scaled_plan, sh_web).region == "cn-shanghai");

  // after-web too, which waits for web: the same wave.
  files["clusters/sh/web.yaml"] = web_file("2", "after");
  const Commit& after = fleet.repo.commit_edit(files);
  const Plan after_plan = plan_patched(fleet, after, {sh_after}, options);
  CHECK(changes_with_waves(after_plan) == std::vector<std::string>{"create NodePool/sh-far@ wave 2", "update Deployment/default/web@sh wave 2",
                                                                   "update ConfigMap/default/after-web@sh wave 2"});

  // web back: after-web waits for nothing that changes, and goes back to its region's wave. (It
  // stays listed after the pool, as in a fresh plan: the list follows dependencies through the
  // unchanged web; apply takes each wave's changes in list order.)
  files["clusters/sh/web.yaml"] = web_file("1", "after");
  const Commit& back = fleet.repo.commit_edit(files);
  const Plan back_plan = plan_patched(fleet, back, {sh_web}, options);
  CHECK(changes_with_waves(back_plan) ==
        std::vector<std::string>{"create NodePool/sh-far@ wave 2", "update ConfigMap/default/after-web@sh wave 1"});
}

// Regression (8b648a2, fixed by 4e3399e): when no edited object's action changed (an update edited
// into another update), the patched plan kept the last order and the edited objects' new changes
// kept the default wave 0: in a fleet of two regions with maxParallelRegions 1, the second region's
// Namespace was planned, rendered and applied in the first wave, before that wave's region was
// gated healthy.
TEST_CASE("plan edit: an update edited into another update keeps the wave of its region", "[plan][memo][edit][order][regression]") {
  PlanFleet fleet;
  Files files = two_region_files();
  const Commit& base = fleet.converge(files);
  fleet.plan_with_memo(base);
  const ObjectRef hz_team = at("hz", "", "Namespace", "", "team");
  const ObjectRef sh_team = at("sh", "", "Namespace", "", "team");

  files["clusters/hz/team.yaml"] = team_yaml("gold", "value", "value");
  files["clusters/sh/team.yaml"] = team_yaml("gold", "value", "value");
  const Commit& gold = fleet.repo.commit_edit(files);
  const Plan gold_plan = plan_patched(fleet, gold, {hz_team, sh_team}, {}); // unchanged → update: ordered again
  CHECK(changes_with_waves(gold_plan) == std::vector<std::string>{"update Namespace/team@sh wave 1", "update Namespace/team@hz wave 2"});

  // update → update: the last plan's order is kept, and so should be the waves.
  files["clusters/hz/team.yaml"] = team_yaml("silver", "value", "value");
  files["clusters/sh/team.yaml"] = team_yaml("silver", "value", "value");
  const Commit& silver = fleet.repo.commit_edit(files);
  const Plan silver_plan = plan_patched(fleet, silver, {hz_team, sh_team}, {});
  CHECK(changes_with_waves(silver_plan) == std::vector<std::string>{"update Namespace/team@sh wave 1", "update Namespace/team@hz wave 2"});
  CHECK(change_of(silver_plan, hz_team).wave == 1); // actual: 0

  // Applied, the cn-hangzhou change must wait for the cn-shanghai wave to be healthy.
  fleet.log.clear();
  fleet.apply_ok(silver, silver_plan);
  std::string log;
  for (const std::string& line : fleet.log)
    log += line + "\n";
  INFO(log);
  const size_t sh_healthy = log.find("region cn-shanghai healthy");
  const size_t second_wave = log.find("wave 2/2: cn-hangzhou");
  const size_t hz_update = log.find("cn-hangzhou update Namespace/team");
  CHECK(sh_healthy != std::string::npos);
  CHECK(second_wave != std::string::npos);
  CHECK(hz_update != std::string::npos);
  CHECK(sh_healthy < second_wave);
  CHECK(second_wave < hz_update);
}

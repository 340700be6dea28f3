#include "plan/plan.h"

#include "base/error.h"
#include "base/sensitive.h"
#include "state/store.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace meridian {
namespace {

// The pointers of the rules (ignoreDifferences, sensitiveFields) that match `ref`.
std::vector<std::string> rule_pointers(const std::vector<IgnoreRule>& rules, const ObjectRef& ref) {
  std::vector<std::string> pointers;
  for (const IgnoreRule& rule : rules) {
    if (rule.kind != ref.kind || (!rule.group.empty() && rule.group != ref.group) ||
        (!rule.name.empty() && rule.name != ref.name) || (!rule.namespace_.empty() && rule.namespace_ != ref.namespace_))
      continue;
    pointers.insert(pointers.end(), rule.pointers.begin(), rule.pointers.end());
  }
  return pointers;
}

bool touches_template(const std::vector<FieldChange>& fields) {
  return std::any_of(fields.begin(), fields.end(), [](const FieldChange& field) { return pointer_within(field.pointer, "/spec/template"); });
}

// Meridian steps these while it rolls a DaemonSet out region by region: they are not drift.
void add_rollout_ignores(const DesiredObject& object, std::vector<std::string>& pointers) {
  if (object.region_rollout == RegionRollout::kruise_selector) {
    const Json* rolling = find_path(*object.body, "spec.updateStrategy.rollingUpdate");
    if (rolling == nullptr || find_member(*rolling, "selector") == nullptr)
      pointers.push_back("/spec/updateStrategy/rollingUpdate/selector");
  }
}

// FNV-1a, 64 bits, fed piece by piece.
struct Fnv {
  uint64_t hash = 14695981039346656037ull;
  void add(std::string_view part) {
    for (const char c : part) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ull;
    }
  }
};

// The plan's fingerprint: of its commit, then of what it says of each change (ref, action, every
// field's before and after), hashed as it is read: nothing of the size of the plan is built.
std::string plan_fingerprint(const Plan& plan) {
  Fnv fnv;
  fnv.add(plan.commit);
  for (const PlannedChange& change : plan.changes) {
    const ObjectRef& ref = change.ref;
    for (const std::string_view part : {std::string_view("\n"), std::string_view(ref.cluster), std::string_view("/"), std::string_view(ref.group),
                                        std::string_view("/"), std::string_view(ref.kind), std::string_view("/"), std::string_view(ref.namespace_),
                                        std::string_view("/"), std::string_view(ref.name), std::string_view(" "), to_string(change.action)})
      fnv.add(part);
    for (const FieldChange& field : change.fields)
      for (const std::string_view part : {std::string_view("\n "), std::string_view(field.pointer), std::string_view(" "),
                                          field.before ? std::string_view(*field.before) : std::string_view("-"), std::string_view(" "),
                                          field.after ? std::string_view(*field.after) : std::string_view("-")})
        fnv.add(part);
  }
  return fmt::format("{:016x}", fnv.hash);
}

// The changes of a plan as make_plan lays them out before ordering: laid[i] is the change of
// desired.objects[i], then come the deletions sorted by ref. Dependencies are followed by position
// (DesiredObject::depends_on_index), and by-ref order is the layout's own (merged with deletions).
using Layout = std::vector<PlannedChange*>;

Layout layout_of(Plan& plan, const DesiredState& desired) {
  const size_t objects = desired.objects.size();
  Layout laid(objects, nullptr);
  Layout deletions;
  for (PlannedChange& change : plan.changes) {
    if (change.desired == nullptr) {
      deletions.push_back(&change);
      continue;
    }
    const size_t position = static_cast<size_t>(change.desired - desired.objects.data());
    if (position >= objects || laid[position] != nullptr)
      throw std::logic_error("make_plan: a change names no desired object, or one named twice");
    laid[position] = &change;
  }
  if (std::find(laid.begin(), laid.end(), nullptr) != laid.end())
    throw std::logic_error("make_plan: a desired object has no change");
  std::sort(deletions.begin(), deletions.end(), [](const PlannedChange* a, const PlannedChange* b) { return a->ref < b->ref; });
  laid.insert(laid.end(), deletions.begin(), deletions.end());
  return laid;
}

// Each change's region in the plan's region order.
std::vector<int> region_ranks(const Layout& laid, const Plan& plan) {
  std::map<std::string_view, int> region_index;
  for (size_t i = 0; i < plan.regions.size(); ++i)
    region_index.emplace(plan.regions[i], static_cast<int>(i));
  std::vector<int> rank(laid.size(), 0);
  for (size_t i = 0; i < laid.size(); ++i)
    if (const auto found = region_index.find(laid[i]->region); found != region_index.end())
      rank[i] = found->second;
  return rank;
}

// A change's wave: its region's wave, but never before the waves of what it depends on that changes.
std::vector<int> waves_of(const Layout& laid, const DesiredState& desired, const Plan& plan, const std::vector<int>& region_rank) {
  const int per_wave = std::max(1, plan.fleet.max_parallel_regions);
  const size_t objects = desired.objects.size();
  std::vector<int> wave(laid.size(), -1);
  std::function<int(size_t, int)> wave_of = [&](size_t index, int depth) -> int {
    if (wave[index] >= 0 || depth > 64)
      return std::max(wave[index], 0);
    int result = region_rank[index] / per_wave;
    if (index < objects)
      for (const size_t dependency : desired.objects[index].depends_on_index)
        if (laid[dependency]->action != Action::unchanged)
          result = std::max(result, wave_of(dependency, depth + 1));
    wave[index] = result;
    return result;
  };
  for (size_t i = 0; i < laid.size(); ++i)
    wave_of(i, 0);
  return wave;
}

// Orders changes: by wave, then dependencies (Kahn), ties by region order, tier, ref. Deletions come
// after everything else of their wave, in reverse tier order. The order is a function of the waves,
// tiers, regions, refs and dependencies alone: a plan whose actions changed but not its waves keeps it.
void order_changes(Plan& plan, const DesiredState& desired, const Layout& laid) {
  const size_t objects = desired.objects.size();
  const size_t count = laid.size();
  const std::vector<int> region_rank = region_ranks(laid, plan);
  const std::vector<int> wave = waves_of(laid, desired, plan, region_rank);
  // Ranks computed once. The desired objects are sorted by ref and so are the deletions: merged,
  // they give every change its place in ref order.
  std::vector<std::array<long long, 5>> ranks(count);
  for (size_t i = 0, j = objects, place = 0; i < objects || j < count; ++place) {
    const bool take_desired = j == count || (i < objects && laid[i]->ref < laid[j]->ref);
    const size_t index = take_desired ? i++ : j++;
    PlannedChange& change = *laid[index];
    change.wave = wave[index];
    const bool deletion = change.action == Action::remove;
    ranks[index] = {change.wave, deletion ? 1 : 0, deletion ? -change.tier : change.tier, region_rank[index], static_cast<long long>(place)};
  }
  // Dependents of each change, compressed: dependents[first[d], first[d + 1]) wait for d.
  std::vector<size_t> pending_dependencies(count, 0);
  std::vector<size_t> first(count + 1, 0);
  for (size_t i = 0; i < objects; ++i)
    for (const size_t dependency : desired.objects[i].depends_on_index)
      ++first[dependency + 1];
  for (size_t i = 0; i < count; ++i)
    first[i + 1] += first[i];
  std::vector<size_t> dependents(first[count]);
  std::vector<size_t> filled(first.begin(), first.end() - 1);
  for (size_t i = 0; i < objects; ++i)
    for (const size_t dependency : desired.objects[i].depends_on_index) {
      ++pending_dependencies[i];
      dependents[filled[dependency]++] = i;
    }
  auto later = [&](size_t a, size_t b) { return ranks[b] < ranks[a]; };
  std::vector<size_t> ready;
  for (size_t i = 0; i < count; ++i)
    if (pending_dependencies[i] == 0)
      ready.push_back(i);
  std::make_heap(ready.begin(), ready.end(), later);
  std::vector<size_t> order;
  order.reserve(count);
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), later);
    const size_t next = ready.back();
    ready.pop_back();
    order.push_back(next);
    for (size_t k = first[next]; k < first[next + 1]; ++k)
      if (--pending_dependencies[dependents[k]] == 0) {
        ready.push_back(dependents[k]);
        std::push_heap(ready.begin(), ready.end(), later);
      }
  }
  // A cycle is a validation error reported before planning; keep whatever remains in rank order.
  for (size_t i = 0; i < count; ++i)
    if (pending_dependencies[i] != 0)
      order.push_back(i);
  std::vector<PlannedChange> ordered;
  ordered.reserve(order.size());
  for (const size_t index : order)
    ordered.push_back(std::move(*laid[index]));
  plan.changes = std::move(ordered);
}

// Whether a dry run's refusal of `object` only says that something this same plan creates first is
// not there yet: its namespace, or the CustomResourceDefinition of its kind. The apply creates
// those first and waits for them; the note says so.
std::optional<std::string> refusal_explained(std::string_view reason, std::string_view message, const DesiredObject& object,
                                             const DesiredState& desired) {
  const ObjectRef& ref = object.ref;
  if ((reason == "NotFound" || reason.empty()) && !ref.namespace_.empty() &&
      message.find(fmt::format("namespaces \"{}\" not found", ref.namespace_)) != std::string_view::npos &&
      desired.find({ref.cluster, "", "Namespace", "", ref.namespace_}) != nullptr)
    return std::string(); // created first by the same plan: too plain to say for every object in it
  if (reason == "NoKindMatch") {
    for (const DesiredObject& other : desired.objects) {
      if (other.ref.cluster != ref.cluster || other.ref.kind != "CustomResourceDefinition" || other.ref.group != "apiextensions.k8s.io")
        continue;
      const Json* spec = find_member(*other.body, "spec");
      const Json* names = spec != nullptr ? find_member(*spec, "names") : nullptr;
      if (spec != nullptr && names != nullptr && string_member(*spec, "group") == ref.group && string_member(*names, "kind") == ref.kind)
        return fmt::format("its CustomResourceDefinition {} is created first; the server checks it then", other.ref.name);
    }
  }
  return std::nullopt;
}

// The server's own answer (dry-run apply) compared with live in both directions, as `kubectl diff`
// does: defaults and admission changes never show, and fields the apply would drop do. Creates are
// dry-run too, so that the server judges every change the apply would send. A refusal is the
// change's `error` (the plan fails), unless only something the plan creates first is missing (a
// `note`). nullopt: no server diff (the backend cannot dry-run, a create, or a refusal).
std::optional<std::vector<FieldChange>> server_diff(Backend& backend, const DesiredObject& object, const JsonDocument* live,
                                                    DiffOptions options, const DesiredState& desired, PlannedChange& change) {
  if (!backend.server_side_dry_run() || object.ref.is_fleet_level())
    return std::nullopt;
  std::shared_ptr<const JsonDocument> dry;
  try {
    dry = backend.apply(object.ref, *object.body, true);
  } catch (const RejectedError& error) {
    if (auto why = refusal_explained(error.reason(), error.what(), object, desired))
      change.note = std::move(*why);
    else
      change.error = error.what();
    return std::nullopt;
  } catch (const TransientError& error) {
    change.error = fmt::format("{} (cluster {}): the server dry run failed: {}", object.ref.display(), object.ref.cluster, error.what());
    return std::nullopt;
  } catch (const UserError& error) {
    if (auto why = refusal_explained("", error.what(), object, desired))
      change.note = std::move(*why);
    else
      change.error = fmt::format("{} (cluster {}): the server dry run failed: {}", object.ref.display(), object.ref.cluster, error.what());
    return std::nullopt;
  }
  if (dry == nullptr || live == nullptr)
    return std::nullopt;
  // A kind served in several versions was read in its preferred one: compare in Git's version.
  std::shared_ptr<const JsonDocument> converted;
  const std::string_view dry_version = string_member(*dry, "apiVersion");
  if (!dry_version.empty() && dry_version != string_member(*live, "apiVersion")) {
    converted = backend.get_as(object.ref, dry_version);
    if (converted != nullptr)
      live = converted.get();
  }
  options.last_applied = live; // every live field the dry-run result lacks is a removal
  return diff_object(*dry, *live, options);
}

// What will happen to pods: the backend's forecast for the changes, and for every workload of a
// cluster a change touches (they share its nodes).
void forecast(Plan& plan, Backend& backend) {
  std::set<std::string> touched;
  for (const PlannedChange& change : plan.changes)
    if (change.action != Action::unchanged && change.action != Action::remove)
      touched.insert(change.ref.is_fleet_level() && change.desired != nullptr && change.ref.kind == "NodePool"
                         ? std::string(string_member(*find_member(*change.desired->body, "spec"), "cluster"))
                         : change.ref.cluster);
  std::vector<std::pair<ObjectRef, const Json*>> changes;
  for (const PlannedChange& change : plan.changes) {
    if (change.desired == nullptr)
      continue;
    const bool affected = change.action != Action::unchanged ||
                          (is_workload_kind(change.ref.kind) && touched.count(change.ref.cluster) != 0);
    if (affected)
      changes.emplace_back(change.ref, change.desired->body.get());
  }
  if (Forecaster* forecaster = backend.forecaster())
    plan.forecasts = forecaster->predict(changes);
  // Nodes or pods the backend could not read for the forecast.
  for (std::string& warning : backend.take_warnings())
    plan.warnings.push_back(std::move(warning));
  std::sort(plan.forecasts.begin(), plan.forecasts.end(),
            [](const PlacementForecast& a, const PlacementForecast& b) { return a.workload < b.workload; });
}

// A DaemonSet template change in a cluster whose nodes span regions steps region by region.
void mark_region_rollout(PlannedChange& change, const FleetSettings& fleet, Backend& backend) {
  const DesiredObject& object = *change.desired;
  if (change.action == Action::update && object.region_rollout != RegionRollout::none && touches_template(change.fields)) {
    std::vector<std::string> node_regions = order_regions(fleet, backend.node_regions(object.ref.cluster));
    if (node_regions.size() > 1) {
      change.region_rollout = true;
      change.rollout_regions = std::move(node_regions);
    }
  }
}

// What plan needs of a live object it does not diff: whether it is ours, and for prune.
struct LiveFacts {
  ObjectRef ref;
  bool ours = false;
  bool prune_disabled = false;
  bool prune_contents = false; //!< a Namespace that may be pruned with what it holds
  bool registered_cluster = false;
  std::string region; //!< a fleet-level object's own spec.region
};

// What plan keeps of one listed live object: its facts, and a Cluster's region.
LiveFacts facts_of(ObjectRef ref, const JsonDocument& object, const std::string& owner, std::map<std::string, std::string>& cluster_regions) {
  const Json* spec = find_member(object, "spec");
  if (ref.is_fleet_level() && ref.kind == "Cluster" && spec != nullptr)
    cluster_regions[ref.name] = std::string(string_member(*spec, "region"));
  const Json* annotations = find_path(object, "metadata.annotations");
  LiveFacts facts;
  facts.ours = owned_by(object, ref, owner);
  facts.prune_disabled = annotations != nullptr && string_member(*annotations, prune_annotation) == "disabled";
  facts.prune_contents = annotations != nullptr && string_member(*annotations, prune_namespace_contents_annotation) == "true";
  facts.registered_cluster = ref.kind == "Cluster" && ref.is_fleet_level() && spec != nullptr && string_member(*spec, "type") == "Registered";
  if (ref.is_fleet_level() && spec != nullptr)
    facts.region = std::string(string_member(*spec, "region"));
  facts.ref = std::move(ref);
  return facts;
}

// The owner named by a live object's meridian.io/managed-by when it is another fleet's; "" when it is
// this fleet's, nobody's, or a repository path or URL (the owner of objects applied before owners
// became the repository's name: taken over by the next apply, as the README's Limits say).
std::string foreign_owner(const JsonDocument& live, const std::string& owner) {
  const Json* annotations = find_path(live, "metadata.annotations");
  if (annotations == nullptr)
    return "";
  const std::string_view live_owner = string_member(*annotations, managed_by_annotation);
  if (live_owner.empty() || live_owner == owner || live_owner.front() == '/' || live_owner.find("://") != std::string_view::npos)
    return "";
  return std::string(live_owner);
}

// An object in a namespace that is someone else's: not Meridian's (this fleet's), not made by a
// controller for its owner (pods of a Deployment go with it), not what Kubernetes puts in every
// namespace.
bool is_foreign(const LiveObject& object, const std::string& owner) {
  const Json* annotations = find_path(*object.object, "metadata.annotations");
  if (annotations != nullptr && string_member(*annotations, managed_by_annotation) == owner)
    return false;
  const Json* owners = find_path(*object.object, "metadata.ownerReferences");
  if (owners != nullptr && owners->IsArray() && !owners->Empty())
    return false;
  const ObjectRef& ref = object.ref;
  return !(ref.group.empty() && ((ref.kind == "ServiceAccount" && ref.name == "default") ||
                                 (ref.kind == "ConfigMap" && ref.name == "kube-root-ca.crt")));
}

// Deleting a Namespace deletes what it holds. Nothing that Meridian does not manage goes with one
// unless the Namespace says so (prune_namespace_contents_annotation); the refusal is a warning.
// Returns what the deletion would take with it (beyond `deleted`), or nullopt when it is refused.
std::optional<size_t> namespace_cascade(Plan& plan, Backend& backend, const LiveFacts& facts, const std::string& owner,
                                        const std::set<ObjectRef>& deleted) {
  const ObjectRef& ref = facts.ref;
  const auto contents = backend.namespace_contents(ref.cluster, ref.name);
  const std::string label = fmt::format("{} (cluster {})", ref.display(), ref.cluster);
  if (!contents) {
    if (facts.prune_contents)
      return 0;
    plan.warnings.push_back(fmt::format("{} is no longer in Git, but the {} backend cannot list what it holds; not deleting it "
                                        "without {}: \"true\"", label, backend.name(), prune_namespace_contents_annotation));
    return std::nullopt;
  }
  std::vector<std::string> foreign;
  size_t cascade = 0;
  for (const LiveObject& object : *contents) {
    if (deleted.count(object.ref) == 0)
      ++cascade;
    if (is_foreign(object, owner))
      foreign.push_back(object.ref.display());
  }
  if (!foreign.empty() && !facts.prune_contents) {
    const size_t shown = std::min<size_t>(foreign.size(), 3);
    plan.warnings.push_back(fmt::format("{} is no longer in Git, but it holds {} object{} Meridian does not manage ({}{}); not deleting "
                                        "it: set {}: \"true\" on it to delete them with it",
                                        label, foreign.size(), foreign.size() == 1 ? "" : "s",
                                        fmt::join(foreign.begin(), foreign.begin() + static_cast<long>(shown), ", "),
                                        foreign.size() > shown ? ", ..." : "", prune_namespace_contents_annotation));
    return std::nullopt;
  }
  return cascade;
}

// Prune candidates: what Meridian created for this repository and Git no longer has. Appends the
// deletions to the plan's changes (sorted by ref) and what keeps any from happening to its warnings
// (and to Plan::withheld, when prune was asked for). The mass-prune guard counts what deletions
// take with them (a Namespace's contents) too.
void add_deletions(Plan& plan, Backend& backend, const std::vector<LiveFacts>& live_facts, const DesiredState& desired,
                   const PlanOptions& options, const std::map<std::string, std::string>& live_cluster_regions) {
  size_t managed = 0;
  std::vector<const LiveFacts*> leftovers;
  for (const LiveFacts& facts : live_facts) {
    if (!facts.ours)
      continue;
    ++managed;
    if (desired.find(facts.ref) == nullptr)
      leftovers.push_back(&facts);
  }
  std::sort(leftovers.begin(), leftovers.end(), [](const LiveFacts* a, const LiveFacts* b) { return a->ref < b->ref; });

  const bool prune = options.prune || desired.fleet.prune;
  std::set<ObjectRef> leftover_refs;
  for (const LiveFacts* leftover : leftovers)
    leftover_refs.insert(leftover->ref);
  std::vector<PlannedChange> deletions;
  std::vector<std::string> extra;
  size_t cascaded = 0;
  for (const LiveFacts* leftover : leftovers) {
    extra.push_back(leftover->ref.cluster.empty() ? leftover->ref.display() : fmt::format("{} (cluster {})", leftover->ref.display(), leftover->ref.cluster));
    if (leftover->prune_disabled) {
      plan.warnings.push_back(fmt::format("{} is no longer in Git but has {}: disabled; not deleting it", leftover->ref.display(), prune_annotation));
      continue;
    }
    if (leftover->registered_cluster) {
      plan.warnings.push_back(fmt::format("{} is no longer in Git; it is a Registered cluster, which Meridian never deletes", leftover->ref.display()));
      continue;
    }
    if (prune && leftover->ref.group.empty() && leftover->ref.kind == "Namespace" && !leftover->ref.cluster.empty()) {
      const auto cascade = namespace_cascade(plan, backend, *leftover, desired.owner, leftover_refs);
      if (!cascade) {
        ++plan.withheld;
        continue;
      }
      cascaded += *cascade;
    }
    PlannedChange change;
    change.ref = leftover->ref;
    change.action = Action::remove;
    change.tier = kind_tier(change.ref.group, change.ref.kind);
    if (change.ref.is_fleet_level())
      change.region = leftover->region;
    else if (const auto cluster = desired.clusters.find(change.ref.cluster); cluster != desired.clusters.end())
      change.region = cluster->second.region;
    else if (const auto region = live_cluster_regions.find(change.ref.cluster); region != live_cluster_regions.end())
      change.region = region->second;
    change.note = "no longer in Git";
    deletions.push_back(std::move(change));
  }
  if (!prune && !extra.empty()) {
    plan.warnings.push_back(fmt::format("{} managed object{} no longer in Git (not deleted without --prune): {}", extra.size(),
                                        extra.size() == 1 ? " is" : "s are", fmt::join(extra, ", ")));
  } else if (prune && !deletions.empty()) {
    const size_t affected = deletions.size() + cascaded;
    const bool mass = affected * 2 > managed || deletions.size() == managed;
    if (mass && !options.allow_mass_prune) {
      plan.warnings.push_back(fmt::format("refusing to prune {} of {} managed objects{} (more than half) without --allow-mass-prune",
                                          deletions.size(), managed,
                                          cascaded == 0 ? std::string()
                                                        : fmt::format(" and {} object{} inside the namespaces they delete", cascaded,
                                                                      cascaded == 1 ? "" : "s")));
      plan.withheld += deletions.size();
    } else {
      for (PlannedChange& deletion : deletions)
        plan.changes.push_back(std::move(deletion));
    }
  }
}

// The plan's regions in rollout order, and its waves of them.
void set_regions(Plan& plan, const DesiredState& desired) {
  std::set<std::string_view> distinct;
  for (const PlannedChange& change : plan.changes)
    distinct.insert(change.region);
  std::vector<std::string> regions(distinct.begin(), distinct.end());
  plan.regions = order_regions(desired.fleet, regions);
  plan.waves.clear();
  const size_t per_wave = static_cast<size_t>(std::max(1, desired.fleet.max_parallel_regions));
  for (size_t i = 0; i < plan.regions.size(); i += per_wave)
    plan.waves.emplace_back(plan.regions.begin() + static_cast<long>(i),
                            plan.regions.begin() + static_cast<long>(std::min(plan.regions.size(), i + per_wave)));
}

// Every field length-prefixed: no two different rule lists give the same text (a pointer may hold
// spaces or newlines).
std::string memo_settings(const DesiredState& desired) {
  const auto field = [](std::string_view text) { return fmt::format("{}:{}", text.size(), text); };
  std::string text = field(desired.owner);
  // Sensitive fields too: the diffs a memo keeps are shown redacted by them.
  for (const auto* rules : {&desired.fleet.ignore, &desired.fleet.sensitive}) {
    text += "#";
    for (const IgnoreRule& rule : *rules) {
      text += fmt::format("|{}{}{}{}{}", field(rule.group), field(rule.kind), field(rule.namespace_), field(rule.name), rule.pointers.size());
      for (const std::string& pointer : rule.pointers)
        text += field(pointer);
    }
  }
  return text;
}

} // namespace

struct PlanMemo {
  struct Entry {
    const Json* source = nullptr;              //!< the manifest document the diff was made from
    std::shared_ptr<const ParsedBlob> keep;   //!< keeps `source` from being freed (and its address reused)
    Action action = Action::unchanged;
    std::vector<FieldChange> fields;
    std::vector<std::string> warnings; //!< the object's own plan warnings
    std::string note;                  //!< the change's note (a dry run explained by what the plan creates first)
    std::string error;                 //!< the server's refusal of the change in its dry run
  };
  std::string key; //!< backend revision, store revision, settings; "" before the first plan
  std::string live_revision; //!< the backend revision in `key`
  std::string settings;      //!< memo_settings in `key`
  //! The last plan made with a desired state's content_id (Plan::inputs says under what), of
  //! objects that started at `plan_objects` (PlannedChange::desired is re-pointed by offset).
  std::optional<Plan> plan;
  std::string plan_inputs; //!< Plan::inputs but `predict`
  const DesiredObject* plan_objects = nullptr;
  std::unordered_map<ObjectRef, Entry, ObjectRefHash> entries;
  std::vector<LiveFacts> live;
  std::unordered_map<ObjectRef, size_t, ObjectRefHash> live_index; //!< positions in `live`; empty until a patch needs it
  std::map<std::string, std::string> live_cluster_regions;
};

std::shared_ptr<PlanMemo> make_plan_memo() { return std::make_shared<PlanMemo>(); }

std::string_view to_string(Action action) {
  switch (action) {
  case Action::create:
    return "create";
  case Action::update:
    return "update";
  case Action::remove:
    return "delete";
  case Action::unchanged:
    return "unchanged";
  }
  return "unknown";
}

std::string_view sync_of(Action action) {
  switch (action) {
  case Action::create:
    return "Missing";
  case Action::update:
    return "OutOfSync";
  case Action::remove:
    return "Extra";
  case Action::unchanged:
    return "Synced";
  }
  return "Unknown";
}

size_t Plan::count(Action action) const {
  return static_cast<size_t>(std::count_if(changes.begin(), changes.end(), [&](const PlannedChange& c) { return c.action == action; }));
}

size_t Plan::count_errors() const {
  return static_cast<size_t>(std::count_if(changes.begin(), changes.end(), [](const PlannedChange& c) { return !c.error.empty(); }));
}

namespace {

// Listed as Backend::list_managed would list it: ours, or any Cluster and NodePool.
bool listed(const ObjectRef& ref, const JsonDocument* live, const std::string& owner) {
  if (live == nullptr)
    return false;
  if (ref.is_fleet_level() && (ref.kind == "Cluster" || ref.kind == "NodePool"))
    return true;
  return owned_by(*live, ref, owner);
}

// One make_plan: what it plans from, what the memo can hand back, and the three ways to a plan
// (the last plan again, the last plan patched, a walk of the fleet).
class Planner {
public:
  Planner(const DesiredState& desired, Backend& backend, StateStore& store, const PlanOptions& options)
      : desired_(desired), backend_(backend), store_(store), options_(options), memo_(options.memo) {
    // With a memo whose key still holds, live state is what it was: no list, and only objects
    // whose manifest changed are diffed again.
    if (memo_ != nullptr)
      live_revision_ = backend.revision();
    if (live_revision_) {
      settings_ = memo_settings(desired);
      memo_key_ = *live_revision_ + "\n" + store.revision() + "\n" + settings_;
    }
    reuse_ = !memo_key_.empty() && memo_->key == memo_key_;
    // Live state moved by writes the backend can name (the loop's own apply): only those objects
    // are read again, and those whose last diff was not "unchanged". The state store moved with
    // them: an apply records the last-applied body of what it applied, written or found already
    // in place, and of objects it found unchanged, whose body becomes their desired one; diffed
    // against the same live object that leaves no field removed, so they stay unchanged. Not with
    // a server dry-run: its answer for one object depends on others (its namespace, admission).
    if (!reuse_ && live_revision_ && !backend.server_side_dry_run() && !memo_->key.empty() && memo_->settings == settings_ &&
        memo_->live_revision != *live_revision_)
      if (auto refs = backend.changes_since(memo_->live_revision))
        changed_.emplace(refs->begin(), refs->end());
    // What the plan is made from, when it can be named (Plan::inputs).
    if (!memo_key_.empty() && desired.content_id != 0)
      inputs_ = inputs_of(memo_key_, desired.content_id);
  }

  Plan make() {
    Plan plan = [&] {
      if (std::optional<Plan> again = same_content())
        return std::move(*again);
      if (std::optional<Plan> patched = patch())
        return std::move(*patched);
      return walk();
    }();
    add_desired_warnings(plan);
    return plan;
  }

private:
  // The desired state's own warnings (a cluster selector that selects no cluster) lead the plan's.
  void add_desired_warnings(Plan& plan) const {
    std::vector<std::string> warnings;
    for (const Finding& finding : desired_.findings)
      if (finding.severity == Severity::warning) {
        Finding shown = finding;
        shown.severity = Severity::error; // the Warnings section says what it is
        warnings.push_back(shown.format_raw());
      }
    std::erase_if(warnings, [&](const std::string& warning) {
      return std::find(plan.warnings.begin(), plan.warnings.end(), warning) != plan.warnings.end();
    });
    plan.warnings.insert(plan.warnings.begin(), warnings.begin(), warnings.end());
  }

  std::string inputs_of(const std::string& key, uint64_t content) const {
    return fmt::format("{}\n{}\nprune={} mass={}", key, content, options_.prune, options_.allow_mass_prune);
  }
  std::string inputs_with_predict() const { return inputs_.empty() ? "" : fmt::format("{} predict={}", inputs_, options_.predict); }

  // A plan of `desired`'s commit with nothing planned yet.
  Plan empty_plan() const {
    Plan plan;
    plan.repository = desired_.repository;
    plan.commit = desired_.commit.id;
    plan.commit_summary = desired_.commit.summary;
    plan.path = desired_.path;
    plan.owner = desired_.owner;
    plan.backend = backend_.name();
    plan.fleet = desired_.fleet;
    plan.inputs = inputs_with_predict();
    return plan;
  }

  // The last plan, made of the same objects (in place, or moved), as this commit's.
  void adopt(Plan& plan) const {
    plan.repository = desired_.repository;
    plan.commit = desired_.commit.id;
    plan.commit_summary = desired_.commit.summary;
    plan.path = desired_.path;
    for (PlannedChange& change : plan.changes)
      if (change.desired != nullptr)
        change.desired = desired_.objects.data() + (change.desired - memo_->plan_objects);
  }

  // The change of one desired object against its live object (nullptr: absent); a failed server
  // dry-run adds to `warnings`.
  PlannedChange change_of(const DesiredObject& object, const JsonDocument* live, std::vector<std::string>& warnings) {
    PlannedChange change;
    change.ref = object.ref;
    change.region = object.region;
    change.tier = object.tier;
    change.desired = &object;
    if (live == nullptr) {
      change.action = Action::create;
      change.fields = creation_fields(*object.body);
      // In a namespace this plan creates, the server can only answer NotFound (and its namespace
      // admission waits 50 ms to say so): the apply checks it, after its Namespace.
      const ObjectRef namespace_ref{object.ref.cluster, "", "Namespace", "", object.ref.namespace_};
      const bool namespace_created_first = backend_.server_side_dry_run() && !object.ref.namespace_.empty() &&
                                           desired_.find(namespace_ref) != nullptr && backend_.get(namespace_ref) == nullptr;
      if (!namespace_created_first)
        server_diff(backend_, object, nullptr, {}, desired_, change);
      redact(change);
      return change;
    }
    if (const std::string foreign = foreign_owner(*live, desired_.owner); !foreign.empty()) {
      // Another fleet's object (its meridian.io/managed-by names another owner): applying would
      // take it over, and that fleet would put it back or prune it. Never overwritten.
      change.action = Action::update;
      change.error = fmt::format("{}{}: ownership conflict: the live object is owned by \"{}\", this fleet is \"{}\"; one of the two "
                                 "fleets must stop declaring it",
                                 object.ref.display(), object.ref.cluster.empty() ? "" : " (cluster " + object.ref.cluster + ")", foreign,
                                 desired_.owner);
      return change;
    }
    DiffOptions diff_options;
    diff_options.ignore_pointers = rule_pointers(desired_.fleet.ignore, object.ref);
    add_rollout_ignores(object, diff_options.ignore_pointers);
    JsonDocument last_applied;
    const auto text = store_.last_applied(desired_.owner, object.ref.key());
    if (text && !parse_json(*text, last_applied))
      diff_options.last_applied = &last_applied;
    // A server's dry run costs a request per object. When Git's body is the one last applied and
    // live still holds every field of it, the apply would change nothing (the same values under
    // the same manager): in sync without asking, as a watch cache would say.
    if (backend_.server_side_dry_run() && diff_options.last_applied != nullptr && !object.ref.is_fleet_level() &&
        *text == write_canonical(*object.body) && diff_object(*object.body, *live, diff_options).empty()) {
      change.action = Action::unchanged;
      return change;
    }
    if (auto server_fields = server_diff(backend_, object, live, diff_options, desired_, change))
      change.fields = std::move(*server_fields);
    else
      change.fields = diff_object(*object.body, *live, diff_options);
    change.action = change.fields.empty() && change.error.empty() ? Action::unchanged : Action::update;
    if (change.action == Action::update) {
      if (auto replacement = backend_.replacement(object.ref, *object.body, *live)) {
        change.note = "replace: " + *replacement;
        warnings.push_back(fmt::format("{}: {}", object.ref.display(), *replacement));
      }
    }
    redact(change);
    return change;
  }

  // A Secret's values, and the fields Fleet.spec.sensitiveFields names, never leave plan: each is
  // shown as its keyed hash (base/sensitive.h).
  void redact(PlannedChange& change) const {
    const bool secret = is_sensitive_kind(change.ref.group, change.ref.kind);
    const std::vector<std::string> fields = rule_pointers(desired_.fleet.sensitive, change.ref);
    if (!secret && fields.empty())
      return;
    const Digest digest = store_.digester();
    for (FieldChange& field : change.fields) {
      if (field.before)
        field.before = redact_json(field.pointer, *field.before, digest, secret, fields);
      if (field.after)
        field.after = redact_json(field.pointer, *field.after, digest, secret, fields);
    }
  }

  // The same content against the same live state: the last plan, for this commit. (Forecasts run
  // only for a plan with changes, so without changes `predict` makes no difference.)
  std::optional<Plan> same_content() const {
    if (!reuse_ || inputs_.empty() || !memo_->plan || memo_->plan_inputs != inputs_ ||
        (memo_->plan->inputs != inputs_with_predict() && memo_->plan->has_changes()))
      return std::nullopt;
    Plan again = *memo_->plan;
    adopt(again);
    again.fingerprint = plan_fingerprint(again);
    again.inputs = again.has_changes() ? inputs_with_predict() : inputs_; // without changes, forecasts or not make the same plan
    return again;
  }

  // The last plan, patched, when what moved since can be named (a server dry-run, whose warnings
  // are per object and whose answers depend on other objects, never gets here):
  // - an edit of its content (apply_desired_edit) against the same live state: the edited objects
  //   are diffed again; their refs, regions and dependencies, the live facts, the prune candidates
  //   and their warnings hold;
  // - its content against live state moved by writes the backend names (the loop's own apply):
  //   the written objects are read again (their live facts too), and the objects whose change was
  //   not "unchanged" (see changed_); the prune candidates are found again.
  std::optional<Plan> patch() {
    const bool edit = reuse_ && !inputs_.empty() && desired_.edited_from != 0 && !backend_.server_side_dry_run() && memo_->plan &&
                      memo_->plan_inputs == inputs_of(memo_key_, desired_.edited_from);
    const bool live = changed_ && !inputs_.empty() && memo_->plan && memo_->plan_inputs == inputs_of(memo_->key, desired_.content_id);
    if ((!edit && !live) || memo_->plan->changes.size() < desired_.objects.size())
      return std::nullopt;
    PlanMemo& memo = *memo_;
    // Taken out of the memo (a copy of the fleet's changes saved), which gets it back at the end;
    // the memo is forgotten if anything throws in between.
    Plan patched = std::move(*memo.plan);
    memo.plan.reset();
    memo.key.clear();
    adopt(patched);
    const bool had_deletions = patched.count(Action::remove) != 0;
    if (live) // found again below
      patched.changes.erase(std::remove_if(patched.changes.begin(), patched.changes.end(),
                                           [](const PlannedChange& change) { return change.desired == nullptr; }),
                            patched.changes.end());
    // Where each desired object's change is in the plan's order.
    std::vector<size_t> at(desired_.objects.size(), patched.changes.size());
    for (size_t i = 0; i < patched.changes.size(); ++i)
      if (const PlannedChange& change = patched.changes[i]; change.desired != nullptr)
        at[static_cast<size_t>(change.desired - desired_.objects.data())] = i;
    if (std::find(at.begin(), at.end(), patched.changes.size()) != at.end())
      throw std::logic_error("make_plan: a desired object has no change in the last plan");
    // The objects to diff again, with their live object when it was read already.
    std::map<size_t, std::shared_ptr<const JsonDocument>> again;
    if (edit)
      for (const size_t position : desired_.edited)
        again[position] = nullptr;
    bool leftovers_may_change = false;
    if (live) {
      leftovers_may_change = read_written(again);
      for (size_t position = 0; position < desired_.objects.size(); ++position)
        if (patched.changes[at[position]].action != Action::unchanged && again.count(position) == 0)
          again[position] = nullptr;
    }
    for (auto& [position, object_live] : again) {
      const DesiredObject& object = desired_.objects[position];
      if (object_live == nullptr)
        object_live = backend_.get(object.ref);
      std::vector<std::string> no_warnings; // no server dry-run here
      PlannedChange change = change_of(object, object_live.get(), no_warnings);
      mark_region_rollout(change, desired_.fleet, backend_);
      change.wave = patched.changes[at[position]].wave;
      patched.changes[at[position]] = std::move(change);
      if (object.manifest != nullptr && object.manifest->object != nullptr && !object.placed)
        memo.entries[object.ref] = {object.manifest->object, object.manifest->blob, patched.changes[at[position]].action,
                                    patched.changes[at[position]].fields, {}, patched.changes[at[position]].note,
                                    patched.changes[at[position]].error};
      else
        memo.entries.erase(object.ref);
    }
    // Without deletions or warnings (which, without a server dry-run, are about pruning) there
    // was no prune candidate; when no write touched a live object Git does not define, there is
    // none now either, and the regions are those of the desired objects, as before.
    bool reorder = false;
    if (live && (leftovers_may_change || had_deletions || !patched.warnings.empty())) {
      const std::vector<std::string> regions_before = patched.regions;
      patched.warnings.clear();
      patched.withheld = 0;
      add_deletions(patched, backend_, memo.live, desired_, options_, memo.live_cluster_regions);
      set_regions(patched, desired_);
      reorder = had_deletions || patched.count(Action::remove) != 0 || patched.regions != regions_before;
    }
    // The order follows the waves, and a wave follows which dependencies change: when no wave
    // moved (and no deletion or region came or went), the order holds.
    const Layout laid = layout_of(patched, desired_);
    const std::vector<int> waves = waves_of(laid, desired_, patched, region_ranks(laid, patched));
    for (size_t i = 0; i < laid.size() && !reorder; ++i)
      reorder = laid[i]->wave != waves[i];
    if (reorder)
      order_changes(patched, desired_, laid);
    patched.forecasts.clear();
    patched.inputs = inputs_with_predict();
    finish(patched);
    memo.key = memo_key_;
    memo.live_revision = *live_revision_;
    memo.settings = settings_;
    return patched;
  }

  // The live facts of the objects the backend says were written, read again into the memo; the
  // desired ones among them go into `again` with their live object. True when one of them is a
  // live object Git does not define (a prune candidate, or no more).
  bool read_written(std::map<size_t, std::shared_ptr<const JsonDocument>>& again) {
    PlanMemo& memo = *memo_;
    if (memo.live_index.empty())
      for (size_t i = 0; i < memo.live.size(); ++i)
        memo.live_index.emplace(memo.live[i].ref, i);
    bool leftovers_may_change = false;
    std::vector<ObjectRef> refs(changed_->begin(), changed_->end());
    std::sort(refs.begin(), refs.end());
    for (const ObjectRef& ref : refs) {
      if (ref.is_fleet_level() && ref.kind == "Cluster")
        memo.live_cluster_regions.erase(ref.name);
      auto live = backend_.get(ref);
      const bool is_listed = listed(ref, live.get(), desired_.owner);
      const auto known = memo.live_index.find(ref);
      const bool known_before = known != memo.live_index.end();
      if (known_before) { // removed: the last fact takes its place
        const size_t position = known->second;
        memo.live_index.erase(known);
        if (position + 1 != memo.live.size()) {
          memo.live[position] = std::move(memo.live.back());
          memo.live_index[memo.live[position].ref] = position;
        }
        memo.live.pop_back();
      }
      if (is_listed) {
        memo.live.push_back(facts_of(ref, *live, desired_.owner, memo.live_cluster_regions));
        memo.live_index.emplace(ref, memo.live.size() - 1);
      }
      if (const DesiredObject* object = desired_.find(ref))
        again[static_cast<size_t>(object - desired_.objects.data())] = std::move(live);
      else if (is_listed || known_before)
        leftovers_may_change = true;
    }
    return leftovers_may_change;
  }

  // A walk of the fleet: live state in one pass (or, with the memo, what moved), each desired
  // object diffed unless the memo has its diff.
  Plan walk() {
    Plan plan = empty_plan();
    const auto index_of = [&](const DesiredObject& object) { return static_cast<size_t>(&object - desired_.objects.data()); };
    std::vector<std::optional<PlannedChange>> planned(desired_.objects.size());
    std::vector<std::vector<std::string>> object_warnings(desired_.objects.size()); // in desired order, whatever the visit order
    const auto plan_object = [&](const DesiredObject& object, const JsonDocument* live) {
      planned[index_of(object)] = change_of(object, live, object_warnings[index_of(object)]);
    };
    // Live state in one pass, an object at a time: each managed object is diffed against its
    // desired object as it arrives and dropped, so plan never holds the live fleet (the arrival
    // order does not matter: changes keep the desired order, deletions are ranked below). What is
    // not listed (absent, or made by someone else) is asked for afterwards. No other backend call
    // happens inside the visit, except the dry-run of backends that stream no visit of their own.
    std::vector<LiveFacts> live_facts;
    // A Kubernetes object whose Cluster is gone from Git still takes its cluster's (live) region.
    std::map<std::string, std::string> live_cluster_regions;
    // What plan keeps of one listed live object; its desired object, if any, is diffed against it.
    const auto take_live = [&](ObjectRef ref, const JsonDocument& object) {
      if (const DesiredObject* desired_object = desired_.find(ref))
        plan_object(*desired_object, &object);
      live_facts.push_back(facts_of(std::move(ref), object, desired_.owner, live_cluster_regions));
    };
    if (reuse_ || changed_) {
      for (const LiveFacts& facts : memo_->live)
        if (!changed_ || changed_->count(facts.ref) == 0)
          live_facts.push_back(facts);
      live_cluster_regions = memo_->live_cluster_regions;
      if (changed_) {
        std::vector<ObjectRef> refs(changed_->begin(), changed_->end());
        std::sort(refs.begin(), refs.end());
        for (const ObjectRef& ref : refs) {
          if (ref.is_fleet_level() && ref.kind == "Cluster")
            live_cluster_regions.erase(ref.name);
          const auto live = backend_.get(ref);
          if (listed(ref, live.get(), desired_.owner))
            take_live(ref, *live);
          else if (const DesiredObject* object = desired_.find(ref))
            plan_object(*object, live.get());
        }
      }
      for (const DesiredObject& object : desired_.objects) {
        if (changed_ && changed_->count(object.ref) != 0)
          continue;
        const auto entry = memo_->entries.find(object.ref);
        if (entry == memo_->entries.end() || object.placed || object.manifest == nullptr || object.manifest->object == nullptr ||
            entry->second.source != object.manifest->object || (changed_ && entry->second.action != Action::unchanged))
          continue;
        PlannedChange change;
        change.ref = object.ref;
        change.region = object.region;
        change.tier = object.tier;
        change.desired = &object;
        change.action = entry->second.action;
        change.fields = entry->second.fields;
        change.note = entry->second.note;
        change.error = entry->second.error;
        object_warnings[index_of(object)] = entry->second.warnings;
        planned[index_of(object)] = std::move(change);
      }
    } else {
      if (backend_.wants_scope())
        backend_.scope(scope_refs());
      backend_.visit_managed(desired_.owner, [&](LiveObject&& live) { take_live(std::move(live.ref), *live.object); });
    }
    for (const DesiredObject& object : desired_.objects) {
      if (!planned[index_of(object)]) {
        std::shared_ptr<const JsonDocument> live;
        try {
          live = backend_.get(object.ref);
        } catch (const RejectedError& error) { // the identity may not read it: nor, then, apply it
          PlannedChange change;
          change.ref = object.ref;
          change.region = object.region;
          change.tier = object.tier;
          change.desired = &object;
          change.action = Action::update;
          change.error = fmt::format("{} (cluster {}): cannot read the live object: {}", object.ref.display(), object.ref.cluster, error.what());
          planned[index_of(object)] = std::move(change);
          continue;
        }
        plan_object(object, live.get());
      }
    }
    if (!memo_key_.empty()) {
      PlanMemo& memo = *memo_;
      memo.entries.clear();
      for (size_t index = 0; index < planned.size(); ++index) {
        const PlannedChange& change = *planned[index];
        if (change.desired->manifest == nullptr || change.desired->manifest->object == nullptr)
          continue; // no parse to recognise it by (released documents)
        if (change.desired->placed)
          continue; // its body depends on its cluster's labels too, not on the parse alone
        memo.entries[change.ref] = {change.desired->manifest->object, change.desired->manifest->blob, change.action, change.fields,
                                    object_warnings[index], change.note, change.error};
      }
      if (!reuse_) {
        memo.live = live_facts;
        memo.live_index.clear(); // built when a patch first needs it
        memo.live_cluster_regions = live_cluster_regions;
      }
      memo.key = memo_key_;
      memo.live_revision = *live_revision_;
      memo.settings = settings_;
    }
    for (std::vector<std::string>& warnings : object_warnings)
      for (std::string& warning : warnings)
        plan.warnings.push_back(std::move(warning));
    for (std::string& warning : backend_.take_warnings())
      plan.warnings.push_back(std::move(warning));
    // After the visit: the backend serves one call at a time.
    plan.changes.reserve(planned.size());
    for (std::optional<PlannedChange>& change : planned) {
      mark_region_rollout(*change, desired_.fleet, backend_);
      plan.changes.push_back(std::move(*change));
    }
    add_deletions(plan, backend_, live_facts, desired_, options_, live_cluster_regions);
    set_regions(plan, desired_);
    order_changes(plan, desired_, layout_of(plan, desired_));
    finish(plan);
    return plan;
  }

  // What the backend reads: the desired objects, and what this owner applied before (so that
  // what Git no longer defines, down to the last object of a kind or namespace, is still found).
  std::vector<ObjectRef> scope_refs() const {
    std::vector<ObjectRef> refs;
    refs.reserve(desired_.objects.size());
    for (const DesiredObject& object : desired_.objects)
      refs.push_back(object.ref);
    for (const std::string& key : store_.applied_keys(desired_.owner)) {
      std::vector<std::string> parts;
      size_t start = 0;
      for (size_t slash = key.find('/'); slash != std::string::npos; slash = key.find('/', start)) {
        parts.push_back(key.substr(start, slash - start));
        start = slash + 1;
      }
      parts.push_back(key.substr(start));
      if (parts.size() == 5)
        refs.push_back({parts[0], parts[1], parts[2], parts[3], parts[4]});
    }
    return refs;
  }

  // Forecast, fingerprint and inputs of a plan whose changes are made; the memo keeps a copy.
  void finish(Plan& plan) {
    if (options_.predict && plan.has_changes())
      forecast(plan, backend_);
    plan.fingerprint = plan_fingerprint(plan);
    if (!inputs_.empty() && !plan.has_changes())
      plan.inputs = inputs_; // without changes, forecasts or not make the same plan
    if (!inputs_.empty()) {
      memo_->plan = plan;
      memo_->plan_inputs = inputs_;
      memo_->plan_objects = desired_.objects.data();
    }
  }

  const DesiredState& desired_;
  Backend& backend_;
  StateStore& store_;
  const PlanOptions& options_;
  PlanMemo* memo_;
  std::optional<std::string> live_revision_;
  std::string settings_;
  std::string memo_key_; //!< live revision, store revision, settings; "" without a memo or a revision
  bool reuse_ = false;   //!< the memo's key holds: live state is what it was
  std::optional<std::unordered_set<ObjectRef, ObjectRefHash>> changed_; //!< written since the memo's revision, when known
  std::string inputs_;   //!< Plan::inputs but `predict`; "" when the plan cannot be named
};

} // namespace

Plan make_plan(const DesiredState& desired, Backend& backend, StateStore& store, const PlanOptions& options) {
  return Planner(desired, backend, store, options).make();
}

} // namespace meridian

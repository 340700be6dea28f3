#include "backend/sim/world.h"

#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>

namespace meridian::sim {
namespace {

// Kubernetes' rand.String alphabet: no vowels, no 0/1/3, so generated names never spell words.
constexpr std::string_view kNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";
constexpr std::string_view kIdAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
constexpr long long kEpochSeconds = 1'735'689'600; // 2025-01-01T00:00:00Z
constexpr long long kKeptEvents = 5000;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

long long parse_long(std::string_view text, long long fallback) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size() ? value : fallback;
}

std::string event_key(const ObjectRef& involved, std::string_view type, std::string_view reason, std::string_view message,
                      std::string_view source) {
  return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}", involved.key(), type, reason, message, source);
}

} // namespace

World::World(Store& store) : store_(store) { load(store_.load_objects()); }

World::World(Store& store, const std::set<std::string>& clusters) : store_(store), focus_(clusters) {
  load(store_.load_objects_of(clusters));
}

bool World::in_focus(std::string_view cluster) const {
  return !focus_ || focus_->count(std::string(cluster)) != 0;
}

void World::load(std::vector<StoredObject> rows) {
  for (StoredObject& stored : rows) {
    auto object = std::make_unique<Object>();
    object->ref = stored.ref;
    if (const auto error = parse_json(stored.body, object->doc))
      throw UserError(fmt::format("{}: object {}: corrupt JSON: {}", store_.path(), stored.ref.key(), *error));
    object->stored_body = std::move(stored.body);
    object->stamped_is_stored = true;
    object->applied = stored.applied;
    object->stored_applied = std::move(stored.applied);
    objects_.emplace(object->ref, std::move(object));
  }
  meta_ = store_.load_meta();
  stored_meta_ = meta_;
  stock_ = store_.load_stock();
  stored_stock_ = stock_;
  now_ = parse_long(meta("clock_ms", "0"), 0);
}

void World::touch(Object& object) {
  if (object.touched)
    return;
  object.touched = true;
  touched_.push_back(&object);
}

void World::forget_touched() {
  for (Object* object : touched_)
    object->touched = false;
  touched_.clear();
}

void World::stamp() {
  // Only what was handed out can have changed; resource versions go out in ref order.
  touched_.erase(std::remove_if(touched_.begin(), touched_.end(), [](const Object* object) { return object->erased; }), touched_.end());
  std::sort(touched_.begin(), touched_.end(), [](const Object* a, const Object* b) { return a->ref < b->ref; });
  for (Object* object : touched_) {
    const std::string text = write_compact(object->doc);
    if (text == object->stamped_text())
      continue;
    Json& metadata = object_member(object->doc, "metadata", object->allocator());
    set_string(metadata, "resourceVersion", std::to_string(counter("resource_version")), object->allocator());
    object->stamped = write_compact(object->doc);
    object->stamped_is_stored = false;
  }
}

std::vector<ObjectRef> World::save() {
  stamp();
  std::vector<ObjectRef> written(erased_.begin(), erased_.end());
  for (const ObjectRef& ref : erased_)
    store_.delete_object(ref);
  erased_.clear();
  for (Object* object : touched_) {
    object->touched = false;
    if (object->stamped_text() == object->stored_body && object->applied == object->stored_applied)
      continue;
    store_.put_object({object->ref, object->stamped_text(), object->applied});
    if (!object->stamped_is_stored) {
      object->stored_body = std::move(object->stamped);
      object->stamped.clear();
      object->stamped_is_stored = true;
    }
    object->stored_applied = object->applied;
    written.push_back(object->ref);
  }
  if (!written.empty())
    counter("revision"); // Simulator::revision: readers know that what they read before is stale
  touched_.clear();
  graveyard_.clear();
  meta_["clock_ms"] = std::to_string(now_);
  for (const auto& [key, value] : meta_) {
    const auto stored = stored_meta_.find(key);
    if (stored == stored_meta_.end() || stored->second != value)
      store_.put_meta(key, value);
  }
  stored_meta_ = meta_;
  for (const auto& [key, count] : stock_) {
    const auto stored = stored_stock_.find(key);
    if (stored == stored_stock_.end() || stored->second != count)
      store_.put_stock(key.first, key.second, count);
  }
  stored_stock_ = stock_;
  bool added_events = false;
  for (const size_t index : changed_events_) {
    added_events = added_events || events_[index].id == 0;
    events_[index].id = store_.put_event(events_[index]);
  }
  changed_events_.clear();
  if (added_events) {
    store_.prune_events(kKeptEvents);
    // Pruned rows are gone from the file: read the events again when next asked.
    events_.clear();
    event_index_.clear();
    events_loaded_ = false;
  }
  return written;
}

Object* World::find(const ObjectRef& ref) {
  const auto found = objects_.find(ref);
  if (found == objects_.end())
    return nullptr;
  touch(*found->second);
  return found->second.get();
}

Object& World::insert(const ObjectRef& ref, const Json& body) {
  owners_.erase(ref.cluster);
  auto object = std::make_unique<Object>();
  object->ref = ref;
  object->doc.CopyFrom(body, object->allocator());
  if (!object->doc.IsObject())
    object->doc.SetObject();
  JsonAllocator& allocator = object->allocator();
  Json& metadata = object_member(object->doc, "metadata", allocator);
  set_string(metadata, "name", ref.name, allocator);
  if (!ref.namespace_.empty())
    set_string(metadata, "namespace", ref.namespace_, allocator);
  set_string(metadata, "uid", new_uid(), allocator);
  set_string(metadata, "creationTimestamp", format_time(now_), allocator);
  if (find_member(object->doc, "spec") != nullptr)
    set_int(metadata, "generation", 1, allocator);
  if (const auto existing = objects_.find(ref); existing != objects_.end()) {
    object->stored_body = existing->second->stored_body;
    object->stored_applied = existing->second->stored_applied;
    existing->second->erased = true;
    graveyard_.push_back(std::move(existing->second));
  } else if (erased_.count(ref) != 0) {
    object->stored_body = "\x01"; // was in the database: make sure the new body is written
  }
  erased_.erase(ref);
  touch(*object);
  Object& result = *object;
  objects_[ref] = std::move(object);
  return result;
}

void World::erase(const ObjectRef& ref) {
  const auto found = objects_.find(ref);
  if (found == objects_.end())
    return;
  owners_.erase(ref.cluster);
  if (!found->second->stored_body.empty())
    erased_.insert(ref);
  found->second->erased = true;
  graveyard_.push_back(std::move(found->second));
  objects_.erase(found);
}

std::vector<Object*> World::list(std::string_view cluster, std::string_view group, std::string_view kind) {
  std::vector<Object*> result;
  const ObjectRef first{std::string(cluster), std::string(group), std::string(kind), "", ""};
  for (auto it = objects_.lower_bound(first); it != objects_.end(); ++it) {
    const ObjectRef& ref = it->first;
    if (ref.cluster != cluster || ref.group != group || ref.kind != kind)
      break;
    touch(*it->second);
    result.push_back(it->second.get());
  }
  return result;
}

std::vector<Object*> World::all() {
  std::vector<Object*> result;
  result.reserve(objects_.size());
  for (auto& [ref, object] : objects_) {
    touch(*object);
    result.push_back(object.get());
  }
  return result;
}

std::vector<Object*> World::owned_by(const std::string& cluster, std::string_view group, std::string_view kind, std::string_view uid) {
  if (uid.empty() || cluster.empty())
    return {};
  auto index = owners_.find(cluster);
  if (index == owners_.end()) {
    index = owners_.emplace(cluster, std::map<std::tuple<std::string, std::string, std::string>, std::vector<Object*>>{}).first;
    for (auto it = objects_.lower_bound(ObjectRef{cluster, "", "", "", ""}); it != objects_.end() && it->first.cluster == cluster; ++it) {
      const std::string_view owner = controller_uid(it->second->doc);
      if (!owner.empty())
        index->second[{it->first.group, it->first.kind, std::string(owner)}].push_back(it->second.get());
    }
  }
  const auto found = index->second.find(std::make_tuple(std::string(group), std::string(kind), std::string(uid)));
  if (found == index->second.end())
    return {};
  for (Object* object : found->second)
    touch(*object);
  return found->second;
}

std::vector<Object*> World::in_cluster(std::string_view cluster) {
  std::vector<Object*> result;
  if (cluster.empty())
    return result; // fleet-level objects are nobody's Kubernetes objects
  for (auto it = objects_.lower_bound(ObjectRef{std::string(cluster), "", "", "", ""}); it != objects_.end() && it->first.cluster == cluster;
       ++it) {
    touch(*it->second);
    result.push_back(it->second.get());
  }
  return result;
}

long long World::counter(const std::string& key) {
  const long long next = parse_long(meta(key, "0"), 0) + 1;
  meta_[key] = std::to_string(next);
  return next;
}

std::string World::random_string(size_t length) {
  const uint64_t seed = static_cast<uint64_t>(parse_long(meta("seed", "1"), 1));
  std::string out;
  uint64_t bits = 0;
  for (size_t i = 0; i < length; ++i) {
    if (i % 8 == 0)
      bits = splitmix64(seed * 0x100000001b3ULL + static_cast<uint64_t>(counter("random")));
    out += kNameAlphabet[bits % kNameAlphabet.size()];
    bits /= kNameAlphabet.size();
  }
  return out;
}

std::string World::next_id(std::string_view prefix, size_t length) {
  const uint64_t seed = static_cast<uint64_t>(parse_long(meta("seed", "1"), 1));
  std::string out(prefix);
  uint64_t bits = 0;
  for (size_t i = 0; i < length; ++i) {
    if (i % 8 == 0)
      bits = splitmix64(seed * 0x100000001b3ULL + static_cast<uint64_t>(counter("random")));
    out += kIdAlphabet[bits % kIdAlphabet.size()];
    bits /= kIdAlphabet.size();
  }
  return out;
}

std::string World::new_uid() {
  const uint64_t seed = static_cast<uint64_t>(parse_long(meta("seed", "1"), 1));
  const uint64_t high = splitmix64(seed * 0x100000001b3ULL + static_cast<uint64_t>(counter("random")));
  const uint64_t low = splitmix64(seed * 0x100000001b3ULL + static_cast<uint64_t>(counter("random")));
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff, high & 0xfff,
                     0x8000 | ((low >> 48) & 0x3fff), low & 0xffffffffffffULL);
}

std::string World::next_ip(std::string_view pool) {
  const long long n = counter(fmt::format("ip_{}", pool)) - 1;
  if (pool == "node")
    return fmt::format("192.168.{}.{}", (n / 240) % 256, 10 + n % 240);
  return fmt::format("172.{}.{}.{}", 16 + (n / 62'500) % 16, (n / 250) % 256, 2 + n % 250);
}

std::optional<long long> World::stock(std::string_view region, std::string_view instance_type) const {
  if (stock_.empty())
    return std::nullopt;
  const auto found = stock_.find({std::string(region), std::string(instance_type)});
  return found == stock_.end() ? 0 : found->second;
}

void World::take_stock(std::string_view region, std::string_view instance_type) {
  if (stock_.empty())
    return;
  long long& count = stock_[{std::string(region), std::string(instance_type)}];
  count = std::max(0LL, count - 1);
}

void World::return_stock(std::string_view region, std::string_view instance_type) {
  if (stock_.empty())
    return;
  ++stock_[{std::string(region), std::string(instance_type)}];
}

void World::set_stock(std::string_view region, std::string_view instance_type, long long count) {
  stock_[{std::string(region), std::string(instance_type)}] = count;
}

void World::load_events() const {
  if (events_loaded_)
    return;
  events_ = store_.load_events();
  events_loaded_ = true;
}

void World::event(const ObjectRef& involved, std::string_view type, std::string_view reason, std::string_view message,
                  std::string_view source) {
  // Identical events fold into one with a count, as the API server's event aggregation does.
  load_events();
  if (event_index_.empty()) {
    for (size_t index = 0; index < events_.size(); ++index) {
      const StoredEvent& known = events_[index];
      event_index_[event_key(known.involved, known.type, known.reason, known.message, known.source)] = index;
    }
  }
  const std::string key = event_key(involved, type, reason, message, source);
  if (const auto found = event_index_.find(key); found != event_index_.end()) {
    ++events_[found->second].count;
    events_[found->second].last_ms = now_;
    changed_events_.insert(found->second);
    return;
  }
  events_.push_back({0, involved, std::string(type), std::string(reason), std::string(message), std::string(source), 1, now_, now_});
  event_index_[key] = events_.size() - 1;
  changed_events_.insert(events_.size() - 1);
}

std::vector<const StoredEvent*> World::events_for(const ObjectRef& involved) const {
  load_events();
  std::vector<const StoredEvent*> result;
  for (const StoredEvent& event : events_) {
    if (event.involved == involved)
      result.push_back(&event);
  }
  return result;
}

std::string World::meta(const std::string& key, const std::string& fallback) const {
  const auto found = meta_.find(key);
  return found == meta_.end() ? fallback : found->second;
}

std::string World::fingerprint() {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (auto& [ref, object] : objects_) {
    for (const char c : ref.key() + write_compact(object->doc)) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 0x100000001b3ULL;
    }
  }
  return fmt::format("{:016x}/{}", hash, objects_.size());
}

// ---- JSON editing ----

Json& object_member(Json& object, std::string_view key, JsonAllocator& allocator) {
  if (!object.IsObject())
    object.SetObject();
  const auto found = object.FindMember(Json(rapidjson::StringRef(key.data(), key.size())));
  if (found != object.MemberEnd()) {
    if (!found->value.IsObject())
      found->value.SetObject();
    return found->value;
  }
  object.AddMember(string_value(key, allocator), Json(rapidjson::kObjectType), allocator);
  return (object.MemberEnd() - 1)->value;
}

void set_member(Json& object, std::string_view key, Json value, JsonAllocator& allocator) {
  if (!object.IsObject())
    object.SetObject();
  const auto found = object.FindMember(Json(rapidjson::StringRef(key.data(), key.size())));
  if (found != object.MemberEnd()) {
    found->value = value;
    return;
  }
  object.AddMember(string_value(key, allocator), value, allocator);
}

void set_string(Json& object, std::string_view key, std::string_view value, JsonAllocator& allocator) {
  set_member(object, key, string_value(value, allocator), allocator);
}

void set_int(Json& object, std::string_view key, long long value, JsonAllocator& allocator) {
  set_member(object, key, Json(static_cast<int64_t>(value)), allocator);
}

void set_bool(Json& object, std::string_view key, bool value, JsonAllocator& allocator) {
  set_member(object, key, Json(value), allocator);
}

void erase_member(Json& object, std::string_view key) {
  if (object.IsObject())
    object.RemoveMember(Json(rapidjson::StringRef(key.data(), key.size())));
}

Json string_value(std::string_view text, JsonAllocator& allocator) {
  return Json(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
}

Json string_map_value(const std::map<std::string, std::string>& map, JsonAllocator& allocator) {
  Json result(rapidjson::kObjectType);
  for (const auto& [key, value] : map)
    result.AddMember(string_value(key, allocator), string_value(value, allocator), allocator);
  return result;
}

Json* find_path_mut(Json& value, std::string_view path) {
  // The const overload never changes the value; returning it mutable is safe for a mutable root.
  return const_cast<Json*>(meridian::find_path(static_cast<const Json&>(value), path));
}

std::map<std::string, std::string> string_map_at(const Json& value, std::string_view path) {
  std::map<std::string, std::string> result;
  const Json* found = find_path(value, path);
  if (found == nullptr || !found->IsObject())
    return result;
  for (const auto& member : found->GetObject()) {
    std::string text;
    if (member.value.IsString())
      text.assign(member.value.GetString(), member.value.GetStringLength());
    else if (!member.value.IsNull())
      text = write_compact(member.value);
    result.emplace(std::string(member.name.GetString(), member.name.GetStringLength()), std::move(text));
  }
  return result;
}

const Json* annotation(const Json& object, std::string_view key) {
  const Json* annotations = find_path(object, "metadata.annotations");
  return annotations == nullptr ? nullptr : find_member(*annotations, key);
}

std::string annotation_text(const Json& object, std::string_view key) {
  const Json* value = annotation(object, key);
  return value != nullptr && value->IsString() ? std::string(value->GetString(), value->GetStringLength()) : std::string();
}

std::string name_of(const Json& object) { return text_at(object, "metadata.name"); }
std::string namespace_of(const Json& object) { return text_at(object, "metadata.namespace"); }

std::string format_time(long long ms) {
  const std::time_t seconds = static_cast<std::time_t>(kEpochSeconds + ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

std::optional<long long> parse_time(std::string_view text) {
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z')
    return std::nullopt;
  std::tm utc{};
  utc.tm_year = static_cast<int>(parse_long(text.substr(0, 4), 0)) - 1900;
  utc.tm_mon = static_cast<int>(parse_long(text.substr(5, 2), 1)) - 1;
  utc.tm_mday = static_cast<int>(parse_long(text.substr(8, 2), 1));
  utc.tm_hour = static_cast<int>(parse_long(text.substr(11, 2), 0));
  utc.tm_min = static_cast<int>(parse_long(text.substr(14, 2), 0));
  utc.tm_sec = static_cast<int>(parse_long(text.substr(17, 2), 0));
  return (static_cast<long long>(timegm(&utc)) - kEpochSeconds) * 1000;
}

std::string template_hash(const Json& template_spec, long long collision_count) {
  uint32_t hash = 2166136261u;
  const std::string text = write_canonical(template_spec) + (collision_count == 0 ? "" : std::to_string(collision_count));
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619u;
  }
  // rand.SafeEncodeString of the decimal text, as the ReplicaSet and DaemonSet controllers do.
  std::string out;
  for (const char digit : std::to_string(hash))
    out += kNameAlphabet[static_cast<unsigned char>(digit) % kNameAlphabet.size()];
  return out;
}

std::string object_template_hash(Object& workload) {
  const Json* pod_template = find_path(workload.body(), "spec.template");
  if (pod_template == nullptr)
    return {};
  const long long collisions = int_at(workload.body(), "status.collisionCount", 0);
  const Json* generation = find_path(workload.body(), "metadata.generation");
  if (generation == nullptr || !generation->IsInt64())
    return template_hash(*pod_template, collisions);
  if (generation->GetInt64() != workload.template_hash_generation || collisions != workload.template_hash_collisions) {
    workload.template_hash = template_hash(*pod_template, collisions);
    workload.template_hash_generation = generation->GetInt64();
    workload.template_hash_collisions = collisions;
  }
  return workload.template_hash;
}

// ---- shared helpers ----

Object* cluster_object(World& world, std::string_view cluster) {
  return world.find({"", std::string(kFleetGroup), "Cluster", "", std::string(cluster)});
}

std::string cluster_state(World& world, std::string_view cluster) {
  const Object* object = cluster_object(world, cluster);
  return object == nullptr ? std::string() : text_at(object->body(), "status.state");
}

bool cluster_serving(World& world, std::string_view cluster) {
  const std::string state = cluster_state(world, cluster);
  return state == "running" || state == "updating";
}

ClusterView cluster_view(World& world, const std::string& cluster) {
  ClusterView view;
  view.nodes = world.list(cluster, "", "Node");
  view.pods = world.list(cluster, "", "Pod");
  const Object* owner = cluster_object(world, cluster);
  view.snapshot.registered = owner != nullptr && text_at(owner->body(), "spec.type") == "Registered";
  for (Object* node : view.nodes)
    view.snapshot.nodes.push_back(&node->body());
  for (Object* pod : view.pods)
    view.snapshot.pods.push_back(&pod->body());
  for (Object* policy : world.list(cluster, "scheduling.alibabacloud.com", "ResourcePolicy"))
    view.snapshot.resource_policies.push_back(&policy->body());
  return view;
}

namespace {
bool condition_true(const Json& object, std::string_view type) {
  const Json* conditions = find_path(object, "status.conditions");
  if (conditions == nullptr || !conditions->IsArray())
    return false;
  for (const auto& condition : conditions->GetArray()) {
    if (string_member(condition, "type") == type)
      return string_member(condition, "status") == "True";
  }
  return false;
}
} // namespace

bool node_ready(const Json& node) { return condition_true(node, "Ready"); }
bool pod_ready(const Json& pod) { return condition_true(pod, "Ready"); }
std::string pod_phase(const Json& pod) { return text_at(pod, "status.phase", "Pending"); }

std::optional<OwnerRef> controller_of(const Json& object) {
  const Json* owners = find_path(object, "metadata.ownerReferences");
  if (owners == nullptr || !owners->IsArray())
    return std::nullopt;
  for (const auto& owner : owners->GetArray()) {
    const Json* controller = find_member(owner, "controller");
    if (controller != nullptr && controller->IsTrue())
      return OwnerRef{text_at(owner, "kind"), text_at(owner, "name"), text_at(owner, "uid")};
  }
  return std::nullopt;
}

std::string_view controller_uid(const Json& object) {
  const Json* metadata = find_member(object, "metadata");
  const Json* owners = metadata != nullptr ? find_member(*metadata, "ownerReferences") : nullptr;
  if (owners == nullptr || !owners->IsArray())
    return {};
  for (const auto& owner : owners->GetArray()) {
    const Json* controller = find_member(owner, "controller");
    if (controller != nullptr && controller->IsTrue())
      return string_member(owner, "uid");
  }
  return {};
}

std::optional<long long> pod_removal_time(const Json& pod) {
  const auto deadline = parse_time(text_at(pod, "metadata.deletionTimestamp"));
  if (!deadline)
    return std::nullopt;
  const long long grace = int_at(pod, "metadata.deletionGracePeriodSeconds", 0) * 1000;
  return *deadline - grace + std::min(grace, kPodStopMs);
}

void force_delete_pod(World& world, const ObjectRef& pod) { world.erase(pod); }

void delete_pod(World& world, const ObjectRef& ref, std::string_view reason) {
  Object* pod = world.find(ref);
  if (pod == nullptr || pod_terminating(pod->body()))
    return;
  const long long grace = std::max(0LL, int_at(pod->body(), "spec.terminationGracePeriodSeconds", 30));
  if (text_at(pod->body(), "spec.nodeName").empty() || grace == 0) {
    world.erase(ref);
    return;
  }
  JsonAllocator& allocator = pod->allocator();
  Json& metadata = object_member(pod->body(), "metadata", allocator);
  set_string(metadata, "deletionTimestamp", format_time(world.now() + grace * 1000), allocator);
  set_int(metadata, "deletionGracePeriodSeconds", grace, allocator);
  if (Json* conditions = find_path_mut(pod->body(), "status.conditions"); conditions != nullptr && conditions->IsArray()) {
    for (auto& condition : conditions->GetArray()) {
      const std::string_view type = string_member(condition, "type");
      if ((type == "Ready" || type == "ContainersReady") && string_member(condition, "status") == "True") {
        set_string(condition, "status", "False", allocator);
        set_string(condition, "lastTransitionTime", format_time(world.now()), allocator);
      }
    }
  }
  const Json* containers = find_path(pod->body(), "spec.containers");
  if (containers != nullptr && containers->IsArray()) {
    for (const auto& container : containers->GetArray())
      world.event(ref, "Normal", "Killing", reason.empty() ? fmt::format("Stopping container {}", text_at(container, "name"))
                                                          : fmt::format("Stopping container {}: {}", text_at(container, "name"), reason),
                  "kubelet");
  }
}

void remove_node(World& world, const ObjectRef& node, std::string_view reason) {
  world.event(node, "Normal", "RemovingNode", fmt::format("Node {} event: Removing Node {} from Controller ({})", node.name, node.name, reason),
              "node-controller");
  for (Object* pod : world.list(node.cluster, "", "Pod")) {
    if (text_at(pod->body(), "spec.nodeName") == node.name)
      force_delete_pod(world, pod->ref);
  }
  world.erase(node);
}

void tick(World& world) {
  world.advance(kTickMs);
  run_cloud(world);
  std::vector<std::string> clusters;
  for (Object* cluster : world.list("", kFleetGroup, "Cluster"))
    clusters.push_back(cluster->ref.name);
  for (const std::string& cluster : clusters) {
    if (world.in_focus(cluster) && cluster_serving(world, cluster))
      run_kubernetes(world, cluster);
  }
}

} // namespace meridian::sim

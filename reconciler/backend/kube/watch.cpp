// The watch cache: WatchHub's numbered log and Informer's list-then-watch thread.
#include "backend/kube/watch.h"

#include "base/error.h"
#include "kube_rules/accessors.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <set>

namespace meridian::kube {
namespace {

constexpr auto kFirstBackoff = std::chrono::milliseconds(800);
constexpr auto kMaxBackoff = std::chrono::seconds(30);

using rules::text_at;

bool is_bookkeeping(std::string_view key) { return key == "resourceVersion" || key == "managedFields" || key == "generation"; }

//! Whether every member of `a` but status (and metadata's bookkeeping) is in `b`, equal.
bool contained(const Json& a, const Json& b) {
  for (const auto& member : a.GetObject()) {
    const std::string_view key(member.name.GetString(), member.name.GetStringLength());
    if (key == "status")
      continue;
    const Json* other = find_member(b, key);
    if (key == "metadata" && member.value.IsObject() && other != nullptr && other->IsObject()) {
      for (const auto& field : member.value.GetObject()) {
        const std::string_view name(field.name.GetString(), field.name.GetStringLength());
        if (is_bookkeeping(name))
          continue;
        const Json* same = find_member(*other, name);
        if (same == nullptr || *same != field.value)
          return false;
      }
      continue;
    }
    if (other == nullptr || *other != member.value)
      return false;
  }
  return true;
}

//! How long the server keeps one WATCH open: 30 to 60 s, spread so that the watches of a process
//! do not all end together (client-go spreads its own between 5 and 10 min; the transport's
//! connection timeout bounds ours).
int watch_seconds() {
  static thread_local std::mt19937 random(std::random_device{}());
  return std::uniform_int_distribution<int>(30, 60)(random);
}

} // namespace

bool content_differs(const Json& a, const Json& b) {
  if (!a.IsObject() || !b.IsObject())
    return a != b;
  return !contained(a, b) || !contained(b, a);
}

// ---- WatchHub ----

uint64_t WatchHub::sequence() const {
  std::lock_guard lock(mutex_);
  return sequence_;
}

uint64_t WatchHub::content_changes() const {
  std::lock_guard lock(mutex_);
  return content_changes_;
}

std::optional<std::vector<ObjectRef>> WatchHub::changes_since(uint64_t since) const {
  std::lock_guard lock(mutex_);
  if (since > sequence_)
    return std::nullopt;
  if (since < sequence_ && (log_.empty() || log_.front().first > since + 1))
    return std::nullopt;
  std::vector<ObjectRef> refs;
  const auto first = std::lower_bound(log_.begin(), log_.end(), since + 1, [](const auto& entry, uint64_t n) { return entry.first < n; });
  for (auto entry = first; entry != log_.end(); ++entry)
    refs.push_back(entry->second);
  return refs;
}

void WatchHub::record(const ObjectRef& ref, bool content) {
  std::lock_guard lock(mutex_);
  log_.emplace_back(++sequence_, ref);
  if (content)
    ++content_changes_;
  while (log_.size() > log_limit_)
    log_.pop_front();
}

bool WatchHub::sleep(std::chrono::milliseconds duration) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, duration, [&] { return stopping_.load(); });
  return !stopping_.load();
}

void WatchHub::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
}

// ---- Informer ----

Informer::Informer(std::string cluster, ResourceType type, std::string ns, std::unique_ptr<ApiClient> api, WatchHub& hub, int page_size)
    : cluster_(std::move(cluster)), type_(std::move(type)), namespace_(std::move(ns)), api_(std::move(api)), hub_(hub),
      page_size_(page_size) {
  // The first list in the caller's thread: its errors are the caller's (a Forbidden kind is a warning).
  ++requests_;
  for (auto& item : api_->list(type_.collection_path(namespace_), page_size_, {}, &resource_version_))
    store_[text_at(*item, "metadata.name")] = std::move(item);
  thread_ = std::thread([this] { run(); });
}

Informer::~Informer() {
  stop_ = true;
  {
    std::lock_guard lock(mutex_);
    if (open_ != nullptr)
      open_->cancel();
  }
  if (thread_.joinable())
    thread_.join();
}

std::shared_ptr<const JsonDocument> Informer::get(const std::string& name) const {
  std::lock_guard lock(mutex_);
  const auto found = store_.find(name);
  return found == store_.end() ? nullptr : found->second;
}

std::vector<std::shared_ptr<const JsonDocument>> Informer::items() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<const JsonDocument>> all;
  all.reserve(store_.size());
  for (const auto& [name, object] : store_)
    all.push_back(object);
  return all;
}

void Informer::put(const std::string& name, std::shared_ptr<const JsonDocument> object) {
  std::lock_guard lock(mutex_);
  store_[name] = std::move(object);
}

void Informer::erase(const std::string& name) {
  std::lock_guard lock(mutex_);
  store_.erase(name);
}

std::string Informer::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

void Informer::fail(std::string why) {
  std::lock_guard lock(mutex_);
  failure_ = std::move(why);
}

ObjectRef Informer::ref_of(const Json& object) const {
  return {cluster_, type_.group, type_.kind, type_.namespaced ? text_at(object, "metadata.namespace") : "", text_at(object, "metadata.name")};
}

void Informer::run() {
  auto backoff = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstBackoff);
  while (!stop_.load() && !hub_.stopping()) {
    try {
      if (resource_version_.empty())
        relist();
      switch (watch_once()) {
      case WatchEnd::ended:
        backoff = kFirstBackoff;
        continue; // the server closed it (timeoutSeconds): resume from the last version seen
      case WatchEnd::gone:
        resource_version_.clear(); // too old: list again
        continue;
      case WatchEnd::forbidden:
        return;
      }
    } catch (const TransientError& error) {
      if (stop_.load() || hub_.stopping())
        return;
      (void)error; // the next attempt says it again if it lasts; a cache does not log
    } catch (const RejectedError& error) {
      if (error.reason() == "Forbidden" || error.reason() == "NotFound") {
        fail(error.what());
        return;
      }
    } catch (const UserError& error) {
      fail(error.what());
      return;
    }
    // Back off in short naps, so that a destructor does not wait for the whole of it.
    for (auto slept = std::chrono::milliseconds(0); slept < backoff; slept += std::chrono::milliseconds(100))
      if (!hub_.sleep(std::chrono::milliseconds(100)) || stop_.load())
        return;
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
  }
}

void Informer::relist() {
  ++requests_;
  std::string version;
  Store fresh;
  for (auto& item : api_->list(type_.collection_path(namespace_), page_size_, {}, &version))
    fresh[text_at(*item, "metadata.name")] = std::move(item);
  std::vector<std::pair<ObjectRef, bool>> changes;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, object] : fresh) {
      const auto old = store_.find(name);
      if (old == store_.end())
        changes.emplace_back(ref_of(*object), true);
      else if (text_at(*old->second, "metadata.resourceVersion") != text_at(*object, "metadata.resourceVersion"))
        changes.emplace_back(ref_of(*object), content_differs(*old->second, *object));
    }
    for (const auto& [name, object] : store_)
      if (fresh.count(name) == 0)
        changes.emplace_back(ref_of(*object), true);
    store_ = std::move(fresh);
  }
  for (const auto& [ref, content] : changes)
    hub_.record(ref, content);
  resource_version_ = version;
}

Informer::WatchEnd Informer::watch_once() {
  const std::string target = fmt::format("{}?watch=1&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={}",
                                         type_.collection_path(namespace_), url_encode(resource_version_), watch_seconds());
  ++requests_;
  std::unique_ptr<Stream> stream = api_->stream(target);
  {
    std::lock_guard lock(mutex_);
    if (stop_.load())
      return WatchEnd::ended;
    open_ = stream.get();
  }
  struct Closer {
    Informer& self;
    ~Closer() {
      std::lock_guard lock(self.mutex_);
      self.open_ = nullptr;
    }
  } closer{*this};
  if (stream->status() != 200) {
    std::string body;
    while (auto line = stream->read_line())
      body += *line;
    const std::string reason = status_reason(stream->status(), body);
    if (stream->status() == 410 || reason == "Expired" || reason == "Gone")
      return WatchEnd::gone;
    const std::string message = fmt::format("cluster {}: WATCH {}: {}", cluster_, type_.collection_path(namespace_),
                                            describe_status(stream->status(), body));
    if (stream->status() == 403 || stream->status() == 404 || stream->status() == 405) {
      fail(message);
      return WatchEnd::forbidden;
    }
    throw TransientError(message);
  }
  while (auto line = stream->read_line()) {
    if (stop_.load())
      return WatchEnd::ended;
    if (line->empty())
      continue;
    auto event = std::make_shared<JsonDocument>();
    if (parse_json(*line, *event) || !event->IsObject())
      throw TransientError(fmt::format("cluster {}: WATCH {}: an event that is not JSON", cluster_, type_.collection_path(namespace_)));
    const std::string type(string_member(*event, "type"));
    const Json* object = find_member(*event, "object");
    if (object == nullptr || !object->IsObject())
      continue;
    if (type == "ERROR") {
      // A Status: 410 when the version is too old for the server's watch cache.
      const Json* code = find_member(*object, "code");
      if (code != nullptr && code->IsInt() && code->GetInt() == 410)
        return WatchEnd::gone;
      throw TransientError(fmt::format("cluster {}: WATCH {}: {}", cluster_, type_.collection_path(namespace_),
                                       describe_status(code != nullptr && code->IsInt() ? code->GetInt() : 500, write_compact(*object))));
    }
    const std::string version = text_at(*object, "metadata.resourceVersion");
    if (type == "BOOKMARK") {
      if (!version.empty())
        resource_version_ = version;
      continue;
    }
    auto document = std::make_shared<JsonDocument>();
    document->CopyFrom(*object, document->GetAllocator());
    apply_event(type, std::move(document));
    if (!version.empty())
      resource_version_ = version;
  }
  return WatchEnd::ended;
}

void Informer::apply_event(std::string_view type, std::shared_ptr<JsonDocument> object) {
  const std::string name = text_at(*object, "metadata.name");
  const ObjectRef ref = ref_of(*object);
  bool changed = false;
  bool content = false;
  {
    std::lock_guard lock(mutex_);
    const auto old = store_.find(name);
    if (type == "DELETED") {
      changed = content = old != store_.end();
      if (changed)
        store_.erase(old);
    } else if (type == "ADDED" || type == "MODIFIED") {
      if (old == store_.end()) {
        changed = content = true;
      } else if (text_at(*old->second, "metadata.resourceVersion") != text_at(*object, "metadata.resourceVersion")) {
        changed = true;
        content = content_differs(*old->second, *object);
      }
      store_[name] = std::move(object);
    }
  }
  if (changed)
    hub_.record(ref, content);
}

} // namespace meridian::kube

// The kube backend's watch cache (internal to the kube backend), as client-go's reflector and
// informer keep one: each collection Meridian reads (a kind in a namespace, or cluster-wide) is
// filled by one LIST and kept current by a WATCH from the list's resourceVersion, with bookmarks;
// `410 Gone` (or an ERROR event carrying it) lists again and reports what moved meanwhile; a dropped
// connection or a watch the server ended (timeoutSeconds) resumes from the last resourceVersion seen;
// failures back off from 0.8 s to 30 s. A watch the server forbids stops for good and says why.
//
// Every change a watch sees (and every write of this process) gets a number from the WatchHub, so
// that Backend::revision and Backend::changes_since can be answered without a request, and the
// number of changes to an object's content (anything but its status and bookkeeping metadata) is
// counted apart: `meridian run` wakes on those (drift), not on controllers' status updates.
#pragma once

#include "backend/backend.h"
#include "backend/kube/client.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace meridian::kube {

//! What the informers of one backend share: the numbered log of changes, and the stop signal.
class WatchHub {
public:
  explicit WatchHub(size_t log_limit = 100'000) : log_limit_(log_limit) {}

  //! The number of the last change recorded (0 before any).
  uint64_t sequence() const;
  //! How many recorded changes touched an object's content (not only its status).
  uint64_t content_changes() const;
  //! The objects changed after change number `since`, or nullopt when the log no longer reaches
  //! back that far (it keeps the last `log_limit` changes).
  std::optional<std::vector<ObjectRef>> changes_since(uint64_t since) const;
  void record(const ObjectRef& ref, bool content);

  //! Waits `duration`, or less when stop() is called; false once stopping.
  bool sleep(std::chrono::milliseconds duration);
  void stop();
  bool stopping() const { return stopping_.load(); }

private:
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
  size_t log_limit_;
  std::deque<std::pair<uint64_t, ObjectRef>> log_;
  uint64_t sequence_ = 0;
  uint64_t content_changes_ = 0;
};

//! One collection, listed and watched. Reads are served from memory (thread-safe); the watch runs
//! in a thread of its own with an ApiClient of its own.
class Informer {
public:
  //! Lists the collection of `type` in `ns` ("" = every namespace, or a cluster-scoped kind) in the
  //! calling thread, so that an error (Forbidden) reaches the caller, then starts watching it.
  Informer(std::string cluster, ResourceType type, std::string ns, std::unique_ptr<ApiClient> api, WatchHub& hub, int page_size);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  std::shared_ptr<const JsonDocument> get(const std::string& name) const;
  //! Every object of the collection, by name.
  std::vector<std::shared_ptr<const JsonDocument>> items() const;
  //! What a write of this process left (the server's answer), ahead of its watch event.
  void put(const std::string& name, std::shared_ptr<const JsonDocument> object);
  void erase(const std::string& name);

  //! Why the watch stopped for good ("" while it runs): reads then hold as of that moment.
  std::string failure() const;
  //! Requests the watch made so far (LISTs and WATCHes), for tests and the bench.
  uint64_t requests() const { return requests_.load(); }

private:
  using Store = std::map<std::string, std::shared_ptr<const JsonDocument>>;

  void run();
  //! Lists again and records what differs from the store. False when the list failed for good.
  void relist();
  //! One WATCH from resource_version_, until the server ends it. Throws TransientError.
  enum class WatchEnd { ended, gone, forbidden };
  WatchEnd watch_once();
  void apply_event(std::string_view type, std::shared_ptr<JsonDocument> object);
  ObjectRef ref_of(const Json& object) const;
  void fail(std::string why);

  std::string cluster_;
  ResourceType type_;
  std::string namespace_;
  std::unique_ptr<ApiClient> api_;
  WatchHub& hub_;
  int page_size_;
  std::string resource_version_; //!< watch thread only, after construction

  mutable std::mutex mutex_;
  Store store_;
  std::string failure_;
  Stream* open_ = nullptr; //!< the WATCH being read, for the destructor to cancel
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0};
  std::thread thread_;
};

//! Whether two versions of an object differ in more than status and the metadata the server keeps
//! (resourceVersion, managedFields, generation).
bool content_differs(const Json& a, const Json& b);

} // namespace meridian::kube

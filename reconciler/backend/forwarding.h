// A backend that forwards every call to another one: the base of wrappers that change or observe a
// few calls (loop/'s ObservedBackend, tests' counting and failing backends) and forward the rest.
#pragma once

#include "backend/backend.h"

namespace meridian {

//! Forwards every method to `inner`, which it does not own and which must outlive it. A subclass
//! overrides what it adds to. forecaster() is the inner backend's: a wrapper that observes predict
//! implements Forecaster itself and returns itself when inner_.forecaster() is not nullptr.
class ForwardingBackend : public Backend {
public:
  explicit ForwardingBackend(Backend& inner) : inner_(inner) {}

  std::string name() const override;
  Forecaster* forecaster() override;

  std::vector<LiveObject> list_managed(std::string_view owner) override;
  void visit_managed(std::string_view owner, const std::function<void(LiveObject&&)>& visit) override;
  void scope(const std::vector<ObjectRef>& refs) override;
  bool wants_scope() const override;
  std::vector<std::string> take_warnings() override;
  std::optional<std::string> revision() override;
  std::optional<std::vector<ObjectRef>> changes_since(const std::string& revision) override;
  std::optional<std::string> drift_revision() override;
  std::shared_ptr<const JsonDocument> get(const ObjectRef& ref) override;
  std::shared_ptr<const JsonDocument> get_as(const ObjectRef& ref, std::string_view api_version) override;
  std::optional<std::vector<LiveObject>> namespace_contents(const std::string& cluster, const std::string& ns) override;

  std::shared_ptr<const JsonDocument> apply(const ObjectRef& ref, const Json& desired, bool dry_run) override;
  bool server_side_dry_run() const override;
  std::optional<std::string> replacement(const ObjectRef& ref, const Json& desired, const Json& live) override;
  void remove(const ObjectRef& ref, bool dry_run) override;

  Health health(const ObjectRef& ref) override;
  std::vector<PodPlacement> placements(const ObjectRef& workload) override;

  void wait(std::chrono::milliseconds duration) override;
  long long now_ms() override;

  std::vector<std::string> node_regions(const std::string& cluster) override;

protected:
  Backend& inner() { return inner_; }
  const Backend& inner() const { return inner_; }

private:
  Backend& inner_;
};

} // namespace meridian

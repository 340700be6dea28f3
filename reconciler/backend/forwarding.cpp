// The forwarding backend (see forwarding.h).
#include "backend/forwarding.h"

namespace meridian {

std::string ForwardingBackend::name() const { return inner_.name(); }
Forecaster* ForwardingBackend::forecaster() { return inner_.forecaster(); }

std::vector<LiveObject> ForwardingBackend::list_managed(std::string_view owner) { return inner_.list_managed(owner); }
void ForwardingBackend::visit_managed(std::string_view owner, const std::function<void(LiveObject&&)>& visit) {
  inner_.visit_managed(owner, visit);
}
void ForwardingBackend::scope(const std::vector<ObjectRef>& refs) { inner_.scope(refs); }
bool ForwardingBackend::wants_scope() const { return inner_.wants_scope(); }
std::vector<std::string> ForwardingBackend::take_warnings() { return inner_.take_warnings(); }
std::optional<std::string> ForwardingBackend::revision() { return inner_.revision(); }
std::optional<std::vector<ObjectRef>> ForwardingBackend::changes_since(const std::string& revision) {
  return inner_.changes_since(revision);
}
std::optional<std::string> ForwardingBackend::drift_revision() { return inner_.drift_revision(); }
std::shared_ptr<const JsonDocument> ForwardingBackend::get(const ObjectRef& ref) { return inner_.get(ref); }
std::shared_ptr<const JsonDocument> ForwardingBackend::get_as(const ObjectRef& ref, std::string_view api_version) {
  return inner_.get_as(ref, api_version);
}
std::optional<std::vector<LiveObject>> ForwardingBackend::namespace_contents(const std::string& cluster, const std::string& ns) {
  return inner_.namespace_contents(cluster, ns);
}

std::shared_ptr<const JsonDocument> ForwardingBackend::apply(const ObjectRef& ref, const Json& desired, bool dry_run) {
  return inner_.apply(ref, desired, dry_run);
}
bool ForwardingBackend::server_side_dry_run() const { return inner_.server_side_dry_run(); }
std::optional<std::string> ForwardingBackend::replacement(const ObjectRef& ref, const Json& desired, const Json& live) {
  return inner_.replacement(ref, desired, live);
}
void ForwardingBackend::remove(const ObjectRef& ref, bool dry_run) { inner_.remove(ref, dry_run); }

Health ForwardingBackend::health(const ObjectRef& ref) { return inner_.health(ref); }
std::vector<PodPlacement> ForwardingBackend::placements(const ObjectRef& workload) { return inner_.placements(workload); }

void ForwardingBackend::wait(std::chrono::milliseconds duration) { inner_.wait(duration); }
long long ForwardingBackend::now_ms() { return inner_.now_ms(); }

std::vector<std::string> ForwardingBackend::node_regions(const std::string& cluster) { return inner_.node_regions(cluster); }

} // namespace meridian

// The coordination.k8s.io/v1 Lease a LeaderElector campaigns for (client-go's LeaseLock): GET,
// POST to create, PUT carrying the resourceVersion of what was read to update (a 409 Conflict
// means another replica wrote first). Requests are not retried: the elector retries on its own
// schedule, within its renew deadline.
#pragma once

#include "backend/kube/kube.h"
#include "leader/election.h"
#include "leader/shards.h"

#include <chrono>
#include <memory>
#include <string>

namespace meridian::kube {

//! A LeaseLock on `namespace_name/lease_name` of the API server `binding` resolves to (its
//! kubeconfig, or the in-cluster service account). `timeout`: longest one request may take.
//! Throws UserError when the kubeconfig cannot be resolved. `group`, when set, is the
//! `meridian.io/lease-group` label the lease is created with (sharding's membership Leases).
std::unique_ptr<LeaseLock> open_lease_lock(const ClusterBinding& binding, const std::string& namespace_name,
                                           const std::string& lease_name, std::chrono::seconds timeout,
                                           const std::string& group = {});

//! The Leases of `namespace_name` labelled `meridian.io/lease-group: <group>` (one LIST per call).
std::unique_ptr<MemberList> open_lease_members(const ClusterBinding& binding, const std::string& namespace_name,
                                               const std::string& group, std::chrono::seconds timeout);

//! The label of sharding's membership Leases.
inline constexpr const char* kLeaseGroupLabel = "meridian.io/lease-group";

} // namespace meridian::kube

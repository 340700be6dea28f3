// Between ACK's JSON (snake_case, SDK shapes) and Meridian's Cluster and NodePool (internal to the
// ack backend): the live objects plan diffs, the request bodies apply sends, and which changes ACK
// cannot make in place.
#pragma once

#include "backend/ack/ack.h"
#include "base/json.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace meridian::ack {

inline constexpr std::string_view kOwnerTag = "meridian.io/managed-by";
inline constexpr std::string_view kAddonsTag = "meridian.io/addons";

//! The tag value naming `owner` (tag values hold at most 128 characters: longer owners are hashed).
std::string owner_tag_value(const std::string& owner);

//! `key → value` of an ACK tags list ([{key, value}]); empty when absent.
std::map<std::string, std::string> tags_of(const Json* tags);

//! Managed | Edge | Serverless | Registered from cluster_type and profile ("" when unknown).
std::string meridian_cluster_type(const Json& cluster);

//! The Meridian Cluster of an ACK cluster (DescribeClustersV1 item or DescribeClusterDetail).
//! `owner` is the managed-by annotation to show when the owner tag names it.
std::shared_ptr<JsonDocument> cluster_object(const Json& cluster, const std::string& owner);

//! The Meridian NodePool of an ACK node pool (DescribeClusterNodePools item) of cluster `cluster_name`.
//! Its region is the region of options.networks whose vSwitches it uses (else ACK's region_id).
std::shared_ptr<JsonDocument> nodepool_object(const Json& pool, const std::string& cluster_name, const std::string& owner,
                                              const AckOptions& options);

//! CreateCluster's body for a desired Cluster. Throws UserError naming the object and field.
JsonDocument create_cluster_body(const ObjectRef& ref, const Json& desired, const AckOptions& options);

//! CreateClusterNodePool's body for a desired NodePool of a cluster of `cluster_type`.
JsonDocument create_nodepool_body(const ObjectRef& ref, const Json& desired, const AckOptions& options, const std::string& cluster_type);

//! ModifyClusterNodePool's body for what differs between desired and live (only the sections that
//! change); nullopt when nothing ACK holds changes.
std::optional<JsonDocument> modify_nodepool_body(const Json& desired, const Json& live);

//! Fields of `desired` that ACK cannot change in place on `live`, each as `spec.type ("edge" → "ess")`.
std::vector<std::string> replaced_fields(const ObjectRef& ref, const Json& desired, const Json& live);

//! A spec field as text ("" when absent or not a string).
std::string spec_text(const Json& object, std::string_view field);

//! The addons of a Cluster's spec, in order.
std::vector<std::string> spec_addons(const Json& object);

} // namespace meridian::ack

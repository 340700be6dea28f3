#pragma once
// Which kinds live outside namespaces.

#include <string_view>

namespace meridian::rules {

//! True for the cluster-scoped kinds of Kubernetes' built-in API groups that a fleet declares
//! (Namespace, Node, CustomResourceDefinition, ClusterRole, ClusterRoleBinding, PersistentVolume,
//! StorageClass, PriorityClass, the webhook configurations, APIService, IngressClass, RuntimeClass,
//! CSIDriver, VolumeAttachment). By kind only: a custom resource's scope is in its CRD, which this
//! list does not read.
bool is_cluster_scoped_kind(std::string_view kind);

} // namespace meridian::rules

#include "kube_rules/scope.h"

#include <algorithm>
#include <iterator>

namespace meridian::rules {

bool is_cluster_scoped_kind(std::string_view kind) {
  // `kubectl api-resources --namespaced=false` of v1.26, less what a fleet does not declare
  // (ComponentStatus, the review and request kinds, FlowSchema...).
  static constexpr std::string_view kinds[] = {
      "APIService",        "CSIDriver",       "ClusterRole",      "ClusterRoleBinding",
      "CustomResourceDefinition", "IngressClass", "MutatingWebhookConfiguration", "Namespace",
      "Node",              "PersistentVolume", "PriorityClass",   "RuntimeClass",
      "StorageClass",      "ValidatingWebhookConfiguration", "VolumeAttachment"};
  return std::find(std::begin(kinds), std::end(kinds), kind) != std::end(kinds);
}

} // namespace meridian::rules

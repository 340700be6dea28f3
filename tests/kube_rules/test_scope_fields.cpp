// Scope of kinds (as `kubectl api-resources --namespaced=false` of v1.26 lists them) and the
// fields the API server owns.
#include "kube_rules/scope.h"
#include "kube_rules/server_fields.h"

#include <catch2/catch.hpp>

using namespace meridian;

TEST_CASE("cluster-scoped kinds") {
  for (const char* kind : {"Namespace", "Node", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                           "PersistentVolume", "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration",
                           "MutatingWebhookConfiguration", "APIService", "IngressClass", "RuntimeClass", "CSIDriver",
                           "VolumeAttachment"}) {
    INFO(kind);
    CHECK(rules::is_cluster_scoped_kind(kind));
  }
  for (const char* kind : {"Deployment", "Pod", "ConfigMap", "Role", "RoleBinding", "PersistentVolumeClaim", "Lease",
                           "ResourceQuota", "namespace", ""}) {
    INFO(kind);
    CHECK_FALSE(rules::is_cluster_scoped_kind(kind));
  }
}

TEST_CASE("server-owned fields") {
  CHECK(rules::is_server_owned("/status"));
  CHECK(rules::is_server_owned("/status/replicas"));
  CHECK(rules::is_server_owned("/metadata/managedFields/0/manager"));
  CHECK(rules::is_server_owned("/metadata/uid"));
  CHECK_FALSE(rules::is_server_owned("/statusx"));
  CHECK_FALSE(rules::is_server_owned("/metadata/uidx"));
  CHECK_FALSE(rules::is_server_owned("/metadata/labels"));
  CHECK_FALSE(rules::is_server_owned("/spec/status"));
  CHECK(rules::server_owned_fields().size() == 8);

  JsonDocument object;
  object.Parse(R"({"metadata":{"name":"a","uid":"u","resourceVersion":"7","creationTimestamp":"t","generation":2,
    "managedFields":[],"selfLink":"/x","deletionTimestamp":"t","labels":{"x":"y"}},"spec":{"status":1},"status":{"r":1}})");
  rules::remove_server_owned(object);
  CHECK(write_canonical(object) == R"({"metadata":{"labels":{"x":"y"},"name":"a"},"spec":{"status":1}})");
  JsonDocument scalar;
  scalar.Parse("3");
  rules::remove_server_owned(scalar); // not an object: left alone
  CHECK(scalar.GetInt() == 3);
}

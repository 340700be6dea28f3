#!/usr/bin/env bash
# Every example fleet's Kubernetes objects on a real API server (the test kit, started by
# tools/with-kube-kit): each example, without its NodePools (the kube backend does not make them)
# and with every cluster bound to the kit, is applied, and then its plan is empty. The apply's own
# health may fail (the kit has no OpenKruise controller, no virtual nodes): plan after apply must
# be empty whatever live status says. The CRDs the examples need are installed first, as a
# cluster's operators would have. (kustomize-overlays is left out: its two clusters define the same
# objects, which one API server cannot hold twice.) Skipped (exit 77) without a cluster.
source "$(dirname "$0")/../../e2e/lib.sh"
source "$(dirname "$0")/kit_lib.sh"
printf 'default: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"

crd() { # GROUP KIND PLURAL VERSIONS...: a CRD that keeps any fields, with the status subresource
  local group=$1 kind=$2 plural=$3
  shift 3
  printf 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: %s.%s\nspec:\n  group: %s\n  scope: Namespaced\n  names: {kind: %s, plural: %s}\n  versions:\n' \
    "$plural" "$group" "$group" "$kind" "$plural"
  local first=true
  for version in "$@"; do
    printf '    - name: %s\n      served: true\n      storage: %s\n      subresources: {status: {}}\n      schema:\n        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n' \
      "$version" "$first"
    first=false
  done
}
# The CRDs go with the test: other suites on the same kit install their own (and own their fields).
trap '"${KUBECTL[@]}" delete crd daemonsets.apps.kruise.io resourcepolicies.scheduling.alibabacloud.com --ignore-not-found >/dev/null 2>&1; rm -rf "$WORK"' EXIT
{ crd apps.kruise.io DaemonSet daemonsets v1alpha1 v1beta1; echo ---; crd scheduling.alibabacloud.com ResourcePolicy resourcepolicies v1alpha1; } |
  "${KUBECTL[@]}" apply -f - >/dev/null
"${KUBECTL[@]}" wait --for condition=established --timeout=60s crd/daemonsets.apps.kruise.io crd/resourcepolicies.scheduling.alibabacloud.com >/dev/null

for example in edge-daemonset edge-kruise-daemonset gpu-shortage idc-borrow-gpu resource-policy serverless virtual-node-gateway; do
  [[ -d "$ROOT/examples/$example" ]] || continue
  repo="$WORK/$example"
  mkdir -p "$repo"
  git -C "$repo" init -q -b main
  cp -r "$ROOT/examples/$example/." "$repo/"
  # No NodePools (the ACK backend makes those), and a Fleet with a short health timeout.
  python3 - "$repo" <<'PY'
import os, re, sys
for folder, _, files in os.walk(sys.argv[1]):
    if "/.git" in folder:
        continue
    for name in files:
        if not name.endswith((".yaml", ".yml")) or name.startswith("kustomization"):
            continue
        path = os.path.join(folder, name)
        docs = re.split(r"(?m)^---[ \t]*\n", open(path).read())
        kept = [d for d in docs if not re.search(r"(?m)^kind:\s*(NodePool|Fleet)\s*$", d)]
        open(path, "w").write("---\n".join(kept))
# One Fleet of ours: health waits of 5 s (the kit runs no OpenKruise controller, no virtual nodes).
open(os.path.join(sys.argv[1], "zz-test-fleet.yaml"), "w").write(
    "apiVersion: meridian.io/v1alpha1\nkind: Fleet\nmetadata:\n  name: fleet\nspec:\n  rollout:\n    healthTimeout: 5s\n")
PY
  git -C "$repo" add -A
  git -C "$repo" -c user.name=test -c user.email=test@example.com commit -q -m "$example without node pools"
  # Each example is a fleet of its own: its own state (the kube backend keeps the Clusters it
  # bound there), or the next example's Cluster/edge-central would be another owner's object.
  export MERIDIAN_STATE_DIR="$WORK/state-$example"
  set +e
  "$MERIDIAN" apply --repo "$repo" --auto-approve --backend kube --kube-config "$WORK/kube.yaml" --no-forecast >"$WORK/$example.apply" 2>&1
  status=$?
  set -e
  CHECKS=$((CHECKS + 1))
  [[ $status -le 1 ]] || fail "$example: apply exited $status: $(cat "$WORK/$example.apply")"
  grep -qE "changes? refused" "$WORK/$example.apply" && fail "$example: the server refused a change: $(cat "$WORK/$example.apply")"
  run 0 "$MERIDIAN" plan --repo "$repo" --backend kube --kube-config "$WORK/kube.yaml" --no-forecast --detailed-exitcode
  expect_in "No changes. The live fleet matches Git."
  # Out of the next example's way.
  for kind in deployments.apps daemonsets.apps daemonsets.apps.kruise.io resourcepolicies.scheduling.alibabacloud.com configmaps jobs.batch services; do
    "${KUBECTL[@]}" delete "$kind" -A -l "meridian.io/owner=$example" --wait=false >/dev/null 2>&1 || true
  done
  "${KUBECTL[@]}" delete namespaces -l "meridian.io/owner=$example" --wait=true --timeout=120s >/dev/null 2>&1 || true
done

echo "PASS: $CHECKS checks"

#!/usr/bin/env bash
# The kube backend end to end against a real API server (the test kit of ../shared/kube, started by
# tools/with-kube-kit, which exports MERIDIAN_TEST_KUBECONFIG): apply a fleet of every common kind
# (core, apps, batch, policy, networking, RBAC, a CRD and a custom resource of it in one commit),
# then plan is empty; drift by another field manager shows with its field; the server's own errors
# fail the plan. Skipped (exit 77) without a cluster.
source "$(dirname "$0")/../../e2e/lib.sh"
source "$(dirname "$0")/kit_lib.sh"
printf 'clusters:\n  kit: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"
M() { "$MERIDIAN" "$@" --backend kube --kube-config "$WORK/kube.yaml"; }
cleanup() {
  "${KUBECTL[@]}" delete namespace meridian-e2e --ignore-not-found --wait=false >/dev/null 2>&1 || true
  "${KUBECTL[@]}" delete crd resourcepolicies.scheduling.alibabacloud.com --ignore-not-found >/dev/null 2>&1 || true
  "${KUBECTL[@]}" delete clusterrole meridian-e2e-reader --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# A namespace left by an earlier run on the same kit must be gone first (deletion takes seconds),
# and the CRD this fleet defines too (another suite may have installed it with kubectl).
"${KUBECTL[@]}" delete namespace meridian-e2e --ignore-not-found --wait=true --timeout=120s >/dev/null
"${KUBECTL[@]}" delete crd resourcepolicies.scheduling.alibabacloud.com --ignore-not-found --wait=true --timeout=120s >/dev/null

mkdir -p "$REPO"
git -C "$REPO" init -q -b main
cp -r "$ROOT/tests/backend/kube/fleet/." "$REPO/"
commit "a fleet of every common kind"

# --- Apply, then the plan is empty: nothing the server defaults or controllers set is drift.
run 0 M apply --repo "$REPO" --auto-approve
run 0 M plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."
run 0 M plan --repo "$REPO" --detailed-exitcode --format json

# --- Drift made by another field manager shows, with its field and its manager: a field Git sets
# that someone else changed (kubectl patch) or took over (another team's server-side apply) is a
# Conflict, never taken silently; --force-conflicts (or the object's meridian.io/force-conflicts
# annotation) takes it back. Fields the controllers set and fields Git does not set are not drift.
"${KUBECTL[@]}" -n meridian-e2e patch configmap settings --type merge -p '{"data":{"level":"debug"}}' >/dev/null
"${KUBECTL[@]}" -n meridian-e2e label configmap settings added-by=someone-else >/dev/null
run 1 M plan --repo "$REPO" --detailed-exitcode
expect_in "~ update ConfigMap/meridian-e2e/settings (cluster kit)"
expect_in 'data.level: "debug" → "info"'
expect_in '.data.level is managed by "kubectl-patch"'
expect_in "Plan failed: 1 change refused (by the server's dry run or an ownership conflict); apply would fail."
expect_not_in "added-by"
run 1 M apply --repo "$REPO" --auto-approve
expect_in "nothing was applied"
run 0 M apply --repo "$REPO" --auto-approve --force-conflicts
run 0 M plan --repo "$REPO" --detailed-exitcode
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: meridian-e2e\ndata:\n  level: warn\n' |
  "${KUBECTL[@]}" apply --server-side --force-conflicts --field-manager=platform-team -f - >/dev/null
run 1 M plan --repo "$REPO"
expect_in '.data.level is managed by "platform-team"'
sed -i 's/^  name: settings$/  name: settings\n  annotations:\n    meridian.io\/force-conflicts: "true"/' "$REPO/clusters/kit/core.yaml"
commit "settings: Git owns data.level"
run 2 M plan --repo "$REPO" --detailed-exitcode
expect_in 'data.level: "warn" → "info"'
run 0 M apply --repo "$REPO" --auto-approve
run 0 M plan --repo "$REPO" --detailed-exitcode

# --- The server's own errors fail the plan, naming object and field: an invalid value, a field
# the type does not declare (a 500 from the server, never retried), a kind no CRD defines.
printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: meridian-e2e\nspec:\n  type: Bogus\n  selector:\n    app: web\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n' >"$REPO/clusters/kit/service.yaml"
python3 - "$REPO/clusters/kit/core.yaml" <<'PY'
import sys
path = sys.argv[1]
docs = open(path).read().split("---\n")
open(path, "w").write("---\n".join(d for d in docs if "kind: Service\n" not in d))
PY
commit "a Service type the server does not know"
run 1 M plan --repo "$REPO" --detailed-exitcode
expect_in "Service/meridian-e2e/web (cluster kit)"
expect_in "spec.type"
expect_in "Invalid"
git -C "$REPO" checkout -q HEAD~1 -- clusters/kit/core.yaml
rm "$REPO/clusters/kit/service.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\n  namespace: meridian-e2e\ndata:\n  a: b\nspecc:\n  x: 1\n' >"$REPO/clusters/kit/typo.yaml"
commit "a field ConfigMap does not have"
run 1 M plan --repo "$REPO"
expect_in "ConfigMap/meridian-e2e/typo"
expect_in ".specc: field not declared in schema"
run 1 M apply --repo "$REPO" --auto-approve
rm "$REPO/clusters/kit/typo.yaml"
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: meridian-e2e\nspec: {}\n' >"$REPO/clusters/kit/widget.yaml"
commit "a kind the cluster does not serve"
run 1 M plan --repo "$REPO"
expect_in 'no matches for kind "Widget" in version "example.com/v1"'
rm "$REPO/clusters/kit/widget.yaml"
commit "back to the fleet"
run 0 M plan --repo "$REPO" --detailed-exitcode

# --- Ownership: the label selects Meridian's objects; an annotation copied onto another object and
# a second Meridian cluster bound to the same API server are never taken for one's own (no prune
# of each other's objects); the same repository cloned elsewhere is the same owner.
run 0 "${KUBECTL[@]}" get configmaps -n meridian-e2e -l meridian.io/owner=fleet -o name
expect_in "configmap/settings"
"${KUBECTL[@]}" -n meridian-e2e get configmap settings -o json |
  python3 -c 'import json,sys; o=json.load(sys.stdin); m=o["metadata"]; print(json.dumps({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"copy","namespace":"meridian-e2e","labels":m["labels"],"annotations":m["annotations"]},"data":{"k":"v"}}))' |
  "${KUBECTL[@]}" create -f - >/dev/null
printf 'clusters:\n  kit: {kubeconfig: %s}\n  kit-b: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"
printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: kit-b\nspec:\n  type: Registered\n  region: cn-hangzhou\n' >"$REPO/cluster-b.yaml"
mkdir -p "$REPO/clusters/kit-b"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b-only\n  namespace: meridian-e2e\ndata:\n  from: kit-b\n' >"$REPO/clusters/kit-b/config.yaml"
commit "a second cluster on the same API server"
run 0 M apply --repo "$REPO" --auto-approve --prune
expect_not_in "- delete"
run 0 M plan --repo "$REPO" --prune --detailed-exitcode
expect_in "No changes."
run 0 "${KUBECTL[@]}" get configmap copy -n meridian-e2e -o name
git clone -q "$REPO" "$WORK/elsewhere/fleet"
run 0 M plan --repo "$WORK/elsewhere/fleet" --prune --detailed-exitcode
expect_in "No changes."
run 1 M plan --repo "$REPO" --owner 'not a name'
expect_in "--owner: expected a name of at most 63"

# --- A read-only identity (the built-in view role: no Secrets, no writes): the plan says what it
# cannot read or change, object by object, and fails; nothing crashes.
printf 'clusters:\n  kit: {kubeconfig: %s, context: kit-viewer}\n  kit-b: {kubeconfig: %s, context: kit-viewer}\n' \
  "$(dirname "$MERIDIAN_TEST_KUBECONFIG")/kubeconfig-viewer" "$(dirname "$MERIDIAN_TEST_KUBECONFIG")/kubeconfig-viewer" >"$WORK/viewer.yaml"
run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --kube-config "$WORK/viewer.yaml"
expect_in "Secret/meridian-e2e/credentials (cluster kit): cannot read the live object"
expect_in "Forbidden"
expect_in "cannot list secrets"
expect_in "Plan failed"

# --- Health gates regions: a DaemonSet whose pods cannot be scheduled fails its region after the
# Fleet's healthTimeout, naming the pod and the scheduler's reason, and the next region (kit-b,
# moved to cn-shanghai) is not started.
sed -i 's/^    regions: \[cn-hangzhou\]$/    regions: [cn-hangzhou, cn-shanghai]/; s/^    healthTimeout: 90s$/    healthTimeout: 15s/' "$REPO/cluster.yaml"
sed -i 's/^  region: cn-hangzhou$/  region: cn-shanghai/' "$REPO/cluster-b.yaml"
sed -i 's/^  from: kit-b$/  from: kit-b-in-shanghai/' "$REPO/clusters/kit-b/config.yaml"
cat >"$REPO/clusters/kit/hungry.yaml" <<'YAML'
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: hungry
  namespace: meridian-e2e
spec:
  selector:
    matchLabels: {app: hungry}
  template:
    metadata:
      labels: {app: hungry}
    spec:
      containers:
        - name: hungry
          image: busybox:1.36
          resources:
            requests: {cpu: "100"}
YAML
commit "a DaemonSet no node can run, and a change in the next region"
# The namespace's LimitRange gives it a default limit below its request: no pod can even be made,
# which only the DaemonSet's events say.
run 1 M apply --repo "$REPO" --auto-approve
expect_in "region cn-hangzhou failed: DaemonSet/meridian-e2e/hungry: not healthy after 15s"
expect_in "(last warning: FailedCreate: Error creating: Pod"
expect_in 'must be less than or equal to cpu limit'
expect_in "wave 2 cn-shanghai      not started"
sed -i 's/^            requests: {cpu: "100"}$/            requests: {cpu: "100"}\n            limits: {cpu: "100"}/' "$REPO/clusters/kit/hungry.yaml"
commit "hungry: a limit as large as its request"
run 1 M apply --repo "$REPO" --auto-approve
expect_in "region cn-hangzhou failed: DaemonSet/meridian-e2e/hungry: not healthy after 15s: Degraded: pod hungry-"
expect_in "is Pending: 0/7 nodes are available"
expect_in "Insufficient cpu"
expect_in "wave 2 cn-shanghai      not started"
run 0 "${KUBECTL[@]}" get configmap b-only -n meridian-e2e -o jsonpath='{.data.from}'
expect_in "kit-b"
expect_not_in "shanghai"

# An unchanged but unhealthy workload still holds its region when anything else there changes.
sed -i 's/^  level: info$/  level: notice/' "$REPO/clusters/kit/core.yaml"
commit "settings: notice"
run 1 M apply --repo "$REPO" --auto-approve
expect_in "update ConfigMap/meridian-e2e/settings (cluster kit)"
expect_in "region cn-hangzhou failed: DaemonSet/meridian-e2e/hungry: not healthy after 15s"

echo "PASS: $CHECKS checks"

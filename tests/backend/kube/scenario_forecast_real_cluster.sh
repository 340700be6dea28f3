#!/usr/bin/env bash
# The pod forecast of `plan --backend kube` against the real kube-scheduler of the test kit
# (tools/with-kube-kit exports MERIDIAN_TEST_KUBECONFIG): plan a Deployment that spreads, one that
# fits nowhere and a DaemonSet Pending on the nodes without a GPU; apply; then for each workload
# the pods kube-scheduler left Pending, and its reason, are the ones the plan forecast. An identity
# that may not list nodes gets a warning and no forecast. Skipped (exit 77) without a cluster.
source "$(dirname "$0")/../../e2e/lib.sh"
source "$(dirname "$0")/kit_lib.sh"
printf 'clusters:\n  kit: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"
M() { "$MERIDIAN" "$@" --backend kube --kube-config "$WORK/kube.yaml"; }
cleanup() {
  "${KUBECTL[@]}" delete namespace meridian-forecast --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"${KUBECTL[@]}" delete namespace meridian-forecast --ignore-not-found --wait=true --timeout=120s >/dev/null

mkdir -p "$REPO"
git -C "$REPO" init -q -b main
cp -r "$ROOT/tests/backend/kube/forecast-fleet/." "$REPO/"
commit "three workloads"

# --- The forecast, before anything is applied.
run 2 M plan --repo "$REPO" --detailed-exitcode
expect_in "Deployment/meridian-forecast/web (cluster kit): forecast: 6 pods will run in cn-beijing, cn-hangzhou, cn-shanghai"
expect_in "Deployment/meridian-forecast/trainer (cluster kit): forecast: 1 pod will stay Pending: 0/7 nodes are available: 7 Insufficient nvidia.com/gpu."
expect_in "DaemonSet/meridian-forecast/gpu-agent (cluster kit): forecast: 6 pods will stay Pending: 0/7 nodes are available: "
run 2 M plan --repo "$REPO" --detailed-exitcode --format json
plan_json="$OUT"

# --- Apply (health fails: pods stay Pending), then read what kube-scheduler did.
run 1 M apply --repo "$REPO" --auto-approve
settled() { # every pod of the namespace bound, or refused by the scheduler
  "${KUBECTL[@]}" -n meridian-forecast get pods -o json | python3 -c '
import json, sys
pods = json.load(sys.stdin)["items"]
def decided(p):
    if p["spec"].get("nodeName"): return True
    return any(c["type"] == "PodScheduled" and c["status"] == "False" for c in p["status"].get("conditions", []))
sys.exit(0 if len(pods) == 6 + 1 + 7 and all(decided(p) for p in pods) else 1)'
}
for _ in $(seq 1 150); do settled && break; sleep 0.2; done
settled || fail "the kit's pods were not all scheduled or refused in 30 s"

# Per workload: pods, Pending pods, and the reasons kube-scheduler gave, against the forecast.
"${KUBECTL[@]}" -n meridian-forecast get pods -o json | python3 -c '
import json, sys
plan = json.loads(sys.argv[1])
pods = json.load(sys.stdin)["items"]
def owner(p):
    ref = p["metadata"]["ownerReferences"][0]
    return "DaemonSet/" + ref["name"] if ref["kind"] == "DaemonSet" else "Deployment/" + ref["name"].rsplit("-", 1)[0]
def reason(p):
    for c in p["status"].get("conditions", []):
        if c["type"] == "PodScheduled" and c["status"] == "False":
            return c["message"]
    return None
failures = []
for forecast in plan["forecasts"]:
    name = forecast["kind"] + "/" + forecast["name"]
    fpods, fpending, fmessage = forecast["pods"], forecast["pending"], forecast["message"]
    mine = [p for p in pods if owner(p) == name]
    pending = [p for p in mine if not p["spec"].get("nodeName")]
    reasons = sorted({reason(p) for p in pending})
    nodes = sorted(p["spec"]["nodeName"] for p in mine if p["spec"].get("nodeName"))
    print(f"{name}: kube-scheduler: {len(mine)} pods, {len(pending)} Pending {reasons}, nodes {nodes}")
    print(f"{name}: forecast:       {fpods} pods, {fpending} Pending: {fmessage}")
    if (len(mine), len(pending)) != (fpods, fpending):
        failures.append(f"{name}: kube-scheduler made {len(mine)} pods, {len(pending)} Pending; forecast {fpods}, {fpending}")
    for r in reasons:
        if r not in fmessage:
            failures.append(f"{name}: kube-scheduler said {r!r}; the forecast said {fmessage!r}")
    if name == "Deployment/web" and len(set(nodes)) != 6:
        failures.append(f"{name}: kube-scheduler did not spread the replicas one per node: {nodes}")
if len(plan["forecasts"]) != 3:
    failures.append("expected 3 forecasts, got %d" % len(plan["forecasts"]))
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
' "$plan_json" || fail "the forecast disagrees with kube-scheduler"
CHECKS=$((CHECKS + 1))

# --- Unchanged workloads get no forecast; a replica change does.
run 0 M plan --repo "$REPO" --detailed-exitcode
expect_not_in "forecast:"
sed -i 's/replicas: 6/replicas: 8/' "$REPO/clusters/kit/workloads.yaml"
commit "web: 8 replicas"
run 2 M plan --repo "$REPO" --detailed-exitcode
expect_in "Deployment/meridian-forecast/web (cluster kit): forecast: 8 pods will run in cn-beijing, cn-hangzhou, cn-shanghai"
expect_not_in "gpu-agent (cluster kit): forecast"

# --- An identity that may not list nodes (the built-in view role) gets a warning, no forecast
# (its plan fails anyway: it may not dry-run the update).
printf 'clusters:\n  kit: {kubeconfig: %s, context: kit-viewer}\n' "$(dirname "$MERIDIAN_TEST_KUBECONFIG")/kubeconfig-viewer" >"$WORK/viewer.yaml"
run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --kube-config "$WORK/viewer.yaml"
expect_in 'no pod forecast: cluster kit: GET /api/v1/nodes: Forbidden: nodes is forbidden: User "viewer" cannot list resource "nodes"'
expect_not_in "forecast: 8 pods"
echo "ok: $CHECKS checks"

#!/usr/bin/env bash
# PRODUCT.md scenario 2: an OpenKruise Advanced DaemonSet over the regions of one Edge cluster; the
# business upgrade widens rollingUpdate.selector one node region at a time, and Git's strategy (no
# selector) is restored at the end without being reported as drift.
source "$(dirname "$0")/lib.sh"
new_repo edge-kruise-daemonset
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/edge.yaml"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #1 succeeded"
run 0 "$MERIDIAN" sim get pods --cluster edge-central -n default
[[ $(count_in "Running") -eq 6 ]] || fail "expected 6 running cache-service pods:
$OUT"

# images_by_region: "region:tag" for every pod, sorted
images_by_region() {
  run 0 "$MERIDIAN" sim get nodes --cluster edge-central -o json
  local nodes=$OUT
  run 0 "$MERIDIAN" sim get pods --cluster edge-central -n default -o json
  python3 -c '
import json, sys
nodes = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/region"] for n in json.loads(sys.argv[1])["items"]}
pods = json.loads(sys.argv[2])["items"]
print(" ".join(sorted(nodes[p["spec"]["nodeName"]] + ":" + p["spec"]["containers"][0]["image"].rsplit(":", 1)[1] for p in pods)))
' "$nodes" "$OUT"
}

sed -i 's/cache-service:v1.0.0/cache-service:v1.1.0/' "$REPO/clusters/edge-central/cache-service.yaml"
commit "cache-service v1.1.0"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "~ update DaemonSet/default/cache-service (cluster edge-central) [cn-hangzhou]"
expect_in "rolls out region by region inside the cluster: cn-hangzhou → cn-shanghai → cn-beijing"
expect_in "Plan: 0 to create, 1 to update, 0 to delete, 4 unchanged."
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_order "rolling out to node region cn-hangzhou (1/3)" "node region cn-hangzhou updated (2 pods)"
expect_order "node region cn-hangzhou updated (2 pods)" "rolling out to node region cn-shanghai (2/3)"
expect_order "node region cn-shanghai updated (2 pods)" "rolling out to node region cn-beijing (3/3)"
expect_in "node region cn-beijing updated (2 pods)"
expect_in "Apply #2 succeeded"
CHECKS=$((CHECKS + 1))
got=$(images_by_region)
[[ $got == "cn-beijing:v1.1.0 cn-beijing:v1.1.0 cn-hangzhou:v1.1.0 cn-hangzhou:v1.1.0 cn-shanghai:v1.1.0 cn-shanghai:v1.1.0" ]] ||
  fail "expected every pod on v1.1.0, got: $got"
run 0 "$MERIDIAN" sim get daemonsets.apps.kruise.io cache-service --cluster edge-central -n default -o json
expect_not_in "topology.kubernetes.io/region"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."
done_ok

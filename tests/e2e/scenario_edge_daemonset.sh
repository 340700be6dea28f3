#!/usr/bin/env bash
# PRODUCT.md scenario 1: one DaemonSet over many regions, then a "business upgrade" that rolls out
# region by region inside the Edge cluster (apps/v1, meridian.io/rollout: by-region).
source "$(dirname "$0")/lib.sh"
new_repo edge-daemonset
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/edge.yaml"

run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "Plan: 6 to create, 0 to update, 0 to delete, 0 unchanged."
expect_order "create Cluster/edge-central" "create NodePool/edge-hangzhou"
expect_order "create NodePool/edge-shanghai" "create NodePool/edge-beijing"
expect_order "create NodePool/edge-beijing" "create DaemonSet/security/security-agent"

run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #1 succeeded"
expect_order "region cn-hangzhou healthy" "region cn-shanghai healthy"
expect_order "region cn-shanghai healthy" "region cn-beijing healthy"

run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."

run 0 "$MERIDIAN" sim get pods --cluster edge-central -n security
[[ $(count_in "Running") -eq 6 ]] || fail "expected 6 running agent pods (2 nodes x 3 regions):
$OUT"

# The business upgrade.
sed -i 's/security-agent:v1.0.0/security-agent:v1.1.0/' "$REPO/clusters/edge-central/security-agent.yaml"
commit "security-agent v1.1.0"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in 'spec.template.spec.containers[0].image: "registry.cn-hangzhou.aliyuncs.com/acs/security-agent:v1.0.0" → "registry.cn-hangzhou.aliyuncs.com/acs/security-agent:v1.1.0"'
expect_in "rolls out region by region inside the cluster: cn-hangzhou → cn-shanghai → cn-beijing"
expect_in "Plan: 0 to create, 1 to update, 0 to delete, 5 unchanged."

run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_order "rolling out to node region cn-hangzhou" "node region cn-hangzhou updated (2 pods)"
expect_order "node region cn-hangzhou updated (2 pods)" "rolling out to node region cn-shanghai"
expect_order "node region cn-shanghai updated (2 pods)" "rolling out to node region cn-beijing"
expect_in "node region cn-beijing updated (2 pods)"

run 0 "$MERIDIAN" sim get pods --cluster edge-central -n security -o json
images=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(sorted(p["spec"]["containers"][0]["image"].rsplit(":",1)[1] for p in d["items"])))' <<<"$OUT")
[[ $images == "v1.1.0 v1.1.0 v1.1.0 v1.1.0 v1.1.0 v1.1.0" ]] || fail "expected 6 pods on v1.1.0, got: $images"

run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."
run 0 "$MERIDIAN" history
expect_in "#2"
expect_in "succeeded"
done_ok

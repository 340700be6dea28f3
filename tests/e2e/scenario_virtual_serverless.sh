#!/usr/bin/env bash
# PRODUCT.md scenarios 6 and 7 through plan and apply: a gateway that prefers its labelled, tainted
# ECS node and overflows to the virtual (ECI) node; a Serverless cluster whose pods all run on the
# virtual node.
source "$(dirname "$0")/lib.sh"

# --- Scenario 6: virtual-node-gateway.
new_repo virtual-node-gateway
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/virtual-node.yaml"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_order "create Cluster/gateway-prod" "create NodePool/gateway-ecs"
expect_order "create Namespace/istio-system" "create Deployment/istio-system/istio-ingressgateway"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #1 succeeded"
run 0 "$MERIDIAN" sim get nodes --cluster gateway-prod -o wide
ecs_node=$(grep 'mykey4pod=asmgateway' <<<"$OUT" | awk '{print $1}')
virtual_node=$(grep 'type=virtual-kubelet' <<<"$OUT" | awk '{print $1}')
CHECKS=$((CHECKS + 1))
[[ -n $ecs_node && -n $virtual_node ]] || fail "expected a labelled ECS node and a virtual node:
$OUT"
run 0 "$MERIDIAN" sim get pods --cluster gateway-prod -n istio-system -o wide
# One gateway (1 CPU, 1 Gi) fits on the 2-CPU ECS node next to its system pods; the other
# overflows to the virtual node. Either way, both run and the ECS node is used first.
CHECKS=$((CHECKS + 1))
[[ $(grep -c "Running" <<<"$OUT") -eq 2 ]] || fail "expected 2 running gateway pods:
$OUT"
expect_in " $ecs_node"
# Scale out: every new replica lands on the virtual node.
sed -i 's/replicas: 2/replicas: 5/' "$REPO/clusters/gateway-prod/gateway.yaml"
commit "gateway: 5 replicas"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "spec.replicas: 2 → 5"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #2 succeeded"
run 0 "$MERIDIAN" sim get pods --cluster gateway-prod -n istio-system -o wide
CHECKS=$((CHECKS + 1))
[[ $(grep -c "Running" <<<"$OUT") -eq 5 ]] || fail "expected 5 running gateway pods:
$OUT"
CHECKS=$((CHECKS + 1))
[[ $(grep -c " $virtual_node\$" <<<"$OUT") -ge 3 ]] || fail "expected the overflow on $virtual_node:
$OUT"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."

# --- Scenario 7: serverless.
rm -rf "$REPO" "$MERIDIAN_STATE_DIR"
new_repo serverless
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/serverless.yaml"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "create Cluster/serverless-prod [cn-hangzhou]"
expect_in "create Deployment/default/web (cluster serverless-prod)"
expect_not_in "NodePool"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #1 succeeded"
run 0 "$MERIDIAN" sim get nodes --cluster serverless-prod -o wide
expect_in "type=virtual-kubelet"
virtual_nodes=$(grep -c 'type=virtual-kubelet' <<<"$OUT")
all_nodes=$(grep -vc '^NAME' <<<"$OUT")
CHECKS=$((CHECKS + 1))
[[ $virtual_nodes -eq $all_nodes ]] || fail "a Serverless cluster has only virtual nodes:
$OUT"
run 0 "$MERIDIAN" sim get pods --cluster serverless-prod -n default -o wide
CHECKS=$((CHECKS + 1))
[[ $(grep -c "Running" <<<"$OUT") -eq 3 ]] || fail "expected 3 running web pods:
$OUT"
run 0 "$MERIDIAN" status --repo "$REPO"
expect_in "Healthy"
expect_not_in "OutOfSync"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."
done_ok

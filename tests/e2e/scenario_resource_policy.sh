#!/usr/bin/env bash
# PRODUCT.md scenario 5: multi-level elastic scheduling with a ResourcePolicy on a Registered IDC
# cluster (idc nodes first, at most 2 pods; then the ECS pool np7b30xxx, at most 4), driven through
# plan and apply on a sequence of commits: 2 → 6 → 7 (the 7th stays Pending) → 3 (scale-in takes
# pods off the last unit first).
source "$(dirname "$0")/lib.sh"
new_repo resource-policy
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/idc.yaml"
NGINX="$REPO/clusters/idc-hybrid/nginx.yaml"

# pods_on: "<idc pods> <np7b30xxx pods> <pending pods>" of the nginx Deployment
pods_on() {
  run 0 "$MERIDIAN" sim get pods --cluster idc-hybrid -n default -o wide
  local idc ecs pending
  idc=$(grep '^nginx-' <<<"$OUT" | grep -c 'idc-worker-0' || true)
  pending=$(grep '^nginx-' <<<"$OUT" | grep -c 'Pending' || true)
  local nodes
  run 0 "$MERIDIAN" sim get nodes --cluster idc-hybrid -o wide
  nodes=$(grep 'alibabacloud.com/nodepool-id=np7b30xxx' <<<"$OUT" | awk '{print $1}')
  run 0 "$MERIDIAN" sim get pods --cluster idc-hybrid -n default -o wide
  ecs=0
  for node in $nodes; do
    ecs=$((ecs + $(grep '^nginx-' <<<"$OUT" | grep -c " $node\$" || true)))
  done
  echo "$idc $ecs $pending"
}

expect_pods() {
  local got
  got=$(pods_on)
  CHECKS=$((CHECKS + 1))
  [[ $got == "$1" ]] || fail "expected idc/ecs/pending pods $1, got $got"
}

set_replicas() {
  sed -i "s/^  replicas: [0-9]*/  replicas: $1/" "$NGINX"
  commit "nginx: $1 replicas"
}

# replicas 2: both on IDC nodes.
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "create NodePool/np7b30xxx [cn-hangzhou]"
expect_in "create ResourcePolicy/default/nginx (cluster idc-hybrid)"
expect_order "create ResourcePolicy/default/nginx" "create Deployment/default/nginx"
expect_not_in "delete Cluster"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #1 succeeded"
expect_pods "2 0 0"

# replicas 6: 2 IDC + 4 on the ECS pool.
set_replicas 6
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "spec.replicas: 2 → 6"
expect_in "Deployment/default/nginx (cluster idc-hybrid): 6 pods will run"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #2 succeeded"
expect_pods "2 4 0"

# replicas 7: every unit is full; the 7th pod stays Pending, which the plan forecasts and the
# apply reports as the region's failure, with the scheduler's message.
set_replicas 7
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "Deployment/default/nginx (cluster idc-hybrid): 1 pod will stay Pending: 0/4 nodes are available: 4 node(s) exceed ResourcePolicy unit max."
# --no-forecast: the same changes, no simulated placement.
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode --no-forecast
expect_in "spec.replicas: 6 → 7"
expect_not_in "will stay Pending"
run 1 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "region cn-hangzhou failed: Deployment/default/nginx: not healthy after 10m: Degraded: pod nginx-"
expect_in "is Pending: 0/4 nodes are available: 4 node(s) exceed ResourcePolicy unit max."
expect_in "  wave 1 cn-hangzhou      failed: Deployment/default/nginx"
expect_in "Apply #3 halted: 0 applied, 1 failed, 0 not applied."
expect_pods "2 4 1"
run 0 "$MERIDIAN" status --repo "$REPO"
expect_in "exceed ResourcePolicy unit max"

# replicas 3: scale-in removes pods from the last unit (ecs) first: 2 IDC + 1 ECS are left.
set_replicas 3
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "spec.replicas: 7 → 3"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #4 succeeded"
expect_pods "2 1 0"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."
done_ok

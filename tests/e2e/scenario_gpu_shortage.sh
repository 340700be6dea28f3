#!/usr/bin/env bash
# PRODUCT.md scenario 3: a GPU Deployment stays Pending (the plan says so, the apply reports the
# region failed with the scheduler's message); a commit adds a GPU node pool in another region and
# the pod is scheduled onto the new GPU node.
source "$(dirname "$0")/lib.sh"
new_repo gpu-shortage
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/gpu-shortage.yaml"

run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "Deployment/default/tensorflow-mnist (cluster ml-prod): 1 pod will stay Pending: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu."

run 1 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "region cn-hangzhou failed: Deployment/default/tensorflow-mnist: not healthy after 10m"
expect_in "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
run 0 "$MERIDIAN" sim get pods --cluster ml-prod
expect_in "Pending"

cp "$ROOT/examples/gpu-shortage.step2/"*.yaml "$REPO/"
commit "add a GPU node pool in cn-beijing"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "create NodePool/gpu-beijing [cn-beijing]"
expect_not_in "will stay Pending"

run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "succeeded"
run 0 "$MERIDIAN" sim get pods --cluster ml-prod -o wide
expect_in "Running"
expect_not_in "Pending"
run 0 "$MERIDIAN" sim get nodes --cluster ml-prod -o wide
expect_in "ecs.gn6i-c4g1.xlarge"
run 0 "$MERIDIAN" status --repo "$REPO"
expect_in "Healthy"
done_ok

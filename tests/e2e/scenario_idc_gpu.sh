#!/usr/bin/env bash
# PRODUCT.md scenario 4: a Registered IDC cluster borrows a cloud GPU node pool; the P100 node
# carries ACK's GPU labels and capacity, and the GPU pod runs there. Meridian never creates or
# deletes the Registered cluster.
source "$(dirname "$0")/lib.sh"
new_repo idc-borrow-gpu
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/idc.yaml"

run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "create NodePool/gpu-p100"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "succeeded"

run 0 "$MERIDIAN" sim get nodes --cluster idc-cluster -o json
expect_in '"aliyun.accelerator/nvidia_count": "1"'
expect_in '"aliyun.accelerator/nvidia_mem": "16280MiB"'
expect_in '"aliyun.accelerator/nvidia_name": "Tesla-P100-PCIE-16GB"'
expect_in '"nvidia.com/gpu": "1"'
expect_in '"pods": "110"'
run 0 "$MERIDIAN" sim get pods --cluster idc-cluster -o wide
expect_in "gpu-job"
expect_in "Running"

# Removing everything from Git with --prune never deletes the Registered cluster.
git -C "$REPO" rm -q -r .
printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: idc-cluster\nspec:\n  type: Registered\n  region: cn-zhangjiakou\n' >"$REPO/clusters.yaml"
commit "remove the GPU pool and job"
run 2 "$MERIDIAN" plan --repo "$REPO" --prune --allow-mass-prune --detailed-exitcode
expect_in "delete NodePool/gpu-p100"
expect_not_in "delete Cluster/idc-cluster"
done_ok

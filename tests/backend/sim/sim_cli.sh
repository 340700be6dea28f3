#!/usr/bin/env bash
# `meridian sim` as a user drives it: init from a fixture, disturb the fleet with apply -f and
# delete, let time pass, and read it back with get (tables, -o wide|yaml|json|name) and describe.
set -euo pipefail
MERIDIAN="${1:?usage: $0 path/to/meridian}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
WORK="$(mktemp -d /tmp/meridian-sim-cli.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export MERIDIAN_STATE_DIR="$WORK/state"
CHECKS=0

fail() { echo "FAIL: $*" >&2; exit 1; }
run() { # run EXPECTED_STATUS command...: output in $OUT
  local expected=$1
  shift
  set +e
  OUT="$("$@" 2>&1)"
  local status=$?
  set -e
  CHECKS=$((CHECKS + 1))
  [[ $status -eq $expected ]] || fail "expected exit $expected, got $status from: $*
$OUT"
}
expect_in() { CHECKS=$((CHECKS + 1)); grep -qF -- "$1" <<<"$OUT" || fail "expected to find: $1
in:
$OUT"; }
expect_not_in() { CHECKS=$((CHECKS + 1)); if grep -qF -- "$1" <<<"$OUT"; then fail "did not expect: $1
in:
$OUT"; fi; }
expect_line_count() { CHECKS=$((CHECKS + 1)); [[ $(grep -cF -- "$1" <<<"$OUT") -eq $2 ]] || fail "expected $2 lines with: $1
in:
$OUT"; }

run 1 "$MERIDIAN" sim get pods
expect_in "no simulated fleet here (run meridian sim init --fixture FILE first)"

run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/idc.yaml"
expect_in "2 clusters, 3 nodes"
run 0 "$MERIDIAN" sim get clusters
expect_in "NAME          TYPE         REGION           STATE     VERSION   AGE"
expect_in "idc-cluster   Registered   cn-zhangjiakou   running   1.28.3    0s"

# The GPU pool and job of examples/idc-borrow-gpu, applied behind Meridian's back.
run 0 "$MERIDIAN" sim apply -f "$ROOT/examples/idc-borrow-gpu/nodepools.yaml"
expect_in "nodepool.meridian.io/gpu-p100 created"
run 0 "$MERIDIAN" sim apply -f "$ROOT/examples/idc-borrow-gpu/gpu-job.yaml"
expect_in "deployment.apps/gpu-job created"
run 0 "$MERIDIAN" sim apply -f "$ROOT/examples/idc-borrow-gpu/gpu-job.yaml"
expect_in "deployment.apps/gpu-job unchanged"
run 0 "$MERIDIAN" sim advance 5s
expect_in "simulated time is now 5s (+5s)"
run 0 "$MERIDIAN" sim get pods --cluster idc-cluster
expect_in "NAME"
expect_in "Pending"
run 0 "$MERIDIAN" sim advance 1m
run 0 "$MERIDIAN" sim get nodepools -o wide
expect_in "gpu-p100   idc-cluster   cn-zhangjiakou   ess    active   1         1"
run 0 "$MERIDIAN" sim get pods -n default -o wide --cluster idc-cluster
expect_in "NAME"
expect_in "IP"
expect_in "Running"
expect_in "cn-zhangjiakou.192.168."
pod=$(awk 'NR==2 {print $1}' <<<"$OUT")
run 0 "$MERIDIAN" sim describe pod "$pod" -n default
expect_in "Controlled By:    ReplicaSet/gpu-job-"
expect_in "nvidia.com/gpu:  1"
expect_in "Successfully assigned default/$pod to"
run 0 "$MERIDIAN" sim get nodes --cluster idc-cluster -o json
expect_in '"aliyun.accelerator/nvidia_name": "Tesla-P100-PCIE-16GB"'
run 0 "$MERIDIAN" sim get nodes --cluster idc-cluster -o wide
expect_in "NAME                          STATUS   ROLES           AGE"
expect_in "idc-master-01                 Ready    control-plane"
expect_in "ecs.gn5-c4g1.xlarge"
node=$(grep -o 'cn-zhangjiakou\.[0-9.]*' <<<"$OUT" | head -1)
run 0 "$MERIDIAN" sim describe node "$node"
expect_in "nvidia.com/gpu:"
expect_in "Non-terminated Pods:          (1 in total)"
run 0 "$MERIDIAN" sim get deploy gpu-job -o yaml
expect_in "kind: Deployment"
expect_in "  name: gpu-job"
expect_in "readyReplicas: 1"
run 0 "$MERIDIAN" sim get rs -o name
expect_in "replicaset.apps/gpu-job-"

# Deleting the pod: its ReplicaSet replaces it.
run 0 "$MERIDIAN" sim delete pod "$pod"
expect_in "pod \"$pod\" deleted"
run 0 "$MERIDIAN" sim advance 30s
run 0 "$MERIDIAN" sim get pods --cluster idc-cluster
expect_not_in "$pod"
expect_line_count "Running" 1
run 0 "$MERIDIAN" sim get events --cluster idc-cluster
expect_in "SuccessfulCreate"

# Errors are one line naming what is wrong.
run 1 "$MERIDIAN" sim get widgets
expect_in "the server doesn't have a resource type \"widgets\""
run 1 "$MERIDIAN" sim get pods -o table
expect_in "-o: expected wide, yaml, json or name, got \"table\""
run 1 "$MERIDIAN" sim delete cluster idc-cluster
expect_in "a Registered cluster is never deleted"
run 1 "$MERIDIAN" sim advance soon
expect_in "\"soon\" is not a duration"
run 1 "$MERIDIAN" sim describe pod nope
expect_in "pod \"nope\" not found"
printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: idc-new\nspec:\n  type: Registered\n  region: cn-hangzhou\n' >"$WORK/registered.yaml"
run 1 "$MERIDIAN" sim apply -f "$WORK/registered.yaml"
expect_in "registered.yaml:1: Cluster/idc-new: a Registered cluster must already exist"

run 0 "$MERIDIAN" sim reset
run 0 "$MERIDIAN" sim get nodepools
expect_in "No resources found"
run 0 "$MERIDIAN" sim get nodes
expect_in "CLUSTER       NAME"
expect_line_count "Ready" 3

echo "ok: $CHECKS checks"

#!/usr/bin/env bash
# `meridian plan|apply --backend ack` against the fake ACK and its test API server (fake_ack_server):
# PRODUCT.md scenario 4 (a Registered IDC cluster adopted, its cloud GPU-P100 pool created, a
# Namespace inside it through the kubeconfig ACK hands out), scenario 3 (an Edge cluster and a GPU
# pool in another region: sold out there with OperationDenied.NoStock, then an instance type in
# stock), a scale-out as one ScaleClusterNodePool, a replacement refused without --allow-replace. The secret never
# appears in any output.
source "$(dirname "$0")/../../e2e/lib.sh"
FAKE="${2:?usage: $0 path/to/meridian path/to/fake_ack_server}"
export ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI5tCliTest
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=cli-secret-never-printed
unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_ROLE_ARN ALIBABA_CLOUD_PROFILE MERIDIAN_ACK_ENDPOINT
source "$(dirname "$0")/fake_ack_lib.sh"
trap 'stop_fake_ack; rm -rf "$WORK"' EXIT
start_fake_ack --registered idc-cluster:cn-zhangjiakou --sold-out ecs.gn6i-c4g1.xlarge
cat >"$WORK/ack.yaml" <<YAML
networks:
  cn-hangzhou: {vpcId: vpc-hz, vswitchIds: [vsw-hz-a]}
  cn-zhangjiakou: {vpcId: vpc-zjk, vswitchIds: [vsw-zjk-a]}
clusters:
  idc-cluster: {clusterId: $IDC}
YAML
ACK=(--backend ack --ack-config "$WORK/ack.yaml" --ack-endpoint "$URL")

pool() { # name cluster region instance size
  printf 'apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: %s\nspec:\n  cluster: %s\n  region: %s\n  type: ess\n  instanceTypes: [%s]\n  desiredSize: %s\n  labels: {accelerator: gpu}\n  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]\n' "$@"
}

mkdir -p "$REPO"
git -C "$REPO" init -q -b main
printf 'apiVersion: meridian.io/v1alpha1\nkind: Fleet\nmetadata:\n  name: fleet\nspec:\n  rollout:\n    regions: [cn-zhangjiakou, cn-hangzhou]\n    healthTimeout: 30s\n' >"$REPO/fleet.yaml"
printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: idc-cluster\nspec:\n  type: Registered\n  region: cn-zhangjiakou\n' >"$REPO/idc.yaml"
pool gpu-p100 idc-cluster cn-zhangjiakou ecs.gn5-c4g1.xlarge 1 >"$REPO/gpu-p100.yaml"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: gpu-jobs\n  annotations: {meridian.io/cluster: idc-cluster}\n' >"$REPO/namespace.yaml"
commit "scenario 4: an IDC cluster borrows a cloud GPU pool"

# Scenario 4: the Registered cluster is adopted (tagged), its pool and Namespace created.
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "create NodePool/gpu-p100"
expect_in "create Namespace/gpu-jobs"
expect_not_in "create Cluster/idc-cluster"
ack 0 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "succeeded"
ack 0 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
# The endpoint from the environment works the same.
MERIDIAN_ACK_ENDPOINT="$URL" ack 0 "$MERIDIAN" plan --repo "$REPO" --backend ack --ack-config "$WORK/ack.yaml" --detailed-exitcode

# Scenario 3: an Edge cluster, and a GPU pool in another region where that type is sold out.
printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: edge-central\nspec:\n  type: Edge\n  region: cn-hangzhou\n  kubernetesVersion: 1.30.7-aliyun.1\n' >"$REPO/edge.yaml"
pool gpu-zjk edge-central cn-zhangjiakou ecs.gn6i-c4g1.xlarge 1 >"$REPO/gpu-zjk.yaml"
commit "scenario 3: a GPU pool in another region"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "create Cluster/edge-central"
expect_in "create NodePool/gpu-zjk"
ack 1 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "OperationDenied.NoStock"
pool gpu-zjk edge-central cn-zhangjiakou ecs.gn5-c4g1.xlarge 1 >"$REPO/gpu-zjk.yaml"
commit "an instance type in stock"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "update NodePool/gpu-zjk"
expect_not_in "create NodePool/gpu-zjk"
ack 0 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "succeeded"

# A scale-out is one ScaleClusterNodePool; the plan shows the field.
pool gpu-p100 idc-cluster cn-zhangjiakou ecs.gn5-c4g1.xlarge 3 >"$REPO/gpu-p100.yaml"
commit "scale the GPU pool"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "update NodePool/gpu-p100"
expect_in "desiredSize"
ack 0 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "succeeded"
ack 0 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode

# A pool moved to another region is a replacement: shown, and refused without --allow-replace.
pool gpu-p100 idc-cluster cn-hangzhou ecs.gn5-c4g1.xlarge 3 >"$REPO/gpu-p100.yaml"
commit "move the GPU pool"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "ACK cannot change this in place"
expect_in "--allow-replace"
expect_not_in "no longer in Git"
ack 1 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "NodePool/gpu-p100: spec.region (\"cn-zhangjiakou\" → \"cn-hangzhou\"): ACK cannot change this in place"
ack 0 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve --allow-replace
expect_in "succeeded"
ack 0 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode

# Flags of the ack backend with another backend, and bad input, are one-line errors.
ack 1 "$MERIDIAN" plan --repo "$REPO" --allow-replace
expect_in "--allow-replace: only with --backend ack"
ack 1 "$MERIDIAN" plan --repo "$REPO" --backend ack --ack-endpoint cs.example.com
expect_in '--ack-endpoint: expected an http:// or https:// URL, got "cs.example.com"'
ALIBABA_CLOUD_ACCESS_KEY_SECRET= ack 1 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}"
expect_in "ALIBABA_CLOUD_ACCESS_KEY_SECRET is empty"
done_ok

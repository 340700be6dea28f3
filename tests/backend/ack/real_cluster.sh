#!/usr/bin/env bash
# `meridian plan|apply --backend ack` against the fake ACK whose kubeconfig is the test kit's (a real
# kube-apiserver, tools/with-kube-kit): Clusters and NodePools go through the fake ACK, whose node
# pools join the kit as Nodes (fake_ack_server --kubeconfig); Namespaces, DaemonSets, Deployments
# and ResourcePolicies go to the real API server. PRODUCT.md scenarios 1 (an Edge DaemonSet rolled
# out region by region, each region gated on health), 3 (GPU shortage, a GPU pool in another region,
# sold out first) and 4 (a Registered IDC cluster borrows a cloud GPU-P100 pool, then scales it);
# after each apply the plan is empty. Each scenario is its own repository (owner), and the three
# Meridian clusters share the one kit API server: tracking ids keep their objects apart. The
# kit's own GPU node is kept out of the GPU workloads by a nodeSelector on their pool's labels.
# Skipped (exit 77) without the kit, or when the kit runs no pods (FAKE_RUN_PODS=1, which
# tools/with-kube-kit sets).
source "$(dirname "$0")/../../e2e/lib.sh"
source "$(dirname "$0")/../kube/kit_lib.sh"
FAKE="${2:?usage: $0 path/to/meridian path/to/fake_ack_server}"
heartbeat=$(awk '$1 == "heartbeat" {print $2}' "${MERIDIAN_TEST_KUBE_DIR:-/nonexistent}/pids" 2>/dev/null || true)
if [[ -z $heartbeat ]] || ! tr '\0' '\n' <"/proc/$heartbeat/environ" 2>/dev/null | grep -qx 'FAKE_RUN_PODS=1'; then
  echo "skipped: the kit's fake kubelet does not run pods (start the kit with FAKE_RUN_PODS=1, as tools/with-kube-kit does)"
  exit 77
fi

export ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI5tRealClusterTest
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=real-cluster-secret-never-printed
unset ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_ROLE_ARN ALIBABA_CLOUD_OIDC_PROVIDER_ARN ALIBABA_CLOUD_OIDC_TOKEN_FILE ALIBABA_CLOUD_PROFILE MERIDIAN_ACK_ENDPOINT
source "$(dirname "$0")/fake_ack_lib.sh"
CRD_MADE=false
cleanup() {
  stop_fake_ack
  remove_namespaces
  if $CRD_MADE; then
    "${KUBECTL[@]}" delete crd resourcepolicies.scheduling.alibabacloud.com --wait=true --timeout=60s >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
# The namespaces of this test's fleets, gone (a run before this one may have left them terminating).
remove_namespaces() {
  "${KUBECTL[@]}" delete namespaces -l 'meridian.io/owner in (edge-fleet, gpu-fleet, idc-fleet)' --wait=true --timeout=120s >/dev/null 2>&1 || true
}
remove_namespaces
trap cleanup EXIT
start_fake_ack --registered idc-cluster:cn-zhangjiakou --sold-out ecs.gn6i-c4g1.xlarge --kubeconfig "$MERIDIAN_TEST_KUBECONFIG" \
  --vswitch vsw-hz:cn-hangzhou --vswitch vsw-sh:cn-shanghai --vswitch vsw-bj:cn-beijing --vswitch vsw-zjk:cn-zhangjiakou
cat >"$WORK/ack.yaml" <<YAML
networks:
  cn-hangzhou:    {vpcId: vpc-hz, vswitchIds: [vsw-hz]}
  cn-shanghai:    {vpcId: vpc-sh, vswitchIds: [vsw-sh]}
  cn-beijing:     {vpcId: vpc-bj, vswitchIds: [vsw-bj]}
  cn-zhangjiakou: {vpcId: vpc-zjk, vswitchIds: [vsw-zjk]}
clusters:
  idc-cluster: {clusterId: $IDC}
YAML
ACK=(--backend ack --ack-config "$WORK/ack.yaml" --ack-endpoint "$URL" --no-forecast)

# start_repo NAME: a new repository $REPO named NAME (its owner)
start_repo() {
  REPO="$WORK/$1"
  mkdir -p "$REPO"
  git -C "$REPO" init -q -b main
}

fleet() { # REGIONS TIMEOUT
  printf 'apiVersion: meridian.io/v1alpha1\nkind: Fleet\nmetadata:\n  name: fleet\nspec:\n  rollout:\n    regions: [%s]\n    maxParallelRegions: 1\n    haltOnFailure: true\n    healthTimeout: %s\n' "$1" "$2"
}

# pods_of NAMESPACE SELECTOR: "node image phase" per pod, sorted
pods_of() {
  "${KUBECTL[@]}" get pods -n "$1" -l "$2" -o jsonpath='{range .items[*]}{.spec.nodeName} {.spec.containers[0].image} {.status.phase}{"\n"}{end}' | sort
}

# wait_running NAMESPACE SELECTOR: until every pod of SELECTOR is Running (60 s), leaving them in $OUT
wait_running() {
  for _ in $(seq 120); do
    OUT=$(pods_of "$1" "$2")
    [[ -n $OUT ]] && ! grep -qv ' Running$' <<<"$OUT" && break
    sleep 0.5
  done
  expect_in "Running"
  expect_not_in "Pending"
}

# The ResourcePolicy CRD, as a cluster's operators would have installed it (unless the kit has it
# already; one this test made goes again at the end, so that later tests of the kit find none).
if "${KUBECTL[@]}" get crd resourcepolicies.scheduling.alibabacloud.com >/dev/null 2>&1; then
  CRD_MADE=false
else
  CRD_MADE=true
  printf 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: resourcepolicies.scheduling.alibabacloud.com\nspec:\n  group: scheduling.alibabacloud.com\n  scope: Namespaced\n  names: {kind: ResourcePolicy, plural: resourcepolicies}\n  versions:\n    - name: v1alpha1\n      served: true\n      storage: true\n      subresources: {status: {}}\n      schema:\n        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n' |
    "${KUBECTL[@]}" create -f - >/dev/null
fi
"${KUBECTL[@]}" wait --for condition=established --timeout=60s crd/resourcepolicies.scheduling.alibabacloud.com >/dev/null

# --- Scenario 1: an Edge cluster with an edge node pool per region, one DaemonSet over all of them.
start_repo edge-fleet
cp -r "$ROOT/examples/edge-daemonset/." "$REPO/"
fleet "cn-hangzhou, cn-shanghai, cn-beijing" 120s >"$REPO/fleet.yaml"
commit "scenario 1: an Edge DaemonSet over three regions"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "create Cluster/edge-central"
expect_in "create NodePool/edge-beijing"
expect_in "create DaemonSet/security/security-agent"
expect_in "Plan: 6 to create, 0 to update, 0 to delete, 0 unchanged."
ack 0 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "succeeded"
expect_order "region cn-hangzhou healthy" "region cn-shanghai healthy"
expect_order "region cn-shanghai healthy" "region cn-beijing healthy"
ack 0 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "No changes."
# Each edge pool's two nodes joined the kit in its region, and the agent runs on them.
OUT=$("${KUBECTL[@]}" get nodes -l 'alibabacloud.com/nodepool-id' -o jsonpath='{range .items[*]}{.metadata.labels.topology\.kubernetes\.io/region}{"\n"}{end}' | sort | uniq -c | tr -s ' ')
CHECKS=$((CHECKS + 1))
[[ $OUT == " 2 cn-beijing
 2 cn-hangzhou
 2 cn-shanghai" ]] || fail "expected 2 pool nodes per region, got: $OUT"
OUT=$(pods_of security app=security-agent)
CHECKS=$((CHECKS + 1))
[[ $(grep -c 'edge-.*security-agent:v1.0.0 Running' <<<"$OUT") -eq 6 ]] || fail "expected the agent Running on the 6 pool nodes: $OUT"
expect_not_in "Pending"

# The business upgrade: region by region, each gated on the one before.
sed -i 's/security-agent:v1.0.0/security-agent:v1.1.0/' "$REPO/clusters/edge-central/security-agent.yaml"
commit "security-agent v1.1.0"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "rolls out region by region inside the cluster: cn-hangzhou → cn-shanghai → cn-beijing"
expect_in "Plan: 0 to create, 1 to update, 0 to delete, 5 unchanged."
ack 0 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "succeeded"
expect_order "rolling out to node region cn-hangzhou" "node region cn-hangzhou updated"
expect_order "node region cn-hangzhou updated" "rolling out to node region cn-shanghai"
expect_order "node region cn-shanghai updated" "rolling out to node region cn-beijing"
OUT=$(pods_of security app=security-agent)
expect_not_in "v1.0.0"
expect_not_in "Pending"
CHECKS=$((CHECKS + 1))
[[ $(grep -c 'security-agent:v1.1.0 Running' <<<"$OUT") -ge 6 ]] || fail "expected the agent v1.1.0 on every node: $OUT"
ack 0 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "No changes."

# --- Scenario 3: a GPU Deployment is Pending; a GPU pool in another region (sold out first) fixes it.
start_repo gpu-fleet
fleet "cn-hangzhou, cn-beijing" 20s >"$REPO/fleet.yaml"
printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: ml-prod\nspec:\n  type: Managed\n  region: cn-hangzhou\n  kubernetesVersion: 1.30.7-aliyun.1\n  clusterSpec: ack.pro.small\n' >"$REPO/clusters.yaml"
printf 'apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: cpu-hangzhou\nspec:\n  cluster: ml-prod\n  region: cn-hangzhou\n  type: ess\n  instanceTypes: [ecs.g7.xlarge]\n  desiredSize: 2\n' >"$REPO/nodepools.yaml"
mkdir -p "$REPO/clusters/ml-prod"
cat >"$REPO/clusters/ml-prod/tensorflow-mnist.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: ml
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tensorflow-mnist
  namespace: ml
  labels: {app: tensorflow-mnist}
spec:
  replicas: 1
  selector:
    matchLabels: {app: tensorflow-mnist}
  template:
    metadata:
      labels: {app: tensorflow-mnist}
    spec:
      nodeSelector: {gpu-pool: ml-prod-gpu}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      containers:
        - name: tensorflow-mnist
          image: registry.cn-beijing.aliyuncs.com/ai-samples/tensorflow-mnist:1.0
          resources:
            requests: {nvidia.com/gpu: 1}
            limits: {nvidia.com/gpu: 1}
YAML
commit "scenario 3: an inference Deployment that needs a GPU"
ack 1 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "region cn-hangzhou failed: Deployment/ml/tensorflow-mnist: not healthy after 20s"
expect_in "is Pending: 0/"
OUT=$(pods_of ml app=tensorflow-mnist)
expect_in "Pending"

gpu_pool() { # INSTANCE_TYPE
  printf 'apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: gpu-beijing\nspec:\n  cluster: ml-prod\n  region: cn-beijing\n  type: ess\n  instanceTypes: [%s]\n  desiredSize: 1\n  labels: {gpu-pool: ml-prod-gpu}\n  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]\n' "$1"
}
gpu_pool ecs.gn6i-c4g1.xlarge >"$REPO/gpu-pool.yaml"
commit "a GPU node pool in cn-beijing"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "create NodePool/gpu-beijing"
ack 1 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "OperationDenied.NoStock"
gpu_pool ecs.gn5-c4g1.xlarge >"$REPO/gpu-pool.yaml"
commit "an instance type in stock"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "update NodePool/gpu-beijing"
ack 0 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "succeeded"
# The scheduler places the waiting pod on the new GPU node, whose kubelet then runs it.
wait_running ml app=tensorflow-mnist
expect_in "gpu-beijing-"
expect_not_in "Pending"
ack 0 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "No changes."

# --- Scenario 4: a Registered IDC cluster borrows a cloud GPU-P100 pool; a GPU job runs there.
start_repo idc-fleet
fleet "cn-zhangjiakou" 60s >"$REPO/fleet.yaml"
cp "$ROOT/examples/idc-borrow-gpu/clusters.yaml" "$ROOT/examples/idc-borrow-gpu/nodepools.yaml" "$REPO/"
mkdir -p "$REPO/clusters/idc-cluster"
cat >"$REPO/clusters/idc-cluster/gpu-job.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: gpu-jobs
---
apiVersion: scheduling.alibabacloud.com/v1alpha1
kind: ResourcePolicy
metadata:
  name: gpu-job
  namespace: gpu-jobs
spec:
  selector: {app: gpu-job}
  strategy: prefer
  units:
    - resource: idc
    - resource: ecs
      nodeSelector: {accelerator: p100}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpu-job
  namespace: gpu-jobs
  labels: {app: gpu-job}
spec:
  replicas: 1
  selector:
    matchLabels: {app: gpu-job}
  template:
    metadata:
      labels: {app: gpu-job}
    spec:
      nodeSelector: {accelerator: p100}
      tolerations: [{key: nvidia.com/gpu, operator: Equal, value: present, effect: NoSchedule}]
      containers:
        - name: gpu-job
          image: registry.cn-zhangjiakou.aliyuncs.com/ai-samples/cuda-sample:12.2-vectoradd
          resources:
            requests: {cpu: "1", memory: 2Gi, nvidia.com/gpu: 1}
            limits: {nvidia.com/gpu: 1}
YAML
commit "scenario 4: an IDC cluster borrows a cloud GPU pool"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "create NodePool/gpu-p100"
expect_in "create ResourcePolicy/gpu-jobs/gpu-job"
expect_not_in "create Cluster/idc-cluster"
ack 0 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "succeeded"
wait_running gpu-jobs app=gpu-job
expect_in "gpu-p100-"
node=$(awk '{print $1}' <<<"$OUT")
OUT=$("${KUBECTL[@]}" get node "$node" -o jsonpath='{.metadata.labels}{"\n"}{.status.capacity}')
expect_in '"aliyun.accelerator/nvidia_count":"1"'
expect_in '"aliyun.accelerator/nvidia_mem":"16280MiB"'
expect_in '"aliyun.accelerator/nvidia_name":"Tesla-P100-PCIE-16GB"'
expect_in '"nvidia.com/gpu":"1"'
expect_in '"cpu":"4"'
OUT=$("${KUBECTL[@]}" get resourcepolicies.scheduling.alibabacloud.com -n gpu-jobs gpu-job -o jsonpath='{.metadata.labels.meridian\.io/owner} {.spec.units[1].nodeSelector.accelerator}')
[[ $OUT == "idc-fleet p100" ]] || fail "the ResourcePolicy on the API server: $OUT"
ack 0 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "No changes."

# A scale-out of the pool: one ScaleClusterNodePool; a second node joins.
sed -i 's/desiredSize: 1/desiredSize: 2/' "$REPO/nodepools.yaml"
commit "two GPU nodes"
ack 2 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "update NodePool/gpu-p100"
expect_in "desiredSize"
ack 0 "$MERIDIAN" apply --repo "$REPO" "${ACK[@]}" --auto-approve
expect_in "succeeded"
OUT=$("${KUBECTL[@]}" get nodes -l accelerator=p100 -o name)
CHECKS=$((CHECKS + 1))
[[ $(grep -c gpu-p100- <<<"$OUT") -eq 2 ]] || fail "expected 2 GPU-P100 nodes: $OUT"
ack 0 "$MERIDIAN" plan --repo "$REPO" "${ACK[@]}" --detailed-exitcode
expect_in "No changes."

# The three fleets share the API server without taking each other's objects.
OUT=$("${KUBECTL[@]}" get namespaces -l meridian.io/owner -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.labels.meridian\.io/owner}{"\n"}{end}')
expect_in "security=edge-fleet"
expect_in "ml=gpu-fleet"
expect_in "gpu-jobs=idc-fleet"
for fleet in edge-fleet gpu-fleet idc-fleet; do
  ack 0 "$MERIDIAN" plan --repo "$WORK/$fleet" "${ACK[@]}" --prune --detailed-exitcode
  expect_in "No changes."
  expect_not_in "delete"
done
done_ok

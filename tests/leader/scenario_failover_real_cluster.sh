#!/usr/bin/env bash
# Leader election against a real API server (the test kit, started by tools/with-kube-kit): two
# `meridian run --leader-elect` replicas (separate state directories, one Lease) on a fleet of
# three regions, each region gated on the health of a Job that completes after ~5 s, so that a
# rollout takes several waves.
#   1. Only the leader applies; the standby answers /healthz and /readyz (leader=false).
#   2. The leader is frozen (SIGSTOP) in wave 2: the standby takes over within the lease duration
#      and finishes; resumed (SIGCONT), the old leader sees it has not renewed within its renew
#      deadline, applies nothing more, records its apply as interrupted and exits 1.
#   3. A new commit; its leader is killed (kill -9) in wave 2; a third replica takes over and
#      finishes; the killed replica's apply is recorded as interrupted by the next command.
# In both: no object is PATCHed (for real, not a dry run) twice, counted in the kit's audit log.
# Skipped (exit 77) without a cluster.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../backend/kube/kit_lib.sh"
source "$(dirname "$0")/replicas_lib.sh"
TOKEN=failover-test-token
printf 'default: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"
echo "failover-test-token" >"$WORK/token"
echo "failover-webhook-secret" >"$WORK/webhook"
NAMESPACES=(failover-hz failover-sh failover-bj)
cleanup() {
  # Only replicas still running as this shell's jobs: a reaped pid may belong to someone else now.
  for pid in $(jobs -p); do kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; done
  "${KUBECTL[@]}" delete namespace "${NAMESPACES[@]}" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  "${KUBECTL[@]}" -n default delete lease meridian-failover --ignore-not-found >/dev/null 2>&1 || true
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
"${KUBECTL[@]}" delete namespace "${NAMESPACES[@]}" --ignore-not-found --wait=true --timeout=120s >/dev/null
"${KUBECTL[@]}" -n default delete lease meridian-failover --ignore-not-found >/dev/null

# --- The fleet: three clusters (regions) bound to the kit, each with a namespace, a ConfigMap, a
# DaemonSet on that region's nodes and a Job the region's health gate waits for.
mkdir -p "$REPO"
git -C "$REPO" init -q -b main
cat >"$REPO/fleet.yaml" <<'YAML'
apiVersion: meridian.io/v1alpha1
kind: Fleet
metadata:
  name: failover
spec:
  rollout:
    regions: [cn-hangzhou, cn-shanghai, cn-beijing]
    maxParallelRegions: 1
    haltOnFailure: true
    healthTimeout: 60s
YAML
region_files() { # VERSION
  local short region
  for pair in hz:cn-hangzhou sh:cn-shanghai bj:cn-beijing; do
    short=${pair%%:*} region=${pair#*:}
    mkdir -p "$REPO/clusters/kit-$short"
    cat >"$REPO/clusters/kit-$short/app.yaml" <<YAML
apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: kit-$short
spec:
  type: Registered
  region: $region
---
apiVersion: v1
kind: Namespace
metadata:
  name: failover-$short
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: failover-$short
data:
  version: "$1"
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: failover-$short
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      nodeSelector: {topology.kubernetes.io/region: $region}
      containers:
        - name: agent
          image: registry.example.com/agent:$1
---
apiVersion: batch/v1
kind: Job
metadata:
  name: warmup-$1
  namespace: failover-$short
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: warmup
          image: registry.example.com/warmup:$1
YAML
  done
}
region_files v1
commit "v1: three regions"

# replica NAME: starts `meridian run --leader-elect` with its own state directory, log and port.
replica() {
  local name=$1 port
  port=$(free_port)
  echo "$port" >"$WORK/$name.port"
  "$MERIDIAN" run --repo "$REPO" --backend kube --kube-config "$WORK/kube.yaml" --state-dir "$WORK/state-$name" \
    --interval 1h --listen "127.0.0.1:$port" --api-token-file "$WORK/token" --webhook-secret-file "$WORK/webhook" --leader-elect --leader-elect-kubeconfig "$MERIDIAN_TEST_KUBECONFIG" \
    --leader-elect-lease-namespace default --leader-elect-lease-name meridian-failover --leader-elect-identity "$name" \
    --leader-elect-lease-duration 4s --leader-elect-renew-deadline 3s --leader-elect-retry-period 1s \
    >"$WORK/$name.log" 2>&1 &
  echo $! >"$WORK/$name.pid"
}
leading() { grep -q "leader election: $1 holds lease default/meridian-failover" "$WORK/$1.log"; }
in_wave() { # NAME WAVE: its rollout is active in that wave
  get "$1" '/api/v1/status?objects=false' | python3 -c '
import json, sys
try: r = json.load(sys.stdin)["rollout"]
except Exception: sys.exit(1)
sys.exit(0 if r["active"] and r["wave"] == int(sys.argv[1]) else 1)' "$2"
}
applied() { # NAME COMMIT: its last apply succeeded for that commit
  get "$1" '/api/v1/status?objects=false' | python3 -c '
import json, sys
try: s = json.load(sys.stdin)
except Exception: sys.exit(1)
c = s.get("lastAppliedCommit") or {}
sys.exit(0 if c.get("id") == sys.argv[1] and s.get("lastAppliedResult") == "succeeded" else 1)' "$2"
}

# --- 1. Two replicas: the first leads and applies; the second stands by, ready, leader=false.
start_line=$(audit_lines)
replica alpha
wait_for 30 "alpha leads" leading alpha
replica beta
wait_for 20 "beta answers as a standby" bash -c "curl -sf http://127.0.0.1:$(cat "$WORK/beta.port")/readyz | grep -q 'leader=false holder=alpha'"
OUT=$(get beta /healthz)
expect_in "ok"
OUT=$(get beta /metrics)
expect_in "meridian_leader 0"
OUT=$(get beta /api/v1/status)
expect_in '"holder": "alpha"'
# A signed push that reaches the standby is refused (503, naming the leader): it would not reconcile it.
signature=$(printf '{}' | openssl dgst -sha256 -hmac failover-webhook-secret | sed 's/^.* //')
OUT=$(curl -s -w ' %{http_code}' -X POST -H "X-Meridian-Signature: sha256=$signature" --data-binary '{}' \
  "http://127.0.0.1:$(cat "$WORK/beta.port")/hooks/generic" || true)
expect_in "this replica is a standby (the leader is alpha)"
expect_in " 503"
OUT=$(get beta /metrics)
expect_in 'meridian_webhook_requests_total{endpoint="generic",result="standby"} 1'

# --- 2. Freeze the leader in wave 2; beta takes over within the lease duration and finishes.
v1=$(git -C "$REPO" rev-parse HEAD)
wait_for 60 "alpha in wave 2" in_wave alpha 2
OUT=$(get alpha /metrics)
expect_in "meridian_leader 1"
kill -STOP "$(cat "$WORK/alpha.pid")"
frozen=$SECONDS
sleep 0.5
writes_before=$(grep -c "apply: \[" "$WORK/alpha.log" || true)
wait_for 15 "beta takes over" leading beta
echo "takeover after a freeze: $((SECONDS - frozen)) s (lease duration 4 s, retry period 1 s)"
wait_for 90 "beta finishes v1" applied beta "$v1"
OUT=$(grep "applying commit" "$WORK/beta.log")
expect_in "applying commit ${v1:0:7}"
kill -CONT "$(cat "$WORK/alpha.pid")"
set +e
wait "$(cat "$WORK/alpha.pid")"
status=$?
set -e
OUT=$(cat "$WORK/alpha.log")
[[ $status -eq 1 ]] || fail "alpha exited $status after losing its lease, expected 1:
$OUT"
expect_in "leader election: leadership lost"
# Resumed, alpha wrote nothing more: the apply stopped at its next check, on alpha's own clock.
CHECKS=$((CHECKS + 1))
[[ $(grep -c "apply: \[" "$WORK/alpha.log" || true) -eq $writes_before ]] || fail "alpha applied after it resumed:
$OUT"
expect_in "interrupted"
run 0 "$MERIDIAN" history --state-dir "$WORK/state-alpha"
expect_in "interrupted"
OUT=$(patches_since "$start_line" failover-)
expect_once v1 12

# --- 3. v2, with beta leading and a third replica (alpha's state directory again) standing by:
# kill -9 beta in wave 2; gamma takes over within the lease duration and finishes.
replica gamma
wait_for 20 "gamma stands by" bash -c "curl -sf http://127.0.0.1:$(cat "$WORK/gamma.port")/readyz | grep -q 'leader=false holder=beta'"
start_line=$(audit_lines)
region_files v2
commit "v2: new agent and settings"
v2=$(git -C "$REPO" rev-parse HEAD)
OUT=$(curl -s -X POST -H "Authorization: Bearer failover-test-token" "http://127.0.0.1:$(cat "$WORK/beta.port")/api/v1/reconcile" || true)
expect_in "accepted"
wait_for 60 "beta in wave 2 of v2" in_wave beta 2
kill -9 "$(cat "$WORK/beta.pid")"
killed=$SECONDS
{ wait "$(cat "$WORK/beta.pid")"; } 2>/dev/null || true # reaped quietly (no "Killed" line)
wait_for 15 "gamma takes over" leading gamma
OUT=$(cat "$WORK/gamma.log")
expect_in "leader election: beta stopped renewing lease default/meridian-failover without releasing it" 
echo "takeover after kill -9: $((SECONDS - killed)) s (lease duration 4 s, retry period 1 s)"
wait_for 90 "gamma finishes v2" applied gamma "$v2"
run 0 "$MERIDIAN" history --state-dir "$WORK/state-beta"
expect_in "interrupted"
OUT=$(patches_since "$start_line" failover-)
expect_once v2 9
OUT=$("${KUBECTL[@]}" -n default get lease meridian-failover -o jsonpath='{.spec.holderIdentity} {.spec.leaseTransitions}')
expect_in "gamma 2"
# A graceful stop hands the lease back at once.
kill -TERM "$(cat "$WORK/gamma.pid")"
wait "$(cat "$WORK/gamma.pid")" || fail "gamma did not exit 0 on SIGTERM: $(tail -5 "$WORK/gamma.log")"
OUT=$("${KUBECTL[@]}" -n default get lease meridian-failover -o jsonpath='holder={.spec.holderIdentity}')
expect_in "holder="
expect_not_in "gamma"
done_ok

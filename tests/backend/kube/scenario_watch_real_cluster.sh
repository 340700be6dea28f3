#!/usr/bin/env bash
# `meridian run --backend kube` keeps a watch cache (LIST then WATCH per managed collection) against
# a real API server (the kit): drift made by someone else is seen and healed within seconds, not at
# the next interval (here an hour away); an idle loop sends no write and reads nothing (its watches
# are open); a deleted object is put back. Skipped (exit 77) without a cluster.
source "$(dirname "$0")/../../e2e/lib.sh"
source "$(dirname "$0")/kit_lib.sh"
printf 'clusters:\n  kit: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"
NS=meridian-watch
PORT=$((20000 + RANDOM % 20000))
RUN_PID=
cleanup() {
  [[ -n "$RUN_PID" ]] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
  "${KUBECTL[@]}" delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"${KUBECTL[@]}" delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null

mkdir -p "$REPO/clusters/kit"
git -C "$REPO" init -q -b main
cat >"$REPO/cluster.yaml" <<YAML
apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: kit
spec:
  type: Registered
  region: cn-hangzhou
---
apiVersion: meridian.io/v1alpha1
kind: Fleet
metadata:
  name: watch
spec:
  rollout:
    healthTimeout: 30s
  # The fleet's own health rules, read on the real server's objects.
  healthChecks:
    - group: apps
      kind: Deployment
      healthy: 'status.readyReplicas >= spec.replicas && status.observedGeneration >= metadata.generation'
      message: 'status.conditions[?type=Available].message'
    - kind: ConfigMap
      degraded: 'data.level == "panic"'
      message: data.level
YAML
cat >"$REPO/clusters/kit/objects.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: $NS
data:
  level: info
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: $NS
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: nginx:1.25}
YAML
commit "a namespace, a config map and a deployment"

"$MERIDIAN" run --repo "$REPO" --backend kube --kube-config "$WORK/kube.yaml" --interval 1h --self-heal --force-conflicts \
  --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" >"$WORK/run.log" 2>&1 &
RUN_PID=$!

status() { curl -sf "http://127.0.0.1:$PORT/api/v1/status?objects=false" || true; }
# wait_for SECONDS PYTHON-CONDITION-ON-status: polls the status every 0.2 s.
wait_for() {
  local deadline=$((SECONDS + $1))
  while ((SECONDS < deadline)); do
    if status | python3 -c "import json,sys; s=json.load(sys.stdin); sys.exit(0 if ($2) else 1)" 2>/dev/null; then return 0; fi
    kill -0 "$RUN_PID" 2>/dev/null || fail "meridian run exited: $(tail -5 "$WORK/run.log")"
    sleep 0.2
  done
  fail "not within $1 s: $2; status: $(status); log: $(tail -5 "$WORK/run.log")"
}
reconciles() { status | python3 -c "import json,sys; print(json.load(sys.stdin).get('reconciles', 0))"; }
CHECKS=0
wait_for 120 "s.get('lastReconcile', {}).get('result') == 'succeeded' and s.get('drift', {}).get('count') == 0"
CHECKS=$((CHECKS + 1))
[[ "$("${KUBECTL[@]}" -n "$NS" get configmap settings -o jsonpath='{.data.level}')" == info ]] || fail "the config map was not applied"

# --- Idle: the loop's watches are open; nothing is written, and no LIST or GET is sent for managed
# objects while nothing changes (the interval is an hour; nothing wakes the loop).
AUDIT="${MERIDIAN_TEST_KUBE_DIR:-}/logs/audit.log"
if [[ -f "$AUDIT" ]]; then
  # Settled first: the Deployment Available (its controller's last writes, which wake the loop
  # once more and make it read the Deployment's pods for its health), then quiet.
  "${KUBECTL[@]}" -n "$NS" wait --for=condition=Available --timeout=60s deployment/web >/dev/null
  sleep 5
  mark=$(stat -c %s "$AUDIT")
  sleep 8
  idle=$(tail -c +"$((mark + 1))" "$AUDIT" | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("stage") == "ResponseComplete" and e.get("user", {}).get("username") == "admin" and e.get("userAgent", "").startswith("meridian") and e.get("verb") != "watch":
        n += 1; print(e["verb"], e["requestURI"], file=sys.stderr)
print(n)')
  [[ "$idle" == 0 ]] || fail "an idle loop sent $idle requests in 8 s (besides its watches); log: $(tail -8 "$WORK/run.log")"
  CHECKS=$((CHECKS + 1))
fi

# --- Drift by another manager is healed within seconds (self-heal with --force-conflicts).
before=$(date +%s%N)
"${KUBECTL[@]}" -n "$NS" patch configmap settings --type merge -p '{"data":{"level":"debug"}}' >/dev/null
deadline=$((SECONDS + 20))
until [[ "$("${KUBECTL[@]}" -n "$NS" get configmap settings -o jsonpath='{.data.level}')" == info ]]; do
  ((SECONDS < deadline)) || fail "drift was not healed within 20 s: $(tail -5 "$WORK/run.log")"
  sleep 0.2
done
echo "healed a kubectl patch in $(( ($(date +%s%N) - before) / 1000000 )) ms"
CHECKS=$((CHECKS + 1))

# --- A deleted object is put back, as fast.
"${KUBECTL[@]}" -n "$NS" delete configmap settings >/dev/null
deadline=$((SECONDS + 20))
until "${KUBECTL[@]}" -n "$NS" get configmap settings >/dev/null 2>&1; do
  ((SECONDS < deadline)) || fail "the deleted config map was not recreated within 20 s: $(tail -5 "$WORK/run.log")"
  sleep 0.2
done
CHECKS=$((CHECKS + 1))

# --- A change to a field Git does not set (a label someone adds) wakes the loop but is not drift.
"${KUBECTL[@]}" -n "$NS" label configmap settings added-by=someone >/dev/null
sleep 3
wait_for 20 "s.get('drift', {}).get('count') == 0 and s.get('lastReconcile', {}).get('result') == 'succeeded'"
[[ "$("${KUBECTL[@]}" -n "$NS" get configmap settings -o jsonpath='{.metadata.labels.added-by}')" == someone ]] ||
  fail "a label Git does not set was removed"
CHECKS=$((CHECKS + 1))

kill -TERM "$RUN_PID"
wait "$RUN_PID" 2>/dev/null
RUN_PID=

# --- The Fleet's health checks decide the health of their kinds: the Deployment by its ready
# replicas (with the Available condition's message), the ConfigMap degraded by a value.
run 0 "$MERIDIAN" status --repo "$REPO" --backend kube --kube-config "$WORK/kube.yaml" --state-dir "$WORK/state"
expect_in "Deployment/meridian-watch/web"
expect_in "Healthy: Deployment has minimum availability."
"${KUBECTL[@]}" -n "$NS" patch configmap settings --type merge -p '{"data":{"level":"panic"}}' >/dev/null
run 0 "$MERIDIAN" status --repo "$REPO" --backend kube --kube-config "$WORK/kube.yaml" --state-dir "$WORK/state"
expect_in "Degraded: panic"

# --- Pruning the Namespace: the kube backend lists what it holds. An object Meridian does not manage
# keeps it (a warning names it); without it, the Namespace and its contents are deleted.
"${KUBECTL[@]}" -n "$NS" create configmap stray --from-literal=a=b >/dev/null
: >"$REPO/clusters/kit/objects.yaml"
commit "the namespace leaves Git"
run 0 "$MERIDIAN" plan --repo "$REPO" --backend kube --kube-config "$WORK/kube.yaml" --state-dir "$WORK/state" --prune --allow-mass-prune
expect_in "holds 1 object Meridian does not manage (ConfigMap/$NS/stray)"
expect_not_in "delete Namespace/$NS"
"${KUBECTL[@]}" -n "$NS" delete configmap stray >/dev/null
run 2 "$MERIDIAN" plan --repo "$REPO" --backend kube --kube-config "$WORK/kube.yaml" --state-dir "$WORK/state" --prune --allow-mass-prune --detailed-exitcode
expect_in "delete Namespace/$NS"
expect_not_in "Meridian does not manage"
done_ok

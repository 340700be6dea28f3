#!/usr/bin/env bash
# Many repositories in one process: `meridian run --config fleets.yaml` on real temporary Git
# repositories and the simulator. The file's mistakes are one line each (file:line: field); each
# fleet has its own state, history, log and metric labels; ownership keeps fleets apart (prune
# never takes another fleet's objects, and an object two fleets declare is a conflict naming both
# owners, never overwritten); suspend per fleet; webhooks routed by the repository they name.
source "$(dirname "$0")/lib.sh"

mkrepo() { mkdir -p "$WORK/$1" && git -C "$WORK/$1" init -q -b main; }
commit_in() { git -C "$WORK/$1" add -A && git -C "$WORK/$1" -c user.name=test -c user.email=test@example.com commit -q -m "$2"; }
mkrepo team-a
cp -r "$ROOT/examples/edge-daemonset/." "$WORK/team-a/"
commit_in team-a "edge daemonset"
mkrepo team-b
configmap() { printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: default\n  annotations: {meridian.io/cluster: team-b}\ndata:\n  level: %s\n' "$1" "$2"; }
{ printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: team-b\nspec:\n  type: Managed\n  region: cn-hangzhou\n'
  configmap settings info; configmap extra info; } >"$WORK/team-b/team-b.yaml"
commit_in team-b "team b"
printf 'secret-a\n' >"$WORK/secret-a"
printf 'secret-b\n' >"$WORK/secret-b"
write_config() { # SUSPEND_A
  cat >"$WORK/fleets.yaml" <<YAML
apiVersion: meridian.io/v1alpha1
kind: FleetSet
fleets:
  - name: team-a
    repository: $WORK/team-a
    interval: 1h
    suspend: $1
    credentials: {webhookSecretFile: secret-a}
  - name: team-b
    repository: file://$WORK/team-b
    interval: 1h
    prune: true
    credentials:
      webhookSecretFile: secret-b
YAML
}
write_config false
CHECKS=$((CHECKS + 1))
python3 "$ROOT/tests/e2e/check_schema.py" "$ROOT/schemas/fleets.v1.json" "$WORK/fleets.yaml" --yaml || fail "fleets.yaml does not follow schemas/fleets.v1.json"
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/edge.yaml"

# --- Mistakes in the file: one line, file:line: field: what was expected.
bad() { # LINE-IN-ERROR EXPECTED... < config text
  cat >"$WORK/bad.yaml"
  run 1 "$MERIDIAN" run --config "$WORK/bad.yaml" --once
  expect_in "meridian: $WORK/bad.yaml:$1"
  CHECKS=$((CHECKS + 1))
  [[ $(wc -l <<<"$OUT") -eq 1 ]] || fail "expected one line, got: $OUT"
}
printf 'fleets:\n  - name: a\n    repository: /r\n  - name: b\n    repository: /s\n    intervall: 1m\n' | bad "6: fleets[1].intervall: unknown field (expected name, repository"
printf 'fleets:\n  - name: a\n    repository: /r\n    interval: soon\n' | bad '4: fleets[0].interval: expected a duration of at least 1s such as 30s, 1m or 1h30m, got "soon"'
printf 'fleets:\n  - name: a\n    ref: main\n' | bad "2: fleets[0].repository: required"
printf 'fleets:\n  - name: a\n    repository: /r\n  - name: a\n    repository: /s\n' | bad '4: fleets[1].name: "a" names another fleet already'
printf 'fleets:\n  - name: a\n    repository: /r\n    backend: ack\n' | bad '4: fleets[0].backend: expected sim or kube, got "ack"'
printf 'fleets:\n  - name: a\n    repository: /r\n    credentials:\n      webhookSecret: hunter2\n' | bad "5: fleets[0].credentials.webhookSecret: unknown field (expected sshKeyFile, netrcFile or webhookSecretFile"
printf 'fleets:\n  - name: a\n    repository: /r\n    credentials: {sshKeyFile: nope}\n' | bad "4: fleets[0].credentials.sshKeyFile: $WORK/nope: no such file"
printf 'fleets:\n  - name: Team_A\n    repository: /r\n' | bad '2: fleets[0].name: expected at most 63 lower-case letters'
printf 'fleets:\n  - {name: a, repository: /r, owner: x}\n  - {name: b, repository: /s, owner: x}\n' | bad '3: fleets[1].owner: "x" is another fleet'"'"'s owner already'
run 1 "$MERIDIAN" run --config "$WORK/fleets.yaml" --repo "$WORK/team-a" --once
expect_in "--repo: not with --config"

# --- Both fleets applied, each with its own state directory, history and log context.
run 0 "$MERIDIAN" run --config "$WORK/fleets.yaml" --once
expect_in "apply #1 of commit $(git -C "$WORK/team-a" rev-parse --short=12 HEAD) succeeded: 6 applied, 0 failed, 0 not applied fleet=team-a"
expect_in "apply #1 of commit $(git -C "$WORK/team-b" rev-parse --short=12 HEAD) succeeded: 3 applied, 0 failed, 0 not applied fleet=team-b"
run 0 "$MERIDIAN" history --fleet team-b
expect_in "ConfigMap/default/extra"
expect_not_in "DaemonSet"
run 0 "$MERIDIAN" sim get daemonsets -n security -o yaml
expect_in "meridian.io/managed-by: team-a"
run 0 "$MERIDIAN" sim get configmaps -n default -o yaml
expect_in "meridian.io/managed-by: team-b"

# --- Prune takes only the fleet's own objects: team-b drops a ConfigMap, team-a keeps everything.
{ printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: team-b\nspec:\n  type: Managed\n  region: cn-hangzhou\n'
  configmap settings info; } >"$WORK/team-b/team-b.yaml"
commit_in team-b "drop extra"
drop_extra=$(git -C "$WORK/team-b" rev-parse HEAD)
run 0 "$MERIDIAN" run --config "$WORK/fleets.yaml" --once
expect_in "1 applied, 0 failed, 0 not applied fleet=team-b"
expect_in "commit $(git -C "$WORK/team-a" rev-parse --short=12 HEAD) in sync fleet=team-a"
run 0 "$MERIDIAN" sim get configmaps -n default
expect_not_in "extra"
run 0 "$MERIDIAN" sim get daemonsets -n security
expect_in "security-agent"

# --- An object two fleets declare: a conflict naming both owners; the first owner's object stays.
cat >"$WORK/team-b/agent.yaml" <<'YAML'
apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: edge-central
spec:
  type: Edge
  region: cn-hangzhou
  kubernetesVersion: 1.30.7-aliyun.1
  clusterSpec: ack.pro.small
  addons: [openkruise]
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: security-agent
  namespace: security
  annotations: {meridian.io/cluster: edge-central}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: example.com/team-b-agent:1}]
YAML
commit_in team-b "team b takes the security agent"
run 1 "$MERIDIAN" run --config "$WORK/fleets.yaml" --once
expect_in 'Cluster/edge-central: ownership conflict: the live object is owned by "team-a", this fleet is "team-b"'
expect_in "2 changes refused"
run 1 "$MERIDIAN" plan --repo "$WORK/team-b" --owner team-b
expect_in 'DaemonSet/security/security-agent (cluster edge-central): ownership conflict: the live object is owned by "team-a", this fleet is "team-b"'
run 0 "$MERIDIAN" sim get daemonsets -n security -o yaml
expect_in "meridian.io/managed-by: team-a"
expect_not_in "team-b-agent"
git -C "$WORK/team-b" -c user.name=test -c user.email=test@example.com revert --no-edit HEAD >/dev/null

# --- suspend: true in the file skips that fleet alone; false resumes it.
write_config true
sed -i 's/security-agent:v1.0.0/security-agent:v1.0.1/' "$WORK/team-a/clusters/edge-central/"*.yaml
commit_in team-a "agent v1.0.1"
run 0 "$MERIDIAN" run --config "$WORK/fleets.yaml" --once
expect_in "suspended: suspend: true in $WORK/fleets.yaml"
expect_not_in "applying commit $(git -C "$WORK/team-a" rev-parse --short=12 HEAD)"
write_config false
run 0 "$MERIDIAN" suspend --fleet team-a --reason "maintenance"
run 0 "$MERIDIAN" run --config "$WORK/fleets.yaml" --once
expect_in "suspended: maintenance"
run 1 "$MERIDIAN" resume --fleet team-z
expect_in "meridian: --fleet team-z: $MERIDIAN_STATE_DIR/fleets/team-z does not exist"
run 0 "$MERIDIAN" resume --fleet team-a
run 0 "$MERIDIAN" run --config "$WORK/fleets.yaml" --once
expect_in "applying commit $(git -C "$WORK/team-a" rev-parse --short=12 HEAD)"

# --- One HTTP server: status of every fleet, a fleet's own routes, merged metrics with `fleet`,
# webhooks routed by the repository the payload names and checked with that fleet's secret.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$MERIDIAN" run --config "$WORK/fleets.yaml" --listen "127.0.0.1:$port" 2>"$WORK/run.log" &
run_pid=$!
trap 'kill "$run_pid" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 150); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || fail "not ready: $(cat "$WORK/run.log")"
curl -sf "http://127.0.0.1:$port/api/v1/status" >"$WORK/status.json" || fail "GET /api/v1/status"
CHECKS=$((CHECKS + 1))
python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["fleets"]; assert sorted(s) == ["team-a", "team-b"], s; assert s["team-b"]["repository"].startswith("file://")' "$WORK/status.json" || fail "status: $(cat "$WORK/status.json")"
OUT=$(curl -sf "http://127.0.0.1:$port/api/v1/fleets/team-b/history")
expect_in "\"commit\": \"$drop_extra\""
OUT=$(curl -s "http://127.0.0.1:$port/api/v1/fleets/team-c/status")
expect_in 'no fleet \"team-c\"'
push() { # SECRET REPOSITORY-URL: a signed GitHub push naming the repository; prints the HTTP status
  local body
  body=$(printf '{"ref": "refs/heads/main", "repository": {"clone_url": "%s"}}' "$2")
  local signature
  signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$1" | sed 's/^.* //')
  curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-GitHub-Event: push" -H "X-Hub-Signature-256: sha256=$signature" \
    --data-binary "$body" "http://127.0.0.1:$port/hooks/github"
}
CHECKS=$((CHECKS + 1))
[[ $(push secret-b "https://git.example.com/other/repo.git") == 404 ]] || fail "a push of a repository no fleet serves: expected 404"
CHECKS=$((CHECKS + 1))
[[ $(push secret-a "file://$WORK/team-b/") == 401 ]] || fail "team-b's push signed with team-a's secret: expected 401"
configmap settings warn >"$WORK/team-b/settings.yaml"
sed -i '/^---$/,$d' "$WORK/team-b/team-b.yaml"
commit_in team-b "settings: warn"
new_b=$(git -C "$WORK/team-b" rev-parse HEAD)
CHECKS=$((CHECKS + 1))
status=$(push secret-b "$WORK/team-b.git")
[[ $status == 202 || $status == 200 ]] || fail "team-b's signed push: expected 2xx, got $status; log: $(cat "$WORK/run.log")"
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/api/v1/fleets/team-b/status?objects=false" | grep -q "$new_b" && break
  sleep 0.1
done
# The status shows the commit once planned; the reconcile is counted when it ends.
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt"
  grep -qF 'meridian_reconcile_total{fleet="team-b",result="succeeded"} 2' "$WORK/metrics.txt" && break
  sleep 0.1
done
kill -TERM "$run_pid"
wait "$run_pid" || fail "meridian run did not stop cleanly: $(cat "$WORK/run.log")"
OUT=$(cat "$WORK/run.log")
expect_in "reconcile (webhook): succeeded"
expect_in "fleet=team-b commit=${new_b:0:12}"
expect_not_in "reconcile (webhook): succeeded in 0.00s: commit $(git -C "$WORK/team-a" rev-parse --short=12 HEAD)"
expect_in "meridian run: stopped"
OUT=$(cat "$WORK/metrics.txt")
expect_in 'meridian_reconcile_total{fleet="team-a",result="succeeded"} 1'
expect_in 'meridian_reconcile_total{fleet="team-b",result="succeeded"} 2'
expect_in 'meridian_webhook_requests_total{fleet="team-b",endpoint="github",result="accepted"} 1'
expect_in 'meridian_webhook_requests_total{fleet="team-a",endpoint="github",result="unauthorized"} 0'
expect_in "process_resident_memory_bytes "
CHECKS=$((CHECKS + 1))
[[ $(grep -c '^# TYPE meridian_reconcile_total ' "$WORK/metrics.txt") -eq 1 ]] || fail "meridian_reconcile_total declared more than once"
run 0 "$MERIDIAN" sim get configmaps -n default -o yaml
expect_in "level: warn"
# A fleet's status from the command line: its state, its owner, the shared simulator.
run 0 "$MERIDIAN" status --repo "$WORK/team-b" --fleet team-b --exit-code
expect_in "2 objects, 0 not in sync with Git, 0 not healthy"
run 0 "$MERIDIAN" status --repo "$WORK/team-a" --fleet team-a -o json
expect_in '"owner": "team-a"'

done_ok

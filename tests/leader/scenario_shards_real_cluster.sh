#!/usr/bin/env bash
# Sharding against a real API server (the test kit, started by tools/with-kube-kit): three
# `meridian run --leader-elect --shards 3` replicas (separate state directories) on a fleet of six
# clusters bound to the kit, three of them placed by a `meridian.io/shard` label, three by the hash
# of their name.
#   1. The replicas settle on one shard each (a Lease per shard; status and metrics say who holds
#      what, and every replica computes the same clusters per shard).
#   2. v1: each replica applies only the objects of its own shard's clusters (its log), and every
#      object is PATCHed once (the kit's audit log).
#   3. kill -9 one replica, then v2: the survivors apply their shards; the dead replica's shard is
#      taken over once its Lease expires and reconciled; every object PATCHed once.
# Skipped (exit 77) without a cluster.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../backend/kube/kit_lib.sh"
source "$(dirname "$0")/replicas_lib.sh"
TOKEN=shards-test-token
printf 'default: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"
echo "shards-test-token" >"$WORK/token"
CLUSTERS=(kit-a kit-b kit-c kit-d kit-e kit-f)
NAMESPACES=()
for cluster in "${CLUSTERS[@]}"; do NAMESPACES+=("shards-$cluster"); done
LEASE=meridian-shards
delete_leases() {
  "${KUBECTL[@]}" -n default delete lease "$LEASE-shard-0" "$LEASE-shard-1" "$LEASE-shard-2" --ignore-not-found >/dev/null 2>&1 || true
  "${KUBECTL[@]}" -n default delete lease -l "meridian.io/lease-group=$LEASE" --ignore-not-found >/dev/null 2>&1 || true
}
cleanup() {
  for pid in $(jobs -p); do kill -9 "$pid" 2>/dev/null || true; done
  "${KUBECTL[@]}" delete namespace "${NAMESPACES[@]}" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  delete_leases
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
"${KUBECTL[@]}" delete namespace "${NAMESPACES[@]}" --ignore-not-found --wait=true --timeout=120s >/dev/null
delete_leases

# --- The fleet: six clusters in one region; kit-a, kit-b, kit-c pinned to shards 0, 1, 2.
mkdir -p "$REPO"
git -C "$REPO" init -q -b main
cat >"$REPO/fleet.yaml" <<'YAML'
apiVersion: meridian.io/v1alpha1
kind: Fleet
metadata:
  name: shards
spec:
  rollout:
    regions: [cn-hangzhou]
    healthTimeout: 60s
YAML
cluster_files() { # VERSION ("" for the Clusters alone)
  local index=0 label
  for cluster in "${CLUSTERS[@]}"; do
    mkdir -p "$REPO/clusters/$cluster"
    label=""
    ((index < 3)) && label="  labels: {meridian.io/shard: \"$index\"}"
    index=$((index + 1))
    cat >"$REPO/clusters/$cluster/cluster.yaml" <<YAML
apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: $cluster
$label
spec:
  type: Registered
  region: cn-hangzhou
YAML
    [[ -n "$1" ]] || continue
    cat >"$REPO/clusters/$cluster/app.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: shards-$cluster
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shards-$cluster
data:
  version: "$1"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: features
  namespace: shards-$cluster
data:
  version: "$1"
YAML
  done
}
cluster_files ""
commit "v0: the clusters"

replica() { # NAME
  local name=$1 port
  port=$(free_port)
  echo "$port" >"$WORK/$name.port"
  "$MERIDIAN" run --repo "$REPO" --backend kube --kube-config "$WORK/kube.yaml" --state-dir "$WORK/state-$name" \
    --interval 1h --listen "127.0.0.1:$port" --api-token-file "$WORK/token" --leader-elect --shards 3 \
    --leader-elect-kubeconfig "$MERIDIAN_TEST_KUBECONFIG" --leader-elect-lease-namespace default --leader-elect-lease-name "$LEASE" \
    --leader-elect-identity "$name" --leader-elect-lease-duration 4s --leader-elect-renew-deadline 3s --leader-elect-retry-period 1s \
    >"$WORK/$name.log" 2>&1 &
  echo $! >"$WORK/$name.pid"
}
reconcile_now() { curl -s -X POST -H "Authorization: Bearer shards-test-token" "http://127.0.0.1:$(cat "$WORK/$1.port")/api/v1/reconcile" >/dev/null || true; }
# sharding NAME: "held=<shards> live=<n> holders=<h0,h1,h2>" from the replica's status
sharding() {
  get "$1" '/api/v1/status?objects=false' | python3 -c '
import json, sys
try: s = json.load(sys.stdin)["sharding"]
except Exception: sys.exit(0)
print("held=%s live=%d holders=%s" % (",".join(map(str, s["held"])), s["liveReplicas"], ",".join(x["holder"] or "-" for x in s["shards"])))'
}
holds_one() { [[ $(sharding "$1") =~ ^held=[0-9]\ live=$2\  ]]; }
settled() { # NAMES...: each holds exactly one shard, and they agree on the holders
  local first="" line holders
  for name in "$@"; do
    line=$(sharding "$name")
    [[ $line =~ ^held=[0-9]\ live=$#\ holders=(.*)$ ]] || return 1
    holders=${BASH_REMATCH[1]}
    [[ -z "$first" || "$holders" == "$first" ]] || return 1
    first=$holders
  done
}
# clusters_of NAME SHARD: the clusters the replica puts in that shard
clusters_of() {
  get "$1" '/api/v1/status?objects=false' | python3 -c '
import json, sys
s = json.load(sys.stdin)["sharding"]
print(" ".join(s["shards"][int(sys.argv[1])]["clusters"]))' "$2"
}
held_by() { sharding "$1" | sed 's/^held=\([0-9,]*\) .*/\1/'; }
all_versions() { # VERSION: every ConfigMap of every cluster has it
  local out
  out=$("${KUBECTL[@]}" get configmap -A -l meridian.io/owner -o jsonpath='{range .items[*]}{.metadata.namespace} {.data.version}{"\n"}{end}' 2>/dev/null | grep '^shards-' || true)
  [[ $(grep -c " $1\$" <<<"$out") -eq 12 ]]
}
# applied_clusters NAME FROM_LINE: the clusters whose objects the replica's log says it applied
applied_clusters() { tail -n +"$2" "$WORK/$1.log" | grep -o 'apply: \[[0-9]*/[0-9]*\] .*(cluster [a-z-]*)' | sed 's/.*(cluster \(.*\))/\1/' | sort -u | tr '\n' ' '; }

# --- 1. Three replicas settle on one shard each.
started=$SECONDS
for name in alpha beta gamma; do replica "$name"; done
wait_for 40 "the replicas hold one shard each" settled alpha beta gamma
echo "settled in $((SECONDS - started)) s: $(sharding alpha)"
for shard in 0 1 2; do
  a=$(clusters_of alpha "$shard")
  [[ "$a" == "$(clusters_of beta "$shard")" && "$a" == "$(clusters_of gamma "$shard")" ]] || fail "replicas disagree on shard $shard"
  OUT=$a
  expect_in "kit-$(printf "\\x$(printf %x $((97 + shard)))")" # kit-a in 0, kit-b in 1, kit-c in 2: the labels
done
OUT=$(get alpha /metrics)
expect_in "meridian_shard_leader{shard=\"$(held_by alpha)\",replica=\"alpha\"} 1"
expect_in 'meridian_leader 1'
run 0 "${KUBECTL[@]}" -n default get lease "$LEASE-shard-0" "$LEASE-shard-1" "$LEASE-shard-2" -o 'jsonpath={range .items[*]}{.spec.holderIdentity} {end}'
for name in alpha beta gamma; do expect_in "$name"; done
# `meridian status --shards` says the same: each shard's clusters and the holder of its Lease.
run 0 "$MERIDIAN" status --repo "$REPO" --backend kube --kube-config "$WORK/kube.yaml" --state-dir "$WORK/state-status" --shards 3 \
  --leader-elect-kubeconfig "$MERIDIAN_TEST_KUBECONFIG" --leader-elect-lease-name "$LEASE" -o json
holders=$(sharding alpha | sed 's/.*holders=//')
[[ $(python3 -c 'import json,sys; print(",".join(s["holder"] for s in json.loads(sys.argv[1])["shards"]))' "$OUT") == "$holders" ]] ||
  fail "meridian status --shards disagrees with the replicas ($holders): $OUT"
[[ $(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["shards"][0]["clusters"]))' "$OUT") == "$(clusters_of alpha 0)" ]] ||
  fail "meridian status --shards puts other clusters in shard 0: $OUT"
run 0 "$MERIDIAN" status --repo "$REPO" --backend kube --kube-config "$WORK/kube.yaml" --state-dir "$WORK/state-status" --shards 3 \
  --leader-elect-kubeconfig "$MERIDIAN_TEST_KUBECONFIG" --leader-elect-lease-name "$LEASE"
expect_in "3 shards (leases default/$LEASE-shard-*)"
expect_in "kit-a"
CHECKS=$((CHECKS + 2))
# Stable: a few more retry periods move nothing.
before=$(sharding alpha)
sleep 3
[[ "$(sharding alpha)" == "$before" ]] || fail "the shards moved while the same replicas lived: $before -> $(sharding alpha)"

# --- 2. v1: each replica applies its own shard's clusters, every object once.
start_line=$(audit_lines)
declare -A LOG_FROM
for name in alpha beta gamma; do LOG_FROM[$name]=$(($(wc -l <"$WORK/$name.log") + 1)); done
cluster_files v1
commit "v1: namespaces and settings"
for name in alpha beta gamma; do reconcile_now "$name"; done
wait_for 60 "every cluster at v1" all_versions v1
sleep 1
for name in alpha beta gamma; do
  mine=$(clusters_of "$name" "$(held_by "$name")")
  applied=$(applied_clusters "$name" "${LOG_FROM[$name]}")
  [[ -n "$applied" ]] || fail "$name applied nothing; its shard has: $mine"
  for cluster in $applied; do
    [[ " $mine " == *" $cluster "* ]] || fail "$name applied cluster $cluster, not in its shard ($mine)"
  done
  CHECKS=$((CHECKS + 1))
done
OUT=$(patches_since "$start_line" shards-kit-)
expect_once v1 18

# --- 3. kill -9 beta; v2: alpha and gamma apply theirs, and beta's shard once its Lease expires.
beta_shard=$(held_by beta)
beta_clusters=$(clusters_of alpha "$beta_shard")
start_line=$(audit_lines)
kill -9 "$(cat "$WORK/beta.pid")"
killed=$SECONDS
{ wait "$(cat "$WORK/beta.pid")"; } 2>/dev/null || true
cluster_files v2
commit "v2: new settings"
for name in alpha gamma; do reconcile_now "$name"; done
taken() { grep -q "sharding: beta stopped renewing the lease of shard $beta_shard" "$WORK/alpha.log" "$WORK/gamma.log"; }
wait_for 20 "shard $beta_shard taken over" taken
echo "takeover of shard $beta_shard after kill -9: $((SECONDS - killed)) s (lease duration 4 s, retry period 1 s)"
wait_for 60 "every cluster at v2" all_versions v2
# alpha's own view of the membership and holders catches up within a retry period or two.
survivors_agree() { [[ $(sharding alpha) =~ live=2\ holders=(alpha|gamma),(alpha|gamma),(alpha|gamma)$ && $(sharding gamma) == *" live=2 "* ]]; }
wait_for 10 "alpha and gamma see two live replicas holding every shard" survivors_agree
OUT=$(patches_since "$start_line" shards-kit-)
expect_once v2 12
for cluster in $beta_clusters; do
  grep -q "configmaps shards-$cluster/settings" <<<"$OUT" || fail "beta's cluster $cluster was not reconciled after the takeover"
done
CHECKS=$((CHECKS + 1))
# A graceful stop hands the shards and the membership back at once.
kill -TERM "$(cat "$WORK/gamma.pid")"
wait "$(cat "$WORK/gamma.pid")" || fail "gamma did not exit 0 on SIGTERM: $(tail -5 "$WORK/gamma.log")"
wait_for 10 "alpha holds all three shards" bash -c "[[ \$(curl -s -H 'Authorization: Bearer shards-test-token' http://127.0.0.1:$(cat "$WORK/alpha.port")/api/v1/status?objects=false | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"sharding\"][\"held\"])') == '[0, 1, 2]' ]]"
done_ok

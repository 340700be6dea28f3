#!/usr/bin/env bash
# An apply of a large fleet (300 ConfigMaps) interrupted with SIGINT (Ctrl-C) mid-way, then one
# killed with SIGKILL: each is recorded as interrupted (never left "running"), and the next plan
# has exactly the rest to create.
source "$(dirname "$0")/lib.sh"
mkdir -p "$REPO/clusters/c1"
git -C "$REPO" init -q -b main
printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: c1\nspec:\n  type: Managed\n  region: cn-hangzhou\n' >"$REPO/clusters.yaml"
for i in $(seq -w 1 300); do
  printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%s\n  namespace: default\ndata:\n  index: "%s"\n' "$i" "$i"
done >"$REPO/clusters/c1/configmaps.yaml"
commit "300 ConfigMaps"
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/edge.yaml"

# interrupt_at N SIGNAL LOG: runs an apply, reads its output as it comes and sends SIGNAL the
# moment it reports object N (reading line by line, so a fast apply cannot run far ahead); waits
# for it to end; sets STATUS and keeps the whole output in LOG.
interrupt_at() {
  local n=$1 signal=$2 log=$3 line pid
  rm -f "$WORK/fifo"
  mkfifo "$WORK/fifo"
  "$MERIDIAN" apply --repo "$REPO" --auto-approve </dev/null >"$WORK/fifo" 2>&1 &
  pid=$!
  exec 3<"$WORK/fifo"
  : >"$log"
  while IFS= read -r line <&3; do
    printf '%s\n' "$line" >>"$log"
    [[ $line == "[$n/"* ]] && break
  done
  kill "-$signal" "$pid" 2>/dev/null || true
  cat <&3 >>"$log"
  exec 3<&-
  set +e
  wait "$pid"
  STATUS=$?
  set -e
  grep -q "^\[$n/" "$log" || fail "the apply never reached object $n:
$(tail -5 "$log")"
}

# created: how many ConfigMaps the simulator holds
created() { "$MERIDIAN" sim get configmaps --cluster c1 -o name | grep -c 'cm-' || true; }

# --- SIGINT: stops after the current object, says so, exits 1.
interrupt_at 40 INT "$WORK/sigint.log"
OUT=$(cat "$WORK/sigint.log")
CHECKS=$((CHECKS + 1))
[[ $STATUS -eq 1 ]] || fail "interrupted apply: expected exit 1, got $STATUS:
$OUT"
expect_in "  wave 1 cn-hangzhou      interrupted"
expect_in "Apply #1 interrupted:"
CHECKS=$((CHECKS + 1))
applied=$(sed -n 's/^Apply #1 interrupted: \([0-9]*\) applied, 0 failed, \([0-9]*\) not applied\.$/\1 \2/p' <<<"$OUT")
[[ -n $applied ]] || fail "no summary line:
$OUT"
read -r done_count rest_count <<<"$applied"
CHECKS=$((CHECKS + 1))
[[ $done_count -ge 40 && $done_count -lt 301 && $((done_count + rest_count)) -eq 301 ]] ||
  fail "expected between 40 and 300 of 301 objects applied, got $applied"
# The simulator holds exactly the ConfigMaps reported applied (the cluster is the other one).
CHECKS=$((CHECKS + 1))
[[ $(created) -eq $((done_count - 1)) ]] || fail "simulator holds $(created) ConfigMaps, the apply reported $((done_count - 1))"

run 0 "$MERIDIAN" history 1
expect_in "#1 "
expect_in "interrupted  $done_count applied, 0 failed, $rest_count not applied"
expect_not_in "running"
expect_in "not-started"

run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "Plan: $rest_count to create, 0 to update, 0 to delete, $done_count unchanged."

# --- SIGKILL: no chance to record anything; the next command finds the record interrupted.
interrupt_at 20 KILL "$WORK/sigkill.log"
CHECKS=$((CHECKS + 1))
[[ $STATUS -eq 137 ]] || fail "expected the apply killed (exit 137), got $STATUS"
run 0 "$MERIDIAN" history 1
expect_in "#2 "
expect_in "interrupted  the process stopped before the apply finished"
expect_not_in "running"
now=$(created)
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "Plan: $((300 - now)) to create, 0 to update, 0 to delete, $((now + 1)) unchanged."

# --- The rest, to the end; then nothing is left to do.
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #3 succeeded: $((300 - now)) applied, 0 failed, 0 not applied."
CHECKS=$((CHECKS + 1))
[[ $(created) -eq 300 ]] || fail "expected 300 ConfigMaps, found $(created)"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."
run 0 "$MERIDIAN" history
expect_not_in "running"
done_ok

#!/usr/bin/env bash
# plan and apply as a user drives them, on a real temporary Git repository and the simulator:
# exit codes, unattended apply refused, colour only on a terminal and never with --no-color,
# dependency cycles, stale saved plans, prune safety, ignoreDifferences, and halt on failure with
# the exact report.
source "$(dirname "$0")/lib.sh"

# A fleet of one cluster per region; the cn-shanghai pool asks for a type out of stock there.
mkdir -p "$REPO/clusters/hz"
git -C "$REPO" init -q -b main
cluster() { printf 'apiVersion: meridian.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: %s\nspec:\n  type: Managed\n  region: %s\n---\n' "$1" "$2"; }
pool() { printf 'apiVersion: meridian.io/v1alpha1\nkind: NodePool\nmetadata:\n  name: %s\nspec:\n  cluster: %s\n  region: %s\n  type: ess\n  instanceTypes: [%s]\n  desiredSize: 1\n---\n' "$1" "$2" "$3" "$4"; }
configmap() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: default\n%bdata:\n  key: %s\n---\n' "$1" "${3:-}" "$2"; }
fleet() {
  printf 'apiVersion: meridian.io/v1alpha1\nkind: Fleet\nmetadata:\n  name: fleet\nspec:\n  rollout:\n    regions: [cn-hangzhou, cn-shanghai, cn-beijing]\n    maxParallelRegions: 1\n    haltOnFailure: %s\n    healthTimeout: 2m\n%b' "$1" "${2:-}" >"$REPO/fleet.yaml"
}
{ cluster hz cn-hangzhou; cluster sh cn-shanghai; cluster bj cn-beijing; } >"$REPO/clusters.yaml"
{ pool hz-pool hz cn-hangzhou ecs.g7.large; pool sh-pool sh cn-shanghai ecs.g7.2xlarge; pool bj-pool bj cn-beijing ecs.g7.large; } >"$REPO/nodepools.yaml"
fleet true
{ configmap settings v1; configmap limits v1; configmap extra v1; } >"$REPO/clusters/hz/config.yaml"
commit "three regions"
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/edge.yaml"

# --- Exit codes (Terraform's): 0 without the flag, 2 with changes, 1 on error.
run 0 "$MERIDIAN" plan --repo "$REPO"
expect_in "Plan: 9 to create, 0 to update, 0 to delete, 0 unchanged."
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
run 1 "$MERIDIAN" plan --repo "$WORK/no-such-repo" --detailed-exitcode
run 1 "$MERIDIAN" plan --repo "$REPO" --format yaml
expect_in '--format: expected text, json or markdown, got "yaml"'

# --- Unattended apply without --auto-approve is refused with one line, and changes nothing.
set +e
"$MERIDIAN" apply --repo "$REPO" </dev/null >"$WORK/apply.out" 2>"$WORK/apply.err"
status=$?
set -e
CHECKS=$((CHECKS + 1))
[[ $status -eq 1 ]] || fail "apply without --auto-approve on a pipe: expected exit 1, got $status"
CHECKS=$((CHECKS + 1))
[[ $(wc -l <"$WORK/apply.err") -eq 1 ]] || fail "expected one line on stderr, got: $(cat "$WORK/apply.err")"
OUT=$(cat "$WORK/apply.err")
expect_in "meridian: refusing to apply without --auto-approve: standard input is not a terminal to ask on"
run 0 "$MERIDIAN" history
expect_in "No applies recorded yet."
run 0 "$MERIDIAN" sim get clusters
expect_not_in "hz"

# --- Colour: on a terminal unless --no-color or $NO_COLOR; never in a pipe.
if script -qec true /dev/null >/dev/null 2>&1; then
  OUT=$(env -u NO_COLOR script -qec "'$MERIDIAN' plan --repo '$REPO'" /dev/null)
  CHECKS=$((CHECKS + 1))
  grep -q $'\033\\[' <<<"$OUT" || fail "expected colour on a terminal:
$OUT"
  OUT=$(env -u NO_COLOR script -qec "'$MERIDIAN' plan --repo '$REPO' --no-color" /dev/null)
  CHECKS=$((CHECKS + 1))
  if grep -q $'\033' <<<"$OUT"; then fail "ANSI escape on a terminal with --no-color"; fi
  OUT=$(NO_COLOR=1 script -qec "'$MERIDIAN' plan --repo '$REPO'" /dev/null)
  CHECKS=$((CHECKS + 1))
  if grep -q $'\033' <<<"$OUT"; then fail "ANSI escape on a terminal with NO_COLOR set"; fi
fi
OUT=$(env -u NO_COLOR "$MERIDIAN" plan --repo "$REPO" 2>&1)
CHECKS=$((CHECKS + 1))
if grep -q $'\033' <<<"$OUT"; then fail "ANSI escape in a pipe"; fi

# --- Halt on failure: cn-shanghai's pool gets no instance; cn-beijing is not started.
run 1 "$MERIDIAN" apply --repo "$REPO" --auto-approve --no-color
CHECKS=$((CHECKS + 1))
if grep -q $'\033' <<<"$OUT"; then fail "ANSI escape in apply --no-color"; fi
NOSTOCK="OperationDenied.NoStock: The instance type ecs.g7.2xlarge is out of stock in cn-shanghai. Please try other instance types, or choose other regions and zones."
report=$(sed -n '/^Regions:$/,$p' <<<"$OUT")
expected="Regions:
  wave 1 cn-hangzhou      done
  wave 2 cn-shanghai      failed: NodePool/sh-pool: not healthy after 2m: Degraded: $NOSTOCK
  wave 3 cn-beijing       not started: an earlier region failed and haltOnFailure is set

Apply #1 halted: 6 applied, 1 failed, 2 not applied."
CHECKS=$((CHECKS + 1))
[[ $report == "$expected" ]] || fail "halt report differs:
$(diff <(echo "$expected") <(echo "$report"))"
expect_not_in "wave 3/3"
run 0 "$MERIDIAN" history
expect_in "halted  6 applied, 1 failed, 2 not applied"
expect_in "cn-beijing   create  not-started"

# With haltOnFailure false (on a fresh simulated fleet) the later region runs, and the apply fails.
fleet false
commit "haltOnFailure: false"
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/edge.yaml"
run 1 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "  wave 2 cn-shanghai      failed: NodePool/sh-pool: not healthy after 2m: Degraded: $NOSTOCK"
expect_in "  wave 3 cn-beijing       done"
expect_in "Apply #2 failed:"
run 0 "$MERIDIAN" sim get nodepools
expect_in "bj-pool"

# The pool gets a type that has stock: everything converges; a second plan has no changes.
sed -i 's/ecs.g7.2xlarge/ecs.g7.xlarge/' "$REPO/nodepools.yaml"
commit "sh-pool: a type with stock"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "succeeded"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "No changes. The live fleet matches Git."
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "No changes."
expect_not_in "Apply #"

# --- Stale saved plans.
{ configmap settings v2; configmap limits v1; configmap extra v1; } >"$REPO/clusters/hz/config.yaml"
commit "settings v2"
run 2 "$MERIDIAN" plan --repo "$REPO" --format json --out "$WORK/p.json" --detailed-exitcode
expect_in "plan written to $WORK/p.json (changes)"
# Live state changes (an object deleted behind Meridian's back): refused, one line.
run 0 "$MERIDIAN" sim delete configmaps limits --cluster hz -n default
run 1 "$MERIDIAN" apply --repo "$REPO" --plan "$WORK/p.json" --auto-approve
expect_in "meridian: $WORK/p.json: saved plan is stale: the live fleet changed since it was made, so applying now would do something else; run meridian plan again"
CHECKS=$((CHECKS + 1))
[[ $(grep -c . <<<"$(grep '^meridian:' <<<"$OUT")") -eq 1 ]] || fail "expected one error line:
$OUT"
run 0 "$MERIDIAN" sim get configmaps --cluster hz
expect_not_in "limits"
expect_in "extra" # nothing was applied
# --out onto something that is not a regular file (a pipe here; /dev/null alike) is written in
# place, never replaced by a file.
mkfifo "$WORK/plan.fifo"
cat "$WORK/plan.fifo" >"$WORK/from-fifo.json" &
reader=$!
run 2 "$MERIDIAN" plan --repo "$REPO" --format json --out "$WORK/plan.fifo" --detailed-exitcode
wait "$reader"
run 2 "$MERIDIAN" plan --repo "$REPO" --format json --out "$WORK/p2.json" --detailed-exitcode
CHECKS=$((CHECKS + 1))
[[ -p "$WORK/plan.fifo" ]] || fail "--out replaced the pipe with a file"
CHECKS=$((CHECKS + 1))
cmp -s "$WORK/from-fifo.json" "$WORK/p2.json" || fail "the plan read from the pipe differs from the plan file"
# Re-plan, then change live state by hand (kubectl apply of a field): refused again.
run 2 "$MERIDIAN" plan --repo "$REPO" --format json --out "$WORK/p.json" --detailed-exitcode
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: default\n  annotations:\n    meridian.io/cluster: hz\ndata:\n  key: by-hand\n' >"$WORK/by-hand.yaml"
run 0 "$MERIDIAN" sim apply -f "$WORK/by-hand.yaml"
run 1 "$MERIDIAN" apply --repo "$REPO" --plan "$WORK/p.json" --auto-approve
expect_in "saved plan is stale: the live fleet changed since it was made"
# Re-plan, then push a commit: refused, naming both commits.
run 2 "$MERIDIAN" plan --repo "$REPO" --format json --out "$WORK/p.json" --detailed-exitcode
old_commit=$(git -C "$REPO" rev-parse HEAD)
echo "# a comment" >>"$REPO/clusters.yaml"
commit "a comment"
new_commit=$(git -C "$REPO" rev-parse HEAD)
run 1 "$MERIDIAN" apply --repo "$REPO" --plan "$WORK/p.json" --auto-approve
expect_in "meridian: $WORK/p.json: saved plan is stale: it was made for commit ${old_commit:0:12}, the ref now resolves to ${new_commit:0:12}; run meridian plan again"
# Not a plan at all.
echo '{"formatVersion": 7}' >"$WORK/bad.json"
run 1 "$MERIDIAN" apply --repo "$REPO" --plan "$WORK/bad.json" --auto-approve
expect_in "formatVersion: expected 1"
# Unchanged since the plan: applied.
run 2 "$MERIDIAN" plan --repo "$REPO" --format json --out "$WORK/p.json" --detailed-exitcode
run 0 "$MERIDIAN" apply --repo "$REPO" --plan "$WORK/p.json" --auto-approve
expect_in "create ConfigMap/default/limits (cluster hz)"
expect_in "update ConfigMap/default/extra (cluster hz)"
expect_in "succeeded"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode

# --- Prune safety.
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unmanaged\n  namespace: default\n  annotations:\n    meridian.io/cluster: hz\ndata:\n  key: v\n' >"$WORK/unmanaged.yaml"
run 0 "$MERIDIAN" sim apply -f "$WORK/unmanaged.yaml"
{ configmap settings v2; configmap limits v1 "  annotations:\n    meridian.io/prune: disabled\n"; } >"$REPO/clusters/hz/config.yaml"
commit "limits: prune disabled"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
configmap settings v2 >"$REPO/clusters/hz/config.yaml"
commit "drop limits and extra"
# Without --prune: reported, not deleted.
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "2 managed objects are no longer in Git (not deleted without --prune): ConfigMap/default/extra (cluster hz), ConfigMap/default/limits (cluster hz)"
expect_not_in "unmanaged"
# With --prune: extra goes; limits (prune: disabled) and the unmanaged ConfigMap stay.
run 2 "$MERIDIAN" plan --repo "$REPO" --prune --detailed-exitcode
expect_in "- delete ConfigMap/default/extra (cluster hz) [cn-hangzhou]: no longer in Git"
expect_not_in "delete ConfigMap/default/limits"
expect_not_in "delete ConfigMap/default/unmanaged"
expect_in "ConfigMap/default/limits is no longer in Git but has meridian.io/prune: disabled; not deleting it"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve --prune
expect_in "succeeded"
run 0 "$MERIDIAN" sim get configmaps --cluster hz
expect_not_in "extra"
expect_in "limits"
expect_in "unmanaged"
# Removing most of the fleet (5 of the 8 managed objects): refused without --allow-mass-prune.
{ cluster hz cn-hangzhou; } >"$REPO/clusters.yaml"
git -C "$REPO" rm -q nodepools.yaml
commit "only cluster hz"
# The fleet does not match Git: exit 2, and the plan says so (never "matches Git").
run 2 "$MERIDIAN" plan --repo "$REPO" --prune --detailed-exitcode
expect_in "refusing to prune 5 of 8 managed objects (more than half) without --allow-mass-prune"
expect_in "No changes will be made, but the live fleet does not match Git: 5 objects no longer in Git are kept by a prune guard"
expect_not_in "The live fleet matches Git"

run 2 "$MERIDIAN" plan --repo "$REPO" --prune --allow-mass-prune --detailed-exitcode
expect_in "Plan: 0 to create, 0 to update, 5 to delete"
expect_order "delete NodePool/sh-pool" "delete Cluster/sh"

# --- ignoreDifferences: drift on the listed pointer is not a change.
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\n  annotations:\n    meridian.io/cluster: hz\ndata:\n  key: changed-by-hand\n' >"$WORK/drift.yaml"
run 0 "$MERIDIAN" sim apply -f "$WORK/drift.yaml"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in 'data.key: "changed-by-hand" → "v2"'
fleet true "  ignoreDifferences:\n    - kind: ConfigMap\n      name: settings\n      jsonPointers: [/data/key]\n"
commit "ignore settings data.key"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_not_in "changed-by-hand"

# --- A dependency cycle is a validation error naming the cycle, from validate and from plan.
{ configmap a v1 "  annotations:\n    meridian.io/depends-on: ConfigMap/b\n"; configmap b v1 "  annotations:\n    meridian.io/depends-on: ConfigMap/a\n"; } >"$REPO/clusters/hz/cycle.yaml"
commit "a cycle"
cycle="dependency cycle: ConfigMap/default/a → ConfigMap/default/b → ConfigMap/default/a"
run 1 "$MERIDIAN" validate --repo "$REPO"
expect_in "clusters/hz/cycle.yaml:7: "
expect_in "metadata.annotations.meridian.io/depends-on: $cycle"
run 1 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "the manifests are invalid, nothing was planned or applied (1 error):"
expect_in "$cycle"
run 1 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "$cycle"
done_ok

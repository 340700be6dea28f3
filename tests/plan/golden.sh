#!/usr/bin/env bash
# Golden tests for the three plan report formats (text --no-color, markdown, json) of the real
# binary on real temporary Git repositories and the simulator: edge-daemonset (initial plan, and the
# image-bump update plan after an apply) and gpu-shortage (the Pending forecast). Reports are
# compared byte for byte with tests/plan/golden/ after replacing the temporary repository path,
# the commit id and the plan fingerprint (which hashes the commit) by placeholders. A plan made
# twice must be identical byte for byte, and the JSON must follow schemas/plan.v1.json.
# Regenerate with MERIDIAN_UPDATE_GOLDEN=1 (then review the diff).
source "$(dirname "$0")/../e2e/lib.sh"
GOLDEN="$ROOT/tests/plan/golden"

normalise() { # FILE: the report with the repository, commit and fingerprint replaced
  local commit
  commit=$(git -C "$REPO" rev-parse HEAD)
  sed -e "s|$REPO|<repo>|g" -e "s|$commit|<commit>|g" -e "s|${commit:0:12}|<commit>|g" \
    -e 's|"fingerprint": "[0-9a-f]*"|"fingerprint": "<fingerprint>"|' "$1"
}

# check_schema FILE: the JSON report against schemas/plan.v1.json (the draft-07 subset it uses).
check_schema() {
  CHECKS=$((CHECKS + 1))
  python3 - "$ROOT/schemas/plan.v1.json" "$1" <<'PY' || fail "$1 does not follow schemas/plan.v1.json"
import json, re, sys
schema = json.load(open(sys.argv[1]))
report = json.load(open(sys.argv[2]))
problems = []
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}
def check(node, value, where):
    t = node.get("type")
    if t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{where}: expected an integer, got {value!r}"); return
    elif t in TYPES and (not isinstance(value, TYPES[t]) or (t != "boolean" and isinstance(value, bool))):
        problems.append(f"{where}: expected {t}, got {value!r}"); return
    if "const" in node and value != node["const"]:
        problems.append(f"{where}: expected {node['const']!r}, got {value!r}")
    if "enum" in node and value not in node["enum"]:
        problems.append(f"{where}: {value!r} not in {node['enum']}")
    if "minimum" in node and isinstance(value, int) and value < node["minimum"]:
        problems.append(f"{where}: {value} < {node['minimum']}")
    if "pattern" in node and isinstance(value, str) and not re.search(node["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {node['pattern']}")
    if isinstance(value, dict):
        for key in node.get("required", []):
            if key not in value:
                problems.append(f"{where}: missing required key {key}")
        for key, child in node.get("properties", {}).items():
            if key in value:
                check(child, value[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            check(node["items"], item, f"{where}[{i}]")
check(schema, report, "$")
# What the schema says in words: changes are in apply order, never "unchanged"; summary counts them.
counts = {"create": 0, "update": 0, "delete": 0}
for change in report["changes"]:
    counts[change["action"]] += 1
for action, n in counts.items():
    if report["summary"][action] != n:
        problems.append(f"summary.{action} is {report['summary'][action]}, but {n} changes say {action}")
if report["hasChanges"] != (sum(counts.values()) > 0):
    problems.append("hasChanges disagrees with the changes")
waves = [c["wave"] for c in report["changes"]]
if waves != sorted(waves):
    problems.append(f"changes are not in wave order: {waves}")
if [w["wave"] for w in report["waves"]] != list(range(1, len(report["waves"]) + 1)):
    problems.append("waves are not numbered 1..n")
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

# plan_to FILE FORMAT [options]: the plan's standard output, byte for byte, in FILE; expects exit 2
plan_to() {
  local file=$1 format=$2 status
  shift 2
  set +e
  "$MERIDIAN" plan --repo "$REPO" --format "$format" --no-color --detailed-exitcode "$@" >"$file" 2>"$file.err"
  status=$?
  set -e
  CHECKS=$((CHECKS + 1))
  [[ $status -eq 2 ]] || fail "plan --format $format: expected exit 2, got $status: $(cat "$file.err")"
}

# golden NAME: plans in the three formats, twice each, and compares with golden/NAME.{txt,md,json}
golden() {
  local name=$1 format ext
  for format in text markdown json; do
    case $format in text) ext=txt ;; markdown) ext=md ;; json) ext=json ;; esac
    plan_to "$WORK/$name.$ext" "$format"
    plan_to "$WORK/$name.again.$ext" "$format"
    CHECKS=$((CHECKS + 1))
    cmp -s "$WORK/$name.$ext" "$WORK/$name.again.$ext" ||
      fail "$name.$ext: two plans of the same commit and live state differ:
$(diff "$WORK/$name.$ext" "$WORK/$name.again.$ext")"
    # --out writes the same bytes as standard output.
    plan_to "$WORK/$name.stdout" "$format" --out "$WORK/$name.out.$ext"
    CHECKS=$((CHECKS + 1))
    [[ ! -s "$WORK/$name.stdout" ]] || fail "plan --out also wrote to standard output"
    CHECKS=$((CHECKS + 1))
    cmp -s "$WORK/$name.$ext" "$WORK/$name.out.$ext" || fail "$name.$ext: --out differs from standard output"
    CHECKS=$((CHECKS + 1))
    if grep -q $'\033' "$WORK/$name.$ext"; then fail "$name.$ext: ANSI escape with --no-color"; fi
    normalise "$WORK/$name.$ext" >"$WORK/$name.normalised.$ext"
    if [[ -n ${MERIDIAN_UPDATE_GOLDEN:-} ]]; then
      mkdir -p "$GOLDEN"
      cp "$WORK/$name.normalised.$ext" "$GOLDEN/$name.$ext"
    fi
    CHECKS=$((CHECKS + 1))
    cmp -s "$GOLDEN/$name.$ext" "$WORK/$name.normalised.$ext" ||
      fail "$name.$ext differs from tests/plan/golden/$name.$ext (MERIDIAN_UPDATE_GOLDEN=1 regenerates):
$(diff "$GOLDEN/$name.$ext" "$WORK/$name.normalised.$ext")"
  done
  check_schema "$WORK/$name.json"
}

# Scenario 1: the initial plan of an Edge fleet, then the business upgrade after an apply.
new_repo edge-daemonset
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/edge.yaml"
golden edge-daemonset-initial
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
sed -i 's/security-agent:v1.0.0/security-agent:v1.1.0/' "$REPO/clusters/edge-central/security-agent.yaml"
commit "security-agent v1.1.0"
golden edge-daemonset-update

# The no-change plan: exit 0 with --detailed-exitcode, and a schema-valid empty JSON plan.
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
run 0 "$MERIDIAN" plan --repo "$REPO" --format json --detailed-exitcode
printf '%s\n' "$OUT" >"$WORK/no-changes.json"
check_schema "$WORK/no-changes.json"
expect_in '"hasChanges": false'
run 0 "$MERIDIAN" plan --repo "$REPO" --format markdown --detailed-exitcode
expect_in "**No changes.**"

# Scenario 3: the forecast that a GPU pod will stay Pending.
rm -rf "$REPO" "$MERIDIAN_STATE_DIR"
new_repo gpu-shortage
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/gpu-shortage.yaml"
golden gpu-shortage
done_ok

#!/usr/bin/env bash
# Operator habits on a real temporary Git repository and the simulator: `status` and `history`
# in JSON and YAML (checked against schemas/), `status --exit-code` as a CI gate, the event log
# as JSON and text with fleet, commit and reconcile id, log levels, `version` and the build
# info, `help <command>`, the shell completions (bash sourced and driven with COMP_WORDS), and the
# process and build metrics of `meridian run`.
source "$(dirname "$0")/lib.sh"

check_schema() { # SCHEMA FILE [--yaml]
  CHECKS=$((CHECKS + 1))
  python3 "$ROOT/tests/e2e/check_schema.py" "$ROOT/schemas/$1" "$2" "${@:3}" || fail "$2 does not follow schemas/$1"
}

new_repo edge-daemonset
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/edge.yaml"

# --- status: nothing applied yet, so everything is Missing; --exit-code makes that exit 2.
run 0 "$MERIDIAN" status --repo "$REPO"
expect_in "6 objects, 6 not in sync with Git, 6 not healthy"
run 2 "$MERIDIAN" status --repo "$REPO" --exit-code
"$MERIDIAN" status --repo "$REPO" -o json >"$WORK/status.json"
check_schema status.v1.json "$WORK/status.json"
CHECKS=$((CHECKS + 1))
python3 - "$WORK/status.json" <<'PY' || fail "status -o json: wrong content"
import json, sys
status = json.load(open(sys.argv[1]))
assert status["summary"] == {"objects": 6, "outOfSync": 6, "unhealthy": 6}, status["summary"]
assert {o["sync"] for o in status["objects"]} == {"Missing"}
assert "DaemonSet/security/security-agent" in [o["object"] for o in status["objects"]]
PY
"$MERIDIAN" status --repo "$REPO" -o yaml >"$WORK/status.yaml"
check_schema status.v1.json "$WORK/status.yaml" --yaml
CHECKS=$((CHECKS + 1))
python3 -c 'import json, sys, yaml; assert yaml.safe_load(open(sys.argv[1])) == json.load(open(sys.argv[2]))' \
  "$WORK/status.yaml" "$WORK/status.json" || fail "status -o yaml and -o json differ"
run 1 "$MERIDIAN" status --repo "$REPO" -o xml
expect_in '-o/--output: expected text, json or yaml, got "xml"'
run 0 "$MERIDIAN" history -o json
expect_in "[]"

# --- After an apply everything is in sync and healthy: the gate passes.
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
run 0 "$MERIDIAN" status --repo "$REPO" --exit-code
expect_in "6 objects, 0 not in sync with Git, 0 not healthy"
# Drift behind Meridian's back fails the gate again.
cat >"$WORK/drift.yaml" <<'YAML'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: security-agent, namespace: security}
spec: {template: {spec: {containers: [{name: agent, image: registry.example.com/security-agent:drifted}]}}}
YAML
run 0 "$MERIDIAN" sim apply -f "$WORK/drift.yaml" --cluster edge-central
run 2 "$MERIDIAN" status --repo "$REPO" --exit-code
expect_in "OutOfSync"

# --- history in JSON and YAML, the same shape as /api/v1/history.
"$MERIDIAN" history -o json >"$WORK/history.json"
check_schema history.v1.json "$WORK/history.json"
"$MERIDIAN" history -o yaml >"$WORK/history.yaml"
check_schema history.v1.json "$WORK/history.yaml" --yaml
CHECKS=$((CHECKS + 1))
python3 - "$WORK/history.json" "$WORK/history.yaml" <<'PY' || fail "history: wrong content"
import json, sys, yaml
history = json.load(open(sys.argv[1]))
assert yaml.safe_load(open(sys.argv[2])) == history
assert len(history) == 1 and history[0]["result"] == "succeeded" and history[0]["trigger"] == "cli", history
assert len(history[0]["objects"]) == 6
PY

# --- The event log: JSON, one object per line, every line of a reconcile with its context.
commit_id=$(git -C "$REPO" rev-parse HEAD)
"$MERIDIAN" --log-format json --log-level debug run --repo "$REPO" --once --self-heal 2>"$WORK/run.json" || fail "run --once failed: $(cat "$WORK/run.json")"
CHECKS=$((CHECKS + 1))
python3 - "$WORK/run.json" "${commit_id:0:12}" <<'PY' || fail "JSON log: $(cat "$WORK/run.json")"
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
assert lines, "no log lines"
reconcile = [l for l in lines if "reconcile" in l]
assert any(l["level"] == "debug" for l in lines), "no debug line at --log-level debug"
assert any(l["level"] == "warn" and l["msg"].startswith("drift: ") for l in reconcile), "no drift warning"
for line in lines:
    assert list(line)[:3] == ["time", "level", "msg"], line
    assert line["fleet"] == "fleet", line
for line in reconcile:
    assert line["reconcile"] == 1, line
    if line["msg"] != "reconcile (schedule): started":
        assert line["commit"] == sys.argv[2], line
assert any(l["msg"].startswith("apply: ") for l in reconcile), "the apply's progress lines carry the context too"
PY
# Text: the same context as key=value after the message; --log-level warn keeps warnings only.
run 0 "$MERIDIAN" run --repo "$REPO" --once --log-format text
expect_in " info fetched $REPO: commit ${commit_id:0:12} (initial: edge-daemonset) fleet=fleet commit=${commit_id:0:12} reconcile=1"
run 0 "$MERIDIAN" run --repo "$REPO" --once --log-level=warn
expect_not_in " info "
run 1 "$MERIDIAN" --log-format xml status --repo "$REPO"
expect_in 'meridian: --log-format: expected text or json, got "xml"'
run 1 "$MERIDIAN" status --repo "$REPO" --log-level
expect_in "meridian: --log-level needs a value (debug, info, warn or error)"

# --- version, build info, help.
run 0 "$MERIDIAN" version
expect_in "meridian 0.1.0"
expect_in "commit: "
expect_in "built: "
run 0 "$MERIDIAN" version -o json
CHECKS=$((CHECKS + 1))
python3 -c 'import json, sys; v = json.loads(sys.argv[1]); assert set(v) == {"version", "commit", "buildDate"}, v' "$OUT" || fail "version -o json: $OUT"
build_commit=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["commit"])' "$OUT")
# SOURCE_DATE_EPOCH makes the build info depend on the source alone.
SOURCE_DATE_EPOCH=1700000000 python3 "$ROOT/tools/build_info.py" "$WORK/info1.h" 1.2.3 "$ROOT"
sleep 1
SOURCE_DATE_EPOCH=1700000000 python3 "$ROOT/tools/build_info.py" "$WORK/info2.h" 1.2.3 "$ROOT"
CHECKS=$((CHECKS + 1))
cmp -s "$WORK/info1.h" "$WORK/info2.h" || fail "build info differs between two builds with SOURCE_DATE_EPOCH"
OUT=$(cat "$WORK/info1.h")
expect_in '#define MERIDIAN_BUILD_DATE "2023-11-14T22:13:20Z"'
expect_in "#define MERIDIAN_BUILD_COMMIT \"$(git -C "$ROOT" rev-parse HEAD)"
run 0 "$MERIDIAN" help status
help_text="$OUT"
run 0 "$MERIDIAN" status --help
CHECKS=$((CHECKS + 1))
[[ $help_text == "$OUT" ]] || fail "meridian help status differs from meridian status --help"
run 0 "$MERIDIAN" help sim get
expect_in "Usage: meridian sim get"
run 0 "$MERIDIAN" help
expect_in "completion"

# --- Completions: bash sourced and driven as bash drives it; zsh and fish generated and parsed.
"$MERIDIAN" completion bash >"$WORK/meridian.bash"
complete_words() { # the words bash would offer for the command line "$@" (the last word is the one completed)
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _meridian; printf "%s\n" "${COMPREPLY[@]}"' _ "$WORK/meridian.bash" "$@"
}
OUT=$(complete_words meridian st)
expect_in "status"
CHECKS=$((CHECKS + 1))
[[ $OUT == "status" ]] || fail "meridian st<TAB>: expected status alone, got: $OUT"
OUT=$(complete_words meridian status -o "")
CHECKS=$((CHECKS + 1))
[[ $(tr '\n' ' ' <<<"$OUT") == "text json yaml " ]] || fail "status -o <TAB>: got: $OUT"
OUT=$(complete_words meridian status --exit)
CHECKS=$((CHECKS + 1))
[[ $OUT == "--exit-code" ]] || fail "status --exit<TAB>: got: $OUT"
OUT=$(complete_words meridian --log-format json sim g)
CHECKS=$((CHECKS + 1))
[[ $OUT == "get" ]] || fail "--log-format json sim g<TAB>: got: $OUT"
OUT=$(complete_words meridian sim get -o "")
expect_in "wide"
OUT=$(complete_words meridian --log-level "")
CHECKS=$((CHECKS + 1))
[[ $(tr '\n' ' ' <<<"$OUT") == "debug info warn error " ]] || fail "--log-level <TAB>: got: $OUT"
OUT=$(complete_words meridian completion "")
expect_in "fish"
OUT=$(complete_words meridian help pl)
CHECKS=$((CHECKS + 1))
[[ $OUT == "plan" ]] || fail "help pl<TAB>: got: $OUT"
"$MERIDIAN" completion zsh >"$WORK/_meridian"
CHECKS=$((CHECKS + 1))
bash -n "$WORK/_meridian" || fail "completion zsh: not valid shell"
if command -v zsh >/dev/null; then
  CHECKS=$((CHECKS + 1))
  zsh -n "$WORK/_meridian" || fail "completion zsh: zsh -n refused it"
fi
run 0 "$MERIDIAN" completion fish
expect_in "complete -c meridian -n '__fish_seen_subcommand_from status' -l output -s o -x -a 'text json yaml'"
if command -v fish >/dev/null; then
  # fish itself answers what it would complete (complete -C) from the sourced script.
  "$MERIDIAN" completion fish >"$WORK/meridian.fish"
  OUT=$(fish -c "source $WORK/meridian.fish; complete -C 'meridian st'")
  CHECKS=$((CHECKS + 1))
  [[ $(cut -f1 <<<"$OUT") == "status" ]] || fail "fish: meridian st<TAB>: got: $OUT"
  OUT=$(fish -c "source $WORK/meridian.fish; complete -C 'meridian status -o '" | cut -f1 | sort | tr '\n' ' ')
  CHECKS=$((CHECKS + 1))
  [[ $OUT == "json text yaml " ]] || fail "fish: status -o <TAB>: got: $OUT"
  OUT=$(fish -c "source $WORK/meridian.fish; complete -C 'meridian sim g'" | cut -f1)
  CHECKS=$((CHECKS + 1))
  [[ $OUT == "get" ]] || fail "fish: sim g<TAB>: got: $OUT"
fi
run 1 "$MERIDIAN" completion tcsh
expect_in 'completion: expected bash, zsh or fish, got "tcsh"'

# --- Metrics: the standard process_* families, read from /proc, and the build info.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$MERIDIAN" run --repo "$REPO" --listen "127.0.0.1:$port" --interval 1h 2>"$WORK/run.log" &
run_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt" || fail "GET /metrics failed: $(cat "$WORK/run.log")"
fds_limit=$(awk '/^Max open files/ {print $4}' "/proc/$run_pid/limits")
open_fds=$(ls "/proc/$run_pid/fd" | wc -l)
kill -TERM "$run_pid"
wait "$run_pid" || fail "meridian run did not stop cleanly: $(cat "$WORK/run.log")"
CHECKS=$((CHECKS + 1))
python3 - "$WORK/metrics.txt" "$fds_limit" "$open_fds" "$build_commit" <<'PY' || fail "metrics: $(grep -E '^(process|meridian_build)' "$WORK/metrics.txt")"
import sys, time
text = open(sys.argv[1]).read()
samples = {}
types = {}
for line in text.splitlines():
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        types[name] = kind
    elif line and not line.startswith("#"):
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
for name, kind in [("process_cpu_seconds_total", "counter"), ("process_resident_memory_bytes", "gauge"),
                   ("process_start_time_seconds", "gauge"), ("process_open_fds", "gauge"), ("process_max_fds", "gauge"),
                   ("process_virtual_memory_bytes", "gauge")]:
    assert types.get(name) == kind, (name, types.get(name))
    assert name in samples, name
assert 0 < samples["process_cpu_seconds_total"] < 60
assert 1 << 20 < samples["process_resident_memory_bytes"] < 4 << 30
assert abs(samples["process_start_time_seconds"] - time.time()) < 120, samples["process_start_time_seconds"]
assert samples["process_max_fds"] == float(sys.argv[2]), (samples["process_max_fds"], sys.argv[2])
assert abs(samples["process_open_fds"] - float(sys.argv[3])) <= 3, (samples["process_open_fds"], sys.argv[3])
build = [k for k in samples if k.startswith("meridian_build_info{")]
assert build == ['meridian_build_info{version="0.1.0",commit="%s"}' % sys.argv[4]], build
assert samples[build[0]] == 1
PY

done_ok

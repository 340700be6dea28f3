# Helpers of the scenarios that run several `meridian run` replicas against the kit, sourced after
# tests/e2e/lib.sh and tests/backend/kube/kit_lib.sh. Each replica NAME has $WORK/NAME.log,
# $WORK/NAME.pid and $WORK/NAME.port; TOKEN is the API's bearer token.
AUDIT="${MERIDIAN_TEST_KUBE_DIR:-}/logs/audit.log"
[[ -f "$AUDIT" ]] || { echo "skipped: no audit log at $AUDIT (needs the kit of tools/with-kube-kit)"; exit 77; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# get NAME PATH: the replica's answer (empty when it does not answer)
get() { curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$(cat "$WORK/$1.port")$2" || true; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s; fails with the replicas' logs
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || fail "not within ${seconds}s: $what
$(tail -n 30 "$WORK"/*.log)"
    sleep 0.2
  done
  CHECKS=$((CHECKS + 1))
}
audit_lines() { wc -l <"$AUDIT"; }
# patches_since LINE PREFIX: real (not dry-run) PATCHes by admin per object whose namespace (or,
# for a Namespace, name) starts with PREFIX, in the audit log after LINE: "<count> <resource> <ns>/<name>"
patches_since() {
  tail -n +"$(($1 + 1))" "$AUDIT" | python3 -c '
import collections, json, sys
count = collections.Counter()
for line in sys.stdin:
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("verb") != "patch" or e.get("user", {}).get("username") != "admin" or "dryRun" in e.get("requestURI", ""):
        continue
    o = e.get("objectRef", {})
    scope = o.get("namespace") or (o.get("name", "") if o.get("resource") == "namespaces" else "")
    if not scope.startswith(sys.argv[1]):
        continue
    count["%s %s/%s" % (o.get("resource"), o.get("namespace", ""), o.get("name"))] += 1
for key in sorted(count): print(count[key], key)' "$2"
}
# expect_once OUT_DESCRIPTION EXPECTED_COUNT: $OUT (patches_since) names that many objects, each PATCHed once
expect_once() {
  echo "PATCHes per object, $1:"
  echo "$OUT"
  [[ $(grep -c . <<<"$OUT") -ge $2 ]] || fail "expected $2 objects patched ($1), got:
$OUT"
  if grep -qv '^1 ' <<<"$OUT"; then fail "an object was applied twice ($1):
$OUT"; fi
  CHECKS=$((CHECKS + 2))
}

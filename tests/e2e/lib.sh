# Helpers for end-to-end scenario tests: a real Git repository in a temp dir, the real binary,
# the embedded simulator's SQLite state in the same temp dir. Sourced by each scenario script.
set -euo pipefail
MERIDIAN="${1:?usage: $0 path/to/meridian}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d /tmp/meridian-e2e.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
REPO="$WORK/fleet"
export MERIDIAN_STATE_DIR="$WORK/state"
export NO_COLOR=1
CHECKS=0

fail() { echo "FAIL: $*" >&2; exit 1; }

# new_repo EXAMPLE: a repository whose first commit is examples/EXAMPLE
new_repo() {
  mkdir -p "$REPO"
  git -C "$REPO" init -q -b main
  cp -r "$ROOT/examples/$1/." "$REPO/"
  commit "initial: $1"
}

commit() {
  git -C "$REPO" add -A
  git -C "$REPO" -c user.name=test -c user.email=test@example.com commit -q -m "$1"
}

# run EXPECTED_STATUS command...: runs, keeps output in $OUT, checks the exit status
run() {
  local expected=$1
  shift
  set +e
  OUT="$("$@" 2>&1)"
  local status=$?
  set -e
  CHECKS=$((CHECKS + 1))
  [[ $status -eq $expected ]] || fail "expected exit $expected, got $status from: $*
$OUT"
}

expect_in() {
  CHECKS=$((CHECKS + 1))
  grep -qF -- "$1" <<<"$OUT" || fail "expected to find: $1
in:
$OUT"
}

expect_not_in() {
  CHECKS=$((CHECKS + 1))
  if grep -qF -- "$1" <<<"$OUT"; then fail "did not expect: $1
in:
$OUT"; fi
}

# expect_order A B: A appears before B in $OUT
expect_order() {
  CHECKS=$((CHECKS + 1))
  local a b
  a=$(grep -nF -- "$1" <<<"$OUT" | head -1 | cut -d: -f1)
  b=$(grep -nF -- "$2" <<<"$OUT" | head -1 | cut -d: -f1)
  [[ -n $a && -n $b && $a -lt $b ]] || fail "expected \"$1\" (line ${a:-none}) before \"$2\" (line ${b:-none}) in:
$OUT"
}

count_in() { grep -cF -- "$1" <<<"$OUT" || true; }

done_ok() { echo "ok: $CHECKS checks"; }

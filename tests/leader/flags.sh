#!/usr/bin/env bash
# `run --leader-elect`'s flags: bad values are one-line errors naming the flag and what was
# expected, before anything starts; election flags without --leader-elect are refused; an
# unreadable kubeconfig for the Lease is named; --shards' own rules. No cluster needed.
source "$(dirname "$0")/../e2e/lib.sh"
new_repo edge-daemonset
R() { "$MERIDIAN" run --repo "$REPO" --once "$@"; }
run 1 R --leader-elect-identity me
expect_in "meridian: --leader-elect-identity: only with --leader-elect"
run 1 R --leader-elect --leader-elect-lease-duration 1500ms --leader-elect-kubeconfig /nonexistent
expect_in "--leader-elect-lease-duration: expected whole seconds, at least 1s"
run 1 R --leader-elect --leader-elect-lease-duration 10s --leader-elect-renew-deadline 10s
expect_in "--leader-elect-lease-duration: must be greater than --leader-elect-renew-deadline"
run 1 R --leader-elect --leader-elect-renew-deadline 2s --leader-elect-retry-period 2s
expect_in "--leader-elect-renew-deadline: must be greater than 1.2 × --leader-elect-retry-period"
run 1 R --leader-elect --leader-elect-retry-period soon
expect_in '--leader-elect-retry-period: expected a duration such as 15s or 500ms, got "soon"'
run 1 R --leader-elect --leader-elect-identity ""
expect_in "--leader-elect-identity: must not be empty"
run 1 R --leader-elect --leader-elect-kubeconfig "$WORK/missing.yaml"
expect_in "meridian: --leader-elect: "
expect_in "missing.yaml"
[[ $(wc -l <<<"$OUT") -eq 1 ]] || fail "expected one line, got: $OUT"
CHECKS=$((CHECKS + 1))
# --shards: with --leader-elect only, a number from 1 to 1000, not with --once, a lease name that
# can be a label value (the membership Leases' label).
S() { "$MERIDIAN" run --repo "$REPO" --state-dir "$WORK/shards-state" --listen "127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')" "$@"; }
run 1 S --shards 3
expect_in "meridian: --shards: only with --leader-elect"
run 1 S --leader-elect --shards 0 --leader-elect-kubeconfig "$WORK/missing.yaml"
expect_in '--shards: expected a number of shards from 1 to 1000, got "0"'
run 1 R --leader-elect --shards 2
expect_in "--shards: not with --once"
run 1 S --leader-elect --shards 2 --leader-elect-lease-name Not_A_Label
expect_in '--leader-elect-lease-name: with --shards, expected a DNS label of at most 63 characters'
run 1 "$MERIDIAN" run --config "$WORK/fleets.yaml" --shards 2
expect_in "--shards: not available with --config yet"
done_ok

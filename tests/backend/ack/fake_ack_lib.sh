# Helpers for the command-line tests of the ACK backend, sourced after tests/e2e/lib.sh with
# FAKE set to the fake_ack_server binary and ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET exported.
#
# start_fake_ack ARGS...: starts fake_ack_server with the key and ARGS; sets FAKE_PID, URL (its
# endpoint) and IDC (the id of a cluster registered as idc-cluster, if any).
start_fake_ack() {
  "$FAKE" "$ALIBABA_CLOUD_ACCESS_KEY_ID" "$ALIBABA_CLOUD_ACCESS_KEY_SECRET" "$@" >"$WORK/fake.out" 2>"$WORK/fake.err" &
  FAKE_PID=$!
  for _ in $(seq 200); do grep -q '^ready$' "$WORK/fake.out" && break; sleep 0.05; done
  grep -q '^ready$' "$WORK/fake.out" || fail "the fake ACK did not start: $(cat "$WORK/fake.err")"
  URL=$(awk '$1 == "url" {print $2}' "$WORK/fake.out")
  IDC=$(awk '$1 == "cluster" && $2 == "idc-cluster" {print $3}' "$WORK/fake.out")
}

# stop_fake_ack: stops it (it removes the nodes its pools made on a real API server)
stop_fake_ack() {
  [[ -n ${FAKE_PID:-} ]] || return 0
  kill "$FAKE_PID" 2>/dev/null
  wait "$FAKE_PID" 2>/dev/null
}

# ack RUN_ARGS...: run, then check that the secret (as exported when this file was sourced) was not printed
ACK_TEST_SECRET="$ALIBABA_CLOUD_ACCESS_KEY_SECRET"
ack() {
  run "$@"
  expect_not_in "$ACK_TEST_SECRET"
}

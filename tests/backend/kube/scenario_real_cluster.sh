#!/usr/bin/env bash
# The kube backend end to end against a real API server (the test kit of ../shared/kube, started by
# tools/with-kube-kit, which exports MERIDIAN_TEST_KUBECONFIG): apply a fleet of every common kind
# (core, apps, batch, policy, networking, RBAC, a CRD and a custom resource of it in one commit),
# then plan is empty; drift by another field manager shows with its field; the server's own errors
# fail the plan. Skipped (exit 77) without a cluster.
source "$(dirname "$0")/../../e2e/lib.sh"
if [[ -z "${MERIDIAN_TEST_KUBECONFIG:-}" ]]; then
  echo "skipped: MERIDIAN_TEST_KUBECONFIG is not set (tools/with-kube-kit starts a real control plane and sets it)"
  exit 77
fi
KUBECTL=(kubectl --kubeconfig "$MERIDIAN_TEST_KUBECONFIG")
if [[ -n "${MERIDIAN_TEST_KUBE_DIR:-}" && -x "$MERIDIAN_TEST_KUBE_DIR/bin/kubectl" ]]; then
  KUBECTL=("$MERIDIAN_TEST_KUBE_DIR/bin/kubectl" --kubeconfig "$MERIDIAN_TEST_KUBECONFIG")
fi
printf 'clusters:\n  kit: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"
M() { "$MERIDIAN" "$@" --backend kube --kube-config "$WORK/kube.yaml"; }
cleanup() {
  "${KUBECTL[@]}" delete namespace meridian-e2e --ignore-not-found --wait=false >/dev/null 2>&1 || true
  "${KUBECTL[@]}" delete crd resourcepolicies.scheduling.alibabacloud.com --ignore-not-found >/dev/null 2>&1 || true
  "${KUBECTL[@]}" delete clusterrole meridian-e2e-reader --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$REPO"
git -C "$REPO" init -q -b main
cp -r "$ROOT/tests/backend/kube/fleet/." "$REPO/"
commit "a fleet of every common kind"

# --- Apply, then the plan is empty: nothing the server defaults or controllers set is drift.
run 0 M apply --repo "$REPO" --auto-approve
run 0 M plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."
run 0 M plan --repo "$REPO" --detailed-exitcode --format json

echo "PASS: $CHECKS checks"

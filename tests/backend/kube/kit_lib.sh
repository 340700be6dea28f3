# Helpers for the real-cluster scenarios, sourced after tests/e2e/lib.sh: skip (exit 77) without
# MERIDIAN_TEST_KUBECONFIG (tools/with-kube-kit sets it), and KUBECTL, the kit's own kubectl when
# MERIDIAN_TEST_KUBE_DIR names the kit's folder.
if [[ -z "${MERIDIAN_TEST_KUBECONFIG:-}" ]]; then
  echo "skipped: MERIDIAN_TEST_KUBECONFIG is not set (tools/with-kube-kit starts a real control plane and sets it)"
  exit 77
fi
KUBECTL=(kubectl --kubeconfig "$MERIDIAN_TEST_KUBECONFIG")
if [[ -n "${MERIDIAN_TEST_KUBE_DIR:-}" && -x "$MERIDIAN_TEST_KUBE_DIR/bin/kubectl" ]]; then
  KUBECTL=("$MERIDIAN_TEST_KUBE_DIR/bin/kubectl" --kubeconfig "$MERIDIAN_TEST_KUBECONFIG")
fi

#!/usr/bin/env bash
# --kubeconfig and --context mean what they mean to kubectl: the kubeconfig file in place of
# $KUBECONFIG and ~/.kube/config, the context in place of current-context; $KUBECONFIG lists
# several files, merged as kubectl merges them. Without the test kit the choice is read from the
# errors, which name the kubeconfig and context a cluster was resolved to (servers on closed
# ports); with the kit (MERIDIAN_TEST_KUBECONFIG) a plan reaches the real API server only through
# the flags, while $KUBECONFIG points elsewhere.
source "$(dirname "$0")/../../e2e/lib.sh"

mkdir -p "$REPO"
git -C "$REPO" init -q -b main
cp "$ROOT/tests/backend/kube/fleet/cluster.yaml" "$REPO/"
commit "one cluster"
cat >"$WORK/closed.yaml" <<'YAML'
apiVersion: v1
kind: Config
clusters:
- {name: port-1, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}
- {name: port-2, cluster: {server: "https://127.0.0.1:2", insecure-skip-tls-verify: true}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: one, context: {cluster: port-1, user: u}}
- {name: two, context: {cluster: port-2, user: u}}
current-context: one
YAML
printf 'apiVersion: v1\nkind: Config\ncurrent-context: two\n' >"$WORK/current-two.yaml"
export KUBECONFIG="$WORK/none.yaml"

run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --kubeconfig "$WORK/closed.yaml"
expect_in "cluster kit: kubeconfig $WORK/closed.yaml, context one: https://127.0.0.1:1:"
run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --kubeconfig "$WORK/closed.yaml" --context two
expect_in "cluster kit: kubeconfig $WORK/closed.yaml, context two: https://127.0.0.1:2:"
run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --kubeconfig "$WORK/closed.yaml" --context three
expect_in "cluster kit: $WORK/closed.yaml: context \"three\" not found"
# $KUBECONFIG with several files: the first file that sets current-context wins; --context wins over it.
KUBECONFIG="$WORK/current-two.yaml:$WORK/missing.yaml:$WORK/closed.yaml" run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube
expect_in "cluster kit: kubeconfig $WORK/current-two.yaml:$WORK/closed.yaml, context two: https://127.0.0.1:2:"
KUBECONFIG="$WORK/current-two.yaml:$WORK/closed.yaml" run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --context one
expect_in "context one: https://127.0.0.1:1:"
# --kubeconfig alone is read: $KUBECONFIG's files are not merged in (kubectl's rule).
KUBECONFIG="$WORK/current-two.yaml" run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --kubeconfig "$WORK/closed.yaml"
expect_in "context one: https://127.0.0.1:1:"
# The binding file keeps its own flag and wins for the clusters it binds.
printf 'clusters:\n  kit: {kubeconfig: %s, context: two}\n' "$WORK/closed.yaml" >"$WORK/bindings.yaml"
run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --kube-config "$WORK/bindings.yaml" --context one
expect_in "context two: https://127.0.0.1:2:"
printf 'clusters:\n  kit: {}\n' >"$WORK/bindings.yaml"
run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --kube-config "$WORK/bindings.yaml" --kubeconfig "$WORK/closed.yaml" --context two
expect_in "context two: https://127.0.0.1:2:"
# Mistakes, one line each.
run 1 "$MERIDIAN" plan --repo "$REPO" --backend kube --kubeconfig "$WORK/missing.yaml"
expect_in "meridian: --kubeconfig $WORK/missing.yaml: no such file"
run 1 "$MERIDIAN" plan --repo "$REPO" --context two
expect_in "meridian: --context: only with --backend kube"

if [[ -n "${MERIDIAN_TEST_KUBECONFIG:-}" ]]; then
  # The real API server, reached through the flags alone ($KUBECONFIG names the closed ports).
  context=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["current-context"])' "$MERIDIAN_TEST_KUBECONFIG")
  KUBECONFIG="$WORK/closed.yaml" run 0 "$MERIDIAN" apply --repo "$REPO" --backend kube --kubeconfig "$MERIDIAN_TEST_KUBECONFIG" --auto-approve
  expect_in "update Cluster/kit"
  KUBECONFIG="$WORK/closed.yaml" run 0 "$MERIDIAN" plan --repo "$REPO" --backend kube --kubeconfig "$MERIDIAN_TEST_KUBECONFIG"
  expect_in "No changes."
  KUBECONFIG="$WORK/closed.yaml:$MERIDIAN_TEST_KUBECONFIG" run 0 "$MERIDIAN" plan --repo "$REPO" --backend kube --context "$context"
  expect_in "No changes."
else
  echo "the real-cluster part skipped: MERIDIAN_TEST_KUBECONFIG is not set (tools/with-kube-kit sets it)"
fi
done_ok

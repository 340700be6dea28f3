#!/usr/bin/env bash
# `meridian run --config` with two kube fleets on one real API server (the test kit): each applies
# its own objects; an object both declare is a conflict naming both owners and is never
# overwritten; prune with `prune: true` deletes only the fleet's own objects. Skipped (exit 77)
# without a cluster.
source "$(dirname "$0")/../../e2e/lib.sh"
source "$(dirname "$0")/kit_lib.sh"
cleanup() {
  "${KUBECTL[@]}" delete namespace meridian-fleets --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"${KUBECTL[@]}" delete namespace meridian-fleets --ignore-not-found --wait=true --timeout=120s >/dev/null

printf 'clusters:\n  kit: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"
cluster='apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: kit
spec:
  type: Registered
  region: cn-hangzhou'
configmap() { printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: meridian-fleets\ndata:\n  from: %s\n' "$1" "$2"; }
for fleet in a b; do
  mkdir -p "$WORK/fleet-$fleet/clusters/kit"
  git -C "$WORK/fleet-$fleet" init -q -b main
  echo "$cluster" >"$WORK/fleet-$fleet/cluster.yaml"
done
{ printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: meridian-fleets\n'; configmap shared a; configmap a-only a; } >"$WORK/fleet-a/clusters/kit/objects.yaml"
{ configmap b-only b; configmap b-extra b; } | tail -n +2 >"$WORK/fleet-b/clusters/kit/objects.yaml"
for fleet in a b; do
  git -C "$WORK/fleet-$fleet" add -A
  git -C "$WORK/fleet-$fleet" -c user.name=test -c user.email=test@example.com commit -q -m "fleet $fleet"
done
cat >"$WORK/fleets.yaml" <<YAML
fleets:
  - {name: fleet-a, repository: $WORK/fleet-a, backend: kube, kubeConfig: kube.yaml, interval: 1h}
  - {name: fleet-b, repository: $WORK/fleet-b, backend: kube, kubeConfig: kube.yaml, interval: 1h, prune: true}
YAML

run 0 "$MERIDIAN" run --config "$WORK/fleets.yaml" --once
expect_in "fleet=fleet-a"
expect_in "fleet=fleet-b"
run 0 "${KUBECTL[@]}" get configmaps -n meridian-fleets -l meridian.io/owner=fleet-a -o name
expect_in "configmap/shared"
expect_in "configmap/a-only"
run 0 "${KUBECTL[@]}" get configmaps -n meridian-fleets -l meridian.io/owner=fleet-b -o name
expect_in "configmap/b-only"
expect_in "configmap/b-extra"

# fleet-b drops b-extra (pruned) and declares fleet-a's `shared` (a conflict naming both owners).
{ configmap b-only b; configmap shared b; } | tail -n +2 >"$WORK/fleet-b/clusters/kit/objects.yaml"
git -C "$WORK/fleet-b" -c user.name=test -c user.email=test@example.com commit -q -am "take shared"
run 1 "$MERIDIAN" run --config "$WORK/fleets.yaml" --once
expect_in 'ConfigMap/meridian-fleets/shared (cluster kit): ownership conflict: the live object is owned by "fleet-a", this fleet is "fleet-b"'
run 0 "${KUBECTL[@]}" get configmap shared -n meridian-fleets -o 'jsonpath={.data.from} {.metadata.annotations.meridian\.io/managed-by}'
expect_in "a fleet-a"
# Without the conflicting object, fleet-b's prune deletes its own b-extra and nothing of fleet-a's.
{ configmap b-only b; } | tail -n +2 >"$WORK/fleet-b/clusters/kit/objects.yaml"
git -C "$WORK/fleet-b" -c user.name=test -c user.email=test@example.com commit -q -am "b-only"
run 0 "$MERIDIAN" run --config "$WORK/fleets.yaml" --once
expect_in "delete ConfigMap/meridian-fleets/b-extra"
for _ in $(seq 60); do
  "${KUBECTL[@]}" get configmap b-extra -n meridian-fleets >/dev/null 2>&1 || break
  sleep 1
done
run 0 "${KUBECTL[@]}" get configmaps -n meridian-fleets -o name
expect_not_in "configmap/b-extra"
expect_in "configmap/shared"
expect_in "configmap/a-only"
expect_in "configmap/b-only"
done_ok

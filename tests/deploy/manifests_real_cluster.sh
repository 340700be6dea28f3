#!/usr/bin/env bash
# deploy/ on a real API server (the test kit, started by tools/with-kube-kit), installed by
# Meridian itself: first the namespaced variant (deploy/fleet without rbac-cluster.yaml, plus
# deploy/namespaced), then the cluster-wide role. Each time: the plan is the server's dry run,
# apply converges (the Deployment becomes Available), the next plan is empty, and the service
# account may do what Meridian does and no more (kubectl auth can-i --as), checked also by running
# `meridian plan` with the service account's own token. Skipped (exit 77) without a cluster.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../backend/kube/kit_lib.sh"
printf 'default: {kubeconfig: %s}\n' "$MERIDIAN_TEST_KUBECONFIG" >"$WORK/kube.yaml"
M() { "$MERIDIAN" "$@" --backend kube --kube-config "$WORK/kube.yaml"; }
SA=system:serviceaccount:meridian-system:meridian
cleanup() {
  "${KUBECTL[@]}" delete namespace meridian-system apps --ignore-not-found --wait=false >/dev/null 2>&1 || true
  "${KUBECTL[@]}" delete clusterrole,clusterrolebinding meridian-manager --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"${KUBECTL[@]}" delete namespace meridian-system apps --ignore-not-found --wait=true --timeout=120s >/dev/null
"${KUBECTL[@]}" delete clusterrole,clusterrolebinding meridian-manager --ignore-not-found >/dev/null
can() { # VERB RESOURCE [kubectl flags...]: the answer of kubectl auth can-i for the service account
  "${KUBECTL[@]}" auth can-i --as "$SA" "$@" 2>/dev/null || true
}
expect_can() { CHECKS=$((CHECKS + 1)); [[ $(can "$@") == yes ]] || fail "the service account cannot: $*"; }
expect_cannot() { CHECKS=$((CHECKS + 1)); [[ $(can "$@") == no ]] || fail "the service account can, and should not: $*"; }

# --- The namespaced variant: the administrator makes the namespace; Meridian installs itself.
"${KUBECTL[@]}" create namespace apps >/dev/null
mkdir -p "$REPO"
git -C "$REPO" init -q -b main
cp -r "$ROOT/deploy/fleet/." "$REPO/"
rm "$REPO/clusters/management/rbac-cluster.yaml"
cp "$ROOT/deploy/namespaced/clusters/management/rbac-namespaced.yaml" "$REPO/clusters/management/"
commit "meridian, namespaced"
run 0 "$MERIDIAN" validate --repo "$REPO"
run 2 M plan --repo "$REPO" --detailed-exitcode
expect_in "+ create Deployment/meridian-system/meridian (cluster management)"
expect_in "+ create Role/apps/meridian-deployer (cluster management)"
run 0 M apply --repo "$REPO" --auto-approve
run 0 M plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."
OUT=$("${KUBECTL[@]}" -n meridian-system get deployment meridian -o jsonpath='{.status.availableReplicas}')
expect_in "2"

expect_can patch deployments -n apps
expect_can list daemonsets -n apps
expect_can delete configmaps -n apps
expect_can get secrets -n apps
expect_can get leases/meridian -n meridian-system
expect_can update leases/meridian -n meridian-system
expect_can create leases -n meridian-system
expect_cannot update leases/kube-controller-manager -n kube-system
expect_cannot update leases/other -n meridian-system
expect_cannot get secrets -n default
expect_cannot get secrets -n meridian-system
expect_cannot patch deployments -n default
expect_cannot list deployments --all-namespaces
expect_cannot create namespaces
expect_cannot patch clusterroles

# What Meridian does, as the service account itself (its own token): a fleet of `apps` plans and
# applies; an object in another namespace is refused by the server, naming it.
token=$("${KUBECTL[@]}" -n meridian-system create token meridian --duration 10m)
source "$MERIDIAN_TEST_KUBE_DIR/ports"
cat >"$WORK/sa-kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: kit, cluster: {server: "$SERVER", certificate-authority: "$MERIDIAN_TEST_KUBE_DIR/pki/ca.crt"}}]
users: [{name: meridian, user: {token: "$token"}}]
contexts: [{name: meridian, context: {cluster: kit, user: meridian}}]
current-context: meridian
YAML
printf 'default: {kubeconfig: %s}\n' "$WORK/sa-kubeconfig" >"$WORK/sa.yaml"
APPS="$WORK/apps"
mkdir -p "$APPS/clusters/management"
git -C "$APPS" init -q -b main
cp "$ROOT/deploy/namespaced/cluster.yaml" "$APPS/"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: apps\ndata:\n  level: info\n' >"$APPS/clusters/management/settings.yaml"
git -C "$APPS" add -A && git -C "$APPS" -c user.name=t -c user.email=t@example.com commit -q -m apps
SAM() { "$MERIDIAN" "$@" --backend kube --kube-config "$WORK/sa.yaml" --state-dir "$WORK/sa-state"; }
run 0 SAM apply --repo "$APPS" --auto-approve
run 0 SAM plan --repo "$APPS" --detailed-exitcode
# The replicas' leader election with the service account's token: the Role lets it create the
# Lease `meridian` in meridian-system, renew it and release it.
run 0 SAM run --repo "$APPS" --once --leader-elect --leader-elect-kubeconfig "$WORK/sa-kubeconfig" \
  --leader-elect-lease-namespace meridian-system --leader-elect-identity replica-1
expect_in "leader election: replica-1 holds lease meridian-system/meridian"
OUT=$("${KUBECTL[@]}" -n meridian-system get lease meridian -o jsonpath='holder={.spec.holderIdentity} transitions={.spec.leaseTransitions}')
expect_in "holder= transitions=0"
# Any other Lease is refused: the replica stays a standby, saying why, and stops on SIGTERM.
"$MERIDIAN" run --repo "$APPS" --once --backend kube --kube-config "$WORK/sa.yaml" --state-dir "$WORK/sa-state" --leader-elect \
  --leader-elect-kubeconfig "$WORK/sa-kubeconfig" --leader-elect-lease-namespace meridian-system --leader-elect-lease-name other \
  >"$WORK/other.log" 2>&1 &
other=$!
for _ in $(seq 50); do grep -q Forbidden "$WORK/other.log" && break; sleep 0.2; done
kill -TERM $other
wait $other || fail "a standby did not exit 0 on SIGTERM: $(cat "$WORK/other.log")"
OUT=$(cat "$WORK/other.log")
expect_in "leader election: lease meridian-system/other: "
expect_in "Forbidden"
expect_not_in "holds lease"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  level: info\n' >"$APPS/clusters/management/elsewhere.yaml"
git -C "$APPS" add -A && git -C "$APPS" -c user.name=t -c user.email=t@example.com commit -q -m elsewhere
run 1 SAM plan --repo "$APPS"
expect_in "ConfigMap/default/settings"
expect_in "Forbidden"

# --- The cluster-wide role: full management, still no impersonation, PUT or other leases.
cp "$ROOT/deploy/fleet/clusters/management/rbac-cluster.yaml" "$REPO/clusters/management/"
rm "$REPO/clusters/management/rbac-namespaced.yaml"
commit "meridian, cluster-wide"
run 0 M apply --repo "$REPO" --auto-approve
run 0 M plan --repo "$REPO" --detailed-exitcode
expect_can patch deployments -n default
expect_can list daemonsets --all-namespaces
expect_can delete namespaces
expect_can patch customresourcedefinitions
expect_can get secrets -n default
expect_can update leases/meridian -n meridian-system
expect_cannot update leases/kube-controller-manager -n kube-system
expect_cannot update deployments -n default
expect_cannot impersonate serviceaccounts
run 0 SAM plan --repo "$APPS"
expect_in "+ create ConfigMap/default/settings (cluster management)"

# --- Sharded (README: Sharding in a cluster): rbac-shards.yaml beside the leader election's Role,
# --shards in the Deployment's args, more replicas. The replicas may read, list and renew the
# Leases of meridian-system (shards and members); other Leases stay out of reach (the cluster-wide
# role of this stage lists and deletes every kind, Leases included, but updates none: the updates
# of shard and member Leases are this Role's).
cp "$ROOT/deploy/sharding/rbac-shards.yaml" "$REPO/clusters/management/"
sed -i -e 's/^\( *\)- --leader-elect-lease-name=meridian$/&\n\1- --shards=6/' -e 's/^  replicas: 2$/  replicas: 3/' \
  "$REPO/clusters/management/deployment.yaml"
grep -q -- '- --shards=6' "$REPO/clusters/management/deployment.yaml" || fail "the Deployment's args were not edited"
commit "meridian, sharded"
run 0 M apply --repo "$REPO" --auto-approve
expect_in "Role/meridian-system/meridian-shards"
run 0 M plan --repo "$REPO" --detailed-exitcode
OUT=$("${KUBECTL[@]}" -n meridian-system get deployment meridian -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].args}')
expect_in "3 "
expect_in "--shards=6"
expect_can list leases -n meridian-system
expect_can update leases/meridian-shard-5 -n meridian-system
expect_can update leases/meridian-member-meridian-5d9f-b54d802f -n meridian-system
expect_cannot update leases/kube-controller-manager -n kube-system
done_ok

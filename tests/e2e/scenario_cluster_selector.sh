#!/usr/bin/env bash
# One manifest, many clusters (issue 17): examples/kustomize-overlays' agents/ select their clusters
# by label. A DaemonSet selected onto 3 clusters is 3 objects in 2 region waves, each with its
# cluster's ${cluster.*} values; relabelling a cluster makes its copy a prune candidate; an unknown
# variable is an error naming file, line, object and field; a selector that selects nothing warns.
source "$(dirname "$0")/lib.sh"
new_repo kustomize-overlays
run 0 "$MERIDIAN" sim init --fixture "$ROOT/examples/fixtures/edge.yaml"

run 0 "$MERIDIAN" validate --repo "$REPO"
expect_in "valid"
expect_not_in "warning"

run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "create DaemonSet/observability/log-agent (cluster cache-hangzhou) [cn-hangzhou]"
expect_in "create DaemonSet/observability/log-agent (cluster web-hangzhou) [cn-hangzhou]"
expect_in "create DaemonSet/observability/log-agent (cluster web-shanghai) [cn-shanghai]"
expect_in "create Namespace/observability (cluster cache-hangzhou) [cn-hangzhou]"
[[ $(count_in "create DaemonSet/observability/log-agent") -eq 3 ]] || fail "expected 3 copies of the log agent:
$OUT"
expect_order "Wave 1: cn-hangzhou" "Wave 2: cn-shanghai"
expect_order "create DaemonSet/observability/log-agent (cluster web-hangzhou)" "Wave 2: cn-shanghai"
expect_order "Wave 2: cn-shanghai" "create DaemonSet/observability/log-agent (cluster web-shanghai)"
# The copies come in the same order every time.
first="$OUT"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
[[ "$OUT" == "$first" ]] || fail "two plans of the same commit differ"

run 0 "$MERIDIAN" plan --repo "$REPO" --format json --out "$WORK/plan.json"
copies=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(" ".join(sorted("%s@%s" % (c["cluster"], c["region"]) for c in p["changes"] if c["kind"]=="DaemonSet")))' "$WORK/plan.json")
[[ $copies == "cache-hangzhou@cn-hangzhou web-hangzhou@cn-hangzhou web-shanghai@cn-shanghai" ]] || fail "JSON plan copies: $copies"

run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve
expect_in "Apply #1 succeeded"
expect_order "region cn-hangzhou healthy" "region cn-shanghai healthy"

# Each copy carries its own cluster's values.
for cluster in web-hangzhou web-shanghai cache-hangzhou; do
  run 0 "$MERIDIAN" sim get daemonsets --cluster "$cluster" -n observability -o json
  got=$(python3 -c 'import json,sys; d=json.load(sys.stdin)["items"][0]; c=d["spec"]["template"]["spec"]["containers"][0]; e={x["name"]:x["value"] for x in c["env"]}; print(c["image"], e["CLUSTER"], e["TIER"], e["LOG_PATTERN"], d["metadata"]["annotations"]["meridian.io/tracking-id"])' <<<"$OUT")
  case $cluster in
    web-shanghai) region=cn-shanghai tier=web ;;
    web-hangzhou) region=cn-hangzhou tier=web ;;
    *) region=cn-hangzhou tier=cache ;;
  esac
  [[ $got == "registry.$region.aliyuncs.com/acs/log-agent:v1.0.0 $cluster $tier /var/log/\${SERVICE}/*.log $cluster:apps/DaemonSet:observability/log-agent" ]] ||
    fail "copy for $cluster: $got"
done

run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "No changes."
run 0 "$MERIDIAN" status --repo "$REPO"
[[ $(grep -c "DaemonSet/observability/log-agent" <<<"$OUT") -eq 3 ]] || fail "status: expected 3 log-agent rows:
$OUT"

# Relabel the cache cluster: the selector no longer selects it, so its copy is a prune candidate.
sed -i 's/labels: {env: prod, tier: cache}/labels: {env: prod, tier: batch}/' "$REPO/clusters.yaml"
commit "cache-hangzhou is a batch cluster now"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "1 managed object is no longer in Git (not deleted without --prune): DaemonSet/observability/log-agent (cluster cache-hangzhou)"
expect_not_in "delete DaemonSet/observability/log-agent"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode --prune
expect_in "delete DaemonSet/observability/log-agent (cluster cache-hangzhou) [cn-hangzhou]"
[[ $(count_in "delete ") -eq 1 ]] || fail "expected exactly one deletion:
$OUT"
run 0 "$MERIDIAN" apply --repo "$REPO" --auto-approve --prune
expect_in "succeeded"
run 0 "$MERIDIAN" sim get daemonsets --cluster cache-hangzhou -n observability
expect_not_in "log-agent"
run 0 "$MERIDIAN" sim get daemonsets --cluster web-hangzhou -n observability
expect_in "log-agent"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode --prune
expect_in "No changes."

# An unknown variable: an error naming the file, line, object and field; nothing is planned.
sed -i 's/value: ${cluster.labels.tier}/value: ${cluster.zone}/' "$REPO/agents/log-agent.yaml"
commit "a variable Meridian does not know"
run 1 "$MERIDIAN" validate --repo "$REPO"
expect_in 'agents/log-agent.yaml:34: DaemonSet/observability/log-agent: spec.template.spec.containers[0].env[1].value: unknown variable ${cluster.zone}: expected ${cluster.name}, ${cluster.region} or ${cluster.labels.<key>}'
run 1 "$MERIDIAN" plan --repo "$REPO"
expect_in "the manifests are invalid, nothing was planned or applied ("
git -C "$REPO" -c user.name=test -c user.email=test@example.com revert --no-edit HEAD >/dev/null

# A malformed selector: file, line and the annotation.
sed -i 's/"env=prod,tier in (web,cache)"/"env=prod,tier in (web,cache"/' "$REPO/agents/log-agent.yaml"
commit "an unclosed parenthesis"
run 1 "$MERIDIAN" validate --repo "$REPO"
expect_in "agents/log-agent.yaml:17: DaemonSet/observability/log-agent: metadata.annotations.meridian.io/cluster-selector: \"env=prod,tier in (web,cache\": not a label selector: found end of string, expected: ',' or ')'"
git -C "$REPO" -c user.name=test -c user.email=test@example.com revert --no-edit HEAD >/dev/null

# A selector that selects no cluster: a warning in validate and in the plan; its copies are prune candidates.
sed -i 's/"env=prod,tier in (web,cache)"/"env=staging"/' "$REPO/agents/log-agent.yaml"
commit "the agent moves to staging, which has no cluster yet"
run 0 "$MERIDIAN" validate --repo "$REPO"
expect_in 'agents/log-agent.yaml:17: warning: DaemonSet/observability/log-agent: metadata.annotations.meridian.io/cluster-selector: "env=staging" selects no cluster: the object is applied nowhere'
[[ $(count_in "selects no cluster") -eq 1 ]] || fail "the warning is shown once:
$OUT"
run 0 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
expect_in "Warnings"
expect_in '"env=staging" selects no cluster: the object is applied nowhere'
expect_in "2 managed objects are no longer in Git (not deleted without --prune): DaemonSet/observability/log-agent (cluster web-hangzhou), DaemonSet/observability/log-agent (cluster web-shanghai)"
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode --prune
expect_in "delete DaemonSet/observability/log-agent (cluster web-hangzhou) [cn-hangzhou]"
expect_in "delete DaemonSet/observability/log-agent (cluster web-shanghai) [cn-shanghai]"

# A kustomization whose commonAnnotations carry the selector: each built document is placed.
mkdir -p "$REPO/probes"
cat >"$REPO/probes/kustomization.yaml" <<'YAML'
resources: [probe.yaml]
commonAnnotations:
  meridian.io/cluster-selector: env=prod
YAML
cat >"$REPO/probes/probe.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: probe
data:
  cluster: ${cluster.name}
YAML
commit "a probe on every production cluster, through Kustomize"
run 0 "$MERIDIAN" render --repo "$REPO" --path probes
expect_in 'cluster: ${cluster.name}'
run 2 "$MERIDIAN" plan --repo "$REPO" --detailed-exitcode
[[ $(count_in "create ConfigMap/default/probe (cluster ") -eq 3 ]] || fail "expected 3 probes:
$OUT"
done_ok

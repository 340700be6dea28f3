#!/usr/bin/env bash
# tests/backend/sim/scheduler_capture.sh [CASE.yaml...]: regenerates the expected outputs of the
# scheduler conformance cases (scheduler_cases/*.yaml → *.expected) from the REAL kube-scheduler of
# the test kit (../shared/kube, v1.26), so that the data test_scheduler_conformance checks is
# reproducible.
#
# A case is a multi-document YAML: Nodes (labelled kit.local/fake-node: "true" so that the kit's
# fake kubelet keeps them Ready), then Pods and ReplicaSets, created in file order; each Pod or
# ReplicaSet is created only once the scheduler has decided every pod created before it (bound, or
# PodScheduled=False), which is the order the model plays them in. Pods that carry spec.nodeName
# are bound already. The outcome of each Pod or ReplicaSet is recorded as soon as it is decided:
#   <Kind>/<name> <node> <pods>             pods of it bound to <node>
#   <Kind>/<name> Pending <pods>: <message> pods of it left Pending with that PodScheduled message
# Each case runs in a namespace of its own; its nodes are deleted afterwards.
#
# Starts a kit with --nodes none in a temporary folder (stopped at exit), or uses the one at
# $CAPTURE_KUBECONFIG (which must hold no other nodes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
kit="${MERIDIAN_KUBE_KIT:-$root/../shared/kube}"
cases=("$@")
[[ ${#cases[@]} -gt 0 ]] || cases=("$here"/scheduler_cases/*.yaml)

if [[ -n "${CAPTURE_KUBECONFIG:-}" ]]; then
  kubeconfig="$CAPTURE_KUBECONFIG"
  kubectl=("$(dirname "$kubeconfig")/bin/kubectl" --kubeconfig "$kubeconfig")
else
  dir="$(mktemp -d "${TMPDIR:-/tmp}/meridian-sched.XXXXXX")"
  trap '"$kit/stop" "$dir" >/dev/null 2>&1 || true' EXIT
  kubeconfig="$("$kit/start" "$dir" --nodes none)"
  kubectl=("$dir/bin/kubectl" --kubeconfig "$kubeconfig")
  export KUBECACHEDIR="$dir/cache/kubectl"
fi
K() { "${kubectl[@]}" "$@"; }

version="$(K version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1)"

#! Lines "<nodeName>\t<PodScheduled status>\t<message>" of the pods matching selector $2 (a label
#! selector, or name=<pod>) in namespace $1.
pod_states() {
  local select=(-l "$2")
  [[ $2 == name=* ]] && select=(--field-selector "metadata.$2")
  K -n "$1" get pods "${select[@]}" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\t"}{.status.conditions[?(@.type=="PodScheduled")].status}{"\t"}{.status.conditions[?(@.type=="PodScheduled")].message}{"\n"}{end}'
}

#! Waits until the `want` pods matching selector $2 in namespace $1 are all decided.
wait_decided() {
  local ns=$1 selector=$2 want=$3 states count
  for _ in $(seq 1 300); do
    states="$(pod_states "$ns" "$selector")"
    count=$(printf '%s' "$states" | grep -c . || true)
    if [[ $count -eq $want ]] && ! printf '%s\n' "$states" | awk -F'\t' '$1 == "" && $2 != "False"' | grep -q .; then
      return 0
    fi
    sleep 0.2
  done
  echo "scheduler_capture: $ns: pods of $selector were not all decided in 60 s" >&2
  return 1
}

#! Waits until the node lifecycle controller has settled the case's nodes: none tainted not-ready
#! or unreachable (a node is, for a moment, before the fake kubelet's first lease), and cordoned
#! ones tainted unschedulable.
wait_nodes_settled() {
  local unsettled
  for _ in $(seq 1 300); do
    unsettled="$(K get nodes -o go-template='{{range .items}}{{$cordoned := .spec.unschedulable}}{{$tainted := false}}{{range .spec.taints}}{{if or (eq .key "node.kubernetes.io/not-ready") (eq .key "node.kubernetes.io/unreachable")}}notready{{end}}{{if eq .key "node.kubernetes.io/unschedulable"}}{{$tainted = true}}{{end}}{{end}}{{if and $cordoned (not $tainted)}}cordoned{{end}}{{end}}')"
    [[ -z "$unsettled" ]] && return 0
    sleep 0.2
  done
  echo "scheduler_capture: nodes did not settle in 60 s" >&2
  return 1
}

#! Prints the outcome lines of one Pod or ReplicaSet.
outcome() {
  local ns=$1 kind=$2 name=$3 selector=$4
  pod_states "$ns" "$selector" | awk -F'\t' -v who="$kind/$name" '
    $1 != "" { bound[$1]++ }
    $1 == "" { pending[$3]++ }
    END {
      for (node in bound) print who " " node " " bound[node]
      for (message in pending) print who " Pending " pending[message] ": " message
    }' | LC_ALL=C sort
}

capture_case() {
  local file=$1 case ns work doc kind name replicas selector
  case="$(basename "$file" .yaml)"
  ns="sched-$case"
  work="$(mktemp -d)"
  awk -v dir="$work" 'BEGIN { n = 1 } /^---/ { if (seen) n++; seen = 0; next } { if ($0 !~ /^#/ && $0 !~ /^ *$/) seen = 1; print > sprintf("%s/%03d.yaml", dir, n) }' "$file"
  K create namespace "$ns" >/dev/null
  {
    echo "# captured from kube-scheduler $version by tests/backend/sim/scheduler_capture.sh; do not edit"
    for doc in "$work"/*.yaml; do
      grep -q '^kind:' "$doc" || continue
      kind="$(sed -n 's/^kind: *//p' "$doc" | head -1)"
      name="$(K create --dry-run=client -f "$doc" -o jsonpath='{.metadata.name}')"
      case "$kind" in
        Node)
          K create -f "$doc" >/dev/null ;;
        Pod)
          wait_nodes_settled
          K -n "$ns" create -f "$doc" >/dev/null
          wait_decided "$ns" "name=$name" 1
          grep -q 'nodeName:' "$doc" || outcome "$ns" Pod "$name" "name=$name" ;;
        ReplicaSet)
          wait_nodes_settled
          K -n "$ns" create -f "$doc" >/dev/null
          replicas="$(K -n "$ns" get rs "$name" -o jsonpath='{.spec.replicas}')"
          selector="$(K -n "$ns" get rs "$name" -o go-template='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}')"
          wait_decided "$ns" "${selector%,}" "$replicas"
          outcome "$ns" ReplicaSet "$name" "${selector%,}" ;;
        *)
          echo "scheduler_capture: $file: kind $kind is not one of Node, Pod, ReplicaSet" >&2
          return 1 ;;
      esac
    done
  } >"${file%.yaml}.expected.tmp"
  mv "${file%.yaml}.expected.tmp" "${file%.yaml}.expected"
  # The namespace goes with its pods (the kit finalises deleted pods), so the case can run again.
  K delete namespace "$ns" --wait=true --timeout=120s >/dev/null
  K delete nodes --all --wait=true >/dev/null
  rm -rf "$work"
  echo "scheduler_capture: $case" >&2
}

for file in "${cases[@]}"; do
  capture_case "$file"
done

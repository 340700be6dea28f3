#!/usr/bin/env bash
# CI smoke test of tools/bench: N = 1,000, every measurement once. Run with the meridian binary as
# $1 from the source root. Fails only when the benchmark cannot finish.
set -euo pipefail
meridian=${1:?usage: smoke.sh MERIDIAN_BINARY}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
tools/bench --smoke --meridian "$meridian" --json "$out/bench.json"
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["sizes"][0]["figures"], "no figures"' "$out/bench.json"

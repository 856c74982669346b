#!/usr/bin/env bash
# The suite must be re-runnable and independent: each package's tests twice
# in one process, in a shuffled order (-count=2 -shuffle=on), and two copies
# of the whole suite at the same time (each test binary starts its own
# Azurite; every test uses containers of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== go test -count=2 -shuffle=on ./..."
go test -count=2 -shuffle=on -timeout 30m ./...
echo "== two copies of go test ./... at once"
log1=$(mktemp) log2=$(mktemp)
trap 'rm -f "$log1" "$log2"' EXIT
go test -count=1 -timeout 30m ./... >"$log1" 2>&1 & p1=$!
go test -count=1 -timeout 30m ./... >"$log2" 2>&1 & p2=$!
rc=0
wait $p1 || { echo "copy 1 failed:"; cat "$log1"; rc=1; }
wait $p2 || { echo "copy 2 failed:"; cat "$log2"; rc=1; }
[ $rc = 0 ] && echo "both copies passed"
exit $rc

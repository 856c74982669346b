#!/usr/bin/env bash
# The builds lifecycle's decision code (the pure files: decide, admission,
# creating, running, rescuing, finishing) must stay covered by its table
# tests: at least 90 % of its statements. Prints the figure; fails below.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=$(mktemp)
trap 'rm -f "$profile"' EXIT
go test -count=1 -coverprofile="$profile" ./builds >/dev/null
awk -F'[: ,]' '
  NR > 1 && $1 ~ /builds\/(decide|admission|creating|running|rescuing|finishing)\.go$/ {
    n = $(NF-1); total += n; if ($NF > 0) covered += n
  }
  END {
    pct = 100 * covered / total
    printf "builds decision code: %.1f%% of %d statements covered\n", pct, total
    if (pct < 90) { print "below 90%"; exit 1 }
  }' "$profile"

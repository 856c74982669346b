#!/usr/bin/env bash
# Coverage floors, from each package's own tests (prints the figures; fails
# below them):
# - the builds lifecycle's decision code (the pure files: decide, admission,
#   creating, running and its run_* steps, rescuing and its rescue_* steps,
#   finishing): at least 90 % of its statements;
# - the template package (issue 25): at least 85 % of its statements, and
#   every file of it covered (no file at 0 %).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=$(mktemp)
trap 'rm -f "$profile"' EXIT
go test -count=1 -coverprofile="$profile" ./builds >/dev/null
awk -F'[: ,]' '
  NR > 1 && $1 ~ /builds\/(decide|admission|creating|running|run_[a-z_]+|rescuing|rescue_[a-z_]+|finishing)\.go$/ {
    n = $(NF-1); total += n; if ($NF > 0) covered += n
  }
  END {
    pct = 100 * covered / total
    printf "builds decision code: %.1f%% of %d statements covered\n", pct, total
    if (pct < 90) { print "below 90%"; exit 1 }
  }' "$profile"
go test -count=1 -coverprofile="$profile" ./template >/dev/null
awk -F'[: ,]' '
  NR > 1 {
    n = $(NF-1); total += n; file[$1] += n
    if ($NF > 0) { covered += n; hit[$1] += n }
  }
  END {
    pct = 100 * covered / total
    printf "template: %.1f%% of %d statements covered, %d files\n", pct, total, length(file)
    bad = 0
    for (f in file) if (hit[f] == 0) { print f ": not covered by the package'"'"'s own tests"; bad = 1 }
    if (pct < 85) { print "below 85%"; bad = 1 }
    exit bad
  }' "$profile"

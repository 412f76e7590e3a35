#!/usr/bin/env bash
# Regenerates docs/reliability.md from the project's own runs: builds, runs the reliability
# suites on real agents and PostgreSQL 15 servers (ctest label reliability: hostile input,
# crash-safe writes, concurrency, kills at every operation step) and the libFuzzer targets,
# each writing its figures as JSON into the figures directory, then renders the page from
# tests/reliability/reliability.md.in and those files (scripts/render_reliability.py).
#   usage: scripts/reliability.sh [FUZZ_SECONDS_PER_TARGET]   (default 60; 0 skips fuzzing)
# Environment: PGHA_FIGURES_DIR (default build/reliability-figures, emptied first),
# PGHA_REL_SUITES (ctest regex of the suites, default all four), and the selections of
# tests/reliability/test_faults.py (PGHA_FAULT_OPS, PGHA_FAULT_TARGETS, PGHA_FAULT_STEPS).
# The page is written even when a suite fails (its failures are in it); the exit status is
# then 1. On 2 cores the whole run takes about half an hour; the fault suite most of it.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_seconds=${1:-60}
[[ "$fuzz_seconds" =~ ^[0-9]+$ ]] || { echo "usage: $0 [FUZZ_SECONDS_PER_TARGET]" >&2; exit 2; }
figures=${PGHA_FIGURES_DIR:-$PWD/build/reliability-figures}
suites=${PGHA_REL_SUITES:-hostile|crash_writes|concurrency|faults}
mkdir -p "$figures"
rm -f "$figures"/*.json
export PGHA_FIGURES_DIR=$figures

scripts/build.sh -DPGHA_WERROR=ON -DPGHA_FAULT_POINTS=ON >/dev/null  # the fault suites need them
status=0
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- . ':!docs/reliability.md' 2>/dev/null || commit="$commit+changes"
pg=$(/usr/lib/postgresql/15/bin/postgres --version 2>/dev/null || echo "PostgreSQL ?")
cat > "$figures/run.json" <<JSON
{"command": "scripts/reliability.sh $fuzz_seconds", "commit": "$commit",
 "date": "$(date -u '+%Y-%m-%d')",
 "machine": "$(nproc) cores, $(uname -sr), ${pg//\"/}"}
JSON

(cd build && ctest --output-on-failure -L reliability -R "reliability_($suites)\$") || status=1
if [ "$fuzz_seconds" -gt 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds" || status=1
fi

/usr/bin/python3 scripts/render_reliability.py "$figures" tests/reliability/reliability.md.in \
  docs/reliability.md
echo "reliability.sh: wrote docs/reliability.md from $figures (status $status)"
exit "$status"

#!/usr/bin/env bash
# The outage a client behind HAProxy sees (issue 14): a `pghactl local` pair behind Debian's
# haproxy (write port checked on /primary, read port on /replica), a writer on the write port
# only, and N rounds of switchover, switchover back and failover (the seed's: master stopped,
# slave promoted, old master rejoining). For each kind of event: the time between the last
# write acknowledged before it and the first after it, median, min and max over the rounds.
# The events and the checks are tests/e2e/test_haproxy.py's (PGHA_HAPROXY_ROUNDS); this script
# runs it N rounds long and summarises the lines it prints. See docs/benchmarks.md.
#
#   bench/run_haproxy.sh [--rounds N]
#
# Environment: BUILD_DIR (default <repo>/build-bench, configured Release if missing), PYTHON
# (a python3 with psycopg2 and pytest; default /usr/bin/python3). Needs haproxy
# (scripts/install-deps.sh installs it).
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$repo/build-bench}
python=${PYTHON:-/usr/bin/python3}
rounds=5

while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: bench/run_haproxy.sh [--rounds N]" >&2; exit 2 ;;
  esac
done
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 && $rounds -le 50 ]] || { echo "bad --rounds" >&2; exit 2; }

log() { printf '[run_haproxy.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { log "haproxy not found"; exit 1; }

if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  log "configuring $build_dir (Release)"
  cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DPGHA_BUILD_BENCH=ON \
    -DPGHA_BUILD_TESTS=OFF -DPGHA_BUILD_PYTHON=OFF >/dev/null
fi
log "building pghactl and pgha-agent in $build_dir"
cmake --build "$build_dir" -j2 --target pghactl pgha-agent >/dev/null

out=$(mktemp)
trap 'rm -f "$out"' EXIT
log "load before: $(cat /proc/loadavg)"
log "running $rounds rounds of switchover, switchover back and failover behind haproxy"
(cd "$build_dir" && PGHA_BIN_DIR="$build_dir/bin" PGHA_HAPROXY_ROUNDS=$rounds \
  "$python" -m pytest -q -s -p no:cacheprovider "$repo/tests/e2e/test_haproxy.py") >"$out" 2>&1 ||
  { tail -40 "$out" >&2; log "the run failed"; exit 1; }
log "load after: $(cat /proc/loadavg)"

echo "haproxy outage, $rounds rounds (seconds between the last write before an event and the first after)"
for event in switchover failover; do
  sed -n "s/^haproxy: $event: .* for \([0-9.]*\) s$/\1/p" "$out" | sort -n |
    awk -v e="$event" '{ v[NR] = $1 } END {
      if (NR == 0) { print e ": no figures"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%-10s median %.3f s  min %.3f  max %.3f  (%d events)\n", e, m, v[1], v[NR], NR }'
done
grep '^haproxy: .* rows through the write port' "$out" || true

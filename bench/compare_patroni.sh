#!/usr/bin/env bash
# pgha against Patroni, side by side, in one run on this machine (issue 13): for each system in
# turn -- pgha (`pghactl local up --etcd`), Patroni with its defaults and Patroni tuned (ttl 10,
# loop_wait 2, retry_timeout 4) -- an etcd of its own and a two-node PostgreSQL 15 cluster on
# free loopback ports below 32768, the same writer (one libpq connection string naming both
# nodes, target_session_attrs=read-write, about 500 rows/s) and the same events: switchover
# (CLI and REST), manual failover, node loss (kill -9 of the HA process and the postmaster),
# freeze (SIGSTOP past the lease, then SIGCONT), postgres crash (kill -9 of the postmaster),
# REST throughput (wrk) and the CLI's list. The runs of the three systems are interleaved.
# Prints each figure's median (min..max) with the ratios pgha / Patroni, then one `target:`
# line per target of issue 12, PASS or MISS. The measuring is bench/compare_patroni.py; the
# exit status only says whether the benchmark could run. See docs/benchmarks.md.
#
#   bench/compare_patroni.sh [--runs N] [--scenarios LIST] [--mode async|sync|both]
#                            [--wrk-seconds N]
#
# LIST: comma-separated, of switchover,switchover-rest,failover,node-loss,freeze,crash,rest,cli
# (default: all). As root it installs what is missing of patroni, etcd-server, etcd-client, wrk
# and python3-psycopg2 from Debian, with no packaged service started or left enabled.
# Everything it starts it stops by process id on exit (also on failure or interruption).
# Environment: BUILD_DIR (default <repo>/build: scripts/build.sh), PG_BINDIR (default
# /usr/lib/postgresql/15/bin), PYTHON (a python3 that imports psycopg2).
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$repo/build}
pg_bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
runs=5
scenarios=switchover,switchover-rest,failover,node-loss,freeze,crash,rest,cli
mode=async
wrk_seconds=5

usage() {
  echo "usage: bench/compare_patroni.sh [--runs N] [--scenarios LIST] [--mode async|sync|both] [--wrk-seconds N]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
    --scenarios) [ $# -ge 2 ] || usage; scenarios=$2; shift 2 ;;
    --mode) [ $# -ge 2 ] || usage; mode=$2; shift 2 ;;
    --wrk-seconds) [ $# -ge 2 ] || usage; wrk_seconds=$2; shift 2 ;;
    *) usage ;;
  esac
done
in_range() { [[ $1 =~ ^[0-9]+$ && $1 -ge $2 && $1 -le $3 ]] || { echo "bad $4: $1" >&2; exit 2; }; }
in_range "$runs" 1 50 --runs
in_range "$wrk_seconds" 1 60 --wrk-seconds
case $mode in async|sync|both) ;; *) echo "bad --mode: $mode" >&2; exit 2 ;; esac
for s in ${scenarios//,/ }; do
  case $s in
    switchover|switchover-rest|failover|node-loss|freeze|crash|rest|cli) ;;
    *) echo "bad scenario: $s" >&2; exit 2 ;;
  esac
done

log() { printf '[compare_patroni.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- packages: only the missing ones, with no service started by their installation ----------
installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }
missing=()
for p in patroni etcd-server etcd-client wrk python3-psycopg2; do
  installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: apt-get install ${missing[*]} (as root)"
  log "installing ${missing[*]} from Debian (services prevented from starting)"
  etcd_before=$(pgrep -x etcd || true)
  # policy-rc.d answering 101 keeps invoke-rc.d (the packages' postinst) from starting services.
  policy=/usr/sbin/policy-rc.d
  saved_policy=
  if [ -e "$policy" ]; then saved_policy=$(mktemp); cp -p "$policy" "$saved_policy"; fi
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; }
  rc=0
  apt_install || { apt-get update -qq >/dev/null 2>&1 && apt_install; } || rc=$?
  if [ -n "$saved_policy" ]; then mv "$saved_policy" "$policy"; else rm -f "$policy"; fi
  [ "$rc" = 0 ] || die "could not install ${missing[*]}"
  # Installed units are enabled by the packages; leave them disabled (this script runs its own).
  for unit in patroni etcd; do
    if command -v systemctl >/dev/null; then systemctl disable --now "$unit" >/dev/null 2>&1 || true; fi
    rm -f "/etc/systemd/system/multi-user.target.wants/$unit.service"
  done
  # An etcd the installation started anyway (no policy-rc.d honoured): stop it by its pid.
  for pid in $(pgrep -x etcd || true); do
    if ! grep -qw "$pid" <<<"$etcd_before"; then
      log "stopping etcd pid $pid started by the package installation"
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
fi

# --- pgha's binaries ---------------------------------------------------------------------------
pghactl=$build_dir/bin/pghactl
if [ ! -x "$pghactl" ] || [ ! -x "$build_dir/bin/pgha-agent" ]; then
  [ -f "$build_dir/CMakeCache.txt" ] || die "no pgha build in $build_dir: run scripts/build.sh"
  log "building pghactl and pgha-agent in $build_dir"
  cmake --build "$build_dir" -j2 --target pghactl pgha-agent >/dev/null
fi
for p in pg_ctl postgres initdb pg_rewind; do
  [ -x "$pg_bindir/$p" ] || die "$pg_bindir/$p not found (set PG_BINDIR)"
done
for p in etcd patroni patronictl wrk curl; do
  command -v "$p" >/dev/null || die "$p not found"
done
find_python() {
  local py
  for py in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$py" -c 'import psycopg2, yaml' 2>/dev/null; then echo "$py"; return 0; fi
  done
  return 0
}
python=$(find_python)
[ -n "$python" ] || die "no python3 imports psycopg2 and yaml (set PYTHON)"

# --- a temporary directory, and the EXIT trap that stops what the driver left ------------------
tmp=$(mktemp -d /tmp/pgha-vs-patroni.XXXXXX)
chmod 755 "$tmp"   # the postgres account must reach the clusters' directories in it
driver_pid=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$driver_pid" ] && kill -0 "$driver_pid" 2>/dev/null; then
    kill -TERM "$driver_pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$driver_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$driver_pid" 2>/dev/null || true
  fi
  # The driver stops what it started; should it have died first, the pids it recorded
  # (etcd members, Patroni processes, writers' helpers) and the pgha clusters are stopped here.
  for d in "$tmp"/*/pgha; do
    [ -f "$d/cluster.json" ] && (cd / && "$pghactl" local down "$d") >/dev/null 2>&1 || true
  done
  if [ -f "$tmp/pids" ]; then
    while read -r pid start; do
      [ -n "$pid" ] || continue
      # Only a process that is still the one recorded (same start time): pids are reused.
      if [ "$(cut -d' ' -f22 "/proc/$pid/stat" 2>/dev/null)" = "$start" ]; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$tmp/pids"
  fi
  for pm in "$tmp"/*/*/*/data/postmaster.pid; do
    [ -f "$pm" ] || continue
    pid=$(head -1 "$pm")
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

echo "pgha against Patroni, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs:" \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "$("$pghactl" --version), Patroni $(dpkg-query -W -f='${Version}' patroni)," \
  "$(etcd --version 2>/dev/null | head -1), $("$pg_bindir/postgres" --version)," \
  "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" "$repo/bench/compare_patroni.py" --tmp "$tmp" --pghactl "$pghactl" \
  --pg-bindir "$pg_bindir" --runs "$runs" --scenarios "$scenarios" --mode "$mode" \
  --wrk-seconds "$wrk_seconds" &
driver_pid=$!
rc=0
wait "$driver_pid" || rc=$?
driver_pid=
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc

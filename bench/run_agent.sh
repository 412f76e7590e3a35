#!/usr/bin/env bash
# Benchmarks pgha-agent on a `pghactl local` pair: call -> "new master accepts writes" for
# switchover (both orders), failover restart and promote, and the same moves by hand with
# pg_ctl, each with a writer's lost-row count; GET instance/current under 16 clients (wrk);
# walFile download next to nginx serving the same segment; `pghactl list` as a whole process.
# Prints figures and PASS/MISS lines for the targets; the exit status says only whether the
# benchmark could run. See docs/benchmarks.md. The measuring is bench/agent_bench.py.
#
#   bench/run_agent.sh [--runs N] [--list-runs N] [--wrk-seconds N]
#
# Needs wrk, nginx and python3-psycopg2; installs the missing ones from Debian when run as root
# (never as a service: nginx runs as a plain process with this script's configuration).
# Environment: BUILD_DIR (default <repo>/build-bench, configured Release if missing),
# PG_BINDIR (default /usr/lib/postgresql/15/bin), PYTHON (a python3 that imports psycopg2;
# default: python3 on PATH, else /usr/bin/python3).
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$repo/build-bench}
pg_bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
runs=5          # timed runs per HA operation (median reported)
list_runs=20    # runs of `pghactl list`
wrk_seconds=10

while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --list-runs) list_runs=$2; shift 2 ;;
    --wrk-seconds) wrk_seconds=$2; shift 2 ;;
    *) echo "usage: bench/run_agent.sh [--runs N] [--list-runs N] [--wrk-seconds N]" >&2; exit 2 ;;
  esac
done
in_range() { [[ $1 =~ ^[0-9]+$ && $1 -ge $2 && $1 -le $3 ]] || { echo "bad $4: $1" >&2; exit 2; }; }
in_range "$runs" 1 50 --runs
in_range "$list_runs" 1 500 --list-runs
in_range "$wrk_seconds" 1 60 --wrk-seconds

log() { printf '[run_agent.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- build -----------------------------------------------------------------------------------
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  log "configuring $build_dir (Release)"
  cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DPGHA_BUILD_BENCH=ON \
    -DPGHA_BUILD_TESTS=OFF -DPGHA_BUILD_PYTHON=OFF >/dev/null
fi
log "building pghactl and pgha-agent in $build_dir"
cmake --build "$build_dir" -j2 --target pghactl pgha-agent >/dev/null
pghactl=$build_dir/bin/pghactl

# --- tools: wrk, nginx, psycopg2 ---------------------------------------------------------------
for p in pg_ctl postgres; do
  [ -x "$pg_bindir/$p" ] || die "$pg_bindir/$p not found (set PG_BINDIR)"
done
command -v curl >/dev/null || die "curl not found"
find_nginx() { command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }
# A python3 with psycopg2: Debian's python3-psycopg2 is for /usr/bin/python3, which another
# python3 first on PATH (pyenv, a venv) does not see.
find_python() {
  local py
  for py in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$py" -c 'import psycopg2' 2>/dev/null; then echo "$py"; return 0; fi
  done
  return 0
}
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -n "$(find_nginx)" ] || missing+=(nginx-light)
[ -n "$(find_python)" ] || missing+=(python3-psycopg2)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: apt-get install ${missing[*]} (as root)"
  log "installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; }
  apt_install || { apt-get update -qq >/dev/null && apt_install; } ||
    die "could not install ${missing[*]}"
  # A package may start its service: this benchmark runs its own nginx, never the packaged one.
  if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
    systemctl stop nginx || true
  elif [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    kill "$(cat /run/nginx.pid)" || true
  fi
fi
nginx=$(find_nginx)
python=$(find_python)
[ -n "$python" ] || die "no python3 imports psycopg2 (set PYTHON)"

# --- the cluster and nginx, in a temporary directory removed on exit ---------------------------
tmp=$(mktemp -d /tmp/pgha-agent-bench.XXXXXX)
chmod 755 "$tmp"   # the postgres account must reach the cluster directory in it
cluster=$tmp/cluster
nginx_pid=

cleanup() {
  local rc=$?
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -TERM "$nginx_pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -f "$cluster/cluster.json" ]; then
    (cd / && "$pghactl" local down "$cluster") >"$tmp/down.log" 2>&1 ||
      { log "pghactl local down failed:"; cat "$tmp/down.log" >&2; }
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

source "$repo/bench/free_port.sh"

log "pghactl local up $cluster"
(cd / && "$pghactl" local up "$cluster") >"$tmp/up.log" 2>&1 ||
  { cat "$tmp/up.log" >&2; die "local up failed"; }

# The segment both servers serve: the first node's oldest segment, a full 16 MiB file that
# nothing removes during the run (the agents keep wal_keep_size = 1 GB).
read -r seg_node wal_dir < <("$python" -c '
import json, sys
n = json.load(open(sys.argv[1]))["nodes"][0]
print(n["name"], n["data_dir"] + "/pg_wal")' "$cluster/cluster.json")
segment=$(ls "$wal_dir" | grep -E '^[0-9A-F]{24}$' | head -1)
[ -n "$segment" ] || die "no WAL segment in $wal_dir"

ng=$tmp/nginx
mkdir -p "$ng"
nginx_port=$(free_port) || die "no free loopback port found"
user_line=
if [ "$(id -u)" = 0 ]; then user_line="user postgres;"; fi   # workers must read pg_wal
cat >"$ng/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
$user_line
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path $ng/body;
  proxy_temp_path $ng/proxy;
  fastcgi_temp_path $ng/fastcgi;
  uwsgi_temp_path $ng/uwsgi;
  scgi_temp_path $ng/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location /wal/ { alias $wal_dir/; }
  }
}
EOF
log "nginx on 127.0.0.1:$nginx_port serving $wal_dir"
"$nginx" -p "$ng/" -c "$ng/nginx.conf" -e "$ng/error.log" >"$ng/stdout.log" 2>&1 &
nginx_pid=$!
nginx_up=0
for ((i = 0; i < 100; i++)); do
  if curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$nginx_port/wal/$segment"; then
    nginx_up=1
    break
  fi
  kill -0 "$nginx_pid" 2>/dev/null || break
  sleep 0.05
done
if [ "$nginx_up" != 1 ]; then
  cat "$ng/error.log" "$ng/stdout.log" >&2 || true
  die "nginx does not serve $segment"
fi

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt")
py_version=$("$python" -c 'import platform, psycopg2
print("Python", platform.python_version() + ", psycopg2", psycopg2.__version__.split()[0])')
echo "pgha-agent benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs:" \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "$("$pghactl" --version) ($build_type build), $("$pg_bindir/postgres" --version)," \
  "$("$nginx" -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $py_version"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"

"$python" "$repo/bench/agent_bench.py" --cluster "$cluster" --pghactl "$pghactl" \
  --pg-bindir "$pg_bindir" --nginx-url "http://127.0.0.1:$nginx_port/wal" \
  --segment "$segment" --segment-node "$seg_node" \
  --runs "$runs" --list-runs "$list_runs" --wrk-seconds "$wrk_seconds"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Runs pgha's core benchmarks: the micro figures of pgha_bench_core, then the end-of-WAL scan
# over real WAL written by PostgreSQL in this run, timed next to pg_waldump over the same
# segment files. Prints figures and a PASS/MISS line for the 10x target; the exit status says
# only whether the benchmark could run. See docs/benchmarks.md.
#
#   bench/run.sh [--segments N] [--runs N] [--no-micro]
#
# Environment: BUILD_DIR (default <repo>/build-bench), PG_BINDIR (default
# /usr/lib/postgresql/15/bin), PGHA_FIXTURES_DIR (slot files; default tests/fixtures).
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$repo/build-bench}
pg_bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
segments=64      # full 16 MiB segments of WAL to write and scan
runs=5           # timed runs per WAL figure (median reported)
micro=1
target_ratio=10

while [ $# -gt 0 ]; do
  case $1 in
    --segments) segments=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-micro) micro=0; shift ;;
    *) echo "usage: bench/run.sh [--segments N] [--runs N] [--no-micro]" >&2; exit 2 ;;
  esac
done
[[ $segments =~ ^[0-9]+$ && $segments -ge 2 && $segments -le 256 ]] || { echo "bad --segments" >&2; exit 2; }
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 && $runs -le 50 ]] || { echo "bad --runs" >&2; exit 2; }

log() { printf '[run.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- build ---------------------------------------------------------------------------------
bench=$build_dir/bin/pgha_bench_core
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  log "configuring $build_dir (Release)"
  cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DPGHA_BUILD_BENCH=ON \
    -DPGHA_BUILD_TESTS=OFF -DPGHA_BUILD_PYTHON=OFF >/dev/null
fi
log "building pgha_bench_core"
cmake --build "$build_dir" -j2 --target pgha_bench_core >/dev/null

echo "pgha benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs:" \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"

if [ "$micro" = 1 ]; then
  echo
  "$bench"
fi

# --- a PostgreSQL server in a temporary directory, removed on exit ---------------------------
for p in initdb pg_ctl pg_controldata pg_waldump pgbench psql; do
  [ -x "$pg_bindir/$p" ] || die "$pg_bindir/$p not found (set PG_BINDIR)"
done
tmp=$(mktemp -d /tmp/pgha-bench.XXXXXX)
pg_home=$tmp/pg   # the server's directory: data dir, socket, log
data=$pg_home/data
server_started=0

# PostgreSQL programs run from / (the repo may be unreadable to their account) and, when this
# script runs as root, as the postgres account, since PostgreSQL refuses to run as root.
pg() {
  local program=$pg_bindir/$1
  shift
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$program" "$@")
  else
    (cd / && "$program" "$@")
  fi
}

cleanup() {
  local rc=$?
  if [ "$server_started" = 1 ]; then
    pg pg_ctl -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

source "$repo/bench/free_port.sh"

mkdir -p "$pg_home"
chmod 755 "$tmp"
if [ "$(id -u)" = 0 ]; then chown postgres: "$pg_home"; fi
log "initdb in $data"
pg initdb -D "$data" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
port=$(free_port) || die "no free loopback port found"
# No checkpoint, no removal of segments while the WAL is written; fsync off only speeds up
# the writing (it does not change what is written).
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$pg_home'
fsync = off
synchronous_commit = off
max_wal_size = 8GB
wal_keep_size = 8GB
checkpoint_timeout = 1h
EOF
log "starting PostgreSQL on 127.0.0.1:$port"
server_started=1
pg pg_ctl -D "$data" -l "$pg_home/server.log" -w -t 60 start >/dev/null \
  || { cat "$pg_home/server.log" >&2; die "PostgreSQL did not start"; }

sql() { (cd / && "$pg_bindir/psql" -X -q -At -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "$1"); }

# --- real WAL: pgbench's load, a pgbench run, then bulk inserts until enough segments -----------
seg_size=$(sql "SELECT pg_size_bytes(current_setting('wal_segment_size'))")
target=$(( (segments + 2) * seg_size ))   # WAL starts in segment 1; one more for the end
log "writing >= $segments segments of WAL (pgbench -i -s 10, pgbench -T 15, INSERTs)"
(cd / && "$pg_bindir/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s 10 -q postgres) \
  >"$tmp/pgbench.log" 2>&1 || { cat "$tmp/pgbench.log" >&2; die "pgbench -i failed"; }
(cd / && "$pg_bindir/pgbench" -h 127.0.0.1 -p "$port" -U postgres -c 2 -j 2 -T 15 -n postgres) \
  >>"$tmp/pgbench.log" 2>&1 || { cat "$tmp/pgbench.log" >&2; die "pgbench failed"; }
sql "CREATE TABLE fill (id bigint PRIMARY KEY, payload text)"
for ((i = 0; i < 200; i++)); do
  [ "$(sql "SELECT pg_current_wal_insert_lsn() - '0/0' >= $target")" = t ] && break
  sql "INSERT INTO fill SELECT g, md5(g::text) FROM generate_series($((i * 500000 + 1)), $(((i + 1) * 500000))) g"
done
[ "$(sql "SELECT pg_current_wal_insert_lsn() - '0/0' >= $target")" = t ] || die "not enough WAL written"
log "stopping PostgreSQL"
pg pg_ctl -D "$data" -m fast -w -t 60 stop >/dev/null || die "PostgreSQL did not stop"
server_started=0

# The segments from the oldest through the one with the shutdown checkpoint: the whole WAL.
last=$(pg pg_controldata "$data" | sed -n "s/^Latest checkpoint's REDO WAL file: *//p")
[ -n "$last" ] || die "pg_controldata gave no REDO WAL file"
wal_dir=$data/pg_wal
files=()
for path in "$wal_dir"/*; do   # in name order (LC_ALL=C): segment order on one timeline
  name=${path##*/}
  if [[ $name =~ ^[0-9A-F]{24}$ && ! $name > $last ]]; then files+=("$path"); fi
done
first=$(basename "${files[0]}")
[ "${#files[@]}" -gt "$segments" ] || die "only ${#files[@]} segment files"
cat "${files[@]}" >/dev/null   # into the page cache before any timing

# --- the same segment files, same run: pgha's end scan and pg_waldump ------------------------
log "timing over ${#files[@]} segment files, $runs runs each"
"$bench" --wal-only --porcelain --runs "$runs" "${files[@]}" >"$tmp/pgha.txt"
field() { sed -n "s/^wal_scan_$1=//p" "$tmp/pgha.txt"; }
range_bytes=$(field range_bytes)
[ "$range_bytes" -gt 0 ] || die "pgha's scan read no WAL: $(field stop_reason)"

waldump() { (cd / && "$pg_bindir/pg_waldump" -p "$wal_dir" "$@" "$first" "$last"); }
# Nanoseconds of one run of "$@"; stdout is discarded, stderr kept in $tmp/stderr.
# pg_waldump ends with an error at the end of the WAL, so exit statuses are not judged here.
nanos() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>"$tmp/stderr" || true
  t1=$(date +%s%N)
  echo $((t1 - t0))
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# Runs interleaved, so that a slow moment of the machine hits every tool alike.
: >"$tmp/t_process"; : >"$tmp/t_quiet"; : >"$tmp/t_full"
full_runs=$((runs < 3 ? runs : 3))
for ((r = 0; r < runs; r++)); do
  nanos "$bench" --wal-only --warmup 0 --runs 1 "${files[@]}" >>"$tmp/t_process"
  nanos waldump --quiet >>"$tmp/t_quiet"
  cp "$tmp/stderr" "$tmp/waldump_stderr"
  if [ "$r" -lt "$full_runs" ]; then nanos waldump >>"$tmp/t_full"; fi
done
# pg_waldump names the end of the WAL in its last error, "... at X/Y: wanted 24, got 0".
waldump_end=$(grep -o 'at [0-9A-F]*/[0-9A-F]*' "$tmp/waldump_stderr" | tail -1 | cut -c4- || true)
waldump_records=$( (waldump --stats 2>/dev/null || true) | awk '$1 == "Total" { print $2 }')

in_process=$(awk -v s="$(field median_s)" 'BEGIN { printf "%d", s * 1e9 }')
process=$(median <"$tmp/t_process")
quiet=$(median <"$tmp/t_quiet")
full=$(median <"$tmp/t_full")

# row NAME NANOS RUNS: seconds, MB/s over the WAL range, and this time / the time of pgha's
# whole process (how many times pgha is faster).
row() {
  awk -v name="$1" -v ns="$2" -v n="$3" -v bytes="$range_bytes" -v ours="$process" 'BEGIN {
    printf "%-46s %4d %9.3f %9.1f %8.1fx\n", name, n, ns / 1e9, bytes / (ns / 1e9) / 1e6, ns / ours }'
}
echo
echo "WAL end scan vs pg_waldump: the same ${#files[@]} segment files $first..$last"
echo "  (real WAL of PostgreSQL $("$pg_bindir/pg_waldump" --version | awk '{ print $3 }'): pgbench -i -s 10, pgbench -T 15, INSERTs;" \
  "read once into the page cache before timing)"
echo "  WAL $(field start)..$(field end) = $(awk -v b="$range_bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB;" \
  "MB/s below = these bytes / median wall time (1 MB = 10^6 bytes)"
echo "  pgha:       $(field records) records ($(awk -v b="$range_bytes" -v n="$(field records)" 'BEGIN { printf "%.0f", b / n }') bytes on average)," \
  "stopped: $(field stop_reason)"
echo "  pg_waldump: ${waldump_records:-?} records (--stats), stopped: $(tail -1 "$tmp/waldump_stderr")"
if [ "$waldump_end" = "$(field end)" ] && [ "$waldump_records" = "$(field records)" ]; then
  echo "  end and record count agree: yes"
else
  echo "  end and record count agree: NO (pg_waldump end ${waldump_end:-?}, pgha end $(field end))"
fi
echo
printf '%-46s %4s %9s %9s %9s\n' "median wall time of" runs seconds "MB/s" "vs pgha"
row "pgha end scan, in process (ScanWalFiles)" "$in_process" "$(field runs)"
row "pgha end scan, whole process (pgha_bench_core)" "$process" "$runs"
row "pg_waldump --quiet" "$quiet" "$runs"
row "pg_waldump, normal output to /dev/null" "$full" "$full_runs"
awk -v q="$quiet" -v p="$process" -v t="$target_ratio" 'BEGIN {
  ratio = q / p
  printf "target: pgha end scan (whole process) >= %dx pg_waldump --quiet: %s (%.1fx)\n",
    t, (ratio >= t ? "PASS" : "MISS"), ratio }'

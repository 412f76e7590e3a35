#!/usr/bin/env bash
# make-control-fixtures.sh -- real global/pg_control files of one PostgreSQL major, each with
# what PostgreSQL itself said about it (tests/fixtures/pgNN/control/, tests/fixtures/README.md).
# scripts/make-fixtures.sh runs it for every major; it can also be run alone.
#
#   usage: scripts/make-control-fixtures.sh OUTDIR [--bindir DIR] [--client-bindir DIR]
#                                           [--user NAME] [--keep-work]
#     OUTDIR             OUTDIR/control/ is written (replaced when complete)
#     --bindir DIR       initdb, pg_ctl, postgres (default /usr/lib/postgresql/15/bin)
#     --client-bindir D  psql (any major from 10 on; default /usr/lib/postgresql/15/bin), and
#                        pg_controldata when it is of the server's major
#     --user NAME        as root, the account PostgreSQL runs as (default postgres)
#     --keep-work        keep the scratch directory (data directory, server log)
#
# What it does: initdb (data checksums on; 32 MB WAL segments from 11 on, where initdb can set
# them, so that the segment size is read and not assumed), wal_level = logical and
# wal_log_hints = on (not the defaults), a server on 127.0.0.1 on a free port below 32768,
# some writes and a CHECKPOINT, then:
#   shutdown.pg_control  global/pg_control after `pg_ctl stop -m fast` ("shut down")
#   shutdown.json        pg_control_system/checkpoint/recovery/init() read after the server
#                        was started again: a start after a clean shutdown writes no
#                        checkpoint, so these are the shut-down file's values, except the
#                        state and pg_control_last_modified, which the start rewrote
#   running.pg_control   global/pg_control copied while the server runs ("in production"),
#                        after more writes and an online CHECKPOINT
#   running.json         the same functions, read right before and right after the copy
#                        (identical, or the copy is taken again)
#   standby.pg_control   a standby made from the cold copy of the shut-down primary, streaming
#                        from it, copied after a restartpoint ("in archive recovery", with a
#                        minimum recovery point); standby.json as running.json
#   promoted.pg_control  that standby after `pg_ctl promote` and a CHECKPOINT: timeline 2;
#                        promoted.json as running.json (11 and later)
#   <case>.txt           `LC_ALL=C TZ=UTC pg_controldata` of that very file, when the client
#                        bindir has pg_controldata of the server's major (15 from Debian)
# The JSON holds the state the server was in (the functions do not show it), the functions'
# rows as PostgreSQL's row_to_json() wrote them, the settings
# wal_level/wal_log_hints/data_checksums, and the two times as epoch seconds. The servers are
# stopped and the scratch directory removed at exit.
set -euo pipefail

die() { echo "make-control-fixtures: ERROR: $*" >&2; exit 1; }
log() { echo "make-control-fixtures: $*" >&2; }

[ $# -ge 1 ] && [ "${1#-}" = "$1" ] || { sed -n '2,38p' "$0" >&2; exit 2; }
out=$1; shift
bindir=/usr/lib/postgresql/15/bin
client=/usr/lib/postgresql/15/bin
runas=postgres
keep_work=
while [ $# -gt 0 ]; do
  case $1 in
    --bindir) bindir=$2; shift 2;;
    --client-bindir) client=$2; shift 2;;
    --user) runas=$2; shift 2;;
    --keep-work) keep_work=1; shift;;
    *) die "unknown option $1";;
  esac
done
for b in initdb pg_ctl postgres; do [ -x "$bindir/$b" ] || die "$bindir/$b not found"; done
[ -x "$client/psql" ] || die "$client/psql not found"

major_of() { "$1" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/'; }
major=$(major_of "$bindir/postgres")
server=$("$bindir/postgres" --version | sed -E 's/^[^0-9]*//')
[ "$major" -ge 10 ] || die "PostgreSQL 10 or later needed, not $server"
controldata=
if [ -x "$client/pg_controldata" ] && [ "$(major_of "$client/pg_controldata")" = "$major" ]; then
  controldata=$client/pg_controldata
fi

if [ "$(id -u)" = 0 ]; then
  id "$runas" >/dev/null 2>&1 || die "no account $runas (PostgreSQL does not run as root)"
  as_user() { runuser -u "$runas" -- env LC_ALL=C LANG=C TZ=UTC "$@"; }
else
  as_user() { env LC_ALL=C LANG=C TZ=UTC "$@"; }
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/pgha-control-fixtures.XXXXXX)
chmod 755 "$work"
[ "$(id -u)" = 0 ] && chown "$runas" "$work"
# Two servers: the primary, and a standby made from its cold copy. `use` picks the one that
# start, stop, q and copy_running act on.
declare -A node_port=()
use() { node=$1; data=$work/$1; port=${node_port[$1]:-}; }
cleanup() {
  local d
  for d in "$work/primary" "$work/standby"; do
    [ -f "$d/postmaster.pid" ] || continue
    as_user "$bindir/pg_ctl" -D "$d" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
  done
  if [ -n "$keep_work" ]; then log "scratch directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A TCP port below 32768 (under the ephemeral range) that no socket uses now.
port_busy() { [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]; }
pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    port_busy "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}
start() { # moves the server to another port when its port was taken meanwhile
  local log_file=$work/$node.log
  for _ in 1 2 3 4 5 6; do
    as_user "$bindir/pg_ctl" -D "$data" -l "$log_file" -w -t 120 start >/dev/null && return 0
    tail -5 "$log_file" | grep -q 'Address already in use' || die "the $node did not start (see $log_file)"
    set_port "$(pick_port)"
    log "port taken, $node moved to $port"
  done
  die "the $node found no free port"
}
set_port() { port=$1; node_port[$node]=$1; echo "port = $1" >> "$data/postgresql.conf"; }
stop() { as_user "$bindir/pg_ctl" -D "$data" -m "${1:-fast}" -w -t 120 stop >/dev/null; }
q() {
  as_user env PGCONNECT_TIMEOUT=10 "$client/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
    -p "$port" -U postgres -d postgres -At "$@"
}

# Everything the pg_control_*() functions say, as one JSON object, in PostgreSQL's spelling.
control_sql="SELECT json_build_object(
  'system', (SELECT row_to_json(s) FROM pg_control_system() s),
  'checkpoint', (SELECT row_to_json(c) FROM pg_control_checkpoint() c),
  'recovery', (SELECT row_to_json(r) FROM pg_control_recovery() r),
  'init', (SELECT row_to_json(i) FROM pg_control_init() i),
  'settings', json_build_object('wal_level', current_setting('wal_level'),
                                'wal_log_hints', current_setting('wal_log_hints'),
                                'data_checksums', current_setting('data_checksums'),
                                'server_version', current_setting('server_version')),
  'epoch', json_build_object(
    'checkpoint_time', (SELECT extract(epoch FROM checkpoint_time)::bigint FROM pg_control_checkpoint()),
    'pg_control_last_modified', (SELECT extract(epoch FROM pg_control_last_modified)::bigint FROM pg_control_system())))"

# copy_running NAME: global/pg_control of the running server into NAME.pg_control, between two
# reads of the functions that agree (else again); prints the JSON they gave.
copy_running() {
  local before after
  for _ in 1 2 3 4 5; do
    before=$(q -c "$control_sql")
    cp "$data/global/pg_control" "$work/control/$1.pg_control"
    after=$(q -c "$control_sql")
    [ "$before" = "$after" ] && { printf '%s' "$after"; return 0; }
    log "pg_control changed while it was copied; again"
  done
  die "pg_control kept changing while it was copied"
}

# wait_for SQL: polls the current server until SQL answers t (60 s).
wait_for() {
  for _ in $(seq 1 300); do
    [ "$(q -c "$1" 2>/dev/null || true)" = t ] && return 0
    sleep 0.2
  done
  die "the $node never answered t to: $1"
}

# write_case NAME STATE SQL_JSON DESCRIPTION NOT_FROM_FILE_JSON: NAME.json next to NAME.pg_control
write_case() {
  cat > "$work/control/$1.json" <<EOF
{
 "case": "$1",
 "file": "$1.pg_control",
 "server": "PostgreSQL $server",
 "state": "$2",
 "description": "$4",
 "not_from_this_file": $5,
 "sql": $3
}
EOF
  if [ -n "$controldata" ]; then
    mkdir -p "$work/cd-$1/global"
    cp "$work/control/$1.pg_control" "$work/cd-$1/global/pg_control"
    LC_ALL=C LANG=C TZ=UTC "$controldata" -D "$work/cd-$1" > "$work/control/$1.txt"
  fi
}

log "PostgreSQL $server ($bindir), psql $(major_of "$client/psql"), work $work"
initdb_args=(-D "$work/primary" -U postgres -A trust -E UTF8 --no-locale -k)
[ "$major" -ge 11 ] && initdb_args+=(--wal-segsize=32)
use primary
as_user "$bindir/initdb" "${initdb_args[@]}" > "$work/initdb.log" 2>&1 ||
  { cat "$work/initdb.log" >&2; die "initdb failed"; }
cat >> "$data/postgresql.conf" <<EOF

# ---- added by make-control-fixtures.sh ----
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
wal_level = logical
wal_log_hints = on
max_wal_senders = 4
checkpoint_timeout = 1h
max_wal_size = 1GB
autovacuum = off
shared_buffers = 16MB
lc_messages = 'C'
hot_standby = on
EOF
set_port "$(pick_port)"
mkdir -p "$work/control"
start
q -c "CREATE TABLE t(id int PRIMARY KEY, v text)" \
  -c "INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g" -c "CHECKPOINT"

# ---- shut down (and the standby's cold copy of it)
stop
cp "$data/global/pg_control" "$work/control/shutdown.pg_control"
cp -a "$data" "$work/standby"
start
write_case shutdown "shut down" "$(q -c "$control_sql")" \
  "global/pg_control after pg_ctl stop -m fast; sql read after the next start, which wrote no checkpoint" \
  '["system.pg_control_last_modified", "epoch.pg_control_last_modified"]'

# ---- running: more writes, then an online checkpoint
q -c "INSERT INTO t SELECT g, 'y' FROM generate_series(2001, 3000) g"
q -c "CHECKPOINT"
json=$(copy_running running)
write_case running "in production" "$json" \
  "global/pg_control copied while the primary runs, after an online CHECKPOINT; sql read right before and after the copy, identical" \
  '[]'

# ---- standby: the cold copy streaming from the primary, after a restartpoint
primary_port=$port
primary_lsn=$(q -c "SELECT pg_current_wal_lsn()")
use standby
if [ "$major" -ge 12 ]; then
  touch "$data/standby.signal"
  echo "primary_conninfo = 'host=127.0.0.1 port=$primary_port user=postgres'" >> "$data/postgresql.conf"
else
  printf "standby_mode = 'on'\nprimary_conninfo = 'host=127.0.0.1 port=%s user=postgres'\n" \
    "$primary_port" > "$data/recovery.conf"
fi
# the server removes or renames these at promotion
if [ "$(id -u)" = 0 ]; then
  for f in "$data/standby.signal" "$data/recovery.conf"; do [ ! -e "$f" ] || chown "$runas" "$f"; done
fi
set_port "$(pick_port)"
start
wait_for "SELECT pg_last_wal_replay_lsn() >= '$primary_lsn'"
q -c "CHECKPOINT"
json=$(copy_running standby)
write_case standby "in archive recovery" "$json" \
  "global/pg_control copied while a streaming standby runs, after a restartpoint (CHECKPOINT on the standby); sql read right before and after the copy, identical" \
  '[]'

# ---- promoted: the standby promoted to timeline 2, after its first checkpoint there. Not in
# 10: the WAL receiver of the 10.23 npm build dies of SIGSEGV when it exits, and the promotion
# never completes.
if [ "$major" -ge 11 ]; then
  as_user "$bindir/pg_ctl" -D "$data" -w -t 120 promote >/dev/null
  wait_for "SELECT NOT pg_is_in_recovery()"
  q -c "CHECKPOINT"
  json=$(copy_running promoted)
  write_case promoted "in production" "$json" \
    "global/pg_control copied while the promoted standby runs on timeline 2, after a CHECKPOINT; sql read right before and after the copy, identical" \
    '[]'
fi
stop immediate  # nothing to keep of the standby
use primary
stop

chmod 644 "$work/control"/*
rm -rf "$out/control"
cp -r "$work/control" "$out/control"
log "wrote $out/control ($(ls "$out/control" | tr '\n' ' '))"

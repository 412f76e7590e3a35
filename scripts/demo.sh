#!/usr/bin/env bash
# The main job until the agent lands: builds pgha, makes a real PostgreSQL 15 server on a free
# loopback port in a temporary directory (as the postgres account when run as root), gives it
# a logical replication slot and some WAL, stops it, and has `pghactl inspect` decode its slot
# state file, its last WAL segment and its pg_controldata output. Everything it started is
# stopped and removed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bindir=${PGHA_PG_BINDIR:-/usr/lib/postgresql/15/bin}

[ -x build/bin/pghactl ] || scripts/build.sh -DPGHA_BUILD_TESTS=OFF -DPGHA_BUILD_BENCH=OFF >/dev/null

as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi
pg() { (cd / && "${as_pg[@]}" env LC_ALL=C TZ=UTC "$@"); }

work=$(mktemp -d /tmp/pgha-demo-XXXXXX)
chmod 755 "$work"
[ "$(id -u)" -eq 0 ] && chown postgres: "$work"
cleanup() {
  pg "$bindir/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

port=""
for _ in $(seq 1 50); do   # a port below the ephemeral range that nothing listens on
  candidate=$((20000 + RANDOM % 12000))
  if ! ss -Hltn "sport = :$candidate" | grep -q .; then port=$candidate; break; fi
done
[ -n "$port" ] || { echo "no free port found" >&2; exit 1; }

pg "$bindir/initdb" -D "$work/data" -U postgres -A trust --no-locale -E UTF8 --wal-segsize=1 >/dev/null
pg "$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
   -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work -c wal_level=logical" \
   start >/dev/null
psql() { pg "$bindir/psql" -X -q -At -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql -c "SELECT pg_create_logical_replication_slot('demo_slot', 'test_decoding')" >/dev/null
psql -c "CREATE TABLE demo AS SELECT g, md5(g::text) FROM generate_series(1, 20000) g" >/dev/null
psql -c "SELECT count(*) FROM pg_logical_slot_get_changes('demo_slot', NULL, 100)" >/dev/null
psql -c "CHECKPOINT" >/dev/null
echo "== PostgreSQL says (pg_replication_slots):"
psql -c "SELECT slot_name, plugin, restart_lsn, confirmed_flush_lsn, catalog_xmin FROM pg_replication_slots"
pg "$bindir/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null

echo "== pghactl inspect pg_replslot/demo_slot/state"
"$root/build/bin/pghactl" inspect "$work/data/pg_replslot/demo_slot/state"
pg "$bindir/pg_controldata" -D "$work/data" > "$work/controldata.txt"
echo "== pghactl inspect <pg_controldata output>"
"$root/build/bin/pghactl" inspect "$work/controldata.txt"
redo_file=$(sed -n "s/^Latest checkpoint's REDO WAL file: *//p" "$work/controldata.txt")
echo "== pghactl inspect pg_wal/$redo_file"
"$root/build/bin/pghactl" inspect "$work/data/pg_wal/$redo_file"

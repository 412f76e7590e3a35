#!/usr/bin/env bash
# test-matrix.sh -- pgha's operations on every PostgreSQL major, 12 to 18 (docs/versions.md).
#
#   usage: scripts/test-matrix.sh [--short] [--build DIR] [MAJOR ...]
#     MAJOR     12 .. 18 (default: all of them); 15 is Debian's, the others the npm builds
#               that scripts/fetch-postgres.sh fetches once into its cache
#     --short   the subset scripts/test.sh runs on every major (about a minute each)
#     --build   the build tree whose bin/ and python/ are tested (default: build)
#
# For each major the suites run with PGHA_PG_BINDIR set to its bindir, so that `pghactl local
# up --bindir` and the integration harness run that major's servers:
#   short: pgha's own base backup under writes (integration/test_base_backup_pg.py), and the
#          seed's six cases once each with the writer that must lose nothing (init, sync,
#          switchover both orders, failover restart and promote, the old master's rejoin),
#          and a diverged old master's rejoin (by pg_rewind, or a fresh copy without one);
#   full:  also the whole base backup module, a logical slot carried across switchover and
#          failovers, failover on a standby that followed a promoted master, synchronous
#          replication, the operations suite, server parameters, /metrics, the logical slot
#          keeper's SQL, passwords without trust (the rewind role, or a fresh copy), the seed cases three times each, and automatic failover on etcd
#          (every loss of tests/ha/test_auto_failover.py).
# The majors without a pg_rewind of their own (the npm builds ship none) rejoin by a fresh
# copy: the seed cases and the failover suites go through it there.
#
# Every SQL statement pgha sends is traced (PGHA_SQL_TRACE, a test build's: scripts/build.sh
# -DPGHA_FAULT_POINTS=ON) and summarised per major (scripts/sql-trace-summary.py): how many
# distinct statements ran there, and which ran on another major but not on this one (a
# version branch, or a path this run did not take there).
#
# Prints a Markdown table (major, version, suite, passed/failed/skipped, seconds) and the SQL
# summary, and exits non-zero when any suite failed. Each suite's pytest output is kept under
# $BUILD/matrix/<major>/.
set -euo pipefail
cd "$(dirname "$0")/.."

short=0
build=build
majors=()
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=1 ;;
    --build) build=$2; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) majors+=("$1") ;;
  esac
  shift
done
[ ${#majors[@]} -gt 0 ] || majors=(12 13 14 15 16 17 18)
build=$(cd "$build" && pwd)
[ -x "$build/bin/pghactl" ] || { echo "test-matrix: no $build/bin/pghactl (scripts/build.sh first)" >&2; exit 2; }
# The interpreter the build's Python module is for (cmake/PghaPython.cmake chose it).
python=${PGHA_PYTHON:-$(sed -n 's/^PGHA_PYTHON_EXECUTABLE:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null)}
python=${python:-/usr/bin/python3}

if [ $short = 1 ]; then
  suites=("integration/test_base_backup_pg.py -k under_writes"
          "e2e/test_seed_cases.py"
          "e2e/test_rejoin.py")
  seed_rounds=1
else
  suites=("integration/test_base_backup_pg.py"
          "e2e/test_seed_cases.py"
          "e2e/test_rejoin.py"
          "e2e/test_slots.py"
          "e2e/test_timelines.py"
          "e2e/test_synchronous.py"
          "e2e/test_operations.py"
          "e2e/test_parameters.py"
          "e2e/test_metrics.py"
          "integration/test_logical_slots_pg.py"
          "integration/test_parameters_pg.py"
          "integration/test_passwords_pg.py"
          "ha/test_auto_failover.py")
  seed_rounds=3
fi

out=$build/matrix
mkdir -p "$out"
# The agents and servers run as the postgres account, which may not reach the build tree.
trace_dir=$(mktemp -d /tmp/pgha-sql-trace.XXXXXX)
chmod 755 "$trace_dir"
trap 'rm -rf "$trace_dir"' EXIT
table=$out/table.md
{
  echo "| major | version | suite | passed | failed | skipped | seconds |"
  echo "|---|---|---|---|---|---|---|"
} > "$table"
failed_any=0
for major in "${majors[@]}"; do
  bindir=$(scripts/fetch-postgres.sh "$major")
  version=$("$bindir/postgres" --version | sed -E 's/^[^0-9]*([0-9.]+).*/\1/')
  mkdir -p "$out/$major"
  trace=$trace_dir/$major.trace
  : > "$trace"
  chmod 666 "$trace"
  for suite in "${suites[@]}"; do
    file=${suite%% *}
    extra=${suite#"$file"}
    name=$(basename "$file" .py)${extra:+ ($(echo $extra | sed 's/^-k //'))}
    xml=$out/$major/$(basename "$file" .py).xml
    log=$out/$major/$(basename "$file" .py).log
    start=$(date +%s)
    # shellcheck disable=SC2086  # $extra is pytest's -k EXPR, split on purpose
    if (cd "$build" && env PGHA_PG_BINDIR="$bindir" PGHA_SEED_ROUNDS=$seed_rounds PGHA_SQL_TRACE="$trace" \
          PYTHONPATH="$build/python" PGHA_BIN_DIR="$build/bin" PGHA_LIB_DIR="$build/lib" \
          PGHA_E2E_LOG_DIR="$out/$major/logs" \
          timeout 3600 "$python" -m pytest -q -p no:cacheprovider --junitxml="$xml" \
          "$OLDPWD/tests/$file" $extra) > "$log" 2>&1; then
      status=ok
    else
      status=FAILED
      failed_any=1
    fi
    seconds=$(( $(date +%s) - start ))
    counts=$("$python" - "$xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 1 0"); sys.exit()
s = root if root.tag == "testsuite" else root.find("testsuite")
tests, fail, err, skip = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
print(tests - fail - err - skip, fail + err, skip)
EOF
)
    read -r passed failed skipped <<< "$counts"
    echo "| $major | $version | $name | $passed | $failed | $skipped | $seconds |" >> "$table"
    echo "test-matrix: PostgreSQL $version $name: $status ($passed passed, $failed failed, ${seconds}s; $log)" >&2
  done
  cp "$trace" "$out/$major/sql.trace"
done
cat "$table"
echo
traces=()
for major in "${majors[@]}"; do traces+=("$out/$major/sql.trace"); done
"$python" scripts/sql-trace-summary.py "${traces[@]}" | tee "$out/sql.md"
exit $failed_any

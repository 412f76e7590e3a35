#!/usr/bin/env bash
# A short e2e subset with ThreadSanitizer agents: operations, concurrent reads, WAL routes
# beside pg/sync and configuration changes, two seed cases (switchover; failover promote and
# the old master's return), and a short concurrency soak. Every pgha-agent and pghactl of the
# run comes from BUILD_DIR (default build-tsan, configured with -DPGHA_SANITIZE=thread; see
# scripts/test.sh). A race report stops the reporting process (halt_on_error) and fails the run
# even when the tests pass: every report is written under a log directory that must stay empty.
# tests/tsan.supp holds the suppressions for third-party code.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-tsan}
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

# The agents run as the postgres account: the logs and the suppressions must be theirs to use.
logs=$(mktemp -d /tmp/pgha-tsan.XXXXXX)
chmod 0777 "$logs"
cp tests/tsan.supp "$logs/tsan.supp"
chmod 0644 "$logs/tsan.supp"
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$logs/tsan.supp log_path=$logs/report"
export PGHA_BIN_DIR="$PWD/$build/bin"
export PGHA_SOAK_SECONDS=${PGHA_SOAK_SECONDS:-20} PGHA_SOAK_THREADS=${PGHA_SOAK_THREADS:-8}

# Without address space randomisation: the TSan runtime of GCC 12 cannot map its shadow memory
# on kernels with high mmap entropy (vm.mmap_rnd_bits > 28).
status=0
setarch "$(uname -m)" -R "$python" -m pytest -q -p no:cacheprovider \
  tests/e2e/test_transitions.py \
  tests/e2e/test_operations.py::test_concurrent_operations_get_409 \
  tests/e2e/test_operations.py::test_wal_routes \
  "tests/e2e/test_seed_cases.py::test_seed_case[testCase03-1]" \
  "tests/e2e/test_seed_cases.py::test_seed_case[testCase06-1]" \
  tests/reliability/test_concurrency.py || status=$?

if compgen -G "$logs/report*" >/dev/null; then
  echo "ThreadSanitizer reports:" >&2
  cat "$logs"/report* >&2
  status=1
fi
rm -rf "$logs"
exit "$status"

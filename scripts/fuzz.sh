#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz in build-fuzz/ (clang, ASan + UBSan, coverage of
# the whole library) and runs each for SECONDS_PER_TARGET seconds (default 20) on a fresh
# copy of its seed corpus: the inputs committed under tests/fuzz/corpus/<target>/ plus seeds
# made from the fixtures ($PGHA_FIXTURES_DIR, default tests/fixtures) and, for the
# WAL scanner, synthetic segments. Prints per target the executions and whether it crashed;
# exits 1 when any target crashed, keeping the input in build-fuzz/fuzz-crashes/ (the run's
# logs and corpora are in build-fuzz/fuzz-out/, replaced by the next run). With
# PGHA_FIGURES_DIR set, also writes the figures as $PGHA_FIGURES_DIR/fuzz.json.
# Targets run $PGHA_FUZZ_JOBS at a time (default: the number of cores).
#   usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2; }
jobs=${PGHA_FUZZ_JOBS:-$(nproc)}
fixtures=${PGHA_FIXTURES_DIR:-$PWD/tests/fixtures}
build=build-fuzz
out=$PWD/$build/fuzz-out
bin=$PWD/$build/bin
crashes=$PWD/$build/fuzz-crashes
targets=(fuzz_slot_state fuzz_timeline_history fuzz_control_data fuzz_control_file fuzz_lsn_wal_name
         fuzz_wal_scan fuzz_http fuzz_tar_extract)
[ -d "$fixtures/pg15" ] || { echo "fuzz.sh: no fixtures in $fixtures (set PGHA_FIXTURES_DIR)" >&2; exit 2; }

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE= -DCMAKE_C_FLAGS="-O1 -gline-tables-only" \
      -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" -DPGHA_FUZZ=ON -DPGHA_WERROR=ON \
      -DPGHA_SANITIZE=address,undefined -DPGHA_BUILD_PYTHON=OFF -DPGHA_BUILD_BENCH=OFF \
      -DPGHA_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target pgha_fuzz

# The WAL scanner writes its two segment files per input: on tmpfs when there is one.
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
export PGHA_FUZZ_TMPDIR
PGHA_FUZZ_TMPDIR=$(mktemp -d "$shm/pgha-fuzz.XXXXXX")
trap 'rm -rf "$PGHA_FUZZ_TMPDIR"' EXIT

# seed <target> <name> <text>: one seed file in the target's corpus.
seed() { printf '%s' "$3" > "$out/$1/corpus/$2"; }

make_corpora() {
  rm -rf "$out"
  for t in "${targets[@]}"; do
    mkdir -p "$out/$t/corpus"
    if [ -d "tests/fuzz/corpus/$t" ]; then cp tests/fuzz/corpus/"$t"/* "$out/$t/corpus/"; fi
  done
  local f name tli i=0
  for f in "$fixtures"/pg*/slots/*.state; do
    name=$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")
    cp "$f" "$out/fuzz_slot_state/corpus/$name"
  done
  for f in "$fixtures"/pg15/timelines/*.history; do  # first byte: the timeline
    tli=$((16#$(basename "$f" .history)))
    { printf "\\x$(printf %02x "$tli")"; cat "$f"; } > "$out/fuzz_timeline_history/corpus/$(basename "$f")"
  done
  cp "$fixtures"/pg15/controldata/*.txt "$out/fuzz_control_data/corpus/"
  for f in "$fixtures"/pg*/control/*.pg_control; do
    cp "$f" "$out/fuzz_control_file/corpus/$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")"
  done
  { awk -F'\t' 'NR > 1 { print $4; print $5 }' "$fixtures/pg15/wal-names/pg_walfile_name.tsv"
    grep -v '^[#[]' "$fixtures/pg15/wal-names/wal-file-listing.txt"
    ls "$fixtures/pg15/wal-names" | grep '\.backup$'
  } | sort -u | while IFS= read -r name; do
    [ -n "$name" ] || continue
    i=$((i + 1))
    seed fuzz_lsn_wal_name "fixture-$i" "$name"
    seed fuzz_http "route-fixture-$i" "RG/api/pg/v1/walFile/$name"
  done
  "$bin/pgha_fuzz_wal_seeds" "$out/fuzz_wal_scan/corpus"
  # ustar archives like a BASE_BACKUP's: a directory, files, one with a "./" name.
  local src
  src=$(mktemp -d "$PGHA_FUZZ_TMPDIR/tar-seed.XXXXXX")
  mkdir -p "$src/global" "$src/pg_wal/archive_status"
  printf '17\n' > "$src/PG_VERSION"
  head -c 3000 /dev/zero | tr '\0' 'x' > "$src/global/pg_control"
  (cd "$src" && tar --format=ustar -cf "$out/fuzz_tar_extract/corpus/base.tar" PG_VERSION global pg_wal &&
     tar --format=ustar -cf "$out/fuzz_tar_extract/corpus/dot.tar" ./PG_VERSION &&
     head -c 1024 "$out/fuzz_tar_extract/corpus/dot.tar" > "$out/fuzz_tar_extract/corpus/cut.tar")
  rm -rf "$src"
}

# run <target>: fuzzes for $seconds and writes "<target> <executions> <status> <detail>" to
# $out/<target>/result. libFuzzer stops itself after -max_total_time; the outer timeout only
# guards against a hang outside its control.
run() {
  local t=$1 dir=$out/$1 rc=0 runs artifact status=ok detail=""
  ( cd "$dir" && UBSAN_OPTIONS=print_stacktrace=1 timeout -k 10 $((seconds + 120)) \
      "$bin/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$dir/" corpus >log.txt 2>&1 ) || rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$dir/log.txt" | tail -n 1)
  [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$dir/log.txt" | tail -n 1 | tr -d '#' || true)
  if [ "$rc" -ne 0 ]; then
    status=CRASH
    artifact=$(ls "$dir" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | head -n 1 || true)
    if [ -n "$artifact" ]; then
      mkdir -p "$crashes"
      cp "$dir/$artifact" "$crashes/$t-$artifact"
      detail="input $crashes/$t-$artifact, log $dir/log.txt"
    else
      detail="exit $rc, log $dir/log.txt"
    fi
  fi
  echo "$t ${runs:-0} $status $detail" > "$dir/result"
}

make_corpora
echo "fuzzing ${#targets[@]} targets for ${seconds}s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
  run "$t" &
  running=$((running + 1))
done
wait

for t in "${targets[@]}"; do
  read -r name runs status detail < "$out/$t/result"
  printf '%-24s %12s runs  %s %s\n' "$name" "$runs" "$status" "$detail"
done > "$out/summary.txt"
cat "$out/summary.txt"

# With PGHA_FIGURES_DIR set (scripts/reliability.sh), the figures of this run as fuzz.json:
# per target the executions, exec/s, edges at the start (seeds) and end, corpus, status.
if [ -n "${PGHA_FIGURES_DIR:-}" ]; then
  mkdir -p "$PGHA_FIGURES_DIR"
  {
    printf '{"producer": "fuzz", "seconds_per_target": %s, "jobs": %s, "compiler": "%s",\n' \
      "$seconds" "$jobs" "$(clang --version | head -n 1 | tr -d '"\\')"
    printf ' "started": "%s", "records": [\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    sep=""
    for t in "${targets[@]}"; do
      read -r name runs status detail < "$out/$t/result"
      log=$out/$t/log.txt
      eps=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
      cov0=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$log" | head -n 1)
      cov1=$(sed -n 's/.*DONE *cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
      corp=$(sed -n 's/.*DONE .* corp: \([0-9]*\)\/.*/\1/p' "$log" | tail -n 1)
      printf '%s  {"target": "%s", "executions": %s, "exec_per_sec": %s, "cov_start": %s, ' \
        "$sep" "$name" "${runs:-0}" "${eps:-0}" "${cov0:-0}"
      printf '"cov_end": %s, "corpus_end": %s, "status": "%s", "crashes": %s}' \
        "${cov1:-0}" "${corp:-0}" "$status" "$([ "$status" = ok ] && echo 0 || echo 1)"
      sep=$',\n'
    done
    printf '\n]}\n'
  } > "$PGHA_FIGURES_DIR/fuzz.json"
fi

if grep -q ' CRASH' "$out/summary.txt"; then
  echo "fuzz.sh: a target crashed; the inputs are in $crashes/" >&2
  exit 1
fi

#!/usr/bin/env bash
# Runs the WAL catalogue benchmark: cold and warm listing with MD5 of 64 segment-sized files,
# next to md5sum over the same files in the same run. Prints figures and PASS/MISS lines for
# the targets (cold >= 1.8x md5sum's throughput, warm <= 5 ms); the exit status says only
# whether the benchmark could run. See docs/benchmarks.md and docs/wal-catalogue.md.
#
#   bench/run_catalog.sh [--segments N] [--runs N] [--dir PARENT]
#
# Environment: BUILD_DIR (default <repo>/build-bench, configured Release).
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$repo/build-bench}

if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  echo "[run_catalog.sh] configuring $build_dir (Release)" >&2
  cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DPGHA_BUILD_BENCH=ON \
    -DPGHA_BUILD_TESTS=OFF -DPGHA_BUILD_PYTHON=OFF >/dev/null
fi
echo "[run_catalog.sh] building pgha_bench_catalog" >&2
cmake --build "$build_dir" -j2 --target pgha_bench_catalog >/dev/null
command -v md5sum >/dev/null || { echo "md5sum not found" >&2; exit 1; }

echo "pgha WAL catalogue benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs:" \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(md5sum --version | head -1)"
# Parallel hashing needs the CPUs free: other busy processes show here and lower the cold figure.
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
"$build_dir/bin/pgha_bench_catalog" "$@"

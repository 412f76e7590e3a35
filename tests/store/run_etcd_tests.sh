#!/usr/bin/env bash
# Runs the EtcdStore tests (argv[1], the pgha_etcd_tests binary) against a real etcd member
# started here on free loopback ports, then again with etcd authentication switched on.
# Everything it starts it stops by pid, also on failure.
set -euo pipefail
tests=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../bench/free_port.sh
source "$here/../../bench/free_port.sh"
command -v etcd >/dev/null || { echo "etcd not found: run scripts/install-deps.sh" >&2; exit 1; }

dir=$(mktemp -d /tmp/pgha-etcd-test.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

client=$(free_port); peer=$(free_port); dead=$(free_port)
while [ "$peer" = "$client" ]; do peer=$(free_port); done
while [ "$dead" = "$client" ] || [ "$dead" = "$peer" ]; do dead=$(free_port); done
url=http://127.0.0.1:$client
etcd --name t1 --data-dir "$dir/data" \
  --listen-client-urls "$url" --advertise-client-urls "$url" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "t1=http://127.0.0.1:$peer" >"$dir/etcd.log" 2>&1 &
pid=$!
for ((i = 0; i < 100; i++)); do
  if curl -fsS "$url/health" 2>/dev/null | grep -q '"health":"true"'; then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$dir/etcd.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$url/health" >/dev/null || { echo "etcd did not become healthy" >&2; cat "$dir/etcd.log" >&2; exit 1; }

export PGHA_ETCD_ENDPOINTS="http://127.0.0.1:$dead,$url"
"$tests" -tce='etcd auth*'

password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
ETCDCTL_API=3 etcdctl --endpoints="$url" user add "root:$password" >/dev/null
ETCDCTL_API=3 etcdctl --endpoints="$url" user grant-role root root >/dev/null
ETCDCTL_API=3 etcdctl --endpoints="$url" auth enable >/dev/null
PGHA_ETCD_USER=root PGHA_ETCD_PASSWORD=$password "$tests" -tc='etcd auth*'

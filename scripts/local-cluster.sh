#!/usr/bin/env bash
# The main job: a two-node pgha cluster on this machine's loopback, set up the way the seed's
# setup procedure does it (nodes/env, pg/init, pg/sync, instance/all through the agents).
#   scripts/local-cluster.sh up [DIR] [--tls] [--etcd]  build if needed, bring it up, show it
#   scripts/local-cluster.sh down [DIR]                 stop everything `up` started
# DIR defaults to /tmp/pgha-cluster. --tls: the agents serve HTTPS with certificates of a CA
# made for the cluster (DIR/ca.crt). --etcd: three etcd members for the cluster store first
# (docs/store.md). When run as root, PostgreSQL, the agents and etcd run as the postgres
# account.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-up}
dir=/tmp/pgha-cluster
[ $# -ge 2 ] && [ "${2#--}" = "$2" ] && dir=$2
tls=()
etcd=()
for arg in "$@"; do
  [ "$arg" = --tls ] && tls=(--tls)
  [ "$arg" = --etcd ] && etcd=(--etcd)
done

[ -x build/bin/pghactl ] && [ -x build/bin/pgha-agent ] ||
  scripts/build.sh -DPGHA_BUILD_TESTS=OFF -DPGHA_BUILD_BENCH=OFF >/dev/null

case "$action" in
  up)
    build/bin/pghactl local up "$dir" "${tls[@]}" "${etcd[@]}"
    echo
    build/bin/pghactl list "$dir"
    url=$(sed -n 's/.*"agent_url": "\(http[^"]*\)".*/\1/p' "$dir/cluster.json" | head -1)
    curl="curl"
    [ ${#tls[@]} -gt 0 ] && curl="curl --cacert $dir/ca.crt"
    cat <<MSG

The agents' REST API needs the token in $dir/token, e.g.:
  $curl -H "Authorization: Bearer \$(cat $dir/token)" $url/api/pg/v1/instance/all
  $curl -X POST -H "Authorization: Bearer \$(cat $dir/token)" $url/api/pg/v1/instance/switchover/masterSlave
  $curl -X POST -H "Authorization: Bearer \$(cat $dir/token)" $url/api/pg/v1/test/testCase03
Stop it with: scripts/local-cluster.sh down $dir
MSG
    ;;
  down)
    build/bin/pghactl local down "$dir"
    ;;
  *)
    echo "usage: $0 up [DIR] [--tls] [--etcd] | down [DIR]" >&2
    exit 2
    ;;
esac

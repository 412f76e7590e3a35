#!/bin/sh
# pgha-entrypoint: the image's entrypoint (docs/docker.md). Runs as root under tini, prepares
# what the agent needs, then runs `pgha-agent` as postgres (the agent refuses root) and waits:
#
# - PGDATA's parent directory (the volume, /data by default) is made the postgres account's:
#   pg/sync puts a base backup next to PGDATA and renames it into place, the server log is
#   PGDATA.log, the passfile PGDATA.pgpass, the unix socket beside them. PGDATA itself must
#   not be a mount point (a rename cannot replace one).
# - The files named by PGHA_API_TOKEN_FILE, PGHA_*_PASSWORD_FILE, PGHA_TLS_KEY_FILE and
#   DB_PASSWD_FILE (compose secrets: owned by the host's user, unreadable by postgres) are
#   copied to /run/pgha, mode 0600, owned by postgres, and the variables pointed at the copies.
#   DB_PASSWD_FILE's content becomes the agent's DB_PASSWD, in its environment only.
# - $PGHA_CONFIG (/etc/pgha/agent.json) is written when it does not exist: the two nodes of the
#   seed's variables, LOCAL_NODE and REMOTE_NODE, each reached by its name (a host name that
#   resolves to an address of that node's host), with their agent and PostgreSQL ports:
#   LISTENING_PORT and PGHA_PG_PORT here, REMOTE_LISTENING_PORT and REMOTE_PG_PORT there
#   (default: the same LISTENING_PORT, 5432). It lives in the container, not the volume:
#   `docker restart` keeps what POST nodes/env changed, a new container starts from the
#   environment again.
# - On SIGTERM (docker stop) the agent is stopped, then this node's PostgreSQL (pg_ctl stop -m
#   fast) if it still runs, so that a stopped container leaves a cleanly shut down server.
#
# Nothing here prints a password or the token: messages name variables and files only.
#
# `pgha-entrypoint health` is the image's HEALTHCHECK: GET /api/pg/v1/health on the agent's
# own address and port. Any other command than pgha-agent is run as it is (e.g. bash).
set -eu

PG_USER=postgres
RUN_DIR=/run/pgha

log() { printf 'pgha-entrypoint: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

health() {
  addr=${PGHA_LISTEN_ADDRESS:-127.0.0.1}
  case $addr in 0.0.0.0 | ::) addr=127.0.0.1 ;; *:*) addr="[$addr]" ;; esac
  scheme=http
  insecure=
  # Only that the agent answers: the certificate need not name the loopback address.
  if [ -n "${PGHA_TLS_CERT_FILE:-}" ]; then scheme=https insecure=-k; fi
  exec curl -fsS $insecure -o /dev/null --max-time 4 \
    "$scheme://$addr:${LISTENING_PORT:-8079}/api/pg/v1/health"
}

check_name() { # VAR VALUE: a node name doubles as a host name
  case $2 in
    "" | *[!A-Za-z0-9._-]*) die "$1=\"$2\" is not a host name (letters, digits, '.', '_', '-')" ;;
  esac
}

check_port() { # VAR VALUE
  case $2 in
    "" | *[!0-9]* | ??????*) die "$1=\"$2\" is not a port number" ;;
  esac
  if [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then die "$1=$2 is not a port number (1-65535)"; fi
}

prepare_data() {
  PGDATA=${PGDATA:-/data/pgdata}
  case $PGDATA in /*) ;; *) die "PGDATA=\"$PGDATA\" is not an absolute path" ;; esac
  while [ "${PGDATA%/}" != "$PGDATA" ] && [ "$PGDATA" != / ]; do PGDATA=${PGDATA%/}; done
  export PGDATA
  parent=$(dirname "$PGDATA")
  # The seed's PGDATA=/data is the image's volume: a mount point.
  if mountpoint -q "$PGDATA" 2>/dev/null; then
    die "PGDATA=$PGDATA is a mount point: pg/sync renames a fresh base backup onto it," \
      "which a mount point cannot take. Use a directory below the volume, e.g." \
      "PGDATA=/data/pgdata (the image's default) with the volume at /data"
  fi
  [ "$parent" != / ] || die "PGDATA=$PGDATA: the agent needs a directory of its own around" \
    "PGDATA (pg/sync's base backup beside it, PGDATA.log); use e.g. PGDATA=/data/pgdata" \
    "with the volume at /data"
  mkdir -p "$parent"
  [ "$(stat -c %U "$parent")" = "$PG_USER" ] || chown "$PG_USER:$PG_USER" "$parent"
  chmod 0700 "$parent"
  if [ -d "$PGDATA" ]; then
    find "$PGDATA" ! -user "$PG_USER" -exec chown "$PG_USER:$PG_USER" {} +
  fi
}

copy_secret() { # VAR NAME: the file $VAR names, copied to $RUN_DIR/NAME for postgres
  eval "src=\${$1:-}"
  [ -n "$src" ] || return 0
  [ -f "$src" ] || die "$1=\"$src\" does not exist"
  install -o "$PG_USER" -g "$PG_USER" -m 0600 "$src" "$RUN_DIR/$2"
  export "$1=$RUN_DIR/$2"
}

prepare_secrets() {
  install -d -o "$PG_USER" -g "$PG_USER" -m 0700 "$RUN_DIR"
  copy_secret PGHA_API_TOKEN_FILE api_token
  copy_secret PGHA_REPLICATE_PASSWORD_FILE replicate_password
  copy_secret PGHA_SUPERUSER_PASSWORD_FILE superuser_password
  copy_secret PGHA_REWIND_PASSWORD_FILE rewind_password
  copy_secret PGHA_ETCD_PASSWORD_FILE etcd_password
  copy_secret PGHA_TLS_KEY_FILE tls.key
  db_passwd_file=${DB_PASSWD_FILE:-}
  unset DB_PASSWD_FILE
  if [ -n "$db_passwd_file" ]; then
    [ -f "$db_passwd_file" ] || die "DB_PASSWD_FILE=\"$db_passwd_file\" does not exist"
    [ -z "${DB_PASSWD:-}" ] || die "DB_PASSWD and DB_PASSWD_FILE are both set: choose one"
    # Not exported: only the agent's environment gets it (see run_agent).
    db_passwd=$(cat "$db_passwd_file")
    have_db_passwd=1
  fi
}

write_config() {
  config=${PGHA_CONFIG:-/etc/pgha/agent.json}
  export PGHA_CONFIG="$config"
  [ ! -e "$config" ] || return 0
  local_node=${LOCAL_NODE:-PGNODE01}
  check_name LOCAL_NODE "$local_node"
  port=${LISTENING_PORT:-8079}
  check_port LISTENING_PORT "$port"
  pg_port=${PGHA_PG_PORT:-5432}
  check_port PGHA_PG_PORT "$pg_port"
  scheme=http
  [ -z "${PGHA_TLS_CERT_FILE:-}" ] || scheme=https
  mkdir -p "$(dirname "$config")"
  if [ -n "${REMOTE_NODE:-}" ]; then
    check_name REMOTE_NODE "$REMOTE_NODE"
    remote_port=${REMOTE_LISTENING_PORT:-$port}
    check_port REMOTE_LISTENING_PORT "$remote_port"
    remote_pg_port=${REMOTE_PG_PORT:-5432}
    check_port REMOTE_PG_PORT "$remote_pg_port"
    node() { # NAME AGENT_PORT PG_PORT
      printf '{"name": "%s", "agent_url": "%s://%s:%s", "pg_host": "%s", "pg_port": %s}' \
        "$1" "$scheme" "$1" "$2" "$1" "$3"
    }
    {
      printf '{"nodes": [\n  '
      node "$local_node" "$port" "$pg_port"
      printf ',\n  '
      node "$REMOTE_NODE" "$remote_port" "$remote_pg_port"
      printf '\n]}\n'
    } >"$config.tmp"
  else
    echo '{}' >"$config.tmp" # a node alone, on loopback (the agent's defaults)
  fi
  chown "$PG_USER:$PG_USER" "$config.tmp"
  chmod 0600 "$config.tmp"
  mv "$config.tmp" "$config"
  chown "$PG_USER:$PG_USER" "$(dirname "$config")"
  log "wrote $config for $local_node${REMOTE_NODE:+ and $REMOTE_NODE}"
}

as_postgres() {
  setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- "$@"
}

postmaster_running() {
  [ -f "$PGDATA/postmaster.pid" ] || return 1
  as_postgres pg_ctl -D "$PGDATA" status >/dev/null 2>&1
}

run_agent() {
  home=$(getent passwd "$PG_USER" | cut -d: -f6)
  export HOME="$home" USER="$PG_USER" LOGNAME="$PG_USER"
  cd "$home"
  if [ -n "${have_db_passwd:-}" ]; then
    DB_PASSWD="$db_passwd" setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- "$@" &
  else
    as_postgres "$@" &
  fi
  agent=$!
  db_passwd=
  trap 'kill -TERM "$agent" 2>/dev/null || true' TERM INT
  status=0
  while :; do
    wait "$agent" && status=0 || status=$?
    kill -0 "$agent" 2>/dev/null || break # else a signal interrupted the wait
  done
  trap - TERM INT
  if postmaster_running; then
    log "the agent exited ($status); stopping PostgreSQL on $PGDATA (fast)"
    as_postgres pg_ctl -D "$PGDATA" stop -m fast -w -t 60 >/dev/null ||
      log "pg_ctl stop failed: see ${PGDATA}.log"
  fi
  exit "$status"
}

case ${1:-} in
  health) health ;;
  pgha-agent | */pgha-agent) ;;
  *) exec "$@" ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  # Started as another user (docker run --user): nothing to prepare that it could do.
  write_config
  exec "$@"
fi
prepare_data
prepare_secrets
write_config
run_agent "$@"

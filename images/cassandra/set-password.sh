#!/bin/sh
# Gives Cassandra's default superuser `cassandra` the password CASSANDRA_PASSWORD, then marks it ready.
# Started in the background by the image's entrypoint; waits for CQL on this node (cqlsh's
# CQLSH_HOST/CQLSH_PORT, default 127.0.0.1:9042). Each round:
#  - cassandra/CASSANDRA_PASSWORD logs in: done, the ready file is written (cassandra-healthcheck);
#  - else cassandra/cassandra logs in (a new node, once Cassandra has created its default role):
#    ALTER ROLE cassandra WITH PASSWORD = CASSANDRA_PASSWORD;
#  - else CQL is not up yet: wait and try again, until CASSANDRA_PASSWORD_TIMEOUT seconds (600).
# Neither logging in after that means the role has another password (CASSANDRA_PASSWORD changed
# after the first start): the message says how to fix it, and the node stays unhealthy.
# The password goes to cqlsh through files readable by this user only, never on a command line or
# in the log.
set -eu

ready_file=${CASSANDRA_PASSWORD_READY_FILE:-/tmp/cassandra-password-ready}
timeout=${CASSANDRA_PASSWORD_TIMEOUT:-600}

log() {
  printf 'cassandra-set-password: %s\n' "$*" >&2
}

if [ -z "${CASSANDRA_PASSWORD:-}" ]; then
  log 'CASSANDRA_PASSWORD is not set: nothing to do'
  exit 0
fi

umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 143' HUP INT TERM

# cqlsh's credentials file (section of its PlainTextAuthProvider; read without interpolation).
credentials() {
  printf '[PlainTextAuthProvider]\nusername = cassandra\npassword = %s\n' "$2" >"$work/$1"
}
credentials configured "$CASSANDRA_PASSWORD"
credentials default cassandra
# CQL string literal: a quote is doubled.
printf "ALTER ROLE cassandra WITH PASSWORD = '%s';\n" "$(printf '%s' "$CASSANDRA_PASSWORD" | sed "s/'/''/g")" >"$work/alter.cql"
printf 'SELECT release_version FROM system.local;\n' >"$work/probe.cql"

# cqlsh as `cassandra` with the given credentials, running a file; its output (errors included) is dropped.
cql() {
  HOME=$work cqlsh --connect-timeout=10 --credentials="$work/$1" -f "$work/$2" >/dev/null 2>&1
}

started=$(date +%s)
next_log=0
while :; do
  if cql configured probe.cql; then
    : >"$ready_file"
    log 'the superuser cassandra logs in with CASSANDRA_PASSWORD'
    exit 0
  fi
  if cql default probe.cql; then
    if cql default alter.cql; then
      log 'changed the password of the default superuser cassandra to CASSANDRA_PASSWORD'
      # Cassandra caches credentials for a moment (credentials_validity).
      sleep 3
      continue
    fi
    log 'could not change the password of the superuser cassandra; trying again'
  fi
  elapsed=$(($(date +%s) - started))
  if [ "$elapsed" -ge "$timeout" ]; then
    log "ERROR: after ${elapsed}s neither CASSANDRA_PASSWORD nor the default password logs in as cassandra." \
      'If CASSANDRA_PASSWORD changed after the first start, put the previous one back, or change the role with' \
      "cqlsh (ALTER ROLE cassandra WITH PASSWORD = '...') and restart. The node stays unhealthy until then."
    exit 1
  fi
  if [ "$elapsed" -ge "$next_log" ]; then
    log "waiting for CQL on this node (${elapsed}s)"
    next_log=$((elapsed + 60))
  fi
  sleep 5
done

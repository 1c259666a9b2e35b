# Shared by cassandra-backup.sh and cassandra-restore.sh: how to reach Cassandra, its nodetool and CQL.
#
# Compose (default): commands run in the `cassandra` container through docker-compose, with the env file
# COMPOSE_ENV_FILE (default compose/.env.production). Local (--local): the local stack's own node, with
# tools/cassandra/nodetool and tools/cassandra/cql, its data under CASSANDRA_DATA_DIR (default .data/cassandra).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEYSPACE=${CASSANDRA_KEYSPACE:-product_store}
MODE=compose

fail() {
  echo "error: $*" >&2
  exit 1
}

use_local() {
  MODE=local
  DATA_DIR="${CASSANDRA_DATA_DIR:-$ROOT/.data/cassandra}/data"
  STAGING_DIR="${CASSANDRA_DATA_DIR:-$ROOT/.data/cassandra}/restore"
  [ -d "$DATA_DIR" ] || fail "no local Cassandra data in $DATA_DIR (set CASSANDRA_DATA_DIR)"
}

compose() {
  docker-compose -f "$ROOT/compose/docker-compose.yml" --env-file "${COMPOSE_ENV_FILE:-$ROOT/compose/.env.production}" "$@"
}

# Runs a shell command where Cassandra's files are (the container, or this machine); stdin passes through.
in_cassandra() {
  if [ "$MODE" = local ]; then sh -c "$1"; else compose exec -T cassandra sh -c "$1"; fi
}

nodetool_() {
  if [ "$MODE" = local ]; then "$ROOT/tools/cassandra/nodetool" "$@"; else compose exec -T cassandra nodetool "$@"; fi
}

# CQL from a string; in the container cqlsh authenticates with the container's own CASSANDRA_PASSWORD.
cql() {
  if [ "$MODE" = local ]; then
    "$ROOT/tools/cassandra/cql" -e "$1"
  else
    compose exec -T cassandra sh -c 'if [ -n "$CASSANDRA_PASSWORD" ]; then cqlsh -u cassandra --password="$CASSANDRA_PASSWORD" -e "$1"; else cqlsh -e "$1"; fi' sh "$1"
  fi
}

# CQL from a file on this machine.
cql_file() {
  if [ "$MODE" = local ]; then
    "$ROOT/tools/cassandra/cql" -f "$1"
  else
    compose exec -T cassandra sh -c 'cat > /tmp/restore.cql && if [ -n "$CASSANDRA_PASSWORD" ]; then cqlsh -u cassandra --password="$CASSANDRA_PASSWORD" -f /tmp/restore.cql; else cqlsh -f /tmp/restore.cql; fi; status=$?; rm -f /tmp/restore.cql; exit $status' <"$1"
  fi
}

if [ "$MODE" = compose ]; then
  DATA_DIR=/var/lib/cassandra/data
  STAGING_DIR=/var/lib/cassandra/restore
fi

keyspace_exists() {
  cql "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '$KEYSPACE'" | grep -q "$KEYSPACE"
}

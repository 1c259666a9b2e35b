#!/bin/sh
# Entrypoint of Product Store's Cassandra image, in front of the official docker-entrypoint.sh.
#
# When the container runs the server (no arguments, flags, or `cassandra ...`):
#  - cassandra-set-durability sets the commit log sync in cassandra.yaml (CASSANDRA_COMMITLOG_SYNC);
#  - the JMX exporter agent of JVM_EXTRA_OPTS needs its rules at JMX_EXPORTER_CONFIG: without them the
#    JVM would not start, so this stops first with a message that says what to mount;
#  - with CASSANDRA_PASSWORD set, cassandra.yaml gets PasswordAuthenticator and CassandraAuthorizer
#    (cassandra-enable-auth), and cassandra-set-password runs in the background: once CQL answers,
#    it gives the default superuser `cassandra` the password CASSANDRA_PASSWORD (while
#    cassandra/cassandra still logs in) and marks the password ready for cassandra-healthcheck;
#  - without CASSANDRA_PASSWORD, authentication stays off, as in the official image.
# Any other command (cqlsh, nodetool, bash) goes straight to the official entrypoint.
# No password is ever printed.
set -eu

log() {
  printf 'product-store-entrypoint: %s\n' "$*" >&2
}

fail() {
  log "$*"
  exit 1
}

case ${1:-} in
  '' | -* | cassandra) ;;
  *) exec docker-entrypoint.sh "$@" ;;
esac

ready_file=${CASSANDRA_PASSWORD_READY_FILE:-/tmp/cassandra-password-ready}
# Left from a previous start of this container: the healthcheck waits for this start's check.
rm -f "$ready_file"

if [ -n "${JMX_EXPORTER_CONFIG:-}" ]; then
  case ${JVM_EXTRA_OPTS:-} in
    *"$JMX_EXPORTER_CONFIG"*)
      [ -r "$JMX_EXPORTER_CONFIG" ] ||
        fail "the JMX exporter's rules are missing: mount monitoring/cassandra/jmx-exporter.yaml at $JMX_EXPORTER_CONFIG (or drop the agent from JVM_EXTRA_OPTS)"
      ;;
  esac
fi

if [ -n "${CASSANDRA_PASSWORD:-}" ]; then
  case $CASSANDRA_PASSWORD in
    change-me*) fail 'CASSANDRA_PASSWORD is still the placeholder from .env.example: set a real password (openssl rand -base64 24)' ;;
    cassandra) fail "CASSANDRA_PASSWORD must not be Cassandra's well-known default password" ;;
  esac
  cassandra-enable-auth "${CASSANDRA_CONF:-/etc/cassandra}/cassandra.yaml"
  log 'authentication on (PasswordAuthenticator); the superuser cassandra gets CASSANDRA_PASSWORD once CQL answers'
  cassandra-set-password &
else
  log 'CASSANDRA_PASSWORD is not set: authentication stays off'
fi

# The commit log's durability, from CASSANDRA_COMMITLOG_SYNC and its window or period.
cassandra-set-durability "${CASSANDRA_CONF:-/etc/cassandra}/cassandra.yaml"

exec docker-entrypoint.sh "$@"

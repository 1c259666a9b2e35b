#!/bin/sh
# Healthy when this node is Up/Normal (nodetool, over local JMX) and, with authentication on, the
# superuser's password is CASSANDRA_PASSWORD (the ready file of cassandra-set-password): the services
# can then log in. nodetool gets a small heap of its own, whatever MAX_HEAP_SIZE the server has.
set -eu

MAX_HEAP_SIZE=128M HEAP_NEWSIZE=32M nodetool status 2>/dev/null | grep -q '^UN' || exit 1
[ -z "${CASSANDRA_PASSWORD:-}" ] || [ -f "${CASSANDRA_PASSWORD_READY_FILE:-/tmp/cassandra-password-ready}" ]

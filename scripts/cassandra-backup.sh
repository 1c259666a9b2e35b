#!/usr/bin/env bash
# Backs up the keyspace (CASSANDRA_KEYSPACE, default product_store): its schema (DESCRIBE KEYSPACE) and
# a `nodetool snapshot` of every table, copied out of Cassandra into one archive
# BACKUP_DIR/product-store-<UTC time>.tar.gz; the snapshot is then cleared on the node. Keeps the newest
# BACKUP_RETENTION archives (default 7). Restore with scripts/cassandra-restore.sh.
#
#   scripts/cassandra-backup.sh            # the compose deployment (run from the host, e.g. by cron)
#   scripts/cassandra-backup.sh --local    # the local stack's own Cassandra
#
# Prints the archive's path on its last line.
set -euo pipefail
. "$(dirname "$0")/cassandra-common.sh"
[ "${1:-}" = "--local" ] && use_local

BACKUP_DIR=${BACKUP_DIR:-$ROOT/backups}
RETENTION=${BACKUP_RETENTION:-7}
case "$RETENTION" in '' | *[!0-9]*) fail "BACKUP_RETENTION must be a number" ;; esac
mkdir -p "$BACKUP_DIR"

tag="product-store-$(date -u +%Y%m%dT%H%M%SZ)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

keyspace_exists || fail "keyspace $KEYSPACE does not exist"
echo "backup: schema of $KEYSPACE"
# From the first CREATE on: cqlsh may print notices before the schema (e.g. "WARNING: cqlsh was
# built against 5.0.0, but this server is 5.0.8"), which would break the restore's first statement.
cql "DESCRIBE KEYSPACE $KEYSPACE" | sed -n '/^CREATE /,$p' >"$work/schema.cql"
grep -q "^CREATE KEYSPACE" "$work/schema.cql" || fail "could not read the schema of $KEYSPACE"

echo "backup: snapshot $tag"
nodetool_ snapshot -t "$tag" "$KEYSPACE" >/dev/null
# Each table's snapshot sits in <data>/<keyspace>/<table>-<id>/snapshots/<tag>/; the archive keeps <table>/.
mkdir -p "$work/tables"
in_cassandra "cd '$DATA_DIR/$KEYSPACE' && tar -cf - */snapshots/$tag" | tar -C "$work/tables" -xf -
nodetool_ clearsnapshot -t "$tag" -- "$KEYSPACE" >/dev/null
for dir in "$work"/tables/*/snapshots/"$tag"; do
  [ -d "$dir" ] || continue
  table_dir=$(basename "$(dirname "$(dirname "$dir")")")
  mv "$dir" "$work/tables/${table_dir%-*}"
done
# Table names have no '-': what is left with one are the emptied <table>-<id> folders.
rm -rf "$work"/tables/*-*/
ls "$work/tables" | grep -q . || fail "the snapshot holds no table"

printf 'keyspace=%s\nsnapshot=%s\ncreated=%s\n' "$KEYSPACE" "$tag" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/MANIFEST"
archive="$BACKUP_DIR/$tag.tar.gz"
tar -C "$work" -czf "$archive.partial" .
mv "$archive.partial" "$archive"

# Retention: the newest $RETENTION archives stay.
ls -1t "$BACKUP_DIR"/product-store-*.tar.gz 2>/dev/null | tail -n +$((RETENTION + 1)) | while read -r old; do
  echo "backup: removing $old (retention $RETENTION)"
  rm -f "$old"
done
echo "backup: $(ls "$work/tables" | wc -l) tables"
echo "$archive"

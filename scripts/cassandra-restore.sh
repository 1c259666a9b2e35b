#!/usr/bin/env bash
# Restores a keyspace from an archive of scripts/cassandra-backup.sh: recreates its schema, then loads
# each table's snapshot with `nodetool import`. The keyspace must not exist: stop the services first;
# --force drops an existing keyspace before restoring (Cassandra keeps an automatic snapshot of a
# dropped keyspace where auto_snapshot is on, as in the compose deployment).
#
#   scripts/cassandra-restore.sh ARCHIVE [--force]            # the compose deployment
#   scripts/cassandra-restore.sh ARCHIVE --local [--force]    # the local stack's own Cassandra
set -euo pipefail
. "$(dirname "$0")/cassandra-common.sh"

archive=${1:-}
[ -f "$archive" ] || fail "usage: $0 ARCHIVE [--local] [--force]"
shift
force=false
for arg in "$@"; do
  case "$arg" in
    --local) use_local ;;
    --force) force=true ;;
    *) fail "unknown option $arg" ;;
  esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$archive"
[ -f "$work/MANIFEST" ] && [ -f "$work/schema.cql" ] || fail "$archive is not a Product Store backup"
KEYSPACE=$(sed -n 's/^keyspace=//p' "$work/MANIFEST")

if keyspace_exists; then
  $force || fail "keyspace $KEYSPACE exists; stop the services and run again with --force to replace it"
  echo "restore: dropping the existing keyspace $KEYSPACE"
  cql "DROP KEYSPACE $KEYSPACE"
fi

echo "restore: schema of $KEYSPACE"
# Archives of earlier versions may hold cqlsh's notices before the first CREATE: skip them.
sed -n '/^CREATE /,$p' "$work/schema.cql" >"$work/schema-statements.cql"
cql_file "$work/schema-statements.cql"

# One pass into Cassandra for all tables (each exec through docker-compose costs seconds): the tables'
# snapshots are staged, each is loaded with `nodetool import`, then the staging folder is removed.
tables=$(cd "$work/tables" && ls -d */ | tr -d / | tr '\n' ' ')
[ -n "$tables" ] || fail "$archive holds no table"
echo "restore: tables $tables"
if [ "$MODE" = local ]; then nodetool_path="$ROOT/tools/cassandra/nodetool"; else nodetool_path=nodetool; fi
# The schema files of the snapshot are not sstables.
tar -C "$work/tables" -cf - . | in_cassandra "
  set -e
  rm -rf '$STAGING_DIR' && mkdir -p '$STAGING_DIR' && tar -C '$STAGING_DIR' -xf -
  rm -f '$STAGING_DIR'/*/schema.cql '$STAGING_DIR'/*/manifest.json
  for table in $tables; do
    echo \"restore: table \$table\"
    '$nodetool_path' import '$KEYSPACE' \"\$table\" '$STAGING_DIR'/\"\$table\" >/dev/null || { rm -rf '$STAGING_DIR'; exit 1; }
  done
  rm -rf '$STAGING_DIR'
"
# A dropped keyspace takes its tables' grants with it: in compose, each service's migration step grants
# its Cassandra role its tables again (it finds the schema current and changes nothing else).
if [ "$MODE" = compose ]; then
  for step in $(compose config --services | grep -- '-migrate$' || true); do
    echo "restore: grants of $step"
    compose run --rm --no-deps -T "$step" >/dev/null || fail "$step failed: the services cannot read their restored tables until it succeeds"
  done
fi
echo "restore: $KEYSPACE restored from $archive"

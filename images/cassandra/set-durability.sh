#!/bin/sh
# Sets the commit log sync of a cassandra.yaml, in place: the durability of acknowledged writes.
#   CASSANDRA_COMMITLOG_SYNC               group (default), batch or periodic
#   CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW  group: the longest wait between fsyncs (default 10ms)
#   CASSANDRA_COMMITLOG_SYNC_PERIOD        periodic: the time between fsyncs (default 10s)
# compose and the cluster set them from the deployment spec (deploy/src/components.ts), whose defaults
# these are; tools/cassandra/durability.ts writes the same settings for the local launcher.
#
# group and batch acknowledge a write once it is on disk; periodic acknowledges at once and fsyncs
# later, so a crash of a single node loses up to a period of acknowledged writes.
#
#   usage: cassandra-set-durability <cassandra.yaml>
#
# Every commit log sync setting of the file is replaced by the chosen mode's own (Cassandra 5.0
# refuses commitlog_sync_period beside group or batch). Running it again changes nothing. The file
# is rewritten, not replaced, so a bind-mounted file works.
set -eu

fail() {
  printf 'cassandra-set-durability: %s\n' "$*" >&2
  exit 1
}

if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 <cassandra.yaml>" >&2
  exit 2
fi
yaml=$1
mode=${CASSANDRA_COMMITLOG_SYNC:-group}
window=${CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW:-10ms}
period=${CASSANDRA_COMMITLOG_SYNC_PERIOD:-10s}

case $mode in
  group | batch | periodic) ;;
  *) fail "CASSANDRA_COMMITLOG_SYNC must be group, batch or periodic (got \"$mode\")" ;;
esac
duration() {
  printf '%s' "$2" | grep -Eq '^[1-9][0-9]*(ms|s)$' || fail "$1 must be a duration such as 10ms or 10s (got \"$2\")"
}
[ "$mode" != group ] || duration CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW "$window"
[ "$mode" != periodic ] || duration CASSANDRA_COMMITLOG_SYNC_PERIOD "$period"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT HUP INT TERM
awk -v mode="$mode" -v window="$window" -v period="$period" '
  /^(commitlog_sync|commitlog_sync_period|commitlog_sync_period_in_ms|commitlog_sync_group_window|commitlog_sync_group_window_in_ms|commitlog_sync_batch_window_in_ms):/ { next }
  mode != "periodic" && /^periodic_commitlog_sync_lag_block(_in_ms)?:/ { next }
  { print }
  END {
    print "commitlog_sync: " mode
    if (mode == "group") print "commitlog_sync_group_window: " window
    if (mode == "periodic") print "commitlog_sync_period: " period
  }
' "$yaml" >"$tmp"
cat "$tmp" >"$yaml"
case $mode in
  group) detail="fsync before the acknowledgement, grouped every $window" ;;
  batch) detail='fsync before the acknowledgement' ;;
  periodic) detail="acknowledged before the fsync, every $period: a crash may lose that much" ;;
esac
printf 'cassandra-set-durability: commit log sync %s (%s)\n' "$mode" "$detail" >&2

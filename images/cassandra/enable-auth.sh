#!/bin/sh
# Turns on password authentication in a cassandra.yaml, in place:
#   authenticator: PasswordAuthenticator
#   authorizer: CassandraAuthorizer
#
#   usage: cassandra-enable-auth <cassandra.yaml>
#
# Either form of the settings is replaced: the one-line `authenticator: AllowAllAuthenticator` and the
# block with `class_name:` (and `parameters:`) of Cassandra 5.0. A setting the file lacks is added.
# Running it again changes nothing. The file is rewritten, not replaced, so a bind-mounted file works.
set -eu

if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 <cassandra.yaml>" >&2
  exit 2
fi
yaml=$1
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT HUP INT TERM

awk '
  BEGIN {
    value["authenticator"] = "PasswordAuthenticator"
    value["authorizer"] = "CassandraAuthorizer"
  }
  # The indented (or blank) lines of a block being replaced.
  replacing && (/^[ \t]/ || /^$/) { next }
  { replacing = 0 }
  match($0, /^(authenticator|authorizer):/) {
    key = substr($0, 1, RLENGTH - 1)
    print key ": " value[key]
    done[key] = 1
    replacing = 1
    next
  }
  { print }
  END {
    for (key in value) if (!(key in done)) print key ": " value[key]
  }
' "$yaml" >"$tmp"
cat "$tmp" >"$yaml"

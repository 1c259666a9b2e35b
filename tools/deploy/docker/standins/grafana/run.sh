#!/bin/sh
# As grafana/grafana's /run.sh, the entrypoint: checks the folders, then runs the server (here the
# stand-in's). GF_PATHS_* and GF_<SECTION>_<KEY> are read by the server itself.
set -e
if [ ! -r "$GF_PATHS_CONFIG" ]; then
  echo "GF_PATHS_CONFIG='$GF_PATHS_CONFIG' is not readable." >&2
  exit 1
fi
if [ ! -d "$GF_PATHS_PROVISIONING" ]; then
  echo "GF_PATHS_PROVISIONING='$GF_PATHS_PROVISIONING' is not a directory." >&2
  exit 1
fi
exec node /usr/share/grafana/bin/grafana-standin.js "$@"

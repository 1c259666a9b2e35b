#!/bin/bash
# Stand-in for the official cassandra image's /usr/local/bin/docker-entrypoint.sh, same behaviour:
#  - no arguments, or a first argument that is a flag: runs `cassandra -f <flags>`;
#  - started as root with `cassandra`: gives the config, data and log folders to cassandra (999) and
#    re-executes itself as that user (the official image uses gosu; setpriv here);
#  - for `cassandra`, writes these variables into $CASSANDRA_CONF/cassandra.yaml:
#      CASSANDRA_SEEDS (the `- seeds:` line; default: the broadcast address),
#      CASSANDRA_LISTEN_ADDRESS (default `auto`: the container's first non-loopback IPv4 address),
#      CASSANDRA_BROADCAST_ADDRESS (default: the listen address), CASSANDRA_BROADCAST_RPC_ADDRESS
#      (default: the broadcast address), CASSANDRA_RPC_ADDRESS (default 0.0.0.0),
#      CASSANDRA_CLUSTER_NAME, CASSANDRA_ENDPOINT_SNITCH, CASSANDRA_NUM_TOKENS, CASSANDRA_START_RPC,
#    and CASSANDRA_DC / CASSANDRA_RACK into cassandra-rackdc.properties;
#  - then execs the command.
# The files are rewritten in place (not replaced), so bind-mounted ones work.
set -e

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- cassandra -f "$@"
fi

if [ "$1" = 'cassandra' ] && [ "$(id -u)" = '0' ]; then
	find "$CASSANDRA_CONF" /var/lib/cassandra /var/log/cassandra \
		\! -user cassandra -exec chown cassandra '{}' +
	exec setpriv --reuid=cassandra --regid=cassandra --init-groups "$BASH_SOURCE" "$@"
fi

_ip_address() {
	# The first non-loopback, non-link-local IPv4 address of the container.
	if command -v ip > /dev/null; then
		ip address | awk '
			$1 != "inet" { next }
			$NF == "lo" { next }
			$2 ~ /^127[.]/ { next }
			$2 ~ /^169[.]254[.]/ { next }
			{ gsub(/\/.+$/, "", $2); print $2; exit }
		'
	else
		hostname -i | awk '{ print $1 }'
	fi
}

# "sed -i", but without "mv" (which does not work on a bind-mounted file).
_sed-in-place() {
	local filename="$1"; shift
	local tempFile
	tempFile="$(mktemp)"
	sed "$@" "$filename" > "$tempFile"
	cat "$tempFile" > "$filename"
	rm "$tempFile"
}

if [ "$1" = 'cassandra' ]; then
	: ${CASSANDRA_RPC_ADDRESS='0.0.0.0'}

	: ${CASSANDRA_LISTEN_ADDRESS='auto'}
	if [ "$CASSANDRA_LISTEN_ADDRESS" = 'auto' ]; then
		CASSANDRA_LISTEN_ADDRESS="$(_ip_address)"
	fi

	: ${CASSANDRA_BROADCAST_ADDRESS="$CASSANDRA_LISTEN_ADDRESS"}
	if [ "$CASSANDRA_BROADCAST_ADDRESS" = 'auto' ]; then
		CASSANDRA_BROADCAST_ADDRESS="$(_ip_address)"
	fi
	: ${CASSANDRA_BROADCAST_RPC_ADDRESS:=$CASSANDRA_BROADCAST_ADDRESS}

	if [ -n "${CASSANDRA_NAME:+1}" ]; then
		: ${CASSANDRA_SEEDS:="cassandra"}
	fi
	: ${CASSANDRA_SEEDS:="$CASSANDRA_BROADCAST_ADDRESS"}

	_sed-in-place "$CASSANDRA_CONF/cassandra.yaml" \
		-r 's/(- seeds:).*/\1 "'"$CASSANDRA_SEEDS"'"/'

	for yaml in \
		broadcast_address \
		broadcast_rpc_address \
		cluster_name \
		endpoint_snitch \
		listen_address \
		num_tokens \
		rpc_address \
		start_rpc \
	; do
		var="CASSANDRA_${yaml^^}"
		val="${!var}"
		if [ "$val" ]; then
			_sed-in-place "$CASSANDRA_CONF/cassandra.yaml" \
				-r 's/^(# )?('"$yaml"':).*/\2 '"$val"'/'
		fi
	done

	for rackdc in dc rack; do
		var="CASSANDRA_${rackdc^^}"
		val="${!var}"
		if [ "$val" ]; then
			_sed-in-place "$CASSANDRA_CONF/cassandra-rackdc.properties" \
				-r 's/^('"$rackdc"'=).*/\1 '"$val"'/'
		fi
	done
fi

exec "$@"

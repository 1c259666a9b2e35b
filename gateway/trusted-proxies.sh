#!/bin/sh
# Writes nginx's set_real_ip_from lines for TRUSTED_PROXIES (addresses or CIDRs of the load balancers
# in front of the gateway, comma- or space-separated) to the file in $1, which the compose nginx.conf
# includes (gateway/nginx.ts, trustedProxies). Empty or unset: an empty file, nginx trusts nobody's
# X-Forwarded-For. The compose nginx container runs it before nginx starts, so the setting is the env
# file's, like the services' (services/kit/src/trusted-proxies.ts), with no configuration to render.
set -euf
out="$1"
: > "$out"
for proxy in $(printf '%s' "${TRUSTED_PROXIES:-}" | tr ',' ' '); do
  case "$proxy" in
    # nginx checks the address itself at start; this keeps anything but an address out of the file.
    *[!0-9A-Fa-f.:/]*)
      echo "TRUSTED_PROXIES: \"$proxy\" is not an IP address or CIDR" >&2
      exit 1
      ;;
  esac
  printf 'set_real_ip_from %s;\n' "$proxy" >> "$out"
done

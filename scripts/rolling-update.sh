#!/usr/bin/env bash
# Updates the compose deployment one container at a time: pull (or build) the new image, recreate a
# replica's container, wait until Docker reports it healthy, reload nginx (it resolves service names
# when it loads), and check the gateway. Each service runs as two replicas (`backend`, `backend-2`:
# compose/generate.ts); while one restarts, nginx sends its requests to the other, so an update under
# load answers no error. If a replica does not become healthy, or the gateway check fails, that
# replica goes back to the image it ran before and the script stops with status 1; the replicas
# already updated keep their new image (run it again after fixing, or roll back by tag:
# IMAGE_TAG=<previous> scripts/rolling-update.sh).
#
# The usual flow names the new version in the environment or the env file:
#   IMAGE_TAG=<new> scripts/rolling-update.sh
# A rollback then recreates the container from the exact image it ran before (by image id, whatever
# IMAGE_TAG now says), through a one-off compose override that pins that service's `image:`; set
# IMAGE_TAG in the env file back to the previous version before the next `docker-compose up`.
#
#   scripts/rolling-update.sh                    # backend cart-service order-service user-service storefront
#   scripts/rolling-update.sh backend            # just one service: backend, then backend-2
#   scripts/rolling-update.sh backend-2          # just one replica
#
# COMPOSE_ENV_FILE (default compose/.env.production), GATEWAY_URL (default http://localhost),
# HEALTH_TIMEOUT seconds per service (default 120), BUILD=true to build images here instead of pulling,
# PULL=false when the new images are already on this host (`docker load` on a host without registry access).
# Before a service's first replica, its migration step (`<service>-migrate`: migrations, its Cassandra
# role and grants, as the superuser) runs once from the new image; a failed one stops the script
# before any replica changes. Clusters get their rolling updates from their Deployments (the step is
# each pod's init container there).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GATEWAY_URL=${GATEWAY_URL:-http://localhost}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-120}
services=("$@")
# The storefront last: one container (nginx asks Docker's DNS for it per request, so `/` is the
# gateway's 502 for the few seconds it restarts; the API is not affected).
[ ${#services[@]} -gt 0 ] || services=(backend cart-service order-service user-service storefront)

# compose [-f override] ARGS: the deployment's compose file (plus an override), with its env file.
compose() {
  local files=(-f "$ROOT/compose/docker-compose.yml")
  if [ "${1:-}" = -f ]; then files+=(-f "$2"); shift 2; fi
  docker-compose "${files[@]}" --env-file "${COMPOSE_ENV_FILE:-$ROOT/compose/.env.production}" "$@"
}

# Waits until the service's container is healthy; returns 1 when it is unhealthy or time runs out.
wait_healthy() {
  local service=$1 waited=0 container status
  while [ "$waited" -lt "$HEALTH_TIMEOUT" ]; do
    container=$(compose ps -q "$service")
    status=$( [ -n "$container" ] && docker inspect --format '{{.State.Health.Status}}' "$container" 2>/dev/null || echo starting)
    case "$status" in
      healthy) return 0 ;;
      unhealthy) echo "  $service is unhealthy"; return 1 ;;
    esac
    sleep 2
    waited=$((waited + 2))
  done
  echo "  $service was not healthy within ${HEALTH_TIMEOUT}s"
  return 1
}

# The compose services that run a service: its replicas (the service's own name, then <name>-2 ...), in
# order; a replica's name stands for itself.
replicas_of() {
  printf '%s\n' "$all_services" | grep -Ex "$1(-[0-9]+)?" | sort
}

# Reloads nginx (it resolves the services' names when it loads) and checks the gateway: the API's
# /health, and `/` serving the storefront's page (HTML, not the gateway's problem+json). nginx runs on
# the file NGINX_CONF picks in the mounted folder (-c, compose/generate.ts) and a reload rereads that
# file, so a configuration changed by the checkout is live from here on. The -c below only tells the
# signalling nginx where the pid file is: both files name the same one.
gateway_ok() {
  compose exec -T nginx nginx -c /etc/nginx/product-store/nginx.conf -s reload >/dev/null
  sleep 1
  curl -fsS --max-time 5 -o /dev/null "$GATEWAY_URL/health" || { echo "  $GATEWAY_URL/health failed"; return 1; }
  local type
  type=$(curl -fsS --max-time 5 -o /dev/null -w '%{content_type}' "$GATEWAY_URL/") || { echo "  $GATEWAY_URL/ failed"; return 1; }
  case "$type" in
    text/html*) ;;
    *) echo "  $GATEWAY_URL/ is not the storefront's page ($type)"; return 1 ;;
  esac
}

all_services=$(compose config --services)
targets=()
for name in "${services[@]}"; do
  mapfile -t replicas < <(replicas_of "$name" || true)
  [ ${#replicas[@]} -gt 0 ] || { echo "no compose service $name"; exit 1; }
  targets+=("${replicas[@]}")
done

for service in "${targets[@]}"; do
  echo "Updating $service..."
  container=$(compose ps -q "$service")
  [ -n "$container" ] || { echo "  $service is not running; start the stack first"; exit 1; }
  previous=$(docker inspect --format '{{.Image}}' "$container")
  reference=$(docker inspect --format '{{.Config.Image}}' "$container")
  if [ "${BUILD:-false}" = true ]; then compose build "$service"
  elif [ "${PULL:-true}" != false ]; then compose pull "$service"; fi
  if printf '%s\n' "$all_services" | grep -qx -- "$service-migrate"; then
    echo "  migration step $service-migrate"
    compose run --rm --no-deps -T "$service-migrate" >/dev/null || { echo "  the migration step $service-migrate failed; $service is unchanged"; exit 1; }
  fi
  compose up -d --no-deps "$service"
  if wait_healthy "$service" && gateway_ok; then
    echo "  $service updated"
    continue
  fi
  echo "  rolling $service back to its previous image ($reference, ${previous:0:19})"
  # The old reference may have been moved by the pull (same tag, new image): point it back first
  # (unless the container ran from an image id, as after an earlier rollback).
  case "$reference" in sha256:*) ;; *) docker tag "$previous" "$reference" ;; esac
  rollback=$(mktemp)
  trap 'rm -f "$rollback"' EXIT
  printf 'version: "2.4"\nservices:\n  %s:\n    image: %s\n' "$service" "$previous" >"$rollback"
  compose -f "$rollback" up -d --no-deps --force-recreate "$service" || true
  rm -f "$rollback"
  if [ "$(docker inspect --format '{{.Image}}' "$(compose ps -q "$service")" 2>/dev/null)" = "$previous" ] && wait_healthy "$service" && gateway_ok; then
    echo "  $service rolled back to its previous image; stopping here (set IMAGE_TAG back before the next docker-compose up)"
  else
    echo "  $service is still unhealthy after the rollback: see docs/runbook.md#rollback"
  fi
  exit 1
done
echo "All services updated."

#!/usr/bin/env bash
# Checks a running Product Store stack, like the operator guide's health check: the gateway with the
# backend behind it ("Nginx+Backend"), Prometheus, Alertmanager, Grafana and Jaeger.
#
#   scripts/health_check.sh            # compose on this host: gateway on :80, the rest on 127.0.0.1
#   scripts/health_check.sh --local    # the local stack (npm start): gateway on :8080, no Grafana/Jaeger
#
# Every address can be changed: GATEWAY_URL, PROMETHEUS_URL, ALERTMANAGER_URL, GRAFANA_URL, JAEGER_URL;
# HEALTH_CHECK_SKIP lists checks to leave out (comma-separated names, e.g. "Grafana,Jaeger").
# Exit status: 0 when every check passed, 1 otherwise. HEALTH_CHECK_TIMEOUT (seconds, default 5) bounds each.
set -u

if [ "${1:-}" = "--local" ]; then
  : "${GATEWAY_URL:=http://localhost:${GATEWAY_PORT:-8080}}"
  : "${HEALTH_CHECK_SKIP:=Grafana,Jaeger}"
fi
GATEWAY_URL=${GATEWAY_URL:-http://localhost}
PROMETHEUS_URL=${PROMETHEUS_URL:-http://localhost:9090}
ALERTMANAGER_URL=${ALERTMANAGER_URL:-http://localhost:9093}
GRAFANA_URL=${GRAFANA_URL:-http://localhost:3000}
JAEGER_URL=${JAEGER_URL:-http://localhost:16686}
HEALTH_CHECK_SKIP=${HEALTH_CHECK_SKIP:-}
timeout=${HEALTH_CHECK_TIMEOUT:-5}

checks=(
  "Nginx+Backend|$GATEWAY_URL/health"
  "Prometheus|$PROMETHEUS_URL/-/healthy"
  "Alertmanager|$ALERTMANAGER_URL/-/healthy"
  "Grafana|$GRAFANA_URL/api/health"
  "Jaeger|$JAEGER_URL/api/services"
)

echo "Checking Product Store..."
failed=0
for check in "${checks[@]}"; do
  name=${check%%|*}
  url=${check#*|}
  case ",$HEALTH_CHECK_SKIP," in
    *",$name,"*) echo "  - $name: skipped"; continue ;;
  esac
  if curl -fsS --max-time "$timeout" -o /dev/null "$url" 2>/dev/null; then
    echo "  OK     $name ($url)"
  else
    echo "  FAILED $name ($url)"
    failed=1
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "Some checks failed: see docs/runbook.md#troubleshooting"
  exit 1
fi
echo "All checks passed."

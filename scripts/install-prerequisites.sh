#!/usr/bin/env bash
# Installs what Product Store needs beyond Node.js 20, from Debian's packages (Debian/Ubuntu, as root
# or with sudo): Java 17 and Maven (to fetch and run Cassandra), nginx (the gateway), Prometheus with
# promtool, Alertmanager with amtool, the nginx exporter (the local stack's monitoring and its tests),
# and docker-compose (the tests validate the compose file with it; no Docker engine is needed).
# Safe to run again: it installs only what is missing. The stack starts its own instances; packaged
# daemons are disabled.
#
#   bash scripts/install-prerequisites.sh            # for npm start and npm test
#   bash scripts/install-prerequisites.sh --deploy   # also for npm run test:deploy: a Docker engine
#                                                    # (docker.io), debootstrap, iptables, openssl
# npm run test:deploy also builds Go programs (kube-apiserver, Jaeger, Alertmanager) and needs Go 1.24
# or newer on the PATH; Debian 12's golang-go (1.19) is too old: install Go from go.dev if it is missing.
set -euo pipefail

packages=()
if [ "${1:-}" = "--deploy" ]; then
  command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || packages+=(debootstrap)
  command -v iptables >/dev/null 2>&1 || packages+=(iptables)
  command -v openssl >/dev/null 2>&1 || packages+=(openssl)
  command -v ip >/dev/null 2>&1 || packages+=(iproute2)
fi
[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ] || command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages+=(nginx)
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
command -v prometheus-nginx-exporter >/dev/null 2>&1 || packages+=(prometheus-nginx-exporter)
command -v docker-compose >/dev/null 2>&1 || packages+=(docker-compose)

if [ "${1:-}" = "--deploy" ]; then
  go_minor=$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  if [ -z "$go_minor" ] || [ "$go_minor" -lt 24 ]; then
    echo "prerequisites: npm run test:deploy needs Go 1.24 or newer on the PATH (found: $(go env GOVERSION 2>/dev/null || echo none))" >&2
    exit 1
  fi
fi

if [ ${#packages[@]} -eq 0 ]; then
  echo "prerequisites: all present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "prerequisites: installing ${packages[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
# Debian starts packaged daemons on install where an init system runs; the stack runs its own. Only
# the daemons of the packages installed now are stopped: a Docker or nginx already in use is left alone.
for package in "${packages[@]}"; do
  case $package in
    nginx | prometheus | prometheus-alertmanager | prometheus-nginx-exporter) units=("$package") ;;
    docker.io) units=(docker.socket docker containerd) ;;
    *) continue ;;
  esac
  for unit in "${units[@]}"; do $sudo systemctl disable --now "$unit" >/dev/null 2>&1 || true; done
done

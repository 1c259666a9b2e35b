#!/usr/bin/env bash
# Installs what Product Store needs beyond Node.js 20, from Debian's packages (Debian/Ubuntu, as root
# or with sudo): Java 17 and Maven (to fetch and run Cassandra), nginx (the gateway), Prometheus with
# promtool, Alertmanager with amtool, the nginx exporter (the local stack's monitoring and its tests),
# and docker-compose (the tests validate the compose file with it; no Docker engine is needed).
# Safe to run again: it installs only what is missing. The stack starts its own instances; packaged
# daemons are disabled.
set -euo pipefail

packages=()
[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ] || command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages+=(nginx)
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
command -v prometheus-nginx-exporter >/dev/null 2>&1 || packages+=(prometheus-nginx-exporter)
command -v docker-compose >/dev/null 2>&1 || packages+=(docker-compose)

if [ ${#packages[@]} -eq 0 ]; then
  echo "prerequisites: all present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "prerequisites: installing ${packages[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
# Debian starts packaged daemons on install where an init system runs; the stack runs its own.
for unit in nginx prometheus prometheus-alertmanager prometheus-nginx-exporter; do
  $sudo systemctl disable --now "$unit" >/dev/null 2>&1 || true
done

#!/usr/bin/env bash
# Installs what Product Store needs beyond Node.js 20: Java 17 and Maven (to fetch and run Cassandra).
# Debian/Ubuntu, as root or with sudo. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=()
[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ] || command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)

if [ ${#packages[@]} -eq 0 ]; then
  echo "prerequisites: all present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "prerequisites: installing ${packages[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"

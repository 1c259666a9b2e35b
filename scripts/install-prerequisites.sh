#!/usr/bin/env bash
# Installs what Product Store needs beyond Node.js 20, from Debian's packages (Debian/Ubuntu, as root
# or with sudo): Java 17 and Maven (to fetch and run Cassandra), nginx (the gateway), Prometheus with
# promtool, Alertmanager with amtool, the nginx exporter (the local stack's monitoring and its tests),
# docker-compose (the tests validate the compose file with it; no Docker engine is needed), Chromium
# (the storefront's browser tests and the canary drive /usr/bin/chromium with playwright-core), and
# schemathesis (the API fuzzer of tools/openapi/test) from PyPI into a virtualenv of Python 3 kept
# under ~/.cache/product-store/schemathesis-<version>/ (PRODUCT_STORE_CACHE), keyed on the version
# pinned in tools/openapi/requirements.txt. Safe to run again: it installs only what is missing. The
# stack starts its own instances; packaged daemons are disabled.
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
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || packages+=(python3-venv)

if [ "${1:-}" = "--deploy" ]; then
  go_minor=$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  if [ -z "$go_minor" ] || [ "$go_minor" -lt 24 ]; then
    echo "prerequisites: npm run test:deploy needs Go 1.24 or newer on the PATH (found: $(go env GOVERSION 2>/dev/null || echo none))" >&2
    exit 1
  fi
fi

# schemathesis: a virtualenv per pinned version, outside the repository. A virtualenv records its own
# path, so it is built where it stays and marked complete at the end: an interrupted install is redone.
# The mark holds what the virtualenv was built from (the whole pinned requirements file and the
# Python that runs it): another pin set or a Python upgrade (which breaks a virtualenv) rebuilds it.
install_schemathesis() {
  local root cache version venv key
  root=$(cd "$(dirname "$0")/.." && pwd)
  version=$(sed -n 's/^schemathesis==//p' "$root/tools/openapi/requirements.txt")
  cache=${PRODUCT_STORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/product-store}
  venv="$cache/schemathesis-$version"
  key="$(sha256sum "$root/tools/openapi/requirements.txt" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
  if [ "$(cat "$venv/.complete" 2>/dev/null)" = "$key" ] && "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
    return 0
  fi
  echo "prerequisites: installing schemathesis $version into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tools/openapi/requirements.txt"
  echo "$key" > "$venv/.complete"
}

if [ ${#packages[@]} -eq 0 ]; then
  install_schemathesis
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
install_schemathesis

#!/bin/sh
# Puts the Prometheus JMX exporter agent that this folder's Dockerfile COPYs next to it:
#   images/cassandra/jmx_prometheus_javaagent-<version>.jar   (gitignored)
# fetched from Maven Central with Maven (mvn dependency:copy), and checks its sha256 against the
# Dockerfile's JMX_EXPORTER_SHA256. Run it once before `docker build images/cassandra` or
# `docker-compose build cassandra`. The version and checksum are the Dockerfile's ARG defaults.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
version=$(sed -n 's/^ARG JMX_EXPORTER_VERSION=//p' "$here/Dockerfile")
sha256=$(sed -n 's/^ARG JMX_EXPORTER_SHA256=//p' "$here/Dockerfile")
jar="$here/jmx_prometheus_javaagent-$version.jar"

check() {
  # Without --status, which BusyBox's sha256sum (Alpine CI images) lacks.
  echo "$sha256  $1" | sha256sum -c - >/dev/null 2>&1
}

if [ -f "$jar" ] && check "$jar"; then
  echo "fetch-jmx-exporter: $jar is in place"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if command -v mvn >/dev/null 2>&1; then
  # A minimal pom: dependency:copy needs a project to run in.
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>dev.productstore</groupId><artifactId>fetch-jmx-exporter</artifactId><version>1</version><packaging>pom</packaging></project>
POM
  mvn -B -q -f "$work/pom.xml" dependency:copy \
    "-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:$version" "-DoutputDirectory=$work/out"
else
  # No Maven (a CI image such as docker:27): the same file, straight from Maven Central.
  url="https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/$version/jmx_prometheus_javaagent-$version.jar"
  mkdir -p "$work/out"
  if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$work/out/jmx_prometheus_javaagent-$version.jar" "$url"
  elif command -v wget >/dev/null 2>&1; then wget -q -O "$work/out/jmx_prometheus_javaagent-$version.jar" "$url"
  else echo "fetch-jmx-exporter: Maven, curl or wget is needed" >&2; exit 1; fi
fi
check "$work/out/jmx_prometheus_javaagent-$version.jar" || {
  echo "fetch-jmx-exporter: the downloaded jar does not have the sha256 $sha256" >&2
  exit 1
}
mv "$work/out/jmx_prometheus_javaagent-$version.jar" "$jar"
echo "fetch-jmx-exporter: wrote $jar"

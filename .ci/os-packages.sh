#!/usr/bin/env bash
# The OS packages the tests need (`make test` runs this first). As root it installs what is missing
# with apt-get; otherwise it prints the one command to run and stops, so nothing fails later halfway.
set -euo pipefail

need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Chromium only recommends fonts; without them the dashboard test's screenshots show empty boxes.
[ -f /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || need+=(fonts-liberation)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)  # Apache Kafka and PySpark
command -v mvn >/dev/null 2>&1 || need+=(maven)                      # make jars

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "make test needs these OS packages; run once:  sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
  exit 1
fi
echo "== apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

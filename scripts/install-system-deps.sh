#!/usr/bin/env bash
# Install the Debian packages Kentongan's tests (and the demo) need, when they are missing.
# Prints what it installs; installs nothing that is already there.
set -euo pipefail

# package:command-or-path that proves it is installed
wanted=(
  "snmpd:/usr/sbin/snmpd"
  "snmp:/usr/bin/snmpget"
  "openssh-server:/usr/sbin/sshd"
  "openssh-client:/usr/bin/ssh-keygen"
  "prometheus:/usr/bin/prometheus"
  "prometheus-alertmanager:/usr/bin/prometheus-alertmanager"
  "prometheus-snmp-exporter:/usr/bin/prometheus-snmp-exporter"
  "chromium:/usr/bin/chromium"
  "wrk:/usr/bin/wrk"
  "iproute2:/usr/sbin/ip"
  "procps:/usr/bin/ps"
  "faketime:/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
)
if [ "${1:-}" = "--demo" ]; then
  # `make demo`: Prometheus and Alertmanager for incidents, sshd for the kiosk stand-ins.
  wanted=(
    "openssh-client:/usr/bin/ssh-keygen"
    "openssh-server:/usr/sbin/sshd"
    "prometheus:/usr/bin/prometheus"
    "prometheus-alertmanager:/usr/bin/prometheus-alertmanager"
  )
fi

missing=()
for item in "${wanted[@]}"; do
  pkg=${item%%:*}
  path=${item#*:}
  [ -e "$path" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

echo "system packages: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: not root and no sudo; install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
fi
$SUDO apt-get update -qq
# Debian's package scripts try to start the services; the tests start their own instances.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Stop anything the package scripts started: tests use their own ports and configs.
for svc in snmpd prometheus prometheus-alertmanager prometheus-snmp-exporter prometheus-node-exporter; do
  pkill -x "$svc" 2>/dev/null || true
done
echo "system packages: installed ${missing[*]}"

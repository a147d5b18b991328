#!/usr/bin/env bash
# Baselines the benchmarks compare against, beyond ../setup.sh: tftpd-hpa.
# Its package starts a TFTP daemon on port 69, which would collide with
# imgsrv on a real server: the benchmark runs its own in.tftpd in a lab
# namespace, so the packaged service is stopped and disabled right away.
set -euo pipefail
if ! command -v in.tftpd >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tftpd-hpa
fi
if [ -d /run/systemd/system ]; then
  systemctl disable --now tftpd-hpa >/dev/null 2>&1 || true
elif [ -x /etc/init.d/tftpd-hpa ]; then
  /etc/init.d/tftpd-hpa stop >/dev/null 2>&1 || true
fi
echo "bench/setup.sh: in.tftpd at $(command -v in.tftpd); dnsmasq at $(command -v dnsmasq)"

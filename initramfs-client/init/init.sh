#!/bin/sh
# /init of the imgsrv netboot environment (busybox sh, PID 1).
#
# Kernel command line (read from /proc/cmdline: dotted names are taken as
# module parameters and never reach our environment):
#   imgsrv.server=<http base URL>   where to report (required)
#   imgsrv.token=<node token>       sent as "Authorization: Bearer <token>"
#   imgsrv.mac=<mac>                the NIC to use; else pxelinux's BOOTIF=01-aa-bb-…
#                                   (IPAPPEND 2); else the first NIC with carrier
#   imgsrv.debug=1                  drop to a console shell when a step fails
#   imgsrv.poweroff=1               power off after the first accepted report (tests)
#   imgsrv.selftest=1               after the report, run node on the console (version,
#                                   koffi loads) and power off (tests)
#
# After the first accepted report /init runs the client on the console:
#   /usr/bin/node /imgsrv/client.mjs
# with IMGSRV_SERVER, IMGSRV_TOKEN, IMGSRV_MAC, IMGSRV_IFACE, IMGSRV_IP,
# IMGSRV_FIRMWARE (bios|uefi) and IMGSRV_DEBUG (1 or empty) in its environment,
# the DHCP lease in /run/imgsrv/lease (IP MASK ROUTER SERVERID LEASE, sh syntax)
# kept current by udhcpc. Exit 0: /init syncs and reboots. Any other exit: the
# code is shown on the console and /init opens a shell there, never rebooting.
# Without a client (a build with no runtime) /init reports a heartbeat instead.
#
# PID 1 must never exit (the kernel would panic): every failure is retried, and
# the script ends in a loop.
# Busybox first for /init itself; the client gets the real tools first.
export PATH=/bin:/usr/sbin:/usr/bin
umask 022

say() { echo "imgsrv: [$(cut -d' ' -f1 /proc/uptime)] $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/imgsrv
# Keep the console readable: only kernel warnings and worse from here on.
echo 4 > /proc/sys/kernel/printk

SERVER='' TOKEN='' MAC='' DEBUG='' POWEROFF='' SELFTEST=''
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    imgsrv.server=*) SERVER="${arg#*=}" ;;
    imgsrv.token=*) TOKEN="${arg#*=}" ;;
    imgsrv.mac=*) MAC="${arg#*=}" ;;
    imgsrv.debug|imgsrv.debug=1) DEBUG=1 ;;
    imgsrv.poweroff|imgsrv.poweroff=1) POWEROFF=1 ;;
    imgsrv.selftest|imgsrv.selftest=1) SELFTEST=1 ;;
    BOOTIF=*)
      # pxelinux IPAPPEND 2: "01-" (ARP hardware type Ethernet) then the MAC with dashes.
      b="${arg#BOOTIF=}"
      [ -z "$MAC" ] && MAC=$(echo "${b#01-}" | tr '-' ':') ;;
  esac
done
MAC=$(echo "$MAC" | tr 'A-F' 'a-f')
SERVER="${SERVER%/}"
say "netboot environment, kernel $(uname -r), server ${SERVER:-none}, mac ${MAC:-any}"

# A step failed: a shell on the console with imgsrv.debug, else wait and retry.
failed() {
  say "FAILED: $*"
  if [ -n "$DEBUG" ]; then
    say "imgsrv.debug: starting a shell; exit it to retry"
    setsid cttyhack sh
  else
    sleep 10
  fi
}

has_nic() { for d in /sys/class/net/*; do [ "${d##*/}" != lo ] && [ -e "$d" ] && return 0; done; return 1; }

# Load drivers the way udev would: match each device's modalias against
# modules.alias (busybox modprobe). virtio NICs appear on the virtio bus only
# once virtio_pci is loaded, hence two passes. If that finds no NIC, load
# every shipped driver in dependency order.
load_modules() {
  for bus in pci virtio; do
    for f in /sys/bus/$bus/devices/*/modalias; do
      [ -r "$f" ] && modprobe -q "$(cat "$f")" 2>/dev/null
    done
  done
  if ! has_nic; then
    say "no NIC matched by modalias; loading all shipped drivers"
    while read -r m; do
      insmod "/lib/modules/$(uname -r)/$m" 2>/dev/null
    done < /etc/imgsrv/modules
  fi
  say "drivers: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
}

# Print the interface to use: the one with $MAC, else the first with carrier.
pick_nic() {
  if [ -n "$MAC" ]; then
    for d in /sys/class/net/*; do
      [ "$(cat "$d/address" 2>/dev/null)" = "$MAC" ] && { echo "${d##*/}"; return 0; }
    done
    say "no NIC has MAC $MAC; trying the first with carrier" >&2
  fi
  for d in /sys/class/net/*; do [ "${d##*/}" != lo ] && ip link set "${d##*/}" up; done
  i=0
  while [ $i -lt 10 ]; do
    for d in /sys/class/net/*; do
      [ "${d##*/}" != lo ] && [ "$(cat "$d/carrier" 2>/dev/null)" = 1 ] && { echo "${d##*/}"; return 0; }
    done
    sleep 1; i=$((i + 1))
  done
  return 1
}

# Disks may sit behind any storage driver and udev isn't here to match them
# all: load every shipped storage and file-system driver (absent hardware just fails).
while read -r m; do modprobe -q "$m" 2>/dev/null; done < /etc/imgsrv/boot-modules
if [ -d /sys/firmware/efi ]; then
  modprobe -q efivarfs 2>/dev/null
  mount -t efivarfs efivarfs /sys/firmware/efi/efivars || say "efivarfs: mount failed"
fi

load_modules
until IF=$(pick_nic); do failed "no network interface with carrier"; load_modules; done
NICMAC=$(cat "/sys/class/net/$IF/address")
ip link set "$IF" up
say "using $IF ($NICMAC)"

# udhcpc runs on in the background (-b) and renews the lease; -t/-T pace the
# DISCOVERs, -A waits between rounds. -V sets the vendor class (option 60) so
# a DHCP server can tell the netboot environment from the PXE ROM. No hostname
# is sent: the site's DHCP may register it in DNS. The script writes /run/imgsrv/lease.
udhcpc -i "$IF" -t 10 -T 3 -A 10 -b -p /run/udhcpc.pid -s /etc/imgsrv/udhcpc.script -V imgsrv-netboot >/dev/null 2>&1
n=0
until [ -s /run/imgsrv/lease ]; do
  sleep 1; n=$((n + 1))
  [ $((n % 60)) -eq 0 ] && failed "no DHCP lease on $IF after ${n}s"
done

FIRMWARE=bios
[ -d /sys/firmware/efi ] && FIRMWARE=uefi
ARCH=$(uname -m)
KVER=$(uname -r)

# POST one report; prints the server's error on failure.
report() {
  . /run/imgsrv/lease 2>/dev/null
  body=$(printf '{"mac":"%s","ip":"%s","arch":"%s","firmware":"%s","kernel":"%s","phase":"%s"}' \
    "$NICMAC" "$IP" "$ARCH" "$FIRMWARE" "$KVER" "$1")
  # busybox wget has no timeout option in Debian's build: bound it with timeout(1).
  out=$(timeout 20 wget -q -O /run/imgsrv/reply --header "Content-Type: application/json" \
    --header "Authorization: Bearer $TOKEN" --post-data "$body" "$SERVER/api/v1/nodes/report" 2>&1)
  rc=$?
  [ $rc -ne 0 ] && say "report failed (exit $rc): $out"
  return $rc
}

until [ -n "$SERVER" ]; do failed "no imgsrv.server= on the kernel command line"; done

# Retry with exponential backoff (1, 2, 4 … 30 s) until the server accepts.
delay=1 tries=0
until report booted; do
  tries=$((tries + 1))
  [ $((tries % 5)) -eq 0 ] && failed "server $SERVER did not accept the report after $tries tries"
  sleep $delay
  delay=$((delay * 2)); [ $delay -gt 30 ] && delay=30
done
. /run/imgsrv/lease
say "reported to $SERVER: mac $NICMAC ip $IP firmware $FIRMWARE"

if [ -n "$POWEROFF" ]; then
  say "imgsrv.poweroff: powering off"
  sync
  poweroff -f
fi

if [ -n "$SELFTEST" ]; then
  say "imgsrv.selftest: running node"
  setsid cttyhack /usr/bin/node -e '
    const k = require("/imgsrv/node_modules/koffi");
    const getpid = k.load("libc.so.6").func("int getpid()");
    console.log(`imgsrv-selftest: node ${process.version} koffi ${k.version} getpid ${getpid()} pid ${process.pid}`);'
  say "imgsrv.selftest: node exited $?; powering off"
  sync
  poweroff -f
fi

if [ ! -f /imgsrv/client.mjs ]; then
  while :; do
    sleep 15
    report booted || true
  done
fi

# The client reports from here on; init's heartbeat stops. cttyhack gives it the
# console as controlling terminal, so it can prompt for the hostname there.
say "starting the client on $IF ($IP)"
cd /root
HOME=/root PATH=/usr/sbin:/usr/bin:/bin IMGSRV_SERVER="$SERVER" IMGSRV_TOKEN="$TOKEN" IMGSRV_MAC="$NICMAC" \
  IMGSRV_IFACE="$IF" IMGSRV_IP="$IP" IMGSRV_FIRMWARE="$FIRMWARE" IMGSRV_DEBUG="$DEBUG" \
  setsid cttyhack /usr/bin/node /imgsrv/client.mjs
rc=$?
if [ $rc -eq 0 ]; then
  say "client finished; rebooting"
  sync
  reboot -f
fi
# Never reboot into a half-restored disk: wait for an operator at the console.
say "client FAILED with exit code $rc; starting a shell on the console (the node will not reboot by itself)"
while :; do
  PATH=/usr/sbin:/usr/bin:/bin setsid cttyhack sh
  say "shell exited; starting another (client exit code was $rc)"
done

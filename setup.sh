#!/usr/bin/env bash
# Install everything imgsrv needs on Debian 12, as root: the system tools it
# drives (Debian packages), then the pinned npm packages, Node 24 included.
# Idempotent: run it again after pulling.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages): sudo ./setup.sh" >&2
  exit 1
fi

packages=(
  # capture and the torrent-file daemon
  rsync openssh-client
  # the capture lab: a sample host (debootstrap tree running sshd), ACL/xattr tools for fixtures
  debootstrap openssh-server acl attr libcap2-bin
  # boot loaders handed out over TFTP
  ipxe pxelinux syslinux-common
  # the Secure Boot chain: Microsoft-signed shim, Debian-signed network GRUB
  shim-signed grub-efi-amd64-signed
  # the netboot environment: kernel + modules, busybox, tools the restore uses
  linux-image-amd64 busybox-static kmod cpio zstd e2fsprogs dosfstools fdisk gdisk xfsprogs grub-pc-bin grub-efi-amd64-bin grub2-common extlinux efibootmgr lvm2 mdadm btrfs-progs
  # the lab: namespaces, QEMU with SeaBIOS+iPXE ROMs and OVMF, and real clients to test against
  iproute2 iputils-ping nftables qemu-system-x86 ipxe-qemu ovmf dnsmasq-base udhcpc isc-dhcp-client isc-dhcp-relay tftp-hpa curl aria2 udpcast
  # power drivers: IPMI over LAN+ (ipmitool), and a real BMC for the lab (OpenIPMI ipmi_sim)
  ipmitool openipmi
  # the web console's browser tests (Debian's Chromium, driven by playwright-core)
  chromium
  ca-certificates
)
# Only the `nodejs`/`npm` of Debian if there is no npm at all: `npm ci` then brings the pinned Node 24.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
# The web console: Vite builds it into server/console/dist, which `imgsrv serve` serves.
npm run build:console --silent
echo "setup.sh: ready ($(node_modules/.bin/node --version), $(rsync --version | head -1))"

#!/bin/bash
# Installs the Debian packages GatewayBackup needs, only those missing.
set -euo pipefail
# systemd: systemd-analyze, which rates the shipped unit (nothing is started).
packages=(libgpgme-dev gnupg libssh2-1-dev libzstd-dev zstd openssh-server openssh-client sqlite3 python3 python3-venv time pkg-config curl iproute2 openssl prometheus libjansson-dev wrk systemd)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

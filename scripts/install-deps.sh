#!/bin/bash
# Installs the Debian packages GatewayBackup needs, only those missing.
set -euo pipefail
# systemd: systemd-analyze, which rates the shipped units (nothing is started); dpkg-dev (dpkg-shlibdeps),
# lintian and man-db: `make deb` and its test; python3-jsonschema: the --json outputs checked against
# their documented schemas.
packages=(libgpgme-dev gnupg libssh2-1-dev libzstd-dev zstd openssh-server openssh-client sqlite3 python3 python3-venv time pkg-config curl iproute2 openssl prometheus libjansson-dev wrk systemd dpkg-dev fakeroot lintian man-db python3-jsonschema)
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

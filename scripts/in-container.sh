#!/bin/bash
# Runs SCRIPT as root in a container of this machine: a private mount namespace whose / is an overlay
# of the real / with a throw-away upper layer (tmpfs), entered with chroot; /proc and /dev bound,
# fresh tmpfs on /tmp, /run (systemd is then not visible: nothing reaches the machine's services),
# /srv and /var/lib/gwbackup (the plugin sandbox makes overlays with upper layers there, which
# overlayfs refuses on top of the container's own overlay). With CONTAINER_NET=1 also a network
# namespace of its own with only loopback up: nothing it sends can leave the container.
# Files named after SCRIPT are copied into the container's /tmp/container/ first. CONTAINER_REPO: a
# directory (the repository) shown at its own path through an overlay (writes stay in the container).
#   scripts/in-container.sh SCRIPT [FILE...]       (the exit status is SCRIPT's)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 SCRIPT [FILE...]" >&2; exit 64; }
[ "$(id -u)" -eq 0 ] || { echo "in-container.sh needs root (mount namespaces)" >&2; exit 1; }
work="$(mktemp -d /tmp/gwb-container-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/layer" "$work/root" "$work/files"
cp "$@" "$work/files/"
script="$(basename "$1")"
net=()
[ "${CONTAINER_NET:-0}" = "1" ] && net=(--net)
unshare --mount --propagation private "${net[@]}" bash -euc '
  work="$1"; script="$2"
  [ "${CONTAINER_NET:-0}" != "1" ] || ip link set lo up
  mount -t tmpfs -o size=3g tmpfs "$work/layer"
  mkdir "$work/layer/upper" "$work/layer/work"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$work/layer/upper,workdir=$work/layer/work" "$work/root"
  # The mark scripts check before they write system paths: it exists only in a container'"'"'s /.
  touch "$work/root/.gwb-container"
  mount --bind /proc "$work/root/proc"
  mount --rbind /dev "$work/root/dev"
  mount -t tmpfs tmpfs "$work/root/tmp"
  mount -t tmpfs tmpfs "$work/root/run"
  mount -t tmpfs -o mode=0755 tmpfs "$work/root/srv"
  mkdir -p "$work/root/var/lib/gwbackup"
  mount -t tmpfs -o mode=0755 tmpfs "$work/root/var/lib/gwbackup"
  # The repository (CONTAINER_REPO) at its own path, writable through an overlay of its own: a
  # clone under /tmp would be hidden by the fresh /tmp, and what the examples build stays here.
  if [ -n "${CONTAINER_REPO:-}" ]; then
    mkdir -p "$work/layer/repo-upper" "$work/layer/repo-work" "$work/root$CONTAINER_REPO"
    mount -t overlay overlay -o "lowerdir=$CONTAINER_REPO,upperdir=$work/layer/repo-upper,workdir=$work/layer/repo-work" "$work/root$CONTAINER_REPO"
  fi
  mkdir -p "$work/root/tmp/container"
  cp "$work/files/"* "$work/root/tmp/container/"
  chroot "$work/root" "/tmp/container/$script"
' _ "$work" "$script"

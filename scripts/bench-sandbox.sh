#!/bin/bash
# The plugin sandbox (issue 22): what running every external plugin step in its namespaces costs a
# backup and a restore of the demo appliance (five components; config and ntp are external plugins,
# 3 and 4 steps each). BENCH_SANDBOX_ROUNDS (default 9) alternating rounds of backup and restore with
# the sandbox and with --no-sandbox, in the same run; prints both medians and their ratio (the target:
# at most 1.10). Used by scripts/bench.sh; runs alone too.
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${BENCH_CONFIGURATION:-release}"
# Release builds link the Swift runtime statically, as the package ships it (scripts/build-deb.sh).
static=(); [ "$configuration" = release ] && static=(--static-swift-stdlib)
rounds="${BENCH_SANDBOX_ROUNDS:-9}"
for product in gwbackup gwbackup-plugin-guard ntp-plugin; do
  swift build -c "$configuration" "${static[@]}" --product "$product" >/dev/null
done
bin="$(swift build -c "$configuration" "${static[@]}" --show-bin-path)/gwbackup"
# On a fresh ext4 with a journal (a loop device), as scripts/bench.sh does and for its reason: this
# machine's /tmp (ext4 without a journal) makes each file created scan past every inode freed in the
# last minutes, and a restore here creates and removes more (the overlays) than without the sandbox.
fs_image=""; fs_mount=""; fs_device=""; work=""
cleanup() {
  if [ -n "$work" ]; then rm -rf "$work"; fi
  if [ -n "$fs_mount" ]; then umount "$fs_mount" 2>/dev/null || umount -l "$fs_mount" 2>/dev/null || true; rmdir "$fs_mount" 2>/dev/null || true; fi
  if [ -n "$fs_device" ]; then losetup -d "$fs_device" 2>/dev/null || true; fi
  if [ -n "$fs_image" ]; then rm -f "$fs_image"; fi
}
trap cleanup EXIT
base=/tmp
where="/tmp"
if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
  fs_image="$(mktemp /var/tmp/gwb-bench-sandbox-XXXXXX.img)"
  fs_mount="$(mktemp -d /tmp/gwb-bench-sandbox-fs-XXXXXX)"
  truncate -s 2G "$fs_image"
  if fs_device="$(losetup --direct-io=on -f --show "$fs_image")" && mkfs.ext4 -q -F "$fs_device" && mount "$fs_device" "$fs_mount"; then
    base="$fs_mount"; where="a fresh ext4 with a journal (loop device)"
  else
    fs_device=""
  fi
fi
work="$(mktemp -d "$base/gwb-bench-sandbox.XXXXXX")"
(umask 077; echo "bench-password" > "$work/pwd")
"$bin" demo --root "$work/demo" >/dev/null
run() { # backup|restore, then extra options; prints seconds
  /usr/bin/time -f "%e" -o "$work/time" "$bin" "$1" --root "$work/demo" --path "$work/backups" --state-dir "$work/state" \
    --security-pwd-file "$work/pwd" "${@:2}" >/dev/null 2>"$work/err" || { echo "bench-sandbox: $* failed: $(tail -3 "$work/err")" >&2; exit 1; }
  cat "$work/time"
}
run backup >/dev/null  # warm the page cache and the binary
declare -a sb sr ub ur
for _ in $(seq "$rounds"); do
  sb+=("$(run backup)"); ub+=("$(run backup --no-sandbox 2>/dev/null)")
done
# Restores only after the last backup: the first restore after a new backup also opens its index
# (the authenticated catalog), which would land on whichever mode ran first.
run restore >/dev/null
for _ in $(seq "$rounds"); do
  sr+=("$(run restore)"); ur+=("$(run restore --no-sandbox 2>/dev/null)")
done
python3 - "$rounds" "${sb[*]}" "${ub[*]}" "${sr[*]}" "${ur[*]}" "$where" <<'PY'
import statistics, sys
rounds = int(sys.argv[1])
sb, ub, sr, ur = ([float(v) for v in arg.split()] for arg in sys.argv[2:6])
m = statistics.median
print(f"plugin sandbox, demo appliance on {sys.argv[6]} (median of {rounds} alternating rounds):")
print(f"  backup  {m(sb):.3f} s sandboxed, {m(ub):.3f} s --no-sandbox, ratio {m(sb) / max(m(ub), 0.001):.2f}")
print(f"  restore {m(sr):.3f} s sandboxed, {m(ur):.3f} s --no-sandbox, ratio {m(sr) / max(m(ur), 0.001):.2f}")
print(f"  (target: at most 1.10 each)")
PY

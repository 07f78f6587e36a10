#!/bin/bash
# Sourced by the bench scripts: where their data lives (sets work_base, bench_fs; cleanup_fs undoes it).
#
# The data lives on a fresh ext4 with a journal (a sparse loop device of BENCH_FS_GIB GiB), as an
# appliance's filesystem has one. This machine's root filesystem is ext4 without a journal, and there
# ext4 will not reuse an inode freed in the last minute (five while its table block is dirty): each
# file created scans past every recently freed inode (perf: `recently_deleted`, up to a third of a
# restore's samples). Creating 4,000 files there takes 0.12 s, then 1.2 s after 8,000 deletions a few
# seconds earlier, so every figure would depend on what the runs (or tests) before it deleted, and a
# restore, which creates twice the files of `tar -x` (staging, the copies a rollback needs), pays
# twice. BENCH_FS=tmp keeps the data in /tmp instead; the run prints which it used.
fs_image=""; fs_mount=""; fs_device=""
cleanup_fs() {
  if [ -n "$fs_mount" ]; then umount "$fs_mount" 2>/dev/null || umount -l "$fs_mount" 2>/dev/null || true; rmdir "$fs_mount" 2>/dev/null || true; fi
  if [ -n "$fs_device" ]; then losetup -d "$fs_device" 2>/dev/null || true; fi
  if [ -n "$fs_image" ]; then rm -f "$fs_image"; fi
}
trap cleanup_fs EXIT
bench_fs="/tmp's own ($(findmnt -no FSTYPE --target /tmp 2>/dev/null || echo unknown))"
work_base=/tmp
if [ "${BENCH_FS:-journaled}" = journaled ] && [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
  fs_image="$(mktemp /var/tmp/gwb-bench-fs-XXXXXX.img)"
  fs_mount="$(mktemp -d /tmp/gwb-bench-fs-XXXXXX)"
  truncate -s "${BENCH_FS_GIB:-16}G" "$fs_image"
  # Direct I/O: the loop device writes straight to the image, as a disk would, instead of through a
  # second page cache (a sync then costs what it costs on a disk; buffered, a restore's syncfs of
  # 336 MiB took up to a second more and varied from run to run).
  if fs_device="$(losetup --direct-io=on -f --show "$fs_image")" && mkfs.ext4 -q -F "$fs_device" && mount "$fs_device" "$fs_mount"; then
    work_base="$fs_mount"
    bench_fs="ext4 with a journal on a fresh ${BENCH_FS_GIB:-16} GiB loop device (direct I/O)"
  else
    echo "bench: could not mount a loop device; the data stays in /tmp" >&2
    cleanup_fs; fs_image=""; fs_mount=""; fs_device=""
  fi
fi

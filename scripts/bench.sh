#!/bin/bash
# `make bench`: peak memory and throughput of gwbackup backing up and restoring an appliance with
# BENCH_MIB MiB of random flow data (default 1024) and BENCH_CONFIG_MIB MiB of config-like text in
# 2,000 files (default 80), against `tar | gpg` on the same data in the same run; the demo appliance;
# a scale table (BENCH_SCALE, default "100 1024 4096" MiB); then the API under wrk during a backup
# (scripts/bench-api.sh), the catalog, the sandbox and a server's memory over 10,000 jobs.
# Figures are ratios to that baseline, so a noisy machine skews both sides alike; backup, restore
# and SFTP run BENCH_ROUNDS (default 3) alternating rounds and compare medians.
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${BENCH_MIB:-1024}"
configuration="${BENCH_CONFIGURATION:-release}"
# Release builds link the Swift runtime statically, as the package ships it (scripts/build-deb.sh).
static=(); [ "$configuration" = release ] && static=(--static-swift-stdlib)
# gwbackup, the programs it runs (the plugin guard, the C ntp plugin) and the SFTP upload bench.
for product in gwbackup gwbackup-plugin-guard ntp-plugin sftp-upload-bench; do
  swift build -c "$configuration" "${static[@]}" --product "$product" >/dev/null
done
bin="$(swift build -c "$configuration" "${static[@]}" --show-bin-path)/gwbackup"
# The data lives on a fresh ext4 with a journal, as an appliance's (scripts/bench-fs.sh says why).
source scripts/bench-fs.sh
work="$(mktemp -d "$work_base/gwb-bench-XXXXXX")"
trap 'rm -rf "$work"; cleanup_fs' EXIT
(umask 077; echo "bench-password" > "$work/pwd")
"$bin" demo --root "$work/app" --bulk-mib "$mib" >/dev/null
# The mixed appliance of issue #11: besides the random flow records, BENCH_CONFIG_MIB (default 80)
# MiB of config-like text in 2,000 files, which compresses as real configuration does.
python3 - "$work" "${BENCH_CONFIG_MIB:-80}" <<'PY'
import json, os, random, sys
work, config_mib = sys.argv[1], int(sys.argv[2])
manifest = json.load(open("manifests/flowgateway.json"))
manifest["components"].append({"name": "flows", "plugin": "fileset", "parameters": {"paths": ["var/lib/flowgateway/flows"]}})
if config_mib > 0:
    directory = f"{work}/app/etc/flowgateway/generated"
    os.makedirs(directory)
    rng = random.Random(11)
    words = ["interface", "vlan", "exporter", "collector", "sampling-rate", "template", "timeout", "address", "netmask", "enabled", "disabled", "priority", "community", "flow-cache", "active", "inactive"]
    per_file = config_mib * 1024 * 1024 // 2000
    for index in range(2000):
        lines, size = [], 0
        while size < per_file:
            line = f"{rng.choice(words)} {rng.choice(words)}-{rng.randrange(4096)} {rng.randrange(1, 65535)} # {rng.choice(words)} {rng.randrange(10**6)}\n"
            lines.append(line)
            size += len(line)
        open(f"{directory}/site-{index:04d}.conf", "w").write("".join(lines))
    manifest["components"].append({"name": "configs", "plugin": "fileset", "parameters": {"paths": ["etc/flowgateway/generated"]}})
json.dump(manifest, open(f"{work}/bench.json", "w"))
PY
total_mib=$(( mib + ${BENCH_CONFIG_MIB:-80} ))
measure() { # label, command...: prints seconds and peak RSS (KiB)
  local label="$1"; shift
  # Each run starts with the page cache clean of the previous one's dirty data: a restore's syncfs
  # would otherwise wait for the writes the run before it left behind (the baseline's, say).
  sync
  /usr/bin/time -f "%e %M" -o "$work/time.$label" "$@" >/dev/null 2>"$work/err.$label" || { cat "$work/err.$label"; exit 1; }
  read -r seconds rss < "$work/time.$label"
  echo "$label $seconds $rss"
}
median() { # label, then "seconds rss" pairs: the median seconds and the largest peak RSS
  local label="$1"; shift
  python3 -c 'import statistics, sys
runs = [line.split() for line in sys.argv[2:]]
print(sys.argv[1], statistics.median(float(s) for _, s, _ in runs), max(int(r) for _, _, r in runs))' "$label" "$@"
}
# Backup and restore: BENCH_ROUNDS (default 3) rounds, baseline and gwbackup alternating; the ratio
# is that of the medians, and each round's ratio is printed too.
rounds="${BENCH_ROUNDS:-3}"
backup_runs=(); baseline_backup_runs=(); restore_runs=(); baseline_restore_runs=(); round_ratios=()
for round in $(seq "$rounds"); do
  b=$(measure baseline-backup bash -c "tar -C '$work/app' -cf - . | gpg --homedir '$work' --batch --pinentry-mode loopback --passphrase-file '$work/pwd' --s2k-cipher-algo AES256 --symmetric --yes -o '$work/baseline.tar.gpg'")
  o=$(measure gwbackup-backup "$bin" backup --manifest "$work/bench.json" --root "$work/app" --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/pwd")
  rm -rf "$work/baseline-restore"; mkdir -p "$work/baseline-restore"
  br=$(measure baseline-restore bash -c "gpg --homedir '$work' --batch --pinentry-mode loopback --passphrase-file '$work/pwd' --decrypt '$work/baseline.tar.gpg' | tar -C '$work/baseline-restore' -xf -")
  rm -f "$work/app/var/lib/flowgateway/flows/records.dat"
  orr=$(measure gwbackup-restore "$bin" restore --manifest "$work/bench.json" --root "$work/app" --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/pwd")
  baseline_backup_runs+=("$b"); backup_runs+=("$o"); baseline_restore_runs+=("$br"); restore_runs+=("$orr")
  round_ratios+=("$(python3 -c 'import sys; b, o, br, orr = (float(x.split()[1]) for x in sys.argv[1:]); print(f"backup {o / b:.2f}, restore {orr / br:.2f}")' "$b" "$o" "$br" "$orr")")
done
baseline_backup=$(median baseline-backup "${baseline_backup_runs[@]}")
ours_backup=$(median gwbackup-backup "${backup_runs[@]}")
baseline_restore=$(median baseline-restore "${baseline_restore_runs[@]}")
ours_restore=$(median gwbackup-restore "${restore_runs[@]}")
# Verify with the password (every component decrypted and its archive read), components at once
# (default --jobs) and one at a time, beside `gpg -d | tar -t` of the baseline's file: no target, a
# figure for nightly verification.
verify_runs=(); verify_one_runs=(); baseline_verify_runs=()
for round in $(seq "$rounds"); do
  verify_runs+=("$(measure gwbackup-verify "$bin" verify --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/pwd")")
  verify_one_runs+=("$(measure gwbackup-verify-jobs1 "$bin" verify --jobs 1 --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/pwd")")
  baseline_verify_runs+=("$(measure baseline-verify bash -c "gpg --homedir '$work' --batch --pinentry-mode loopback --passphrase-file '$work/pwd' --decrypt '$work/baseline.tar.gpg' | tar -tf - >/dev/null")")
done
ours_verify=$(median gwbackup-verify "${verify_runs[@]}")
ours_verify_one=$(median gwbackup-verify-jobs1 "${verify_one_runs[@]}")
baseline_verify=$(median baseline-verify "${baseline_verify_runs[@]}")
newest="$(ls -d "$work"/backups/flowgateway-* | sort | tail -1)"
size_ours=$(du -sb "$newest" | cut -f1)
size_baseline=$(stat -c %s "$work/baseline.tar.gpg")
gpgconf --homedir "$work" --kill gpg-agent || true
# SFTP: the same data uploaded through the SFTP store and by OpenSSH's sftp, against the test sshd.
scripts/sshd-testbed.sh start >/dev/null
source /tmp/gwbackup-sshd/testbed.env
data="$work/app/var/lib/flowgateway/flows/records.dat"
# On the bench's own filesystem when it has one, so that both sides' fsyncs and allocations land
# on the journaled device rather than on whatever the root filesystem went through before (the
# test user may only pass through the directories above: 0711).
if [ -n "$fs_mount" ]; then
  chmod 711 "$fs_mount" "$work"
  bench_dir="$work/sftp"
  sftp_fs="the same"
else
  bench_dir="$GWB_SSHD_HOME/gwb-bench-$$"
  sftp_fs="the test user's home ($(findmnt -no FSTYPE --target "$GWB_SSHD_HOME" 2>/dev/null || echo unknown))"
fi
install -d -o "$GWB_SSHD_USER" "$bench_dir"
# BENCH_SFTP_ROUNDS (default 5) rounds, alternating; medians. The store makes each file durable
# (fsync@openssh.com) before it commits: `put -f` does the same and is shown beside plain `put`.
# Every side writes a new file in every round, and a round starts with the previous round's files
# removed: a writer of new files that fsyncs slows down once earlier rounds' files pile up on this
# device (measured: the store 0.93-1.09 s, then 1.55-1.81 s from the fourth or fifth round on, and
# `put -f` to new files 1.0-1.2 s, then 1.42-1.44 s), while `put` over its own file did not, so
# uneven rounds measured the device's state rather than the two programs.
sftp_rounds="${BENCH_SFTP_ROUNDS:-5}"
upload_runs=(); put_runs=(); put_f_runs=(); download_runs=(); get_runs=()
for round in $(seq "$sftp_rounds"); do
  rm -rf "$bench_dir"/bench-* "$bench_dir"/openssh.bin "$bench_dir"/openssh-f.bin
  upload_runs+=("$(measure sftp-store-upload "$(swift build -c "$configuration" "${static[@]}" --show-bin-path)/sftp-upload-bench" 127.0.0.1 "$GWB_SSHD_PORT" "$GWB_SSHD_USER" "$GWB_SSHD_DIR/password" "$bench_dir" "$data")")
  put_runs+=("$(measure openssh-sftp-put bash -c "echo 'put $data $bench_dir/openssh.bin' | sftp -q -i '$GWB_SSHD_DIR/client_ed25519' -P '$GWB_SSHD_PORT' -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -b - '$GWB_SSHD_USER@127.0.0.1'")")
  put_f_runs+=("$(measure openssh-sftp-put-f bash -c "echo 'put -f $data $bench_dir/openssh-f.bin' | sftp -q -i '$GWB_SSHD_DIR/client_ed25519' -P '$GWB_SSHD_PORT' -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -b - '$GWB_SSHD_USER@127.0.0.1'")")
done
sftp_put_f=$(median openssh-sftp-put-f "${put_f_runs[@]}")
seconds_of() { local run; for run in "$@"; do printf '%s ' "$(cut -d' ' -f2 <<< "$run")"; done; }
# Downloads: the store reading its copy back, and OpenSSH's sftp get of its own copy.
uploaded="$(cd "$bench_dir" && ls -d bench-* | head -1)"
for round in $(seq "$sftp_rounds"); do
  download_runs+=("$(measure sftp-store-download "$(swift build -c "$configuration" "${static[@]}" --show-bin-path)/sftp-upload-bench" 127.0.0.1 "$GWB_SSHD_PORT" "$GWB_SSHD_USER" "$GWB_SSHD_DIR/password" "$bench_dir" "$data" download-only "$uploaded")")
  get_runs+=("$(measure openssh-sftp-get bash -c "echo 'get $bench_dir/openssh.bin $work/openssh-get.bin' | sftp -q -i '$GWB_SSHD_DIR/client_ed25519' -P '$GWB_SSHD_PORT' -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -b - '$GWB_SSHD_USER@127.0.0.1'")")
  rm -f "$work/openssh-get.bin"
done
sftp_ours=$(median sftp-store-upload "${upload_runs[@]}")
sftp_openssh=$(median openssh-sftp-put "${put_runs[@]}")
sftp_download=$(median sftp-store-download "${download_runs[@]}")
sftp_get=$(median openssh-sftp-get "${get_runs[@]}")
rm -rf "$bench_dir" "$work/openssh-get.bin"
cmp -s "$work/app/var/lib/flowgateway/flows/records.dat" "$work/baseline-restore/var/lib/flowgateway/flows/records.dat" \
  || { echo "restored data differs"; exit 1; }

# The demo appliance (a few KiB in five components), end to end: median of 5 backups and restores.
"$bin" demo --root "$work/demo" >/dev/null
demo_times() { # backup|restore
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f "%e" -o "$work/demo.time" "$bin" "$1" --root "$work/demo" --path "$work/demo-backups" --state-dir "$work/demo-state" \
      --security-pwd-file "$work/pwd" >/dev/null 2>&1 || { echo "demo $1 failed"; exit 1; }
    cat "$work/demo.time"
  done | sort -n | sed -n 3p
}
demo_backup="$(demo_times backup)"
demo_restore="$(demo_times restore)"

# The scale table: one component of BENCH_SCALE sizes (MiB) of random data, backed up and restored
# alone; time should grow linearly and memory stay flat. BENCH_SCALE="" skips it.
scale_rows=()
for size in ${BENCH_SCALE-100 1024 4096}; do
  rm -rf "$work/scale" "$work/scale-backups" "$work/scale-state"
  mkdir -p "$work/scale/data"
  head -c "$((size * 1048576))" /dev/urandom > "$work/scale/data/blob.bin"
  printf '{"version":1,"appliance":"scale","components":[{"name":"data","plugin":"fileset","parameters":{"paths":["data"]}}]}' > "$work/scale.json"
  sync
  row_backup=$(measure "scale-backup-$size" "$bin" backup --manifest "$work/scale.json" --root "$work/scale" --path "$work/scale-backups" --state-dir "$work/scale-state" --security-pwd-file "$work/pwd")
  rm -f "$work/scale/data/blob.bin"
  row_restore=$(measure "scale-restore-$size" "$bin" restore --manifest "$work/scale.json" --root "$work/scale" --path "$work/scale-backups" --state-dir "$work/scale-state" --security-pwd-file "$work/pwd")
  scale_rows+=("$size $row_backup $row_restore")
  rm -rf "$work/scale" "$work/scale-backups"
done

echo "filesystem of the data: $bench_fs; of the SFTP files: $sftp_fs"
echo "mixed appliance, each round (gwbackup / baseline): ${round_ratios[*]/%/;}"
echo "mixed appliance rounds (s): backup $(seconds_of "${backup_runs[@]}")| tar|gpg $(seconds_of "${baseline_backup_runs[@]}")| restore $(seconds_of "${restore_runs[@]}")| gpg|tar $(seconds_of "${baseline_restore_runs[@]}")"
echo "sftp rounds (s): store upload $(seconds_of "${upload_runs[@]}")| put $(seconds_of "${put_runs[@]}")| put -f $(seconds_of "${put_f_runs[@]}")| store download $(seconds_of "${download_runs[@]}")| get $(seconds_of "${get_runs[@]}")"
read -r _ verify_s _ <<< "$ours_verify"; read -r _ verify_one_s _ <<< "$ours_verify_one"; read -r _ verify_base_s _ <<< "$baseline_verify"
echo "verify of the mixed backup with the password (median of ${rounds}): ${verify_s} s at --jobs default, ${verify_one_s} s at --jobs 1; gpg -d | tar -t ${verify_base_s} s; ratio $(python3 -c 'import sys; print(f"{float(sys.argv[1]) / max(float(sys.argv[2]), 0.01):.2f}")' "$verify_s" "$verify_base_s")"
echo "demo appliance (median of 5): backup ${demo_backup} s, restore ${demo_restore} s"
if [ "${#scale_rows[@]}" -gt 0 ]; then
  echo "scale (one component of random data): MiB, backup s, MiB/s, peak RSS MiB, restore s, MiB/s, peak RSS MiB"
  for row in "${scale_rows[@]}"; do
    read -r size _ bs brss _ rs rrss <<< "$row"
    awk -v m="$size" -v bs="$bs" -v br="$brss" -v rs="$rs" -v rr="$rrss" 'BEGIN { printf "  %6d %8.2f %7.1f %8.1f %8.2f %7.1f %8.1f\n", m, bs, m / (bs > 0.01 ? bs : 0.01), br / 1024, rs, m / (rs > 0.01 ? rs : 0.01), rr / 1024 }'
  done
fi
python3 - "$mib" "$total_mib" "$size_baseline" "$size_ours" "$baseline_backup" "$ours_backup" "$baseline_restore" "$ours_restore" "$sftp_openssh" "$sftp_ours" "$sftp_get" "$sftp_download" "$sftp_put_f" <<'PY'
import sys
flows_mib, mib = int(sys.argv[1]), int(sys.argv[2])
size_baseline, size_ours = int(sys.argv[3]), int(sys.argv[4])
rows = [line.split() for line in sys.argv[5:13]]
print(f"{'run':<20}{'seconds':>9}{'MiB/s':>9}{'peak RSS':>12}")
for label, seconds, rss in rows:
    s = float(seconds)
    moved = flows_mib if "sftp" in label else mib  # the SFTP rows move the flow records alone
    print(f"{label:<20}{s:>9.2f}{moved / max(s, 0.01):>9.1f}{int(rss) / 1024:>9.1f} MiB")
(_, bb, _), (_, ob, orss), (_, br, _), (_, orr, rrss), (_, so, _), (_, su, ursss), (_, sg, _), (_, sd, dsss) = rows
print(f"backup time ratio (gwbackup / tar|gpg):  {float(ob) / max(float(bb), 0.01):.2f}")
print(f"output size ratio (gwbackup / tar|gpg):  {size_ours / max(size_baseline, 1):.2f} ({size_ours / 2**20:.1f} / {size_baseline / 2**20:.1f} MiB)")
print(f"restore time ratio (gwbackup / gpg|tar): {float(orr) / max(float(br), 0.01):.2f}")
print(f"sftp upload time ratio (store / OpenSSH sftp put): {float(su) / max(float(so), 0.01):.2f}, store peak RSS {int(ursss) / 1024:.1f} MiB")
print(f"sftp upload time ratio (store / OpenSSH sftp put -f, which also fsyncs): {float(su) / max(float(sys.argv[13].split()[1]), 0.01):.2f}")
print(f"sftp download time ratio (store / OpenSSH sftp get): {float(sd) / max(float(sg), 0.01):.2f}, store peak RSS {int(dsss) / 1024:.1f} MiB")
print(f"peak memory: backup {int(orss) / 1024:.1f} MiB, restore {int(rrss) / 1024:.1f} MiB for {mib} MiB of data (limit 64 MiB)")
PY
# The authenticated catalog: 500 backups' indexes opened cold and warm beside gpg, and the peak RSS of
# list, prune and restore beside 1,000 planted directories (scripts/bench-catalog.sh).
BENCH_CONFIGURATION="$configuration" scripts/bench-catalog.sh
# What a password rotation costs per GiB, beside stock gpg re-encrypting (scripts/bench-rekey.sh).
BENCH_CONFIGURATION="$configuration" scripts/bench-rekey.sh
# What the plugin sandbox costs a backup and a restore of the demo appliance (scripts/bench-sandbox.sh).
BENCH_CONFIGURATION="$configuration" scripts/bench-sandbox.sh
# The status GET under wrk during a backup, against nginx (scripts/bench-api.sh).
BENCH_CONFIGURATION="$configuration" scripts/bench-api.sh
# A server's memory over 10,000 jobs (scripts/bench-soak.sh).
BENCH_CONFIGURATION="$configuration" scripts/bench-soak.sh

#!/bin/bash
# Rotation (issue 26): what `gwbackup rekey` costs per GiB. One backup of the demo appliance with
# BENCH_REKEY_MIB (default 256) MiB of random bulk data, then, in the same run: the baseline, stock
# gpg decrypting the bulk component with the old password and encrypting it with the new one (S2K
# SHA-512 at the maximum count, AES-256, no compression: what a rotation must do at least, since
# GPGME cannot re-wrap a session key); `gwbackup rekey` of the whole backup; the backup itself for
# scale. Prints seconds, s/GiB and the ratio to the baseline. Used by scripts/bench.sh; runs alone too.
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${BENCH_CONFIGURATION:-release}"
static=(); [ "$configuration" = release ] && static=(--static-swift-stdlib)
mib="${BENCH_REKEY_MIB:-256}"
# gwbackup and the programs it runs (the plugin guard, the C ntp plugin): the demo manifest uses them.
for product in gwbackup gwbackup-plugin-guard ntp-plugin; do
  swift build -c "$configuration" "${static[@]}" --product "$product" >/dev/null
done
bin="$(swift build -c "$configuration" "${static[@]}" --show-bin-path)/gwbackup"
work="$(mktemp -d /tmp/gwb-bench-rekey.XXXXXX)"
trap 'gpgconf --homedir "$work/gnupg" --kill gpg-agent 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -m 700 "$work/gnupg"
printf 'bench rekey old password' > "$work/old"
printf 'bench rekey new password' > "$work/new"
chmod 600 "$work/old" "$work/new"
"$bin" demo --root "$work/app" --bulk-mib "$mib" >/dev/null
# The random flow records as a component of their own, as scripts/bench.sh's mixed appliance has them.
python3 - "$work" <<'PY'
import json, sys
manifest = json.load(open("manifests/flowgateway.json"))
manifest["components"].append({"name": "flows", "plugin": "fileset", "parameters": {"paths": ["var/lib/flowgateway/flows"]}})
json.dump(manifest, open(sys.argv[1] + "/manifest.json", "w"))
PY
now() { date +%s.%N; }
start=$(now)
"$bin" backup --root "$work/app" --manifest "$work/manifest.json" --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/old" >/dev/null
backup=$(echo "$(now) - $start" | bc)
dir="$(ls -d "$work"/backups/flowgateway-*)"
bulk="$(ls -S "$dir"/*.gpg | head -1)"
total_bytes=$(du -cb "$dir"/*.gpg | tail -1 | cut -f1)
gpg_args=(--homedir "$work/gnupg" --batch --quiet --pinentry-mode loopback)
start=$(now)
gpg "${gpg_args[@]}" --passphrase-file "$work/old" --decrypt "$bulk" \
  | gpg "${gpg_args[@]}" --passphrase-file "$work/new" --symmetric --cipher-algo AES256 --s2k-digest-algo SHA512 --s2k-count 65011712 --compress-algo none -o "$work/baseline.gpg"
baseline=$(echo "$(now) - $start" | bc)
bulk_bytes=$(stat -c %s "$bulk")
start=$(now)
"$bin" rekey --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/old" --new-security-pwd-file "$work/new" >/dev/null
rekey=$(echo "$(now) - $start" | bc)
"$bin" verify --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/new" >/dev/null
python3 - "$backup" "$baseline" "$rekey" "$bulk_bytes" "$total_bytes" "$configuration" <<'PY'
import sys
backup, baseline, rekey = map(float, sys.argv[1:4])
bulk, total = int(sys.argv[4]), int(sys.argv[5])
gib = 1 << 30
print(f"rotation ({sys.argv[6]} build), a backup of {total / (1 << 20):.0f} MiB encrypted ({bulk / (1 << 20):.0f} MiB in its largest component):")
print(f"  backup (for scale)                          {backup:7.2f} s")
print(f"  baseline: gpg -d | gpg -c of the largest     {baseline:7.2f} s   {baseline / bulk * gib:6.1f} s/GiB")
print(f"  gwbackup rekey of the whole backup           {rekey:7.2f} s   {rekey / total * gib:6.1f} s/GiB   ratio to the baseline per byte {(rekey / total) / (baseline / bulk):.2f}")
PY

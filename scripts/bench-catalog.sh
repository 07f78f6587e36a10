#!/bin/bash
# The authenticated catalog (issue 21): what opening BENCH_CATALOG_BACKUPS (default 500) backups costs
# when every index must open with the security password. One real backup of the demo appliance, then
# copies of it under other names and times, each with its own index re-encrypted by gpg (S2K SHA-512 at
# the maximum count, as gwbackup writes them) and its component files hard-linked. Measured in the same
# run: the baseline, one `gpg --decrypt` per index (what believing each index costs without a cache);
# `gwbackup list` with a new state directory (every index decrypted, two at a time); the same again
# (the cache: one derivation, then a hash per index); `prune --dry-run` and `restore --dry-run` warm.
# Then 1,000 planted directories, each a 4 MiB manifest.json (and every other one a 4 MiB
# index.json.gpg, sparse), beside them: the peak RSS of list, prune and restore, whose bound is 96 MiB.
# Prints seconds, ratios to the baseline and peak RSS. Used by scripts/bench.sh; runs alone too.
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${BENCH_CONFIGURATION:-release}"
# Release builds link the Swift runtime statically, as the package ships it (scripts/build-deb.sh).
static=(); [ "$configuration" = release ] && static=(--static-swift-stdlib)
count="${BENCH_CATALOG_BACKUPS:-500}"
swift build -c "$configuration" "${static[@]}" --product gwbackup >/dev/null
bin="$(swift build -c "$configuration" "${static[@]}" --show-bin-path)/gwbackup"
work="$(mktemp -d /tmp/gwb-bench-catalog.XXXXXX)"
trap 'gpgconf --homedir "$work/gnupg" --kill gpg-agent 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -m 700 "$work/gnupg"
printf 'bench catalog password' > "$work/pwd"
chmod 600 "$work/pwd"
"$bin" demo --root "$work/app" >/dev/null
"$bin" backup --root "$work/app" --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/pwd" >/dev/null
template="$(ls -d "$work"/backups/flowgateway-*)"
gpg_args=(--homedir "$work/gnupg" --batch --quiet --pinentry-mode loopback --passphrase-file "$work/pwd")
gpg "${gpg_args[@]}" --decrypt "$template/index.json.gpg" > "$work/index.json"
# The copies: names and times a day apart, going back from the real backup.
python3 - "$work" "$template" "$count" <<'PY'
import datetime, json, os, sys
work, template, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
index = json.load(open(f"{work}/index.json"))
plain = json.load(open(f"{template}/manifest.json"))
jobs = open(f"{work}/jobs", "w")
for number in range(1, count):
    epoch = index["createdEpoch"] - number * 86400
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    name = "flowgateway-" + stamp.strftime("%Y%m%dT%H%M%SZ")
    directory = f"{work}/backups/{name}"
    os.mkdir(directory, 0o700)
    for file in os.listdir(template):
        if file.endswith(".tar.zst.gpg"):
            os.link(f"{template}/{file}", f"{directory}/{file}")
    index.update(name=name, createdEpoch=epoch, created=stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))
    plain.update(name=name, createdEpoch=epoch, created=index["created"])
    json.dump(index, open(f"{directory}/index.json", "w"))
    json.dump(plain, open(f"{directory}/manifest.json", "w"))
    jobs.write(directory + "\n")
PY
# Each index encrypted as gwbackup encrypts one, two gpg processes at a time.
xargs -P 2 -I{} sh -c 'gpg "$@" --symmetric --cipher-algo AES256 --s2k-mode 3 --s2k-digest-algo SHA512 --s2k-count 65011712 --compress-algo none -o {}/index.json.gpg {}/index.json && rm {}/index.json' \
  sh "${gpg_args[@]}" < "$work/jobs"
measure() { # label, command...: seconds and peak RSS (KiB)
  local label="$1"; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out.$label" 2>"$work/err.$label" || { cat "$work/err.$label"; exit 1; }
  read -r seconds rss < "$work/time"
  echo "$seconds $rss"
}
read -r baseline baseline_rss < <(measure baseline bash -c "for f in '$work'/backups/*/index.json.gpg; do gpg $(printf '%q ' "${gpg_args[@]}") --decrypt \"\$f\" > /dev/null; done")
gpgconf --homedir "$work/gnupg" --kill gpg-agent || true
storage=(--path "$work/backups" --security-pwd-file "$work/pwd")
rm -rf "$work/cold-state"
read -r cold cold_rss < <(measure list-cold "$bin" list --json --state-dir "$work/cold-state" "${storage[@]}")
read -r warm warm_rss < <(measure list-warm "$bin" list --json --state-dir "$work/cold-state" "${storage[@]}")
listed="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["backups"]))' "$work/out.list-warm")"
[ "$listed" = "$count" ] || { echo "list found $listed authenticated backups of $count"; exit 1; }
# prune and restore with the writer's state directory (its identity owns the copies), after a warm-up.
"$bin" list --state-dir "$work/state" "${storage[@]}" >/dev/null
read -r prune prune_rss < <(measure prune-warm "$bin" prune --dry-run --keep-last 7 --state-dir "$work/state" "${storage[@]}")
read -r restore restore_rss < <(measure restore-warm "$bin" restore --dry-run --root "$work/app" --state-dir "$work/state" "${storage[@]}")
# 1,000 planted directories of the most a manifest and an index may hold (sparse files: no disk used).
python3 - "$work/backups" <<'PY'
import os, sys
for number in range(1000):
    directory = os.path.join(sys.argv[1], "flowgateway-2%03dT000000Z" % number)
    os.mkdir(directory)
    for name in ["manifest.json"] + (["index.json.gpg"] if number % 2 == 0 else []):
        with open(os.path.join(directory, name), "wb") as handle:
            handle.truncate(4 << 20)
PY
read -r _ planted_list_rss < <(measure planted-list "$bin" list --json --state-dir "$work/state" "${storage[@]}")
read -r _ planted_plain_rss < <(measure planted-plain-list "$bin" list --json --state-dir "$work/state" --path "$work/backups")
read -r _ planted_prune_rss < <(measure planted-prune "$bin" prune --dry-run --keep-last 7 --state-dir "$work/state" "${storage[@]}")
newest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backups"][-1]["name"])' "$work/out.list-warm")"
read -r _ planted_restore_rss < <(measure planted-restore "$bin" restore --dry-run --backup "$newest" --root "$work/app" --state-dir "$work/state" "${storage[@]}")
echo "with 1,000 planted directories of 4 MiB manifests: peak RSS list $((planted_list_rss / 1024)) MiB, list without the password $((planted_plain_rss / 1024)) MiB, prune $((planted_prune_rss / 1024)) MiB, restore $((planted_restore_rss / 1024)) MiB (bound 96 MiB)"
for rss in "$planted_list_rss" "$planted_plain_rss" "$planted_prune_rss" "$planted_restore_rss"; do
  [ "$rss" -le $((96 * 1024)) ] || { echo "BENCH FAILED: a peak RSS above 96 MiB"; exit 1; }
done
python3 - "$count" "$baseline" "$cold" "$warm" "$prune" "$restore" "$baseline_rss" "$cold_rss" "$warm_rss" "$prune_rss" "$restore_rss" "$configuration" <<'PY'
import sys
count = int(sys.argv[1])
baseline, cold, warm, prune, restore = (float(x) for x in sys.argv[2:7])
rss = [int(x) // 1024 for x in sys.argv[7:12]]
print(f"catalog of {count} backups ({sys.argv[12]} build):")
print(f"  baseline, gpg --decrypt of every index, one after another: {baseline:.1f} s")
print(f"  gwbackup list, new state directory (every index decrypted, 2 at a time): {cold:.1f} s = {cold / baseline:.2f} of the baseline, peak {rss[1]} MiB")
print(f"  gwbackup list, again (the cache: one derivation, a hash per index): {warm:.2f} s = {warm / baseline:.3f} of the baseline, {warm / cold:.3f} of the first, peak {rss[2]} MiB")
print(f"  gwbackup prune --dry-run --keep-last 7, warm: {prune:.2f} s, peak {rss[3]} MiB; restore --dry-run, warm: {restore:.2f} s, peak {rss[4]} MiB")
PY

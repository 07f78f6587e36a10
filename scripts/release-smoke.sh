#!/bin/bash
# The release build, end to end: the optimizer once turned code that every (debug) test passed into
# a trap (a task group's tuple result). Builds gwbackup and what it runs in release, then backs up,
# verifies, breaks and restores a demo appliance with several components at once, and checks the
# restored files byte for byte. Run by `make test` unless RELEASE_SMOKE=0. Every release build of
# the project links the Swift runtime statically (--static-swift-stdlib), as the Debian package
# ships it: one release build serves this test, the package and the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d /tmp/gwb-release-smoke-XXXXXX)"
trap 'rm -rf "$work"' EXIT
for product in gwbackup gwbackup-plugin-guard ntp-plugin; do
  swift build -c release --static-swift-stdlib --product "$product" > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; echo "release build of $product failed"; exit 1; }
done
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)/gwbackup"
(umask 077; echo "release smoke password" > "$work/pwd")
options=(--root "$work/app" --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/pwd")
"$bin" demo --root "$work/app" >/dev/null
cp -a "$work/app" "$work/before"
"$bin" backup --jobs 3 "${options[@]}" >/dev/null
"$bin" verify --path "$work/backups" --state-dir "$work/state" --security-pwd-file "$work/pwd" >/dev/null
echo "rocommunity public" > "$work/app/etc/snmp/snmpd.conf"
rm "$work/app/etc/flowgateway/vault/cloak.key"
"$bin" restore --jobs 3 "${options[@]}" >/dev/null
for file in etc/snmp/snmpd.conf etc/flowgateway/vault/cloak.key etc/ntp.conf; do
  cmp -s "$work/before/$file" "$work/app/$file" || { echo "release smoke: $file was not restored"; exit 1; }
done
echo "release smoke: backup, verify and restore (--jobs 3) of the demo appliance passed"

#!/bin/bash
# The Debian package, installed, upgraded, removed and purged in a container of this machine
# (scripts/in-container.sh: an overlay of / with a throw-away upper layer, chroot). dpkg, its
# database and the maintainer scripts act there; nothing reaches the machine (its /run, hence
# systemd, is not visible: the scripts' systemctl branches stay off).
# Builds two packages of this tree (VERSION~rc1-1 and VERSION-1) with scripts/build-deb.sh, runs
# lintian on the newer one (clean: no error or warning), then in the container: install the older,
# use it (demo appliance, backup, verify, restore with the installed plugins), edit the conffile,
# upgrade (the edit kept), remove (the conffile kept), purge (configuration gone, appliance-id and
# the backups kept), reinstall (the backups are still this appliance's own). Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d /tmp/gwb-deb-test-XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "DEB TEST FAILED: $*" >&2; exit 1; }
upstream="$(sed -n 's/.*static let current = "\(.*\)"/\1/p' Sources/BackupModel/GatewayBackupVersion.swift)"
old="$(DEB_VERSION="$upstream~rc1-1" DEB_OUT="$work/debs" scripts/build-deb.sh)"
new="$(DEB_OUT="$work/debs" scripts/build-deb.sh)"
echo "built $(basename "$old") and $(basename "$new") ($(du -k "$new" | cut -f1) KiB)"
dpkg-deb -f "$new" Depends

if command -v lintian >/dev/null; then
  lintian --fail-on error,warning "$new" > "$work/lintian.txt" 2>&1 || { cat "$work/lintian.txt"; fail "lintian found errors or warnings"; }
  echo "lintian: no error or warning ($(grep -c '^[IP]:' "$work/lintian.txt" || true) info tags; overrides in packaging/deb/lintian-overrides)"
else
  echo "lintian: not installed, not run"
fi

cp "$old" "$work/old.deb"; cp "$new" "$work/new.deb"
cat > "$work/inside.sh" <<'INSIDE'
#!/bin/bash
# Runs as root inside the container.
set -euo pipefail
fail() { echo "DEB TEST FAILED: $*" >&2; exit 1; }
step() { echo "-- $*"; }
# Only in a container (scripts/in-container.sh marks its /): this installs and purges packages.
[ -e /.gwb-container ] || fail "inside.sh runs only inside scripts/in-container.sh"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
[ ! -e /usr/bin/gwbackup ] || fail "/usr/bin/gwbackup exists before the install: not a clean container"

step "install $(dpkg-deb -f /tmp/container/old.deb Version)"
dpkg -i /tmp/container/old.deb > /tmp/container/dpkg.log 2>&1 || { cat /tmp/container/dpkg.log; fail "dpkg -i of the older package failed"; }
[ "$(dpkg-query -W -f='${Status} ${Version}' gwbackup)" = "install ok installed $(dpkg-deb -f /tmp/container/old.deb Version)" ] || fail "not installed"
gwbackup --version
for file in /usr/libexec/gwbackup/gwbackup-plugin-guard /usr/share/gwbackup/manifests/flowgateway.json /usr/lib/gwbackup/plugins/ntp/ntp-plugin \
  /lib/systemd/system/gwbackup.service /lib/systemd/system/gwbackup-backup.timer /etc/gwbackup/serve.json; do
  [ -e "$file" ] || fail "$file is not installed"
done
[ "$(stat -c %a /var/lib/gwbackup)" = 700 ] && [ "$(stat -c %a /etc/gwbackup)" = 700 ] || fail "state or configuration directory is not 0700"
grep -q '^ExecStart=/usr/bin/gwbackup serve --config /etc/gwbackup/serve.json' /lib/systemd/system/gwbackup.service || fail "the unit does not run /usr/bin/gwbackup with the configuration"
pages="$(ls /usr/share/man/man1/gwbackup*.1.gz | wc -l)"
man -w gwbackup-backup >/dev/null && man -w gwbackup-user-add >/dev/null || fail "man cannot find the commands' pages"
MANWIDTH=80 man gwbackup-prune 2>/dev/null | grep -q -- "--keep-daily" || fail "the prune page does not document --keep-daily"
echo "$pages man pages (man gwbackup-prune documents --keep-daily)"
bash -c 'source /usr/share/bash-completion/completions/gwbackup && complete -p gwbackup' | grep -q gwbackup || fail "the bash completion does not register"
words="$(bash -c 'source /usr/share/bash-completion/completions/gwbackup; COMP_WORDS=(gwbackup pru); COMP_CWORD=1; COMP_LINE="gwbackup pru"; COMP_POINT=${#COMP_LINE}; f=$(complete -p gwbackup | sed -n "s/.*-F \([^ ]*\) .*/\1/p"); $f gwbackup pru gwbackup; echo "${COMPREPLY[*]}"')"
[ "$words" = "prune" ] || fail "bash completes 'gwbackup pru' to '$words', not 'prune'"
echo "bash completion: 'gwbackup pru' -> prune"

step "use the installed package: demo appliance, backup, verify, restore (installed plugins, guard)"
(umask 077; echo "deb test security password" > /root/security.pwd)
gwbackup demo --root /srv/app >/dev/null
cp -a /srv/app /srv/before
gwbackup backup --root /srv/app --path /srv/backups --security-pwd-file /root/security.pwd > /tmp/container/backup.txt \
  || { cat /tmp/container/backup.txt; fail "backup with the installed package failed"; }
grep -q "ntp" /tmp/container/backup.txt || fail "the ntp component (the installed C plugin) was not backed up"
gwbackup verify --path /srv/backups --security-pwd-file /root/security.pwd >/dev/null || fail "verify failed"
rm /srv/app/etc/ntp.conf
gwbackup restore --root /srv/app --path /srv/backups --security-pwd-file /root/security.pwd >/dev/null || fail "restore failed"
cmp -s /srv/before/etc/ntp.conf /srv/app/etc/ntp.conf || fail "ntp.conf was not restored"
[ -s /var/lib/gwbackup/appliance-id ] || fail "no appliance-id in /var/lib/gwbackup"
id="$(cat /var/lib/gwbackup/appliance-id)"
echo "backup, verify, restore: passed (appliance $id)"

step "upgrade to $(dpkg-deb -f /tmp/container/new.deb Version), with an edited conffile"
sed -i 's/"listen": "0.0.0.0:8443"/"listen": "0.0.0.0:9443"/' /etc/gwbackup/serve.json
dpkg -i /tmp/container/new.deb > /tmp/container/dpkg.log 2>&1 || { cat /tmp/container/dpkg.log; fail "the upgrade failed"; }
[ "$(dpkg-query -W -f='${Version}' gwbackup)" = "$(dpkg-deb -f /tmp/container/new.deb Version)" ] || fail "not upgraded"
grep -q '9443' /etc/gwbackup/serve.json || fail "the upgrade replaced the operator's serve.json"
gwbackup list --path /srv/backups --security-pwd-file /root/security.pwd | grep -q "$(ls /srv/backups | grep -v '^\.' | head -1)" || fail "the upgraded package does not list the backup"
echo "upgraded; serve.json kept the operator's edit"

step "remove: binaries gone, configuration and state kept"
dpkg -r gwbackup > /tmp/container/dpkg.log 2>&1 || { cat /tmp/container/dpkg.log; fail "dpkg -r failed"; }
[ ! -e /usr/bin/gwbackup ] && [ ! -e /usr/lib/gwbackup ] && [ ! -e /usr/share/gwbackup ] || fail "files left after remove"
[ -f /etc/gwbackup/serve.json ] && [ -s /var/lib/gwbackup/appliance-id ] || fail "remove deleted the configuration or the state"

step "purge: configuration gone; appliance-id and the backups kept"
backups_before="$(find /srv/backups -type f | sort | xargs md5sum)"
dpkg -P gwbackup > /tmp/container/dpkg.log 2>&1 || { cat /tmp/container/dpkg.log; fail "dpkg -P failed"; }
[ ! -e /etc/gwbackup ] || fail "/etc/gwbackup left after purge"
[ "$(ls -A /var/lib/gwbackup)" = "appliance-id" ] || fail "purge left $(ls -A /var/lib/gwbackup | tr '\n' ' ')in /var/lib/gwbackup, or took appliance-id"
[ "$(find /srv/backups -type f | sort | xargs md5sum)" = "$backups_before" ] || fail "purge touched the backups"
dpkg-query -W -f='${Status}' gwbackup 2>/dev/null | grep -q "not-installed\|^$" || [ -z "$(dpkg-query -W -f='${Status}' gwbackup 2>/dev/null)" ] || fail "dpkg still knows gwbackup: $(dpkg-query -W -f='${Status}' gwbackup)"

step "reinstall: the backups are still this appliance's own"
dpkg -i /tmp/container/new.deb > /tmp/container/dpkg.log 2>&1 || { cat /tmp/container/dpkg.log; fail "reinstall failed"; }
[ "$(cat /var/lib/gwbackup/appliance-id)" = "$id" ] || fail "the appliance identity changed"
gwbackup list --json --path /srv/backups --security-pwd-file /root/security.pwd > /tmp/container/list.json
python3 -c 'import json,sys; l=json.load(open(sys.argv[1])); b=l["backups"]; assert b and all(x["own"] for x in b), l' /tmp/container/list.json \
  || fail "after purge and reinstall the backups are not this appliance's own"
echo "purge kept appliance-id and $(find /srv/backups -type f | wc -l) backup files; the reinstalled package owns its backups"
INSIDE
chmod 755 "$work/inside.sh"

scripts/in-container.sh "$work/inside.sh" "$work/old.deb" "$work/new.deb" || fail "see above"
echo "DEB TEST PASSED: lintian clean, install, use, upgrade, remove, purge and reinstall in a container"

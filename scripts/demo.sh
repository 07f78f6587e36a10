#!/bin/bash
# `make run`: a backup and a restore of a demo appliance, on local storage, with the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(swift build --show-bin-path)/gwbackup"
demo="${DEMO_DIR:-$PWD/demo}"
mkdir -p "$demo"
chmod 700 "$demo"
if [ ! -s "$demo/security.pwd" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 > "$demo/security.pwd")
fi
options=(--root "$demo/appliance" --path "$demo/backups" --state-dir "$demo/state" --security-pwd-file "$demo/security.pwd")

rm -rf "$demo/appliance"
"$bin" demo --root "$demo/appliance"
echo
echo "== backup"
"$bin" backup "${options[@]}"
echo
echo "== verify (decrypts every component, restores nothing)"
"$bin" verify --path "$demo/backups" --security-pwd-file "$demo/security.pwd"
echo
echo "== break the appliance: overwrite snmpd.conf, delete the cloak key"
echo "rocommunity public" > "$demo/appliance/etc/snmp/snmpd.conf"
rm "$demo/appliance/etc/flowgateway/vault/cloak.key"
echo
echo "== restore"
"$bin" restore "${options[@]}"
echo
echo "snmpd.conf is back:  $(head -1 "$demo/appliance/etc/snmp/snmpd.conf")"
echo "cloak.key is back:   $(stat -c '%A %s bytes' "$demo/appliance/etc/flowgateway/vault/cloak.key")"
cat <<TXT

Everything is under $demo:
  appliance/      the demo Flow Gateway (its files, as on /)
  backups/        the backups: one directory each, <component>.tar.zst.gpg + index.json.gpg + manifest.json
  state/          status (survives restarts), job lock, staging
  security.pwd    the security password (mode 0600)

Try next:
  $bin status --state-dir $demo/state
  $bin list --path $demo/backups --state-dir $demo/state --security-pwd-file $demo/security.pwd
  $bin restore --no-cert ${options[*]}
  $bin restore --dry-run --component config ${options[*]}
  $bin prune --keep-last 3 --dry-run --path $demo/backups --state-dir $demo/state --security-pwd-file $demo/security.pwd
  gpg --batch --pinentry-mode loopback --passphrase-file $demo/security.pwd \\
      --decrypt $demo/backups/<backup>/snmp.tar.zst.gpg | zstd -d | tar -tvf -
  $bin plugins
  $bin --help
TXT

# The API server on the demo appliance, unless SERVE=0.
[ "${SERVE:-1}" = "1" ] || exit 0
port="${PORT:-8443}"
api_password="$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
"$bin" user remove demo --state-dir "$demo/state" >/dev/null 2>&1 || true
echo "$api_password" | "$bin" user add demo --role admin --password-stdin --state-dir "$demo/state" >/dev/null
(umask 077; printf '{"hostname":"localhost","security_pwd":"%s"}\n' "$(cat "$demo/security.pwd")" > "$demo/backup-request.json")
client="$bin --server https://localhost:$port --api-user demo --ca-cert $demo/state/tls/server.crt"
cat <<TXT

== the API server (Ctrl-C stops it)
API user: demo   password: $api_password   (shown once; change it with: $bin user passwd demo --state-dir $demo/state)
  curl -k -u demo https://localhost:$port/api/mgmt.gateway_backup/1.0/backup
  curl -k -u demo -X POST -H 'Content-Type: application/json' -d @$demo/backup-request.json https://localhost:$port/api/mgmt.gateway_backup/1.0/backup
  curl -k -u demo https://localhost:$port/api/mgmt.gateway_backup/1.0/restore
The CLI as a client of the server (asks for the API password; trusts the server's own certificate):
  $client status
  $client backup --wait --security-pwd-file $demo/security.pwd
  $client restore --no-cert --wait --security-pwd-file $demo/security.pwd
TXT
exec "$bin" serve --listen "0.0.0.0:$port" --state-dir "$demo/state" --root "$demo/appliance" --backup-dir "$demo/backups"

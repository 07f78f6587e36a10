#!/bin/bash
# `make fleet-test`: 50 `gwbackup serve` appliances on loopback (each its own demo appliance, state
# and port) backed up by the Ansible collection's fleet playbook to the test sshd, then checked:
# 50/50 COMPLETED with one run id, 50 complete backups in their own directories, one appliance
# restored with no_cert through the collection, the modules' failure paths (wrong API password,
# wrong SSH password, a job over its timeout, a stalled job, check mode), a run with 5 appliances
# stopped (45/50 with the reasons) and one stopped early by max_fail_percentage; no secret in any
# output up to -vvv; ansible-lint on the collection. Prints the wall time and the throughput.
#   FLEET_SIZE (default 50), FLEET_FORKS (default 25), FLEET_DIR (default .build/fleet)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
size="${FLEET_SIZE:-50}"
forks="${FLEET_FORKS:-25}"
work="${FLEET_DIR:-$repo/.build/fleet}"
venv="$repo/.build/ansible-venv"

fail() { echo "FLEET TEST FAILED: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

# ansible-core and ansible-lint (PyPI) in a project-local virtual environment.
if ! "$venv/bin/ansible-playbook" --version >/dev/null 2>&1 || ! "$venv/bin/ansible-lint" --version >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q ansible-core ansible-lint
fi
export PATH="$venv/bin:$PATH"
swift build >/dev/null
bin="$(swift build --show-bin-path)/gwbackup"

scripts/sshd-testbed.sh start >/dev/null
source /tmp/gwbackup-sshd/testbed.env
pids=()
cleanup() {
  # Only the servers this script started, by the PIDs it kept.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [ "${KEEP_SSHD:-0}" = "1" ] || scripts/sshd-testbed.sh stop
}
trap cleanup EXIT

rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"
dest="$GWB_SSHD_HOME/fleet-test"
rm -rf "$dest"

step "the collection: build and install (ansible-galaxy), lint (ansible-lint)"
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
ansible-galaxy collection build "$repo/ansible" --output-path "$work" --force >/dev/null
ansible-galaxy collection install -p "$work/collections" "$work"/gatewaybackup-appliance-*.tar.gz >/dev/null
(cd "$repo/ansible" && ansible-lint -q --offline --nocolor) || fail "ansible-lint found problems in the collection"
echo "built, installed, ansible-lint passed"
export ANSIBLE_CALLBACKS_ENABLED=gatewaybackup.appliance.fleet_summary
export ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
export ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_REMOTE_TEMP="$work/ansible-tmp"

step "secrets (in Ansible Vault) and a fleet CA for the appliances' certificates"
random() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
api_password="api-$(random)"; security_pwd="sec-$(random)"; vault_password="vault-$(random)"
sftp_password="$(cat "$GWB_SSHD_DIR/password")"
printf '%s\n' "$vault_password" > "$work/vault.pass"; chmod 600 "$work/vault.pass"
cat > "$work/secrets.yml" <<YAML
gwb_api_password: "$api_password"
fleet_destination_password: "$sftp_password"
gwb_security_pwd: "$security_pwd"
YAML
ansible-vault encrypt --vault-password-file "$work/vault.pass" "$work/secrets.yml" >/dev/null
grep -q '^\$ANSIBLE_VAULT' "$work/secrets.yml" || fail "the secrets file was not encrypted"
# A fleet CA as docs/fleet.md makes one (docs/fleet-ca.sh): each appliance gets its own certificate
# naming its address (the inventory's ansible_host is an IP address), Ansible trusts the CA alone.
"$repo/docs/fleet-ca.sh" "$work/ca" init >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_appliance NAME [extra serve flags]: a demo appliance with its own state and port.
start_appliance() {
  local name="$1"; shift
  local dir="$work/$name" port
  port="$(free_port)"
  mkdir -p "$dir"
  "$repo/docs/fleet-ca.sh" "$work/ca" issue "$name" 127.0.0.1 >/dev/null
  "$bin" demo --root "$dir/appliance" >/dev/null
  printf '%s\n' "$api_password" | "$bin" user add fleet --role admin --password-stdin --state-dir "$dir/state" >/dev/null
  cat > "$dir/config.json" <<JSON
{"listen": "127.0.0.1:$port", "certificate": "$work/ca/$name.crt", "privateKey": "$work/ca/$name.key",
 "stateDirectory": "$dir/state", "applianceRoot": "$dir/appliance", "backupDirectory": "$dir/local-backups",
 "hostKeyPolicy": "accept-new"}
JSON
  "$bin" serve --config "$dir/config.json" "$@" >"$dir/serve.log" 2>&1 &
  pids+=("$!")
  echo "$!" > "$dir/serve.pid"
  echo "$port" > "$dir/port"
}
wait_listening() {
  local port="$1" deadline=$((SECONDS + 90))
  until curl -s -o /dev/null --cacert "$work/ca/ca.crt" "https://127.0.0.1:$port/api/common/1.0/services"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the appliance on port $port did not start listening within 90 s"
    sleep 0.2
  done
}

step "$size appliances (gwbackup serve on loopback)"
started=$SECONDS
names=()
for i in $(seq -w 1 "$size"); do names+=("gw$i"); done
for name in "${names[@]}"; do start_appliance "$name"; done
# Two slow appliances for the timeout and stall checks: one component whose plugin sleeps.
mkdir -p "$work/slow-plugins/sleepy"
cat > "$work/slow-plugins/sleepy/plugin.json" <<'JSON'
{"id": "sleepy", "version": "1", "protocol": 1, "executable": "sleepy.sh", "timeoutSeconds": 120, "parameters": {}}
JSON
printf '#!/bin/sh\nsleep 60\necho "{\\"protocol\\": 1, \\"status\\": \\"ok\\"}"\n' > "$work/slow-plugins/sleepy/sleepy.sh"
chmod 755 "$work/slow-plugins" "$work/slow-plugins/sleepy" "$work/slow-plugins/sleepy/sleepy.sh"
cat > "$work/slow-manifest.json" <<'JSON'
{"version": 1, "appliance": "slowgateway", "components": [{"name": "slow", "plugin": "sleepy", "parameters": {}}]}
JSON
for name in slow1 slow2; do start_appliance "$name" --manifest "$work/slow-manifest.json" --plugin-dir "$work/slow-plugins"; done
for name in "${names[@]}" slow1 slow2; do wait_listening "$(cat "$work/$name/port")"; done
echo "$((size + 2)) servers listening after $((SECONDS - started)) s"

{
  echo "all:"
  echo "  vars:"
  echo "    gwb_api_user: fleet"
  echo "    gwb_ca_path: $work/ca/ca.crt"
  echo "    fleet_destination: {host: 127.0.0.1, user: $GWB_SSHD_USER, port: $GWB_SSHD_PORT, path: $dest}"
  echo "  children:"
  echo "    gateways:"
  echo "      hosts:"
  for name in "${names[@]}"; do echo "        $name: {ansible_host: 127.0.0.1, gwb_api_port: $(cat "$work/$name/port")}"; done
  echo "    slow:"
  echo "      hosts:"
  for name in slow1 slow2; do echo "        $name: {ansible_host: 127.0.0.1, gwb_api_port: $(cat "$work/$name/port")}"; done
} > "$work/inventory.yml"
playbook() { ansible-playbook -i "$work/inventory.yml" -e @"$work/secrets.yml" --vault-password-file "$work/vault.pass" "$@"; }
summary() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, s))' "$@"; }

step "fleet run 1: all $size appliances, forks $forks, at -vvv"
t0=$(date +%s.%N)
set +e
playbook -f "$forks" -vvv "$repo/ansible/playbooks/backup-fleet.yml" -e fleet_summary_file="$work/summary-1.json" > "$work/run-1.log" 2>&1
rc=$?
set -e
t1=$(date +%s.%N)
sed -n '/FLEET BACKUP SUMMARY/,$p' "$work/run-1.log" | head -20
[ "$rc" -eq 0 ] || { tail -40 "$work/run-1.log"; fail "the fleet run ended with exit status $rc"; }
[ "$(summary "$work/summary-1.json" 'f"{backed_up}/{appliances}"')" = "$size/$size" ] || fail "the summary does not say $size/$size"
run_id="$(summary "$work/summary-1.json" 'run_id')"
[ -n "$run_id" ] || fail "the summary has no run id"
for name in "${names[@]}"; do
  record="$(curl -s --cacert "$work/ca/ca.crt" -u "fleet:$api_password" "https://127.0.0.1:$(cat "$work/$name/port")/api/mgmt.gateway_backup/1.0/backup")"
  python3 - "$record" "$run_id" "$name" <<'PY' || fail "$name's record is not COMPLETED with the run id"
import json, sys
record = json.loads(sys.argv[1])[0]["running"]
assert record["status"] == "COMPLETED", record
assert record.get("run_id") == sys.argv[2], record
assert record["subdir"].endswith("/" + sys.argv[3] + "/" + record["backup"]), record
PY
  backups=("$dest/$name"/*)
  [ "${#backups[@]}" -eq 1 ] && [ -f "${backups[0]}/manifest.json" ] && [ -f "${backups[0]}/index.json.gpg" ] \
    || fail "$dest/$name does not hold exactly one complete backup: ${backups[*]}"
done
bytes="$(du -sb "$dest" | cut -f1)"
wall="$(python3 -c "print(round($t1 - $t0, 1))")"
echo "run 1: $size/$size COMPLETED with run id $run_id; $size complete backups under $dest/<appliance>/"
echo "run 1: wall $wall s for $size appliances: $(python3 -c "print(round($size / ($t1 - $t0) * 60, 1))") appliances/min, $(python3 -c "print(round($bytes / 1024 / ($t1 - $t0), 1))") KiB/s stored ($bytes bytes)"
for name in gw01 gw$(printf '%02d' "$size"); do
  "$bin" verify --path "$dest/$name" --state-dir "$work/verify-state" --security-pwd-file <(printf '%s' "$security_pwd") >/dev/null || fail "the backup of $name does not verify"
done
echo "the first and the last appliance's backups verify (every component decrypted)"

step "a restore without -l refuses to touch the whole group"
if playbook "$repo/ansible/playbooks/restore-appliance.yml" -e no_cert=true > "$work/restore-all.log" 2>&1; then
  fail "restore-appliance.yml ran on the whole group without -l"
fi
grep -q "restore_all=true" "$work/restore-all.log" || { tail -20 "$work/restore-all.log"; fail "the refusal does not say how to restore the whole group"; }
echo "refused without -l, saying how to ask for the whole group"

step "restore gw07 with no_cert through the collection (-vvv)"
app="$work/gw07/appliance"
conf="$(ls "$app"/etc/flowgateway/*.conf | head -1)"
cp "$conf" "$work/conf.orig"
echo "broken = yes" > "$conf"
echo "rocommunity changed-after-backup" > "$app/etc/snmp/snmpd.conf"
playbook -l gw07 -vvv "$repo/ansible/playbooks/restore-appliance.yml" -e no_cert=true > "$work/restore.log" 2>&1 \
  || { tail -30 "$work/restore.log"; fail "the restore of gw07 failed"; }
cmp -s "$conf" "$work/conf.orig" || fail "gw07's configuration was not restored"
grep -q "changed-after-backup" "$app/etc/snmp/snmpd.conf" || fail "no_cert restored snmp (tagged cert) anyway"
grep -q '"skipped"' "$work/restore.log" || fail "the restore's record does not show the skipped components"
echo "config restored, cert-tagged components left as they were (no_cert)"

step "restore gw07's configuration alone, from a backup named, through the module's options"
name07="$(basename "$(ls -d "$dest/gw07"/*/ | head -1)")"
echo "broken again = yes" > "$conf"
playbook -l gw07 "$repo/ansible/playbooks/restore-appliance.yml" -e restore_backup="$name07" -e '{"restore_components": ["config"]}' \
  > "$work/restore-named.log" 2>&1 || { tail -30 "$work/restore-named.log"; fail "the restore of gw07's config from $name07 failed"; }
cmp -s "$conf" "$work/conf.orig" || fail "gw07's configuration was not restored from $name07"
grep -q "ntp: skipped" "$work/restore-named.log" || fail "components other than config were restored: $(tail -5 "$work/restore-named.log")"
echo "config restored from $name07; the other components were not selected"

step "check mode and diff: nothing is started"
before="$(ls "$dest/gw01" | wc -l)"
summary_before="$(sha256sum < "$work/summary-1.json")"
playbook -l gw01 --check --diff "$repo/ansible/playbooks/backup-fleet.yml" -e fleet_summary_file="$work/summary-1.json" > "$work/check.log" 2>&1 \
  || { tail -30 "$work/check.log"; fail "the check-mode run failed"; }
grep -q "check mode: 1 appliances answered, nothing was started" "$work/check.log" || fail "check mode did not say what it did"
[ "$(sha256sum < "$work/summary-1.json")" = "$summary_before" ] || fail "check mode replaced the last real run's summary"
[ "$(summary "$work/summary-1.check.json" 'f"{backed_up} {checked_only} {appliances}"')" = "0 1 1" ] || fail "the check-mode summary counts a backup"
[ "$(ls "$dest/gw01" | wc -l)" = "$before" ] || fail "check mode made a backup"
echo "check mode reported, made nothing"

step "the modules' failure paths"
adhoc() { ansible -i "$work/inventory.yml" -e @"$work/secrets.yml" --vault-password-file "$work/vault.pass" -c local -e ansible_python_interpreter="$venv/bin/python3" "$@"; }
port01="$(cat "$work/gw01/port")"
set +e
adhoc gw01 -m gatewaybackup.appliance.backup_info -a "api_host=127.0.0.1 api_port=$port01 api_user=fleet api_password=wrong-$(random) ca_path=$work/ca/ca.crt" > "$work/fail-auth.log" 2>&1
rc_auth=$?
adhoc gw01 -m gatewaybackup.appliance.backup_info -a "api_host=127.0.0.1 api_port=$port01 api_user=fleet api_password={{ gwb_api_password }}" > "$work/fail-tls.log" 2>&1
rc_tls=$?
adhoc gw02 -m gatewaybackup.appliance.backup -a "{\"api_host\": \"127.0.0.1\", \"api_port\": $(cat "$work/gw02/port"), \"api_user\": \"fleet\", \"api_password\": \"{{ gwb_api_password }}\", \"ca_path\": \"$work/ca/ca.crt\", \"security_pwd\": \"{{ gwb_security_pwd }}\", \"destination\": {\"host\": \"127.0.0.1\", \"port\": $GWB_SSHD_PORT, \"user\": \"$GWB_SSHD_USER\", \"password\": \"wrong-ssh-password\", \"path\": \"$dest/gw02\"}}" > "$work/fail-ssh.log" 2>&1
rc_ssh=$?
job() { echo "{\"api_host\": \"127.0.0.1\", \"api_port\": $(cat "$work/$1/port"), \"api_user\": \"fleet\", \"api_password\": \"{{ gwb_api_password }}\", \"ca_path\": \"$work/ca/ca.crt\", \"security_pwd\": \"{{ gwb_security_pwd }}\", \"destination\": {\"host\": \"127.0.0.1\", \"port\": $GWB_SSHD_PORT, \"user\": \"$GWB_SSHD_USER\", \"password\": \"{{ fleet_destination_password }}\", \"path\": \"$dest/$1\"}, \"poll_interval\": 0.5, $2}"; }
adhoc slow1 -m gatewaybackup.appliance.backup -a "$(job slow1 '"timeout": 3')" > "$work/fail-timeout.log" 2>&1
rc_timeout=$?
adhoc slow2 -m gatewaybackup.appliance.backup -a "$(job slow2 '"timeout": 120, "stall_timeout": 3')" > "$work/fail-stall.log" 2>&1
rc_stall=$?
adhoc slow1 -m gatewaybackup.appliance.backup -a "$(job slow1 '"timeout": 120')" > "$work/fail-busy.log" 2>&1
rc_busy=$?
set -e
[ "$rc_auth" -ne 0 ] && grep -q "AUTH_INVALID_CREDENTIALS" "$work/fail-auth.log" || fail "a wrong API password was not reported: $(tail -5 "$work/fail-auth.log")"
[ "$rc_tls" -ne 0 ] && grep -qi "certificate" "$work/fail-tls.log" || fail "an unverifiable certificate was not refused: $(tail -5 "$work/fail-tls.log")"
[ "$rc_ssh" -ne 0 ] && grep -q "the backup failed on the appliance" "$work/fail-ssh.log" || fail "a wrong SSH password was not reported with the appliance's error: $(tail -5 "$work/fail-ssh.log")"
[ "$rc_timeout" -ne 0 ] && grep -q "did not finish within 3 s" "$work/fail-timeout.log" || fail "a job over its timeout was not reported: $(tail -5 "$work/fail-timeout.log")"
[ "$rc_stall" -ne 0 ] && grep -q "stalled: no progress for 3 s" "$work/fail-stall.log" || fail "a stalled job was not reported: $(tail -5 "$work/fail-stall.log")"
[ "$rc_busy" -ne 0 ] && grep -q "a job is already running" "$work/fail-busy.log" || fail "a busy appliance was not reported: $(tail -5 "$work/fail-busy.log")"
echo "wrong API password: $(grep -o 'AUTH_INVALID_CREDENTIALS' "$work/fail-auth.log" | head -1); unverifiable certificate refused"
echo "wrong SSH password: $(grep -o 'the backup failed on the appliance: [^"]*' "$work/fail-ssh.log" | head -1 | cut -c1-120)"
echo "timeout, stall and a busy appliance each reported"

step "fleet run 2: 5 appliances stopped, max_fail_percentage 20"
stopped=(gw03 gw14 gw25 gw36 gw47)
for name in "${stopped[@]}"; do
  pid="$(cat "$work/$name/serve.pid")"
  kill "$pid"
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$pid" 2>/dev/null || fail "$name (pid $pid) did not stop"
done
set +e
playbook -f "$forks" "$repo/ansible/playbooks/backup-fleet.yml" -e fleet_summary_file="$work/summary-2.json" -e fleet_max_fail_percentage=20 > "$work/run-2.log" 2>&1
rc=$?
set -e
sed -n '/FLEET BACKUP SUMMARY/,$p' "$work/run-2.log" | head -12
[ "$rc" -eq 0 ] || { tail -30 "$work/run-2.log"; fail "run 2 is within its threshold (5 of 50 <= 20%) and should succeed, not exit $rc"; }
[ "$(summary "$work/summary-2.json" 'f"{backed_up}/{appliances} {failed} {not_attempted} {threshold_exceeded}"')" = "$((size - 5))/$size 5 0 False" ] \
  || fail "run 2's summary is wrong: $(cat "$work/summary-2.json" | head -20)"
[ "$(summary "$work/summary-2.json" '" ".join(f["appliance"] for f in failures)')" = "${stopped[*]}" ] || fail "run 2 names other failures"
summary "$work/summary-2.json" 'all("Connection refused" in f["reason"] for f in failures)' | grep -q True || fail "run 2's reasons do not say why"
# The recap: a failed backup is counted against the threshold, so its task is ignored (ignored=1),
# and nothing is marked failed within the threshold; no appliance whose backup succeeded is blamed.
recap() { sed -n '/PLAY RECAP/,$p' "$1" | awk -v field="$2" '$0 ~ field "=[1-9]" {print $1}' | sort | tr '\n' ' '; }
[ -z "$(recap "$work/run-2.log" failed)" ] || fail "run 2's recap marks failed: '$(recap "$work/run-2.log" failed)' (expected none)"
[ "$(recap "$work/run-2.log" ignored)" = "${stopped[*]} " ] || fail "run 2's recap: '$(recap "$work/run-2.log" ignored)' ignored (expected the stopped appliances)"
echo "run 2: $((size - 5))/$size, the 5 stopped appliances with their reasons, exit 0: the threshold (20%) was not exceeded"

step "fleet run 3: the same, in batches of 10 with max_fail_percentage 5: stopped after the first batch"
set +e
playbook -f "$forks" "$repo/ansible/playbooks/backup-fleet.yml" -e fleet_summary_file="$work/summary-3.json" -e fleet_max_fail_percentage=5 -e fleet_serial=10 > "$work/run-3.log" 2>&1
rc=$?
set -e
sed -n '/FLEET BACKUP SUMMARY/,$p' "$work/run-3.log" | head -8
[ "$rc" -ne 0 ] || fail "run 3 exceeded its threshold and should fail"
grep -q "more than fleet_max_fail_percentage 5%: the run stops" "$work/run-3.log" || fail "run 3 does not say why it stopped"
[ "$(summary "$work/summary-3.json" 'f"{backed_up} {failed} {not_attempted} {threshold_exceeded}"')" = "9 1 $((size - 10)) True" ] \
  || fail "run 3's summary is wrong: $(head -20 "$work/summary-3.json")"
# The recap blames the appliance that failed and localhost (where the threshold is judged), never an
# appliance whose backup succeeded.
[ "$(recap "$work/run-3.log" failed)" = "localhost " ] || fail "run 3's recap marks failed: '$(recap "$work/run-3.log" failed)' (expected localhost alone)"
[ "$(recap "$work/run-3.log" ignored)" = "gw03 " ] || fail "run 3's recap: '$(recap "$work/run-3.log" ignored)' ignored (expected gw03)"
echo "run 3: stopped after the first batch (1 of 10 failed > 5%), $((size - 10)) not attempted, said so; the recap marks localhost failed (the verdict) and gw03's backup ignored, no other appliance"

step "no secret in any output (Ansible at -vvv, summaries, the servers' logs)"
for secret in "$api_password" "$security_pwd" "$vault_password" "$sftp_password"; do
  if grep -rlF -- "$secret" "$work"/*.log "$work"/summary-*.json "$work"/gw*/serve.log "$work"/slow*/serve.log 2>/dev/null; then
    fail "a secret appears in the files above"
  fi
done
grep -q "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER\|\*\*\*\*\*\*\*\*" "$work/run-1.log" || fail "the -vvv log shows no masked parameter: was it verbose?"
echo "none of the 4 secrets in $(ls "$work"/*.log "$work"/gw*/serve.log | wc -l) logs ($(cat "$work"/*.log | wc -c) bytes of Ansible output)"

echo
echo "FLEET TEST PASSED: $size appliances, run 1 in $wall s (forks $forks)"

#!/bin/bash
# Checks the real server's answers against docs/openapi.yaml with schemathesis (PyPI), generating
# requests from the schema. Server and fuzzer run inside a network namespace of their own with only
# loopback up, so no generated host name can reach a real address.
#   scripts/api-fuzz.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-${API_FUZZ_EXAMPLES:-30}}"
# schemathesis in a virtual environment of its own (Debian's Python refuses system-wide pip installs).
venv=".build/api-fuzz-venv"
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q schemathesis; }
bin="$(swift build --show-bin-path)/gwbackup"
work="$(mktemp -d /tmp/gwb-fuzz-XXXXXX)"
namespace="gwb-fuzz-$$"
cleanup() {
  ip netns pids "$namespace" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns delete "$namespace" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$namespace"
ip -n "$namespace" link set lo up
"$bin" demo --root "$work/appliance" >/dev/null
password="$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
echo "$password" | "$bin" user add fuzz --role admin --password-stdin --state-dir "$work/state" >/dev/null
# A schedule, so that the backup status carries its extra field.
(umask 077; printf '{"security_pwd": "%s"}' "$password" > "$work/nightly.credentials")
printf '{"schedules": [{"name": "nightly", "cron": "0 3 * * *", "timeZone": "Europe/Paris", "destination": {"hostname": "localhost"}, "credentialsFile": "%s", "retention": {"keepDaily": 7}}]}' \
  "$work/nightly.credentials" > "$work/serve.json"
ip netns exec "$namespace" "$bin" serve --config "$work/serve.json" --listen 127.0.0.1:8443 --state-dir "$work/state" \
  --root "$work/appliance" --backup-dir "$work/backups" > "$work/server.log" 2>&1 &
for _ in $(seq 100); do grep -q "serving" "$work/server.log" && break; sleep 0.1; done
set +e
ip netns exec "$namespace" "$venv/bin/schemathesis" run docs/openapi.yaml --url https://127.0.0.1:8443 \
  --auth "fuzz:$password" --tls-verify false --max-examples "$examples" --workers 1 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --request-timeout 20 --no-color 2>&1 | tee "$work/fuzz.log" | tail -25
status=${PIPESTATUS[0]}
set -e
if grep -q "Internal" "$work/server.log"; then echo "server logged internal errors"; status=1; fi
if grep -q "$password" "$work/server.log"; then echo "the password reached the server log"; status=1; fi
exit "$status"

#!/bin/bash
# A server's memory over many jobs (issue 23): `gwbackup serve` on loopback runs BENCH_SOAK_JOBS
# (default 10,000) jobs through the API, one after another: half backups to an SFTP host that refuses
# the connection, half restores from an empty local directory (both fail fast, as a flood of bad
# requests from an authenticated client would). Prints the server's RSS after 100 jobs and after the
# last, and their difference (the target: at most 8 MiB in the release build). Used by
# scripts/bench.sh; runs alone too (BENCH_CONFIGURATION=debug scripts/bench-soak.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${BENCH_CONFIGURATION:-release}"
# Release builds link the Swift runtime statically, as the package ships it (scripts/build-deb.sh).
static=(); [ "$configuration" = release ] && static=(--static-swift-stdlib)
jobs="${BENCH_SOAK_JOBS:-10000}"
swift build -c "$configuration" "${static[@]}" --product gwbackup >/dev/null
bin="$(swift build -c "$configuration" "${static[@]}" --show-bin-path)/gwbackup"
work="$(mktemp -d /tmp/gwb-bench-soak.XXXXXX)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
echo "soak-operator-password" | "$bin" user add soak --role admin --state-dir "$work/state" --password-stdin >/dev/null
"$bin" demo --root "$work/root" >/dev/null
mkdir -p "$work/backups"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --state-dir "$work/state" --listen "127.0.0.1:$port" --root "$work/root" --backup-dir "$work/backups" >"$work/serve.log" 2>&1 &
pid=$!
python3 - "$pid" "$port" "$jobs" <<'PY'
import base64, json, ssl, sys, time, urllib.error, urllib.request
pid, port, total = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
auth = "Basic " + base64.b64encode(b"soak:soak-operator-password").decode()
base = f"https://127.0.0.1:{port}/api/mgmt.gateway_backup/1.0/"
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
def call(method, kind, body=None):
    request = urllib.request.Request(base + kind, method=method, data=body, headers={"Authorization": auth, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
for _ in range(100):
    try:
        call("GET", "backup"); break
    except OSError:
        time.sleep(0.2)
bodies = {
    "backup": json.dumps({"hostname": "127.0.0.1", "port": 1, "username": "u", "password": "p", "path": "/none", "security_pwd": "s"}).encode(),
    "restore": json.dumps({"hostname": "localhost", "security_pwd": "s"}).encode(),
}
start = time.time(); after100 = None
for index in range(1, total + 1):
    kind = "backup" if index % 2 else "restore"
    while call("POST", kind, bodies[kind])[0] != 204:
        time.sleep(0.01)
    while b'"EXECUTING"' in call("GET", kind)[1]:
        time.sleep(0.01)
    if index == 100:
        after100 = rss()
last = rss()
print(f"soak: {total} jobs in {time.time() - start:.0f} s (half failing SFTP backups, half restores with nothing to restore)")
print(f"soak: server RSS after 100 jobs {after100:.1f} MiB, after {total} {last:.1f} MiB, difference {last - after100:.1f} MiB (target: at most 8)")
PY

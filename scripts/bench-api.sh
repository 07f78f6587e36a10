#!/bin/bash
# The API under load while a backup runs (issue 23): `wrk` on the status GET over TLS on loopback,
# 200 connections and 20, while the server backs up a demo appliance with BENCH_API_MIB MiB (default
# 1024) of random flow data; then the reference, nginx (when installed; `apt-get install
# nginx-light`, the bench installs no web server), answering a static body of the status answer's
# size over TLS with two workers, under the same wrk while the CLI backs up the same appliance at
# the job's niceness on the same filesystem: what the best-known server gets from these two cores
# under the same load. BENCH_API_ROUNDS (default 5) rounds of BENCH_WRK_SECONDS (default 2) s; a
# round's p99 is one stall away from its worst, so the comparison is of the medians. Used by
# scripts/bench.sh; runs alone too (BENCH_CONFIGURATION=debug scripts/bench-api.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${BENCH_CONFIGURATION:-release}"
# Release builds link the Swift runtime statically, as the package ships it (scripts/build-deb.sh).
static=(); [ "$configuration" = release ] && static=(--static-swift-stdlib)
swift build -c "$configuration" "${static[@]}" --product gwbackup >/dev/null
swift build -c "$configuration" "${static[@]}" --product gwbackup-plugin-guard >/dev/null
bin="$(swift build -c "$configuration" "${static[@]}" --show-bin-path)/gwbackup"
# The data lives on a fresh ext4 with a journal, as an appliance's (scripts/bench-fs.sh says why).
source scripts/bench-fs.sh
work="$(mktemp -d "$work_base/gwb-bench-api-XXXXXX")"
serve_pid=""; nginx_pid=""
# The server is waited for before its state directory is removed (it writes there as it stops).
# (Under set -e a failing command in the trap would end it early: each may fail.)
trap 'kill $serve_pid $nginx_pid 2>/dev/null || true; wait $serve_pid $nginx_pid 2>/dev/null || true; rm -rf "$work"; cleanup_fs' EXIT
(umask 077; echo "bench-password" > "$work/pwd")
"$bin" demo --root "$work/app" --bulk-mib "${BENCH_API_MIB:-1024}" >/dev/null
python3 - "$work" <<'PY'
import json, sys
manifest = json.load(open("manifests/flowgateway.json"))
manifest["components"].append({"name": "flows", "plugin": "fileset", "parameters": {"paths": ["var/lib/flowgateway/flows"]}})
json.dump(manifest, open(f"{sys.argv[1]}/bench.json", "w"))
PY
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api_password="bench-api-$(head -c 6 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$api_password" | "$bin" user add bench --role admin --password-stdin --state-dir "$work/state" >/dev/null
port="$(free_port)"
# The jobs' niceness (the server's default, written out: nginx's reference backup runs at it too).
# wrk's 200 connections all come from 127.0.0.1: the per-address and per-network caps are raised
# for it (the defaults, 32 and 64, would close the rest as a crowd from one address).
job_niceness=10
printf '{"localBackupDirectories": ["%s"], "maxConnections": 1024, "maxConnectionsPerAddress": 1024, "maxConnectionsPerNetwork": 1024, "jobNiceness": %d}' "$work" "$job_niceness" > "$work/serve.json"
"$bin" serve --config "$work/serve.json" --listen "127.0.0.1:$port" --state-dir "$work/state" --root "$work/app" \
  --manifest "$work/bench.json" --backup-dir "$work/api-backups" > "$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do grep -q "serving" "$work/serve.log" && break; sleep 0.1; done
auth="Authorization: Basic $(printf 'bench:%s' "$api_password" | base64 -w0)"
status_url="https://127.0.0.1:$port/api/mgmt.gateway_backup/1.0/backup"
job_status() { curl -sk -H "$auth" "$status_url" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["running"]["status"])'; }
wait_for_job_end() { for _ in $(seq 1200); do [ "$(job_status)" != EXECUTING ] && return 0; sleep 0.1; done; echo "the bench backup through the API did not end"; exit 1; }
wrk_ms() { # a wrk report, a percentile (50% or 99%): that latency in milliseconds
  awk -v p="$2" '$1 == p { v = $2; if (v ~ /us$/) print substr(v, 1, length(v) - 2) / 1000; else if (v ~ /ms$/) print substr(v, 1, length(v) - 2) + 0; else if (v ~ /s$/) print substr(v, 1, length(v) - 1) * 1000 }' "$1"
}
wrk_rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
wrk_errors() { grep -E 'Non-2xx|Socket errors' "$1" | tr -s ' ' | tr '\n' ';' || true; }
summary() { echo "p50 $(wrk_ms "$1" 50%) p99 $(wrk_ms "$1" 99%) ms, $(wrk_rate "$1")/s $(wrk_errors "$1")"; }
median() { python3 -c 'import statistics, sys; print(round(statistics.median(float(v) for v in sys.argv[1:]), 2))' "$@"; }
ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1]) / max(float(sys.argv[2]), 0.01):.2f}")' "$1" "$2"; }
seconds="${BENCH_WRK_SECONDS:-2}"
nginx_bin="$(command -v nginx || true)"
if [ -n "$nginx_bin" ]; then
  nginx_port="$(free_port)"
  mkdir -p "$work/nginx"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/nginx/key.pem" -out "$work/nginx/cert.pem" -subj /CN=localhost -days 1 2>/dev/null
  answer_size="$(curl -sk -H "$auth" "$status_url" | wc -c)"
  cat > "$work/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy; fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port ssl reuseport;
    ssl_certificate $work/nginx/cert.pem; ssl_certificate_key $work/nginx/key.pem;
    keepalive_requests 1000000;
    location / { default_type application/json; return 200 '$(head -c "$answer_size" /dev/zero | tr '\0' x)'; }
  }
}
NGINX
  "$nginx_bin" -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
  nginx_pid=$!
  for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$nginx_port/" && break; sleep 0.1; done
fi
# Idle first, for reference: no job runs, the same 200 connections (after a second of warm-up, so
# that the 200 TLS handshakes and the one bcrypt check of the credentials are not counted).
wrk -t 2 -c 200 -d 1s -H "$auth" "$status_url" > /dev/null 2>&1 || true
[ -n "$nginx_pid" ] && { wrk -t 2 -c 200 -d 1s "https://127.0.0.1:$nginx_port/" > /dev/null 2>&1 || true; }
wrk -t 2 -c 200 -d "${seconds}s" --latency -H "$auth" "$status_url" > "$work/wrk-idle.txt" 2>&1 || true
idle_line="gwbackup $(summary "$work/wrk-idle.txt")"
if [ -n "$nginx_pid" ]; then
  wrk -t 2 -c 200 -d "${seconds}s" --latency "https://127.0.0.1:$nginx_port/" > "$work/wrk-nginx-idle.txt" 2>&1 || true
  idle_line="$idle_line | nginx $(summary "$work/wrk-nginx-idle.txt")"
fi
rounds="${BENCH_API_ROUNDS:-5}"
lines=(); p99s=(); p99s20=(); nginx_p99s=(); nginx_p99s20=()
for round in $(seq "$rounds"); do
  code="$(curl -sk -H "$auth" -H 'Content-Type: application/json' -X POST \
    -d "{\"hostname\":\"localhost\",\"security_pwd\":\"bench-password\"}" "$status_url" -o /dev/null -w '%{http_code}')"
  [ "$code" = 204 ] || { echo "the bench backup through the API was refused ($code)"; exit 1; }
  wrk -t 2 -c 200 -d "${seconds}s" --latency -H "$auth" "$status_url" > "$work/wrk.txt" 2>&1 || true
  # The same with 20 connections (by Little's law the wait grows with the requests in flight).
  wrk -t 2 -c 20 -d "${seconds}s" --latency -H "$auth" "$status_url" > "$work/wrk20.txt" 2>&1 || true
  during="$(job_status)"
  line="round $round: gwbackup (backup ${during}) 200: $(summary "$work/wrk.txt") 20: $(summary "$work/wrk20.txt")"
  p99s+=("$(wrk_ms "$work/wrk.txt" 99%)"); p99s20+=("$(wrk_ms "$work/wrk20.txt" 99%)")
  wait_for_job_end
  if [ -n "$nginx_pid" ]; then
    rm -rf "$work/nginx-backups"
    sync
    nice -n "$job_niceness" \
      "$bin" backup --manifest "$work/bench.json" --root "$work/app" --path "$work/nginx-backups" --state-dir "$work/nginx-state" --security-pwd-file "$work/pwd" >/dev/null 2>&1 &
    cli_backup_pid=$!
    wrk -t 2 -c 200 -d "${seconds}s" --latency "https://127.0.0.1:$nginx_port/" > "$work/wrk-nginx.txt" 2>&1 || true
    wrk -t 2 -c 20 -d "${seconds}s" --latency "https://127.0.0.1:$nginx_port/" > "$work/wrk-nginx20.txt" 2>&1 || true
    cli_state="$(kill -0 "$cli_backup_pid" 2>/dev/null && echo EXECUTING || echo ended)"
    wait "$cli_backup_pid" || { echo "the reference's CLI backup failed"; exit 1; }
    line="$line | nginx (backup ${cli_state}) 200: $(summary "$work/wrk-nginx.txt") 20: $(summary "$work/wrk-nginx20.txt")"
    nginx_p99s+=("$(wrk_ms "$work/wrk-nginx.txt" 99%)"); nginx_p99s20+=("$(wrk_ms "$work/wrk-nginx20.txt" 99%)")
  fi
  lines+=("$line")
done
echo "filesystem of the data: $bench_fs"
echo "status GET under wrk (200 connections, ${seconds} s) with no job running: $idle_line"
echo "status GET under wrk (${seconds} s) during a backup, each round:"
for line in "${lines[@]}"; do echo "  $line"; done
p99="$(median "${p99s[@]}")"; p99_20="$(median "${p99s20[@]}")"
if [ "${#nginx_p99s[@]}" -gt 0 ]; then
  nginx_p99="$(median "${nginx_p99s[@]}")"; nginx_p99_20="$(median "${nginx_p99s20[@]}")"
  echo "status GET p99 at 200 connections (median of ${rounds}): gwbackup ${p99} ms; nginx, a static body of the same size, ${nginx_p99} ms; ratio $(ratio "$p99" "$nginx_p99") (target ≤ 2)"
  echo "status GET p99 at 20 connections (median of ${rounds}): gwbackup ${p99_20} ms (target ≤ 5); nginx ${nginx_p99_20} ms; ratio $(ratio "$p99_20" "$nginx_p99_20")"
else
  echo "status GET p99 at 200 connections (median of ${rounds}): gwbackup ${p99} ms (nginx not installed: no reference; apt-get install nginx-light)"
  echo "status GET p99 at 20 connections (median of ${rounds}): gwbackup ${p99_20} ms (target ≤ 5)"
fi

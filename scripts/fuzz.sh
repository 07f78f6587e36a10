#!/bin/bash
# libFuzzer campaigns (Swift -sanitize=fuzzer,address) for the parsers that read outside input:
# the tar reader (archive-fuzz), the index and manifest parsers (index-fuzz), the plugin descriptor
# and reply parsers (plugin-fuzz), the API request body parser (request-fuzz) and the C plugin SDK's
# request parser (sdk-fuzz; its C code is instrumented with -fsanitize=fuzzer-no-link). Seeds are in
# Fuzz/corpus/<target>; the working corpus grows in .build-fuzz/corpus/<target>; a crash is kept in
# Fuzz/crashes/ and fails the run (turn it into a regression test and a seed).
#   scripts/fuzz.sh                 10^6 executions per target (FUZZ_RUNS)
#   FUZZ_SECONDS=60 scripts/fuzz.sh  a time budget per target instead
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${FUZZ_RUNS:-1000000}"
read -r -a targets <<< "${FUZZ_TARGETS:-archive-fuzz index-fuzz plugin-fuzz request-fuzz sdk-fuzz}"
for target in "${targets[@]}"; do
  # lld: gold fails on the sanitizer objects.
  swift build -c release --build-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld \
    -Xcc -fsanitize=fuzzer-no-link,address --product "$target"
done
mkdir -p Fuzz/crashes
status=0
for target in "${targets[@]}"; do
  seeds="Fuzz/corpus/${target%-fuzz}"
  work=".build-fuzz/corpus/${target%-fuzz}"
  mkdir -p "$work"
  budget=(-runs="$runs")
  [ -n "${FUZZ_SECONDS:-}" ] && budget=(-max_total_time="$FUZZ_SECONDS")
  log=".build-fuzz/$target.log"
  echo "== $target (${budget[*]})"
  set +e
  ".build-fuzz/release/$target" "$work" "$seeds" "${budget[@]}" -max_len=65536 -rss_limit_mb=1024 -timeout=10 \
    -artifact_prefix=Fuzz/crashes/"$target"- -print_final_stats=1 >"$log" 2>&1
  code=$?
  set -e
  executions="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')"
  echo "$target: exit $code, ${executions:-?} executions, corpus $(ls "$work" | wc -l) files (seeds $(ls "$seeds" | wc -l))"
  [ "$code" -eq 0 ] || { status=1; tail -30 "$log"; }
done
exit "$status"

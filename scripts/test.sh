#!/bin/bash
# Runs every test: builds, starts the services the tests need (OpenSSH sshd on loopback), runs
# `swift test`, and stops the services again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/sshd-testbed.sh start
trap 'scripts/sshd-testbed.sh stop' EXIT
swift build --build-tests
mkdir -p .build
set +e
swift test --skip-build 2>&1 | tee .build/test-output.txt | grep -vE '^(◇|↳)|started\.$'
status=${PIPESTATUS[0]}
# The OpenAPI description checked against the real server (schemathesis, in its own network namespace).
if [ "$status" -eq 0 ] && [ "${API_FUZZ:-1}" = "1" ]; then
  echo "== API schema check (schemathesis)"
  scripts/api-fuzz.sh || status=$?
fi
set -e
exit "$status"

#!/bin/bash
# Runs every test: builds, starts the services the tests need, runs `swift test`, stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build --parallel 2>&1 | tee .build/test-output.txt | grep -vE '^(◇|↳)|started\.$'
exit "${PIPESTATUS[0]}"

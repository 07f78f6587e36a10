#!/bin/bash
# The kill-point campaign (scripts/crash_campaign.py) against the built gwbackup, local and over the
# SFTP test bed: CRASH_POINTS kill points per scenario (default 40: 200 in all over 5 scenarios).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build
scripts/sshd-testbed.sh start
python3 scripts/crash_campaign.py --binary "$(swift build --show-bin-path)/gwbackup" --points "${CRASH_POINTS:-40}" "$@"

#!/bin/bash
# Every shell example of README.md and docs/ run as written (scripts/docs-examples.py says which,
# how, and why a few are not), in a container of this machine (scripts/in-container.sh) with its own
# network namespace (loopback only) and the Debian package of this tree installed, so that
# `gwbackup` is the command the docs name. Run by `make test` after the package test.
set -euo pipefail
cd "$(dirname "$0")/.."
deb="${DOCS_DEB:-$(scripts/build-deb.sh)}"
work="$(mktemp -d /tmp/gwb-docs-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cp "$deb" "$work/gwbackup.deb"
# DOCS_ONLY=FILE:LINE runs one example; DOCS_VERBOSE=1 prints what each printed.
cat > "$work/docs-inside.sh" <<INSIDE
#!/bin/bash
set -euo pipefail
[ -e /.gwb-container ] || { echo "not in a container" >&2; exit 1; }
dpkg -i /tmp/container/gwbackup.deb > /tmp/container/dpkg.log 2>&1 || { cat /tmp/container/dpkg.log; exit 1; }
DOCS_ONLY="${DOCS_ONLY:-}" DOCS_VERBOSE="${DOCS_VERBOSE:-}" exec /usr/bin/python3 /tmp/container/docs-examples.py "$PWD"
INSIDE
chmod 755 "$work/docs-inside.sh"
CONTAINER_NET=1 CONTAINER_REPO="$PWD" scripts/in-container.sh "$work/docs-inside.sh" "$work/gwbackup.deb" scripts/docs-examples.py

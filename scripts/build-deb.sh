#!/bin/bash
# `make deb`: builds gwbackup_VERSION_ARCH.deb with dpkg-deb from the release build (the Swift
# runtime linked statically, so Depends: lists Debian libraries only, computed by dpkg-shlibdeps):
# the binary, the plugin guard, the shipped manifests and plugins, a man page per command generated
# from the argument parser (swift-argument-parser's generate-manual), bash and zsh completions, the
# hardened server unit and a nightly backup timer, and maintainer scripts that never touch backups.
# DEB_VERSION overrides the version (the package test builds two to upgrade from one to the other);
# DEB_OUT the output directory (default .build/deb). Prints the path of the package.
set -euo pipefail
cd "$(dirname "$0")/.."
upstream="$(sed -n 's/.*static let current = "\(.*\)"/\1/p' Sources/BackupModel/GatewayBackupVersion.swift)"
version="${DEB_VERSION:-$upstream-1}"
arch="$(dpkg --print-architecture)"
out="${DEB_OUT:-.build/deb}"
# Reproducible: file times and the man pages' date come from the last commit.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
build=(swift build -c release --static-swift-stdlib)
for product in gwbackup gwbackup-plugin-guard ntp-plugin generate-manual; do
  "${build[@]}" --product "$product" > .build/deb-build.log 2>&1 \
    || { tail -40 .build/deb-build.log; echo "build-deb: release build of $product failed" >&2; exit 1; }
done
bin="$("${build[@]}" --show-bin-path)"
work="$(mktemp -d /tmp/gwb-deb-XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/gwbackup_${version}_$arch"

# Files.
install -D -m 0755 "$bin/gwbackup" "$root/usr/bin/gwbackup"
install -D -m 0755 "$bin/gwbackup-plugin-guard" "$root/usr/libexec/gwbackup/gwbackup-plugin-guard"
# Manifests under share; plugins (compiled executables among them) under lib, where gwbackup looks
# first when it finds its shared files under PREFIX/share/gwbackup.
mkdir -p "$root/usr/share/gwbackup" "$root/usr/lib/gwbackup"
cp -R manifests "$root/usr/share/gwbackup/"
cp -R plugins "$root/usr/lib/gwbackup/"
rm -rf "$root/usr/lib/gwbackup/plugins/sdk"
install -m 0755 "$bin/ntp-plugin" "$root/usr/lib/gwbackup/plugins/ntp/ntp-plugin"
for tree in "$root/usr/share/gwbackup" "$root/usr/lib/gwbackup"; do
  find "$tree" -type d -exec chmod 0755 {} +
  find "$tree" -type f ! -perm -u+x -exec chmod 0644 {} +
  find "$tree" -type f -perm -u+x -exec chmod 0755 {} +
done
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/gwbackup" \
  "$root/usr/libexec/gwbackup/gwbackup-plugin-guard" "$root/usr/lib/gwbackup/plugins/ntp/ntp-plugin"

# A man page per command, from the same argument parser that parses the command line.
mandir="$root/usr/share/man/man1"
mkdir -p "$mandir"
mkdir -p "$work/man"
"$bin/generate-manual" "$root/usr/bin/gwbackup" --multi-page --output-directory "$work/man" \
  --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" --authors "The GatewayBackup developers" >/dev/null
# Debian's names (git's style): gwbackup-backup(1) for `gwbackup backup`; no page for `help`.
python3 packaging/deb/man-names.py "$work/man" "$mandir"
gzip -9n "$mandir"/*.1

# Completions, likewise generated.
"$root/usr/bin/gwbackup" completions bash | sed '1{/^#!/d}' | install -D -m 0644 /dev/stdin "$root/usr/share/bash-completion/completions/gwbackup"
"$root/usr/bin/gwbackup" completions zsh | install -D -m 0644 /dev/stdin "$root/usr/share/zsh/vendor-completions/_gwbackup"
"$root/usr/bin/gwbackup" completions fish | install -D -m 0644 /dev/stdin "$root/usr/share/fish/vendor_completions.d/gwbackup.fish"

# systemd: the server (docs/gwbackup.service, its binary path made /usr/bin) and the nightly timer.
sed 's#/usr/local/bin/gwbackup#/usr/bin/gwbackup#g; s#make install PREFIX=/usr/local#the Debian package#' docs/gwbackup.service \
  | install -D -m 0644 /dev/stdin "$root/lib/systemd/system/gwbackup.service"
install -m 0644 packaging/deb/gwbackup-backup.service packaging/deb/gwbackup-backup.timer "$root/lib/systemd/system/"

# Configuration (a conffile: an upgrade keeps the operator's edits) and documentation.
install -D -m 0600 packaging/deb/serve.json "$root/etc/gwbackup/serve.json"
chmod 0700 "$root/etc/gwbackup"
install -D -m 0644 packaging/deb/copyright "$root/usr/share/doc/gwbackup/copyright"
mkdir -p "$root/usr/share/doc/gwbackup/docs"
install -m 0644 README.md "$root/usr/share/doc/gwbackup/"
install -m 0644 docs/*.md docs/alerts.yml docs/prometheus.yml docs/openapi.yaml "$root/usr/share/doc/gwbackup/docs/"
gzip -9n "$root/usr/share/doc/gwbackup/README.md"
{
  echo "gwbackup ($version) unstable; urgency=medium"
  echo
  echo "  * Release $upstream (built from commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))."
  echo
  echo " -- The GatewayBackup developers <gwbackup@example.org>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$root/usr/share/doc/gwbackup/changelog.Debian.gz"
chmod 0644 "$root/usr/share/doc/gwbackup/changelog.Debian.gz"
install -D -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/gwbackup"

# Control: Depends from the libraries the binaries link (dpkg-shlibdeps), and gnupg, which GPGME runs.
mkdir -p "$work/shlibs/debian" "$root/DEBIAN"
printf 'Source: gwbackup\n\nPackage: gwbackup\nArchitecture: any\n' > "$work/shlibs/debian/control"
depends="$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$root/usr/bin/gwbackup" \
  -e"$root/usr/libexec/gwbackup/gwbackup-plugin-guard" -e"$root/usr/lib/gwbackup/plugins/ntp/ntp-plugin" 2>/dev/null \
  | sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
cat > "$root/DEBIAN/control" <<CONTROL
Package: gwbackup
Version: $version
Architecture: $arch
Maintainer: The GatewayBackup developers <gwbackup@example.org>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends, gnupg, python3
Recommends: openssh-client
Section: admin
Priority: optional
Homepage: https://github.com/gatewaybackup/gwbackup
Description: backup and restore orchestrator for Flow Gateway appliances
 Backs up and restores a network appliance's components (configuration,
 cloak key, SNMP, NTP, certificates) through plugins declared in JSON
 manifests, encrypted with GnuPG, to a local directory or an SFTP server,
 from the command line or through the Backup/Restore API v1.0 (gwbackup
 serve, HTTPS). Every backup's index is authenticated before anything is
 restored, chosen or deleted; plugin steps run confined.
CONTROL
echo "/etc/gwbackup/serve.json" > "$root/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/gwbackup_${version}_$arch.deb" >/dev/null
echo "$out/gwbackup_${version}_$arch.deb"

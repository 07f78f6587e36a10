#!/bin/bash
# The SSH server the SFTP tests use: OpenSSH's sshd on a free loopback port, with its own config,
# ed25519 host key (libssh2 cannot verify rsa-sha2 host keys) and a test user with a password.
#   scripts/sshd-testbed.sh start   start it (idempotent); writes $DIR/testbed.env
#   scripts/sshd-testbed.sh stop    stop it
set -euo pipefail
dir="${GWB_SSHD_DIR:-/tmp/gwbackup-sshd}"
user="gwbtest"
case "${1:-start}" in
  stop)
    if [ -f "$dir/sshd.pid" ]; then
      pid="$(cat "$dir/sshd.pid")"
      # The listener and the sessions it started (its children, found by parent PID): never by name.
      children="$(cat /proc/[0-9]*/stat 2>/dev/null | sed -nE "s/^([0-9]+) \(.*\) [A-Za-z] $pid .*/\1/p")"
      for child in $children; do kill "$child" 2>/dev/null || true; done
      kill "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/sshd.pid"
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop" >&2; exit 64 ;;
esac
# Running means alive and not a zombie: a stopped listener whose parent does not reap it (PID 1 in
# some containers) still answers `kill -0`, and a start that trusted it would start nothing.
if [ -f "$dir/sshd.pid" ]; then
  pid="$(cat "$dir/sshd.pid")"
  if [ -r "/proc/$pid/stat" ] && ! grep -qE '^[0-9]+ \(.*\) [ZX] ' "/proc/$pid/stat"; then exit 0; fi
fi
[ "$(id -u)" -eq 0 ] || { echo "the SSH test bed needs root (it creates the user $user)" >&2; exit 1; }
mkdir -p "$dir" /run/sshd
chmod 700 "$dir"
[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
[ -f "$dir/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/client_ed25519"
[ -f "$dir/password" ] || head -c 12 /dev/urandom | base64 | tr -d '/+=' > "$dir/password"
chmod 600 "$dir/password"
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
echo "$user:$(cat "$dir/password")" | chpasswd
home="$(getent passwd "$user" | cut -d: -f6)"
install -d -m 700 -o "$user" "$home/.ssh"
install -m 600 -o "$user" "$dir/client_ed25519.pub" "$home/.ssh/authorized_keys"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
PermitRootLogin no
AllowUsers $user
StrictModes no
MaxStartups 50
MaxSessions 50
Subsystem sftp internal-sftp
LogLevel ERROR
CONF
/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
for _ in $(seq 50); do [ -f "$dir/sshd.pid" ] && break; sleep 0.1; done
fingerprint="$(ssh-keygen -lf "$dir/host_ed25519.pub" | awk '{print $2}')"
cat > "$dir/testbed.env" <<ENV
GWB_SSHD_PORT=$port
GWB_SSHD_USER=$user
GWB_SSHD_HOME=$home
GWB_SSHD_FINGERPRINT=$fingerprint
GWB_SSHD_DIR=$dir
ENV
echo "sshd test bed on 127.0.0.1:$port (user $user, host key $fingerprint)"
